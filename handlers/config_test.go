package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const featuresPath = "/v1/customer-portal/features"

// cfgWantFields fails unless r is a 422 validation problem naming every
// field in want.
func cfgWantFields(t *testing.T, r response, want ...string) map[string]string {
	t.Helper()
	p := wantProblem(t, r, http.StatusUnprocessableEntity)
	if p["type"] != "https://salesos.dev/problems/validation-error" {
		t.Errorf("got type %v, want https://salesos.dev/problems/validation-error", p["type"])
	}
	got := fieldErrors(t, p)
	for _, f := range want {
		msg, ok := got[f]
		if !ok {
			t.Errorf("got error fields %v, want %q among them", got, f)
			continue
		}
		if msg == "" {
			t.Errorf("field %q: got an empty message, want a reason", f)
		}
	}
	return got
}

// cfgGet returns the organization's config and the response.
func cfgGet(t *testing.T, e *testEnv, token string) (map[string]any, response) {
	t.Helper()
	r := e.do(http.MethodGet, portalConfigPath, token, nil)
	wantStatus(t, r, http.StatusOK)
	return r.json(t), r
}

func TestConfig_GetDefaults(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.tokenFor("acme", "portal:read")
	for i := 0; i < 2; i++ { // reading twice neither fails nor writes
		c, r := cfgGet(t, e, tok)
		if et := r.header.Get("ETag"); et != `"1-acme"` {
			t.Errorf("got ETag %s, want \"1-acme\" (the defaults name their slug)", et)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("got Content-Type %q, want application/json", ct)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"enabled", c["enabled"], true},
			{"portalName", c["portalName"], "Customer Portal"},
			{"slug", c["slug"], "acme"},
			{"customDomain", c["customDomain"], ""},
			{"version", c["version"], float64(1)},
			{"updatedAt", c["updatedAt"], "2026-11-26T12:00:00Z"},
			{"branding.primaryColor", c["branding"].(map[string]any)["primaryColor"], "#1f6feb"},
			{"branding.accentColor", c["branding"].(map[string]any)["accentColor"], "#0f883e"},
			{"auth.sessionTtlMinutes", c["auth"].(map[string]any)["sessionTtlMinutes"], float64(1440)},
			{"auth.idleTimeoutMinutes", c["auth"].(map[string]any)["idleTimeoutMinutes"], float64(60)},
			{"auth.passwordMinLength", c["auth"].(map[string]any)["passwordMinLength"], float64(12)},
			{"invitations.expiryHours", c["invitations"].(map[string]any)["expiryHours"], float64(72)},
			{"features", len(c["features"].([]any)), 7},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
			}
		}
		if d, ok := c["auth"].(map[string]any)["allowedEmailDomains"].([]any); !ok || len(d) != 0 {
			t.Errorf("allowedEmailDomains: got %v, want []", c["auth"].(map[string]any)["allowedEmailDomains"])
		}
	}
}

