package handlers_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/webhook"
)

const webhooksPath = "/v1/customer-portal/webhooks"

// hookEvent is a request a test receiver got.
type hookEvent struct {
	header http.Header
	body   []byte
	Type   string         `json:"type"`
	Data   map[string]any `json:"data"`
}

// hookEnv is a test env with a running webhook sender and a receiver on
// loopback, which the operator allows.
type hookEnv struct {
	*testEnv
	receiver *httptest.Server
	got      chan hookEvent
}

func newHookEnv(t *testing.T) *hookEnv {
	t.Helper()
	var sender atomic.Pointer[webhook.Sender]
	policy := data.WebhookPolicy{HTTPHosts: []string{"127.0.0.1"}, AllowPrivate: true}
	e := newTestEnvWith(t, envOptions{hasher: cheapHasher(), webhookPolicy: policy, wake: func() {
		if s := sender.Load(); s != nil {
			s.Wake()
		}
	}})
	got := make(chan hookEvent, 100)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev := hookEvent{header: r.Header.Clone(), body: body}
		_ = json.Unmarshal(body, &ev)
		got <- ev
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)
	s := webhook.NewSender(e.db, nil, e.clock.Now, policy)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	sender.Store(s)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook sender: %v", err)
		}
	})
	return &hookEnv{testEnv: e, receiver: rcv, got: got}
}

// next waits for the receiver's next request.
func (h *hookEnv) next() hookEvent {
	h.t.Helper()
	select {
	case ev := <-h.got:
		return ev
	case <-time.After(20 * time.Second):
		h.t.Fatal("no webhook arrived")
		return hookEvent{}
	}
}

// hookVerify checks a delivery as a receiver would, with its own HMAC
// (Standard Webhooks): some v1 signature is the base64 HMAC-SHA256 of
// "id.timestamp.body" keyed with the secret's decoded bytes.
func hookVerify(secret string, h http.Header, body []byte) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return errors.New("webhook-id or webhook-timestamp is missing")
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return errors.New("webhook-timestamp is not unix seconds")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if s == "v1,"+want {
			return nil
		}
	}
	return errors.New("no signature matches the secret")
}

