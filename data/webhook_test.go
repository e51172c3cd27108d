package data

import (
	"net/netip"
	"strings"
	"testing"
)

func TestWebhookPolicy_URLProblem(t *testing.T) {
	strict := WebhookPolicy{}
	open := WebhookPolicy{AllowPrivate: true, HTTPHosts: []string{"receiver.internal"}}
	tests := []struct {
		name string
		p    WebhookPolicy
		url  string
		want string // a substring of the problem; "" for none
	}{
		{"https", strict, "https://crm.example.com/hooks", ""},
		{"https with port", strict, "https://crm.example.com:8443/hooks?x=1", ""},
		{"empty", strict, "", "is required"},
		{"relative", strict, "/hooks", "absolute"},
		{"ftp", strict, "ftp://crm.example.com/", "absolute"},
		{"http refused", strict, "http://crm.example.com/", "must use https"},
		{"http to an allowed host", open, "http://receiver.internal/hooks", ""},
		{"user info", strict, "https://u:p@crm.example.com/", "user name"},
		{"fragment", strict, "https://crm.example.com/#x", "fragment"},
		{"loopback v4", strict, "https://127.0.0.1/", "non-public"},
		{"loopback v6", strict, "https://[::1]/", "non-public"},
		{"metadata", strict, "https://169.254.169.254/latest", "non-public"},
		{"private 10/8", strict, "https://10.0.0.1/", "non-public"},
		{"private 192.168", strict, "https://192.168.1.1/", "non-public"},
		{"mapped loopback", strict, "https://[::ffff:127.0.0.1]/", "non-public"},
		{"unspecified", strict, "https://0.0.0.0/", "non-public"},
		{"localhost", strict, "https://localhost:8443/", "non-public"},
		{"loopback allowed", open, "https://127.0.0.1:9000/", ""},
		{"bad port", strict, "https://crm.example.com:99999/", "port"},
		{"too long", strict, "https://crm.example.com/" + strings.Repeat("a", MaxWebhookURL), "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.URLProblem(tt.url)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("URLProblem(%q) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

func TestWebhookPolicy_AllowedNets(t *testing.T) {
	p := WebhookPolicy{AllowedNets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	if !p.AllowedAddr(netip.MustParseAddr("10.1.2.3")) || p.AllowedAddr(netip.MustParseAddr("10.2.0.1")) {
		t.Error("got the allowed network wrong")
	}
	if p.URLProblem("https://10.1.2.3/") != "" || p.URLProblem("https://10.2.0.1/") == "" {
		t.Error("creation does not follow the allowed network")
	}
}

func TestWebhook_Validate(t *testing.T) {
	tests := []struct {
		name   string
		w      Webhook
		fields []string
	}{
		{"valid", Webhook{URL: "https://crm.example.com/", EventTypes: []string{EventTicketCreated, EventQuoteAccepted}}, nil},
		{"no events", Webhook{URL: "https://crm.example.com/", EventTypes: []string{}}, []string{"eventTypes"}},
		{"unknown event", Webhook{URL: "https://crm.example.com/", EventTypes: []string{"ticket.deleted"}}, []string{"eventTypes[0]"}},
		{"twice", Webhook{URL: "https://crm.example.com/", EventTypes: []string{EventUserRemoved, EventUserRemoved}}, []string{"eventTypes[1]"}},
		{"everything wrong", Webhook{URL: "http://10.0.0.1/", EventTypes: nil, Description: "a\nb"}, []string{"url", "eventTypes", "description"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate(WebhookPolicy{})
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			for _, f := range tt.fields {
				if _, ok := ve.Fields[f]; !ok {
					t.Errorf("got %v, want %s named", ve.Fields, f)
				}
			}
		})
	}
}