func TestConfig_PatchValidation(t *testing.T) {
	t.Parallel()
	domains := make([]string, 101)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%d.example", i)
	}
	tests := []struct {
		name  string
		body  any // a string is sent as is
		field string
	}{
		{"portalName empty", map[string]any{"portalName": ""}, "portalName"},
		{"portalName blank", map[string]any{"portalName": "   "}, "portalName"},
		{"portalName 101 chars", map[string]any{"portalName": strings.Repeat("n", 101)}, "portalName"},
		{"slug uppercase", map[string]any{"slug": "Acme"}, "slug"},
		{"slug leading dash", map[string]any{"slug": "-acme"}, "slug"},
		{"slug trailing dash", map[string]any{"slug": "acme-"}, "slug"},
		{"slug too short", map[string]any{"slug": "ab"}, "slug"},
		{"slug too long", map[string]any{"slug": strings.Repeat("a", 64)}, "slug"},
		{"slug with slash", map[string]any{"slug": "a/b/c"}, "slug"},
		{"slug empty", map[string]any{"slug": ""}, "slug"},
		{"customDomain single label", map[string]any{"customDomain": "localhost"}, "customDomain"},
		{"customDomain url", map[string]any{"customDomain": "https://help.acme.example"}, "customDomain"},
		{"customDomain with port", map[string]any{"customDomain": "help.acme.example:8443"}, "customDomain"},
		{"welcomeMessage 2001 chars", map[string]any{"welcomeMessage": strings.Repeat("w", 2001)}, "welcomeMessage"},
		{"supportEmail not an email", map[string]any{"supportEmail": "support"}, "supportEmail"},
		{"supportEmail with name", map[string]any{"supportEmail": "Support <s@acme.example>"}, "supportEmail"},
		{"logoUrl http", map[string]any{"branding": map[string]any{"logoUrl": "http://cdn.acme.example/logo.png"}}, "branding.logoUrl"},
		{"logoUrl relative", map[string]any{"branding": map[string]any{"logoUrl": "/logo.png"}}, "branding.logoUrl"},
		{"logoUrl javascript", map[string]any{"branding": map[string]any{"logoUrl": "javascript:alert(1)"}}, "branding.logoUrl"},
		{"faviconUrl http", map[string]any{"branding": map[string]any{"faviconUrl": "http://cdn.acme.example/f.ico"}}, "branding.faviconUrl"},
		{"primaryColor short", map[string]any{"branding": map[string]any{"primaryColor": "#fff"}}, "branding.primaryColor"},
		{"primaryColor name", map[string]any{"branding": map[string]any{"primaryColor": "blue"}}, "branding.primaryColor"},
		{"accentColor no hash", map[string]any{"branding": map[string]any{"accentColor": "0f883e"}}, "branding.accentColor"},
		{"sessionTtlMinutes 4", map[string]any{"auth": map[string]any{"sessionTtlMinutes": 4}}, "auth.sessionTtlMinutes"},
		{"sessionTtlMinutes 43201", map[string]any{"auth": map[string]any{"sessionTtlMinutes": 43201}}, "auth.sessionTtlMinutes"},
		{"idleTimeoutMinutes 4", map[string]any{"auth": map[string]any{"idleTimeoutMinutes": 4}}, "auth.idleTimeoutMinutes"},
		{"idleTimeoutMinutes above default ttl", map[string]any{"auth": map[string]any{"idleTimeoutMinutes": 1441}}, "auth.idleTimeoutMinutes"},
		{"idleTimeoutMinutes above new ttl", map[string]any{"auth": map[string]any{"sessionTtlMinutes": 30, "idleTimeoutMinutes": 31}}, "auth.idleTimeoutMinutes"},
		{"passwordMinLength 7", map[string]any{"auth": map[string]any{"passwordMinLength": 7}}, "auth.passwordMinLength"},
		{"passwordMinLength 129", map[string]any{"auth": map[string]any{"passwordMinLength": 129}}, "auth.passwordMinLength"},
		{"allowedEmailDomains bad domain", map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{"not a domain"}}}, "auth.allowedEmailDomains"},
		{"allowedEmailDomains email", map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{"a@acme.example"}}}, "auth.allowedEmailDomains"},
		{"allowedEmailDomains duplicate", map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{"acme.example", "ACME.example"}}}, "auth.allowedEmailDomains"},
		{"allowedEmailDomains 101", map[string]any{"auth": map[string]any{"allowedEmailDomains": domains}}, "auth.allowedEmailDomains"},
		{"expiryHours 0", map[string]any{"invitations": map[string]any{"expiryHours": 0}}, "invitations.expiryHours"},
		{"expiryHours 721", map[string]any{"invitations": map[string]any{"expiryHours": 721}}, "invitations.expiryHours"},
		{"expiryHours negative", map[string]any{"invitations": map[string]any{"expiryHours": -1}}, "invitations.expiryHours"},

		{"enabled as string", map[string]any{"enabled": "yes"}, "enabled"},
		{"enabled as number", map[string]any{"enabled": 1}, "enabled"},
		{"portalName as number", map[string]any{"portalName": 42}, "portalName"},
		{"slug as bool", map[string]any{"slug": true}, "slug"},
		{"branding as string", map[string]any{"branding": "blue"}, "branding"},
		{"auth as array", map[string]any{"auth": []any{}}, "auth"},
		{"invitations as number", map[string]any{"invitations": 72}, "invitations"},
		{"primaryColor as number", map[string]any{"branding": map[string]any{"primaryColor": 123456}}, "branding.primaryColor"},
		{"sessionTtlMinutes as string", map[string]any{"auth": map[string]any{"sessionTtlMinutes": "60"}}, "auth.sessionTtlMinutes"},
		{"sessionTtlMinutes fraction", `{"auth": {"sessionTtlMinutes": 60.5}}`, "auth.sessionTtlMinutes"},
		{"sessionTtlMinutes huge", `{"auth": {"sessionTtlMinutes": 1e400}}`, "auth.sessionTtlMinutes"},
		{"expiryHours beyond int64", `{"invitations": {"expiryHours": 123456789012345678901234567890}}`, "invitations.expiryHours"},
		{"allowedEmailDomains as string", map[string]any{"auth": map[string]any{"allowedEmailDomains": "acme.example"}}, "auth.allowedEmailDomains"},
		{"allowedEmailDomains of numbers", map[string]any{"auth": map[string]any{"allowedEmailDomains": []int{1}}}, "auth.allowedEmailDomains"},

		{"version read-only", map[string]any{"version": 5}, "version"},
		{"updatedAt read-only", map[string]any{"updatedAt": "2026-01-01T00:00:00Z"}, "updatedAt"},
		{"updatedBy read-only", map[string]any{"updatedBy": "mallory"}, "updatedBy"},
		{"features read-only", map[string]any{"features": []any{map[string]any{"id": "chat", "enabled": true}}}, "features"},
		{"unknown top-level", map[string]any{"theme": "dark"}, "theme"},
		{"unknown in branding", map[string]any{"branding": map[string]any{"font": "serif"}}, "branding.font"},
		{"unknown in auth", map[string]any{"auth": map[string]any{"mfa": true}}, "auth.mfa"},
		{"unknown in invitations", map[string]any{"invitations": map[string]any{"reminders": 2}}, "invitations.reminders"},
		{"case matters in names", map[string]any{"PortalName": "X"}, "PortalName"},
	}
	shared := newTestEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			tok := e.admin(fmt.Sprintf("invalid-%d", i))
			cfgWantFields(t, e.do(http.MethodPatch, portalConfigPath, tok, tt.body), tt.field)
			c, r := cfgGet(t, e, tok)
			if want := fmt.Sprintf(`"1-invalid-%d"`, i); c["version"] != float64(1) || r.header.Get("ETag") != want {
				t.Errorf("after 422: got version %v ETag %s, want 1 and %s (nothing written)", c["version"], r.header.Get("ETag"), want)
			}
		})
	}
}

