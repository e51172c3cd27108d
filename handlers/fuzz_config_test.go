package handlers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// FuzzDecodeConfigPatch feeds request bodies to the config patch decoder and
// applies what it accepts to a default config. Errors are fine (they must be
// the kinds writeError maps to 400 or 422); a panic fails, and so does a
// success that does not validate or does not encode.
func FuzzDecodeConfigPatch(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"portalName": "Acme Help", "slug": "acme-help", "enabled": false}`,
		`{"branding": {"logoUrl": "https://cdn.example.com/l.png", "primaryColor": "#000000", "accentColor": null}}`,
		`{"auth": {"sessionTtlMinutes": 43200, "idleTimeoutMinutes": 5, "passwordMinLength": 128, "allowedEmailDomains": ["example.com"]}}`,
		`{"invitations": {"expiryHours": 720}, "welcomeMessage": "hi", "supportEmail": "a@example.com", "customDomain": "p.example.com"}`,
		`{"branding": null, "auth": null, "invitations": null, "portalName": null, "slug": null}`,
		`{"version": 2, "features": [], "updatedAt": "x", "updatedBy": "y"}`,
		`{"nope": 1, "branding": {"nope": 2}, "auth": {"allowedEmailDomains": [1, null, {}]}}`,
		`{"auth": {"sessionTtlMinutes": 1e400}}`,
		`{"auth": {"sessionTtlMinutes": 99999999999999999999999}}`,
		`{"auth": {"sessionTtlMinutes": -0.0}}`,
		`{"invitations": {"expiryHours": 48.0}}`,
		`{"invitations": {"expiryHours": 2147483647}}`,
		`{"auth": {"passwordMinLength": "12"}}`,
		`{"enabled": "true", "portalName": 7, "branding": [], "auth": "x"}`,
		`{"portalName": "\ud800", "welcomeMessage": "J\u00f6rg"}`,
		"{\"portalName\": \"J\xf6rg\"}",
		`{"portalName": "a", "portalName": "b"}`,
		`[]`, `null`, `"x"`, `1`, `true`,
		`{"a": ` + strings.Repeat(`{"a": `, 40) + `1` + strings.Repeat(`}`, 41),
		strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100),
		`{"branding": {"primaryColor": "#00000"`,
		`{}{}`,
		`{} `,
		``,
		`   `,
	} {
		f.Add([]byte(seed))
	}
	base := data.DefaultConfig("acme", time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	f.Fuzz(func(t *testing.T, body []byte) {
		patch, err := decodePatchBytes(body)
		if err != nil {
			var me *malformedError
			var ve *data.ValidationError
			if !errors.As(err, &me) && !errors.As(err, &ve) {
				t.Fatalf("decodePatchBytes(%q): got error %T %v, want malformed or validation", body, err, err)
			}
			return
		}
		if patch == nil {
			t.Fatalf("decodePatchBytes(%q): got nil map and nil error, want an object", body)
		}
		got, err := data.ApplyConfigPatch(base, patch, base)
		if err != nil {
			var ve *data.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("ApplyConfigPatch(%q): got error %T %v, want a ValidationError naming fields", body, err, err)
			}
			if p := problemFor(err); p.Status != 422 {
				t.Fatalf("ApplyConfigPatch(%q): got status %d for %v, want 422", body, p.Status, err)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("ApplyConfigPatch(%q): got a config that does not validate: %v", body, err)
		}
		raw, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("ApplyConfigPatch(%q): got a config that does not encode: %v", body, err)
		}
		var back data.Config
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("ApplyConfigPatch(%q): encoded config does not decode: %v", body, err)
		}
		if back.Version != base.Version || len(back.Features) != len(base.Features) || back.UpdatedBy != base.UpdatedBy {
			t.Fatalf("ApplyConfigPatch(%q): got read-only members changed (version %d, %d features, by %q)", body, back.Version, len(back.Features), back.UpdatedBy)
		}
	})
}