type webhookJSON struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"eventTypes"`
	Enabled    bool     `json:"enabled"`
	Secret     string   `json:"secret"`
}

type deliveryJSON struct {
	ID               string `json:"id"`
	EventID          string `json:"eventId"`
	EventType        string `json:"eventType"`
	Status           string `json:"status"`
	Attempts         int    `json:"attempts"`
	LastResponseCode int    `json:"lastResponseCode"`
}

// Every event type of today is delivered, signed, after the API action
// that causes it; an internal note causes none.
func TestWebhooks_EventsFollowActions(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t)
	acme := h.admin("acme")
	r := h.do(http.MethodPost, webhooksPath, acme, map[string]any{"url": h.receiver.URL + "/in", "description": "CRM",
		"eventTypes": []string{"invitation.accepted", "user.revoked", "user.removed", "ticket.created", "ticket.message_created", "portal.config_updated"}})
	wantStatus(t, r, http.StatusCreated)
	var hook webhookJSON
	r.decode(t, &hook)
	if !strings.HasPrefix(hook.Secret, "whsec_") || r.header.Get("Location") != webhooksPath+"/"+hook.ID {
		t.Fatalf("got %s, want a whsec_ secret and a Location", r.body)
	}
	if raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(hook.Secret, "whsec_")); len(raw) < 24 {
		t.Errorf("got a secret of %d bytes, want 24 or more", len(raw))
	}
	for _, path := range []string{webhooksPath + "/" + hook.ID, webhooksPath} {
		if got := h.do(http.MethodGet, path, acme, nil); strings.Contains(string(got.body), hook.Secret) || strings.Contains(string(got.body), `"secret"`) {
			t.Errorf("GET %s shows the secret: %s", path, got.body)
		}
	}
	secret := hook.Secret
	expect := func(eventType string, check func(hookEvent)) {
		t.Helper()
		ev := h.next()
		if err := hookVerify(secret, ev.header, ev.body); err != nil {
			t.Fatalf("%s: %v", eventType, err)
		}
		if ev.Type != eventType {
			t.Fatalf("got event %s, want %s: %s", ev.Type, eventType, ev.body)
		}
		if check != nil {
			check(ev)
		}
	}

	inv := h.invite(acme, "ann@example.com", map[string]any{"accountId": "ACC-1"})
	a := h.accept(inv.AcceptURL)
	expect("invitation.accepted", func(ev hookEvent) {
		if u, _ := ev.Data["user"].(map[string]any); u["id"] != a.User.ID || strings.Contains(string(ev.body), "tokenHash") {
			t.Errorf("got %s, want the user and no token hash", ev.body)
		}
	})
	tk := h.openTicket(a.AccessToken, "Invoice missing", "Where is it?")
	expect("ticket.created", func(ev hookEvent) {
		if tt, _ := ev.Data["ticket"].(map[string]any); tt["id"] != tk.ID {
			t.Errorf("got %s, want ticket %s", ev.body, tk.ID)
		}
	})
	staffOne := staffTicketsPath + "/" + tk.ID
	wantStatus(t, h.do(http.MethodPost, staffOne+"/messages", acme, map[string]any{"body": "SECRET-NOTE", "internal": true}), http.StatusCreated)
	wantStatus(t, h.do(http.MethodPost, staffOne+"/messages", acme, map[string]any{"body": "We are on it"}), http.StatusCreated)
	expect("ticket.message_created", func(ev hookEvent) {
		if !strings.Contains(string(ev.body), "We are on it") {
			t.Errorf("got %s, want the public reply (the note before it makes no event)", ev.body)
		}
	})
	wantStatus(t, h.do(http.MethodPost, myTicketsPath+"/"+tk.ID+"/messages", a.AccessToken, map[string]any{"body": "Thanks"}), http.StatusCreated)
	expect("ticket.message_created", func(ev hookEvent) {
		if !strings.Contains(string(ev.body), "Thanks") {
			t.Errorf("got %s, want the customer's message", ev.body)
		}
	})
	wantStatus(t, h.do(http.MethodPatch, "/v1/customer-portal/config", acme, map[string]any{"portalName": "Acme Help"},
		"Content-Type", "application/merge-patch+json"), http.StatusOK)
	expect("portal.config_updated", func(ev hookEvent) {
		if c, _ := ev.Data["config"].(map[string]any); c["portalName"] != "Acme Help" {
			t.Errorf("got %s, want the new config", ev.body)
		}
	})
	wantStatus(t, h.do(http.MethodPatch, "/v1/customer-portal/features/invoices/toggle", acme, map[string]any{"enabled": true}), http.StatusOK)
	expect("portal.config_updated", nil)

	// Rotation: for the grace period every delivery is signed with both.
	r = h.do(http.MethodPost, webhooksPath+"/"+hook.ID+"/rotate-secret", acme, nil)
	wantStatus(t, r, http.StatusOK)
	var rotated webhookJSON
	r.decode(t, &rotated)
	if rotated.Secret == secret || !strings.HasPrefix(rotated.Secret, "whsec_") {
		t.Fatalf("got %s, want a new secret", r.body)
	}
	wantStatus(t, h.do(http.MethodDelete, "/v1/customer-portal/users/"+a.User.ID+"/access", acme, nil), http.StatusOK)
	expect("user.revoked", func(ev hookEvent) {
		if err := hookVerify(rotated.Secret, ev.header, ev.body); err != nil {
			t.Errorf("new secret: %v", err)
		}
		if n := len(strings.Fields(ev.header.Get("webhook-signature"))); n != 2 {
			t.Errorf("got %d signatures, want 2 during the grace period", n)
		}
	})
	secret = rotated.Secret
	wantStatus(t, h.do(http.MethodDelete, "/v1/customer-portal/users/"+a.User.ID, acme, nil), http.StatusNoContent)
	expect("user.removed", nil)

	// The deliveries list shows each, and nothing for the note.
	var list struct {
		Data []deliveryJSON `json:"data"`
	}
	h.do(http.MethodGet, webhooksPath+"/"+hook.ID+"/deliveries?limit=100", acme, nil).decode(t, &list)
	if len(list.Data) != 8 {
		t.Fatalf("got %d deliveries, want 8: %+v", len(list.Data), list.Data)
	}
	for _, d := range list.Data[1:] { // the newest may still be being recorded
		if d.Status != "succeeded" || d.Attempts != 1 || d.LastResponseCode != 200 {
			t.Errorf("got %+v, want succeeded at the first attempt", d)
		}
	}
	// Retry sends the newest again with the same webhook-id.
	newest := list.Data[0]
	r = h.do(http.MethodPost, webhooksPath+"/"+hook.ID+"/deliveries/"+newest.ID+"/retry", acme, nil)
	wantStatus(t, r, http.StatusAccepted)
	again := h.next()
	if again.header.Get("webhook-id") != newest.EventID || again.Type != "user.removed" {
		t.Errorf("retry: got %s with id %s, want the user.removed event %s", again.Type, again.header.Get("webhook-id"), newest.EventID)
	}
	select {
	case ev := <-h.got:
		t.Errorf("an unexpected delivery: %s", ev.body)
	default:
	}
}

func TestWebhooks_Validation(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t) // no address beyond public https is allowed
	acme := e.admin("acme")
	valid := []string{"ticket.created"}
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"loopback", map[string]any{"url": "https://127.0.0.1/hook", "eventTypes": valid}, "url"},
		{"loopback v6", map[string]any{"url": "https://[::1]/hook", "eventTypes": valid}, "url"},
		{"metadata", map[string]any{"url": "https://169.254.169.254/latest/meta-data", "eventTypes": valid}, "url"},
		{"private", map[string]any{"url": "https://10.0.0.8/hook", "eventTypes": valid}, "url"},
		{"localhost", map[string]any{"url": "https://localhost/hook", "eventTypes": valid}, "url"},
		{"plain http", map[string]any{"url": "http://crm.example.com/hook", "eventTypes": valid}, "url"},
		{"no events", map[string]any{"url": "https://crm.example.com/hook", "eventTypes": []string{}}, "eventTypes"},
		{"unknown event", map[string]any{"url": "https://crm.example.com/hook", "eventTypes": []string{"quote.sent"}}, "eventTypes[0]"},
		{"missing url", map[string]any{"eventTypes": valid}, "url"},
		{"unknown member", map[string]any{"url": "https://crm.example.com/hook", "eventTypes": valid, "secret": "whsec_x"}, "secret"},
	}
	for _, tt := range tests {
		p := wantProblem(t, e.do(http.MethodPost, webhooksPath, acme, tt.body), http.StatusUnprocessableEntity)
		if _, ok := fieldErrors(t, p)[tt.field]; !ok {
			t.Errorf("%s: got %v, want %s named", tt.name, p, tt.field)
		}
	}
	// The quote events are part of the contract already.
	r := e.do(http.MethodPost, webhooksPath, acme, map[string]any{"url": "https://crm.example.com/hook", "eventTypes": []string{"quote.accepted", "quote.declined"}})
	wantStatus(t, r, http.StatusCreated)
	var hook webhookJSON
	r.decode(t, &hook)
	p := wantProblem(t, e.do(http.MethodPatch, webhooksPath+"/"+hook.ID, acme, map[string]any{"url": "https://192.168.1.1/"}), http.StatusUnprocessableEntity)
	if _, ok := fieldErrors(t, p)["url"]; !ok {
		t.Errorf("patch to a private address: got %v, want url named", p)
	}
	wantProblem(t, e.do(http.MethodPatch, webhooksPath+"/"+hook.ID, acme, map[string]any{"enabled": nil}), http.StatusUnprocessableEntity)
	r = e.do(http.MethodPatch, webhooksPath+"/"+hook.ID, acme, map[string]any{"enabled": false, "description": "paused"})
	wantStatus(t, r, http.StatusOK)
	var patched webhookJSON
	r.decode(t, &patched)
	if patched.Enabled || patched.URL != "https://crm.example.com/hook" {
		t.Errorf("got %s, want disabled and the URL kept", r.body)
	}
	// A reader may look but not change.
	reader := e.tokenFor("acme", "portal:read")
	wantStatus(t, e.do(http.MethodGet, webhooksPath, reader, nil), http.StatusOK)
	wantProblem(t, e.do(http.MethodPost, webhooksPath, reader, map[string]any{"url": "https://crm.example.com/x", "eventTypes": valid}), http.StatusForbidden)
	wantProblem(t, e.do(http.MethodPost, webhooksPath+"/"+hook.ID+"/rotate-secret", reader, nil), http.StatusForbidden)
	// At most data.MaxWebhooks.
	for i := 1; i < data.MaxWebhooks; i++ {
		wantStatus(t, e.do(http.MethodPost, webhooksPath, acme, map[string]any{"url": "https://crm.example.com/" + strconv.Itoa(i), "eventTypes": valid}), http.StatusCreated)
	}
	wantProblem(t, e.do(http.MethodPost, webhooksPath, acme, map[string]any{"url": "https://crm.example.com/over", "eventTypes": valid}), http.StatusConflict)
	wantStatus(t, e.do(http.MethodDelete, webhooksPath+"/"+hook.ID, acme, nil), http.StatusNoContent)
	wantProblem(t, e.do(http.MethodGet, webhooksPath+"/"+hook.ID, acme, nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodPost, webhooksPath, acme, map[string]any{"url": "https://crm.example.com/room", "eventTypes": valid}), http.StatusCreated)
}

// A customer's acceptance or refusal of a quote reaches the CRM as
// quote.accepted or quote.declined, signed, with the quote's external ID
// and the acceptance; a failed acceptance sends nothing.
func TestWebhooks_QuoteEvents(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t)
	staff := h.admin("acme")
	h.enableFeatures(staff, "quotes")
	r := h.do(http.MethodPost, webhooksPath, staff, map[string]any{"url": h.receiver.URL + "/in",
		"eventTypes": []string{"quote.accepted", "quote.declined"}})
	wantStatus(t, r, http.StatusCreated)
	var hook webhookJSON
	r.decode(t, &hook)
	admin, _ := h.customerOf(staff, "ada@example.com", "ACC-1", "admin")
	one := h.do(http.MethodPut, "/v1/customer-portal/quotes/q-1", staff, quoteBody("ACC-1", "Q-1", 1)).json(t)["id"].(string)
	two := h.do(http.MethodPut, "/v1/customer-portal/quotes/q-2", staff, quoteBody("ACC-1", "Q-2", 1)).json(t)["id"].(string)

	wantStatus(t, h.do(http.MethodPost, "/v1/portal/quotes/"+one+"/accept", admin, map[string]any{"signerName": "Ada Lovelace"}), http.StatusOK)
	ev := h.next()
	if err := hookVerify(hook.Secret, ev.header, ev.body); err != nil || ev.Type != "quote.accepted" {
		t.Fatalf("got %s (%v), want a signed quote.accepted", ev.body, err)
	}
	q, _ := ev.Data["quote"].(map[string]any)
	acc, _ := q["acceptance"].(map[string]any)
	if q["externalId"] != "q-1" || acc["signerName"] != "Ada Lovelace" {
		t.Errorf("got %s, want quote q-1 accepted by Ada Lovelace", ev.body)
	}
	// Accepting again is refused and sends nothing; the refusal of the
	// other quote is the next event.
	wantProblem(t, h.do(http.MethodPost, "/v1/portal/quotes/"+one+"/accept", admin, map[string]any{"signerName": "Ada"}), http.StatusConflict)
	wantStatus(t, h.do(http.MethodPost, "/v1/portal/quotes/"+two+"/decline", admin, map[string]any{"reason": "Too expensive"}), http.StatusOK)
	ev = h.next()
	if q, _ := ev.Data["quote"].(map[string]any); ev.Type != "quote.declined" || q["externalId"] != "q-2" {
		t.Errorf("got %s, want quote.declined of q-2", ev.body)
	}
}