func TestConfig_PatchValidBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body map[string]any
	}{
		{"portalName 100 chars", map[string]any{"portalName": strings.Repeat("n", 100)}},
		{"slug 3 chars", map[string]any{"slug": "a1z"}},
		{"slug 63 chars", map[string]any{"slug": strings.Repeat("s", 63)}},
		{"welcomeMessage 2000 chars", map[string]any{"welcomeMessage": strings.Repeat("w", 2000)}},
		{"https urls", map[string]any{"branding": map[string]any{"logoUrl": "https://cdn.acme.example/l.png", "faviconUrl": "https://cdn.acme.example/f.ico"}}},
		{"auth lower bounds", map[string]any{"auth": map[string]any{"sessionTtlMinutes": 5, "idleTimeoutMinutes": 5, "passwordMinLength": 8}}},
		{"auth upper bounds", map[string]any{"auth": map[string]any{"sessionTtlMinutes": 43200, "idleTimeoutMinutes": 43200, "passwordMinLength": 128}}},
		{"expiryHours bounds", map[string]any{"invitations": map[string]any{"expiryHours": 720}}},
		{"customDomain and email", map[string]any{"customDomain": "help.acme.example", "supportEmail": "help@acme.example"}},
	}
	shared := newTestEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			r := e.do(http.MethodPatch, portalConfigPath, e.admin(fmt.Sprintf("bounds-%d", i)), tt.body)
			wantStatus(t, r, http.StatusOK)
		})
	}
}

func TestConfig_PatchReportsEveryField(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	r := e.do(http.MethodPatch, portalConfigPath, e.admin("acme"), map[string]any{
		"portalName": "",
		"slug":       "NO",
		"version":    9,
		"colour":     "red",
		"branding":   map[string]any{"logoUrl": "http://x.example", "accentColor": "green"},
		"auth":       map[string]any{"passwordMinLength": 3, "sessionTtlMinutes": "long"},
	})
	got := cfgWantFields(t, r, "portalName", "slug", "version", "colour", "branding.logoUrl", "branding.accentColor",
		"auth.passwordMinLength", "auth.sessionTtlMinutes")
	if len(got) != 8 {
		t.Errorf("got %d error fields %v, want 8", len(got), got)
	}
}

