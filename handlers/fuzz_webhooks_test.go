package handlers

import (
	"net/netip"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/salesos/portal/data"
)

// FuzzDecodeWebhookRequest feeds the decoders of the webhook create and
// patch bodies. Errors are fine; a panic fails, so does a success that does
// not survive a re-encode, and so does a webhook the rules accept under the
// strict policy whose URL is not https or names a non-public address, or
// whose event types or description break the rules.
func FuzzDecodeWebhookRequest(f *testing.F) {
	for _, seed := range []string{
		`{"url": "https://crm.example.com/hooks", "eventTypes": ["ticket.created"]}`,
		`{"url": "https://crm.example.com/hooks", "eventTypes": ["quote.accepted", "quote.declined"], "description": "CRM", "enabled": false}`,
		`{"url": "http://crm.example.com/hooks", "eventTypes": ["ticket.created"]}`,
		`{"url": "https://127.0.0.1/", "eventTypes": ["user.removed"]}`,
		`{"url": "https://[::ffff:10.0.0.1]:8443/", "eventTypes": ["user.removed"]}`,
		`{"url": "https://169.254.169.254/latest", "eventTypes": ["user.removed"]}`,
		`{"url": "https://crm.example.com/", "eventTypes": []}`,
		`{"url": "https://crm.example.com/", "eventTypes": ["ticket.created", "ticket.created"]}`,
		`{"url": "https://crm.example.com/", "eventTypes": null}`,
		`{"url": "https://u:p@crm.example.com/", "eventTypes": ["ticket.created"]}`,
		`{"url": "https://crm.example.com/", "eventTypes": ["ticket.created"], "description": "a\nb"}`,
		`{"enabled": false}`,
		`{"enabled": null}`,
		`{"eventTypes": ["portal.config_updated"], "url": "https://crm.example.com/x#y"}`,
		"{\"url\": \"https://crm.example.com/\", \"eventTypes\": [\"ticket.created\"], \"description\": \"J\xf6rg\"}",
		`{"url": "https://crm.example.com/"} {}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	strict := data.WebhookPolicy{}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeBytes[webhookRequest](body); err == nil {
			roundTrip(t, req)
			w := req.webhook()
			if w.Validate(strict) == nil {
				checkAccepted(t, w)
			}
		}
		if req, err := decodeBytes[webhookPatchRequest](body); err == nil {
			roundTrip(t, req)
			base := data.Webhook{URL: "https://crm.example.com/", EventTypes: []string{data.EventTicketCreated}, Enabled: true}
			if w := req.patch().Apply(base); w.Validate(strict) == nil {
				checkAccepted(t, w)
			}
		}
	})
}

// checkAccepted fails if w, accepted under the strict policy, breaks a rule.
func checkAccepted(t *testing.T, w data.Webhook) {
	t.Helper()
	u, err := url.Parse(w.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		t.Fatalf("URL %q accepted, want it refused", w.URL)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !data.PublicAddr(ip) {
		t.Fatalf("URL %q of a non-public address accepted", w.URL)
	}
	if len(w.EventTypes) == 0 {
		t.Fatal("a webhook of no event type accepted")
	}
	seen := map[string]bool{}
	for _, e := range w.EventTypes {
		if !data.KnownWebhookEvent(e) || seen[e] {
			t.Fatalf("event types %q accepted", w.EventTypes)
		}
		seen[e] = true
	}
	if !utf8.ValidString(w.Description) || utf8.RuneCountInString(w.Description) > data.MaxWebhookDescription || !data.SingleLine(w.Description) {
		t.Fatalf("description %q accepted", w.Description)
	}
}