func TestConfig_PatchMergeSemantics(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	steps := []struct {
		name  string
		patch string
		check func(t *testing.T, c map[string]any)
	}{
		{"set several", `{"portalName": "Acme Help", "welcomeMessage": "Hi", "branding": {"logoUrl": "https://cdn.acme.example/l.png", "primaryColor": "#000000"},
			"auth": {"allowedEmailDomains": ["acme.example", "acme.test"], "passwordMinLength": 16}}`, func(t *testing.T, c map[string]any) {
			b := c["branding"].(map[string]any)
			if c["portalName"] != "Acme Help" || b["primaryColor"] != "#000000" || b["accentColor"] != "#0f883e" {
				t.Errorf("got name %v branding %v, want Acme Help, #000000 and default accent", c["portalName"], b)
			}
		}},
		{"nested merge keeps siblings", `{"branding": {"accentColor": "#abcdef"}}`, func(t *testing.T, c map[string]any) {
			b := c["branding"].(map[string]any)
			if b["accentColor"] != "#abcdef" || b["primaryColor"] != "#000000" || b["logoUrl"] != "https://cdn.acme.example/l.png" {
				t.Errorf("got branding %v, want accent changed and the rest kept", b)
			}
			if c["portalName"] != "Acme Help" || c["welcomeMessage"] != "Hi" {
				t.Errorf("got name %v welcome %v, want untouched", c["portalName"], c["welcomeMessage"])
			}
		}},
		{"arrays replace", `{"auth": {"allowedEmailDomains": ["new.example"]}}`, func(t *testing.T, c map[string]any) {
			a := c["auth"].(map[string]any)
			d := a["allowedEmailDomains"].([]any)
			if len(d) != 1 || d[0] != "new.example" || a["passwordMinLength"] != float64(16) {
				t.Errorf("got auth %v, want domains [new.example] and passwordMinLength 16 kept", a)
			}
		}},
		{"null resets a nested member", `{"branding": {"primaryColor": null}, "auth": {"allowedEmailDomains": null}}`, func(t *testing.T, c map[string]any) {
			b := c["branding"].(map[string]any)
			if b["primaryColor"] != "#1f6feb" || b["accentColor"] != "#abcdef" {
				t.Errorf("got branding %v, want primary back to #1f6feb and accent kept", b)
			}
			if d := c["auth"].(map[string]any)["allowedEmailDomains"].([]any); len(d) != 0 {
				t.Errorf("got domains %v, want []", d)
			}
		}},
		{"null resets a top-level member", `{"portalName": null, "welcomeMessage": null}`, func(t *testing.T, c map[string]any) {
			if c["portalName"] != "Customer Portal" || c["welcomeMessage"] != "" {
				t.Errorf("got name %v welcome %v, want defaults", c["portalName"], c["welcomeMessage"])
			}
		}},
		{"null resets a whole object", `{"branding": null}`, func(t *testing.T, c map[string]any) {
			b := c["branding"].(map[string]any)
			if b["primaryColor"] != "#1f6feb" || b["accentColor"] != "#0f883e" || b["logoUrl"] != "" {
				t.Errorf("got branding %v, want defaults", b)
			}
		}},
		{"set a slug", `{"slug": "acme-help"}`, func(t *testing.T, c map[string]any) {
			if c["slug"] != "acme-help" {
				t.Errorf("got slug %v, want acme-help", c["slug"])
			}
		}},
		{"null slug keeps the portal's address", `{"slug": null}`, func(t *testing.T, c map[string]any) {
			if c["slug"] != "acme-help" {
				t.Errorf("got slug %v, want acme-help kept", c["slug"])
			}
		}},
		{"disable the portal", `{"enabled": false}`, func(t *testing.T, c map[string]any) {
			if c["enabled"] != false {
				t.Errorf("got enabled %v, want false", c["enabled"])
			}
		}},
	}
	for i, s := range steps {
		r := e.do(http.MethodPatch, portalConfigPath, tok, s.patch, "Content-Type", "application/merge-patch+json")
		if r.status != http.StatusOK {
			t.Fatalf("%s: got status %d, want 200: %s", s.name, r.status, r.body)
		}
		c := r.json(t)
		s.check(t, c)
		wantVersion := float64(i + 2)
		if c["version"] != wantVersion {
			t.Errorf("%s: got version %v, want %v", s.name, c["version"], wantVersion)
		}
		if et := r.header.Get("ETag"); et != fmt.Sprintf(`"%d"`, i+2) {
			t.Errorf("%s: got ETag %s, want \"%d\"", s.name, et, i+2)
		}
		if c["updatedBy"] != "staff-1" {
			t.Errorf("%s: got updatedBy %v, want staff-1 (the token's sub)", s.name, c["updatedBy"])
		}
		// The response is what a later GET returns.
		got, gr := cfgGet(t, e, tok)
		if gr.header.Get("ETag") != r.header.Get("ETag") || got["version"] != c["version"] || got["slug"] != c["slug"] {
			t.Errorf("%s: got GET version %v ETag %s, want %v %s", s.name, got["version"], gr.header.Get("ETag"), c["version"], r.header.Get("ETag"))
		}
	}
}

func TestConfig_PatchUpdatedAt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.clock.Advance(90 * time.Minute)
	r := e.do(http.MethodPatch, portalConfigPath, e.admin("acme"), map[string]any{"portalName": "Later"})
	wantStatus(t, r, http.StatusOK)
	if got := r.json(t)["updatedAt"]; got != "2026-11-26T13:30:00Z" {
		t.Errorf("got updatedAt %v, want 2026-11-26T13:30:00Z", got)
	}
}

func TestConfig_IfMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ifMatch string
		want    int
	}{
		{"current", `"2"`, 200},
		{"stale", `"1"`, 412},
		{"future", `"3"`, 412},
		{"star", `*`, 200},
		{"list with current", `"1", "2"`, 200},
		{"list without current", `"1", "5"`, 412},
		{"weak current", `W/"2"`, 412},
		{"weak current and current", `W/"2", "2"`, 200},
		{"weak unquoted", `W/2`, 400},
		{"weak empty", `W/`, 400},
		{"empty member", `"2",`, 400},
		{"quoted garbage", `"abc"`, 412},
		{"unquoted", `2`, 400},
		{"garbage", `garbage`, 400},
		{"too long", `"2", ` + strings.Repeat(`"1", `, 300) + `"1"`, 400},
		// Strong comparison is octet by octet: these name no ETag ever sent.
		{"leading zero", `"02"`, 412},
		{"plus sign", `"+2"`, 412},
	}
	shared := newTestEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			tok := e.admin(fmt.Sprintf("ifmatch-%d", i))
			wantStatus(t, e.do(http.MethodPatch, portalConfigPath, tok, map[string]any{"portalName": "v2"}), http.StatusOK)
			r := e.do(http.MethodPatch, portalConfigPath, tok, map[string]any{"portalName": "v3"}, "If-Match", tt.ifMatch)
			c, _ := cfgGet(t, e, tok)
			switch tt.want {
			case http.StatusOK:
				wantStatus(t, r, http.StatusOK)
				if r.header.Get("ETag") != `"3"` || c["portalName"] != "v3" {
					t.Errorf("got ETag %s name %v, want \"3\" v3", r.header.Get("ETag"), c["portalName"])
				}
			case http.StatusPreconditionFailed:
				p := wantProblem(t, r, http.StatusPreconditionFailed)
				if p["type"] != "https://salesos.dev/problems/precondition-failed" {
					t.Errorf("got type %v, want precondition-failed", p["type"])
				}
			default:
				wantProblem(t, r, tt.want)
			}
			if tt.want != http.StatusOK && (c["portalName"] != "v2" || c["version"] != float64(2)) {
				t.Errorf("after %d: got name %v version %v, want v2 at 2 (nothing written)", tt.want, c["portalName"], c["version"])
			}
		})
	}
}

func TestConfig_PatchBodyErrors(t *testing.T) {
	t.Parallel()
	big := `{"welcomeMessage": "` + strings.Repeat("a", 1<<20) + `"}`
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	tests := []struct {
		name        string
		body        string
		contentType string
		want        int
		kind        string
	}{
		{"over 1 MiB", big, "application/json", 413, "payload-too-large"},
		{"malformed", `{"portalName": `, "application/json", 400, "malformed-request"},
		{"not json at all", `portalName=x`, "application/json", 400, "malformed-request"},
		{"empty", ``, "application/json", 400, "malformed-request"},
		{"two documents", `{}{}`, "application/json", 400, "malformed-request"},
		{"too deep", deep, "application/json", 400, "malformed-request"},
		{"text/plain", `{"portalName": "x"}`, "text/plain", 415, "unsupported-media-type"},
		{"form", `portalName=x`, "application/x-www-form-urlencoded", 415, "unsupported-media-type"},
		{"no content type", `{"portalName": "x"}`, "", 415, "unsupported-media-type"},
		{"bad content type", `{"portalName": "x"}`, "application/", 415, "unsupported-media-type"},
		{"array", `[{"portalName": "x"}]`, "application/json", 422, "validation-error"},
		{"string", `"x"`, "application/json", 422, "validation-error"},
		{"null", `null`, "application/json", 422, "validation-error"},
	}
	shared := newTestEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			tok := e.admin(fmt.Sprintf("body-%d", i))
			r := e.do(http.MethodPatch, portalConfigPath, tok, tt.body, "Content-Type", tt.contentType)
			p := wantProblem(t, r, tt.want)
			if p["type"] != "https://salesos.dev/problems/"+tt.kind {
				t.Errorf("got type %v, want %s", p["type"], tt.kind)
			}
			if c, _ := cfgGet(t, e, tok); c["version"] != float64(1) {
				t.Errorf("got version %v, want 1 (nothing written)", c["version"])
			}
		})
	}
}

func TestConfig_PatchContentTypes(t *testing.T) {
	t.Parallel()
	shared := newTestEnv(t)
	for i, ct := range []string{"application/json", "application/merge-patch+json", "application/json; charset=utf-8", "Application/JSON"} {
		t.Run(ct, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			r := e.do(http.MethodPatch, portalConfigPath, e.admin(fmt.Sprintf("ct-%d", i)), `{"portalName": "Typed"}`, "Content-Type", ct)
			wantStatus(t, r, http.StatusOK)
		})
	}
}

type featureJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	UpdatedAt   string `json:"updatedAt"`
}

func TestFeatures_List(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	r := e.do(http.MethodGet, featuresPath, e.tokenFor("acme", "portal:read"), nil)
	wantStatus(t, r, http.StatusOK)
	var list struct {
		Data []featureJSON `json:"data"`
	}
	r.decode(t, &list)
	want := []struct {
		id      string
		enabled bool
	}{{"tickets", true}, {"knowledge_base", true}, {"documents", false}, {"invoices", false}, {"quotes", false}, {"orders", false}, {"chat", false}}
	if len(list.Data) != len(want) {
		t.Fatalf("got %d features, want %d", len(list.Data), len(want))
	}
	for i, w := range want {
		f := list.Data[i]
		if f.ID != w.id || f.Enabled != w.enabled {
			t.Errorf("feature %d: got %s enabled=%t, want %s enabled=%t", i, f.ID, f.Enabled, w.id, w.enabled)
		}
		if f.Name == "" || f.Description == "" || f.UpdatedAt != "2026-11-26T12:00:00Z" {
			t.Errorf("feature %s: got name %q description %q updatedAt %q, want all set", f.ID, f.Name, f.Description, f.UpdatedAt)
		}
	}
}

func TestFeatures_Toggle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	path := featuresPath + "/chat/toggle"
	steps := []struct {
		name        string
		body        any
		contentType string
		want        bool
	}{
		{"flip with no body", nil, "", true},
		{"flip again", nil, "", false},
		{"flip with an empty JSON body", "", "application/json", true},
		{"set false", map[string]any{"enabled": false}, "application/json", false},
		{"set false again", map[string]any{"enabled": false}, "application/json", false},
		{"set true", map[string]any{"enabled": true}, "application/json", true},
	}
	version, state, changedAt := 1, false, fixedStart
	for i, s := range steps {
		var headers []string
		if s.contentType != "" {
			headers = []string{"Content-Type", s.contentType}
		}
		e.clock.Advance(time.Minute)
		now := fixedStart.Add(time.Duration(i+1) * time.Minute)
		changes := s.want != state
		r := e.do(http.MethodPatch, path, tok, s.body, headers...)
		if r.status != http.StatusOK {
			t.Fatalf("%s: got status %d, want 200: %s", s.name, r.status, r.body)
		}
		var f featureJSON
		r.decode(t, &f)
		if f.ID != "chat" || f.Enabled != s.want || f.Name != "Chat" {
			t.Errorf("%s: got %+v, want chat enabled=%t", s.name, f, s.want)
		}
		// A real change bumps the version by one and stamps the feature; a
		// set to the current state may or may not (the contract leaves
		// no-op writes open), but never by more than one.
		c, cr := cfgGet(t, e, tok)
		got := int(c["version"].(float64))
		if changes && got != version+1 || !changes && got != version && got != version+1 {
			t.Errorf("%s: got config version %d, want %d", s.name, got, version+1)
		}
		if et := cr.header.Get("ETag"); et != fmt.Sprintf(`"%d"`, got) {
			t.Errorf("%s: got ETag %s, want \"%d\"", s.name, et, got)
		}
		if changes {
			changedAt = now
		}
		if at := f.UpdatedAt; changes && at != now.Format(time.RFC3339) || !changes && at != now.Format(time.RFC3339) && at != changedAt.Format(time.RFC3339) {
			t.Errorf("%s: got updatedAt %s, want %s", s.name, at, now.Format(time.RFC3339))
		}
		version, state = got, s.want
		if states := authFeatureStates(t, e, tok); states["chat"] != s.want || !states["tickets"] {
			t.Errorf("%s: got features %v, want chat=%t and tickets untouched", s.name, states, s.want)
		}
	}
}

func TestFeatures_ToggleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		feature     string
		body        string
		contentType string
		want        int
		field       string
	}{
		{"unknown feature", "teleport", "", "", 404, ""},
		{"unknown feature with body", "teleport", `{"enabled": true}`, "application/json", 404, ""},
		{"case matters", "Chat", "", "", 404, ""},
		{"enabled as string", "chat", `{"enabled": "yes"}`, "application/json", 422, "enabled"},
		{"enabled as number", "chat", `{"enabled": 1}`, "application/json", 422, "enabled"},
		{"enabled missing", "chat", `{}`, "application/json", 422, "enabled"},
		{"enabled null", "chat", `{"enabled": null}`, "application/json", 422, "enabled"},
		{"unknown member", "chat", `{"enabled": true, "force": true}`, "application/json", 422, "force"},
		{"malformed", "chat", `{"enabled": `, "application/json", 400, ""},
		{"array", "chat", `[true]`, "application/json", 422, ""},
		{"not json", "chat", `{"enabled": true}`, "text/plain", 415, ""},
		{"over 1 MiB", "chat", `{"enabled": true, "x": "` + strings.Repeat("a", 1<<20) + `"}`, "application/json", 413, ""},
	}
	shared := newTestEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			tok := e.admin(fmt.Sprintf("toggle-%d", i))
			var body any
			var headers []string
			if tt.body != "" {
				body = tt.body
			}
			if tt.contentType != "" {
				headers = []string{"Content-Type", tt.contentType}
			}
			r := e.do(http.MethodPatch, featuresPath+"/"+tt.feature+"/toggle", tok, body, headers...)
			if tt.want == http.StatusUnprocessableEntity && tt.field != "" {
				cfgWantFields(t, r, tt.field)
			} else {
				wantProblem(t, r, tt.want)
			}
			if c, _ := cfgGet(t, e, tok); c["version"] != float64(1) {
				t.Errorf("got version %v, want 1 (nothing toggled)", c["version"])
			}
			if states := authFeatureStates(t, e, tok); states["chat"] {
				t.Errorf("got chat on, want it untouched (off)")
			}
		})
	}
}

func TestRouting_NotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		path      string
		want      int
		allow     []string
		disallow  []string
		withToken bool
	}{
		{"unknown admin path", http.MethodGet, "/v1/customer-portal/nope", 404, nil, nil, true},
		{"unknown top path", http.MethodGet, "/nope", 404, nil, nil, false},
		{"unknown feature path", http.MethodGet, "/v1/customer-portal/features/chat", 404, nil, nil, true},
		{"DELETE config", http.MethodDelete, portalConfigPath, 405, []string{"GET", "PATCH"}, []string{"DELETE", "POST"}, true},
		{"PUT config", http.MethodPut, portalConfigPath, 405, []string{"GET", "PATCH"}, []string{"PUT"}, true},
		{"POST features", http.MethodPost, featuresPath, 405, []string{"GET"}, []string{"POST", "PATCH"}, true},
		{"GET toggle", http.MethodGet, featuresPath + "/chat/toggle", 405, []string{"PATCH"}, []string{"GET"}, true},
		{"POST healthz", http.MethodPost, "/healthz", 405, []string{"GET"}, []string{"POST"}, false},
	}
	shared := newTestEnv(t) // no case changes anything
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			tok := ""
			if tt.withToken {
				tok = e.admin("acme")
			}
			r := e.do(tt.method, tt.path, tok, nil)
			wantProblem(t, r, tt.want)
			if tt.want != http.StatusMethodNotAllowed {
				return
			}
			allow := map[string]bool{}
			for _, m := range strings.Split(r.header.Get("Allow"), ",") {
				allow[strings.TrimSpace(m)] = true
			}
			for _, m := range tt.allow {
				if !allow[m] {
					t.Errorf("got Allow %q, want it to contain %s", r.header.Get("Allow"), m)
				}
			}
			for _, m := range tt.disallow {
				if allow[m] {
					t.Errorf("got Allow %q, want it without %s", r.header.Get("Allow"), m)
				}
			}
		})
	}
}

var ulidRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sent string // "" sends none
		echo bool
	}{
		{"absent", "", false},
		{"sane", "req-123_abc.def:9", true},
		{"128 chars", strings.Repeat("r", 128), true},
		{"129 chars", strings.Repeat("r", 129), false},
		{"spaces", "has spaces", false},
		{"quotes", `x"y`, false},
		{"unicode", "ïd", false},
		{"angle brackets", "<script>", false},
	}
	shared := newTestEnv(t) // no case changes anything
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			var headers []string
			if tt.sent != "" {
				headers = []string{"X-Request-Id", tt.sent}
			}
			for _, req := range []struct {
				path, token string
				status      int
			}{
				{portalConfigPath, e.admin("acme"), 200},
				{portalConfigPath, "", 401}, // problem documents carry it too
				{"/healthz", "", 200},
			} {
				r := e.do(http.MethodGet, req.path, req.token, nil, headers...)
				wantStatus(t, r, req.status)
				got := r.header.Get("X-Request-Id")
				if tt.echo {
					if got != tt.sent {
						t.Errorf("%s: got X-Request-Id %q, want %q echoed", req.path, got, tt.sent)
					}
				} else if !ulidRE.MatchString(got) {
					t.Errorf("%s: got X-Request-Id %q, want a generated ULID", req.path, got)
				}
				if req.status >= 400 {
					var p map[string]any
					_ = json.Unmarshal(r.body, &p)
					if p["requestId"] != got {
						t.Errorf("%s: got problem requestId %v, want %q", req.path, p["requestId"], got)
					}
				}
			}
		})
	}
	// Generated IDs differ between requests.
	e := shared
	a := e.do(http.MethodGet, "/healthz", "", nil).header.Get("X-Request-Id")
	b := e.do(http.MethodGet, "/healthz", "", nil).header.Get("X-Request-Id")
	if a == b {
		t.Errorf("got the same generated X-Request-Id %q twice, want distinct", a)
	}
}

func TestConfig_IfMatchConcurrent(t *testing.T) {
	t.Parallel()
	// Two writers holding the same ETag: the check and the write are one
	// transaction, so exactly one of them wins each round.
	e := newTestEnv(t)
	tok := e.admin("acme")
	client := e.srv.Client()
	for round := 0; round < 10; round++ {
		_, r := cfgGet(t, e, tok)
		etag := r.header.Get("ETag")
		start := make(chan struct{})
		statuses := make([]int, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, err := http.NewRequest(http.MethodPatch, e.srv.URL+portalConfigPath,
					strings.NewReader(fmt.Sprintf(`{"welcomeMessage": "round %d writer %d"}`, round, i)))
				if err != nil {
					errs[i] = err
					return
				}
				req.Header.Set("Content-Type", "application/merge-patch+json")
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("If-Match", etag)
				res, err := client.Do(req)
				if err != nil {
					errs[i] = err
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if !(statuses[0] == 200 && statuses[1] == 412 || statuses[0] == 412 && statuses[1] == 200) {
			t.Fatalf("round %d: got statuses %v, want one 200 and one 412", round, statuses)
		}
	}
}

func TestConfig_DefaultSlugAndETag(t *testing.T) {
	t.Parallel()
	// An organization that has only read its config is shown a slug no
	// other organization holds, but reading does not claim it. When another
	// organization takes it, the representation changes, so its ETag must
	// too, and an If-Match of the old one must fail.
	e := newTestEnv(t)
	acme, globex := e.admin("acme"), e.admin("globex")
	before, r1 := cfgGet(t, e, globex)
	wantStatus(t, e.do(http.MethodPatch, portalConfigPath, acme, map[string]any{"slug": before["slug"]}), http.StatusOK)
	after, r2 := cfgGet(t, e, globex)
	if after["slug"] == before["slug"] {
		t.Fatalf("got slug %v for globex after acme took it, want another", after["slug"])
	}
	if r1.header.Get("ETag") == r2.header.Get("ETag") {
		t.Fatalf("got ETag %s with slug %v and with slug %v, want two tags", r1.header.Get("ETag"), before["slug"], after["slug"])
	}
	wantProblem(t, e.do(http.MethodPatch, portalConfigPath, globex, map[string]any{"portalName": "Globex"},
		"If-Match", r1.header.Get("ETag")), http.StatusPreconditionFailed)
	r := e.do(http.MethodPatch, portalConfigPath, globex, map[string]any{"portalName": "Globex"}, "If-Match", r2.header.Get("ETag"))
	wantStatus(t, r, http.StatusOK)
	if c := r.json(t); c["slug"] != after["slug"] || r.header.Get("ETag") != `"2"` {
		t.Errorf("got slug %v ETag %s, want %v and \"2\"", c["slug"], r.header.Get("ETag"), after["slug"])
	}
}
