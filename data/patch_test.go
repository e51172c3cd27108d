package data_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/salesos/portal/data"
)

// cfgPatch decodes a merge patch the way the handler does (numbers kept as
// json.Number).
func cfgPatch(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("patch %s: %v", s, err)
	}
	return m
}

// cfgCustomized is a config whose writable fields all differ from the defaults.
func cfgCustomized() data.Config {
	c := data.DefaultConfig("acme", cfgNow)
	c.Enabled = false
	c.PortalName = "Acme Help"
	c.Slug = "acme-help"
	c.CustomDomain = "help.acme.example"
	c.WelcomeMessage = "Hello"
	c.SupportEmail = "help@acme.example"
	c.Branding = data.Branding{LogoURL: "https://cdn.acme.example/logo.png", FaviconURL: "https://cdn.acme.example/f.ico",
		PrimaryColor: "#000000", AccentColor: "#ffffff"}
	c.Auth = data.AuthSettings{SessionTTLMinutes: 600, IdleTimeoutMinutes: 30, PasswordMinLength: 16,
		AllowedEmailDomains: []string{"acme.example", "acme.test"}}
	c.Invitations.ExpiryHours = 24
	c.QuotesMemberAccept = true
	c.Version = 7
	c.UpdatedBy = "someone"
	return c
}

func TestApplyConfigPatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		patch string
		check func(t *testing.T, got data.Config)
	}{
		{"empty patch changes nothing", `{}`, func(t *testing.T, got data.Config) {
			if got.PortalName != "Acme Help" || got.Slug != "acme-help" || got.Auth.SessionTTLMinutes != 600 {
				t.Errorf("got %+v, want the current config", got)
			}
		}},
		{"quotesMemberAccept off", `{"quotesMemberAccept": false}`, func(t *testing.T, got data.Config) {
			if got.QuotesMemberAccept || got.PortalName != "Acme Help" {
				t.Errorf("got quotesMemberAccept %t portalName %q, want false and the rest untouched", got.QuotesMemberAccept, got.PortalName)
			}
		}},
		{"quotesMemberAccept null resets to false", `{"quotesMemberAccept": null}`, func(t *testing.T, got data.Config) {
			if got.QuotesMemberAccept {
				t.Error("got quotesMemberAccept true, want the default false")
			}
		}},
		{"top-level member", `{"portalName": "New Name", "enabled": true}`, func(t *testing.T, got data.Config) {
			if got.PortalName != "New Name" || !got.Enabled {
				t.Errorf("got portalName %q enabled %t, want New Name true", got.PortalName, got.Enabled)
			}
			if got.WelcomeMessage != "Hello" {
				t.Errorf("got welcomeMessage %q, want Hello (untouched)", got.WelcomeMessage)
			}
		}},
		{"nested merge keeps siblings", `{"branding": {"primaryColor": "#123456"}}`, func(t *testing.T, got data.Config) {
			want := data.Branding{LogoURL: "https://cdn.acme.example/logo.png", FaviconURL: "https://cdn.acme.example/f.ico",
				PrimaryColor: "#123456", AccentColor: "#ffffff"}
			if got.Branding != want {
				t.Errorf("got branding %+v, want %+v", got.Branding, want)
			}
		}},
		{"null resets a member to its default", `{"portalName": null, "customDomain": null, "enabled": null}`, func(t *testing.T, got data.Config) {
			if got.PortalName != "Customer Portal" || got.CustomDomain != "" || !got.Enabled {
				t.Errorf("got portalName %q customDomain %q enabled %t, want defaults", got.PortalName, got.CustomDomain, got.Enabled)
			}
		}},
		{"null nested member resets only it", `{"auth": {"sessionTtlMinutes": null}}`, func(t *testing.T, got data.Config) {
			if got.Auth.SessionTTLMinutes != 1440 || got.Auth.IdleTimeoutMinutes != 30 || got.Auth.PasswordMinLength != 16 {
				t.Errorf("got auth %+v, want ttl 1440 and the rest kept", got.Auth)
			}
		}},
		{"null object resets the whole object", `{"branding": null}`, func(t *testing.T, got data.Config) {
			want := data.Branding{PrimaryColor: "#1f6feb", AccentColor: "#0f883e"}
			if got.Branding != want {
				t.Errorf("got branding %+v, want %+v", got.Branding, want)
			}
		}},
		{"arrays replace", `{"auth": {"allowedEmailDomains": ["new.example"]}}`, func(t *testing.T, got data.Config) {
			if d := got.Auth.AllowedEmailDomains; len(d) != 1 || d[0] != "new.example" {
				t.Errorf("got domains %v, want [new.example]", d)
			}
		}},
		{"null array resets to empty", `{"auth": {"allowedEmailDomains": null}}`, func(t *testing.T, got data.Config) {
			if d := got.Auth.AllowedEmailDomains; d == nil || len(d) != 0 {
				t.Errorf("got domains %#v, want empty non-nil", d)
			}
		}},
		{"null slug keeps the default given (the portal's address)", `{"slug": null}`, func(t *testing.T, got data.Config) {
			if got.Slug != "acme" {
				t.Errorf("got slug %q, want the defaults' slug acme", got.Slug)
			}
		}},
		{"read-only members of the config are kept", `{"portalName": "X"}`, func(t *testing.T, got data.Config) {
			if got.Version != 7 || got.UpdatedBy != "someone" || len(got.Features) != 7 {
				t.Errorf("got version %d updatedBy %q features %d, want 7 someone 7", got.Version, got.UpdatedBy, len(got.Features))
			}
		}},
		{"integer at the bounds", `{"auth": {"sessionTtlMinutes": 43200, "idleTimeoutMinutes": 5}, "invitations": {"expiryHours": 720}}`, func(t *testing.T, got data.Config) {
			if got.Auth.SessionTTLMinutes != 43200 || got.Auth.IdleTimeoutMinutes != 5 || got.Invitations.ExpiryHours != 720 {
				t.Errorf("got %+v %+v, want 43200/5/720", got.Auth, got.Invitations)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cur := cfgCustomized()
			got, err := data.ApplyConfigPatch(cur, cfgPatch(t, tt.patch), data.DefaultConfig("acme", cfgNow))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			tt.check(t, got)
			if err := got.Validate(); err != nil {
				t.Errorf("result: got Validate() = %v, want nil", err)
			}
		})
	}
}

func TestApplyConfigPatch_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		patch string
		want  []string // every field reported, sorted
	}{
		{"version read-only", `{"version": 9}`, []string{"version"}},
		{"updatedAt read-only", `{"updatedAt": "2026-01-01T00:00:00Z"}`, []string{"updatedAt"}},
		{"updatedBy read-only", `{"updatedBy": "me"}`, []string{"updatedBy"}},
		{"features read-only", `{"features": []}`, []string{"features"}},
		{"read-only even when null", `{"version": null}`, []string{"version"}},
		{"unknown top-level", `{"colour": "red"}`, []string{"colour"}},
		{"unknown nested", `{"branding": {"fontSize": 12}}`, []string{"branding.fontSize"}},
		{"unknown nested auth", `{"auth": {"mfa": true}}`, []string{"auth.mfa"}},
		{"bool as string", `{"enabled": "yes"}`, []string{"enabled"}},
		{"string as number", `{"portalName": 5}`, []string{"portalName"}},
		{"object as string", `{"branding": "blue"}`, []string{"branding"}},
		{"object as array", `{"auth": []}`, []string{"auth"}},
		{"number as string", `{"auth": {"sessionTtlMinutes": "60"}}`, []string{"auth.sessionTtlMinutes"}},
		{"fraction", `{"invitations": {"expiryHours": 1.5}}`, []string{"invitations.expiryHours"}},
		{"huge number", `{"invitations": {"expiryHours": 1e300}}`, []string{"invitations.expiryHours"}},
		{"beyond float64", `{"invitations": {"expiryHours": 1e400}}`, []string{"invitations.expiryHours"}},
		{"beyond int64", `{"auth": {"passwordMinLength": 99999999999999999999}}`, []string{"auth.passwordMinLength"}},
		{"array as string", `{"auth": {"allowedEmailDomains": "a.example"}}`, []string{"auth.allowedEmailDomains"}},
		{"array of numbers", `{"auth": {"allowedEmailDomains": [1]}}`, []string{"auth.allowedEmailDomains"}},
		{"value out of range", `{"auth": {"passwordMinLength": 7}}`, []string{"auth.passwordMinLength"}},
		{"idle above a new ttl", `{"auth": {"sessionTtlMinutes": 20}}`, []string{"auth.idleTimeoutMinutes"}},
		{"slug pattern", `{"slug": "Bad Slug"}`, []string{"slug"}},
		{"empty name", `{"portalName": ""}`, []string{"portalName"}},
		{"every problem at once", `{"version": 2, "nope": 1, "enabled": 1, "slug": "-x", "branding": {"logoUrl": "http://x.example", "z": 1},
			"auth": {"passwordMinLength": 200}, "invitations": {"expiryHours": 0}}`,
			[]string{"auth.passwordMinLength", "branding.logoUrl", "branding.z", "enabled", "invitations.expiryHours", "nope", "slug", "version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cur := cfgCustomized()
			got, err := data.ApplyConfigPatch(cur, cfgPatch(t, tt.patch), data.DefaultConfig("acme", cfgNow))
			if fields := cfgInvalidFields(t, err); !cfgSameStrings(fields, tt.want) {
				t.Errorf("got invalid fields %v, want %v", fields, tt.want)
			}
			if got.PortalName != cur.PortalName || got.Slug != cur.Slug || got.Version != cur.Version {
				t.Errorf("got config %+v on error, want the current one unchanged", got)
			}
		})
	}
}

// TestApplyConfigPatch_WholeNumberForms: the patch's whole-number check
// accepts JSON numbers written with a fraction or exponent (1440.0, 1.44e3),
// so they must either apply or be reported against their own field.
func TestApplyConfigPatch_WholeNumberForms(t *testing.T) {
	t.Parallel()
	for _, num := range []string{"48.0", "4.8e1", "480E-1"} {
		t.Run(num, func(t *testing.T) {
			t.Parallel()
			got, err := data.ApplyConfigPatch(cfgCustomized(), cfgPatch(t, `{"invitations": {"expiryHours": `+num+`}}`), data.DefaultConfig("acme", cfgNow))
			if err != nil {
				fields := cfgInvalidFields(t, err)
				if len(fields) == 1 && fields[0] == "invitations.expiryHours" {
					return // reported against the field: acceptable
				}
				t.Fatalf("%s: got error on fields %v (%v), want expiryHours 48", num, fields, err)
			}
			if got.Invitations.ExpiryHours != 48 {
				t.Errorf("got expiryHours %d, want 48", got.Invitations.ExpiryHours)
			}
		})
	}
}

func TestApplyConfigPatch_DoesNotAliasInput(t *testing.T) {
	t.Parallel()
	cur := cfgCustomized()
	got, err := data.ApplyConfigPatch(cur, cfgPatch(t, `{"auth": {"allowedEmailDomains": ["x.example"]}}`), data.DefaultConfig("acme", cfgNow))
	if err != nil {
		t.Fatal(err)
	}
	got.Auth.AllowedEmailDomains[0] = "changed.example"
	if cur.Auth.AllowedEmailDomains[0] != "acme.example" {
		t.Errorf("got input domains %v, want them untouched", cur.Auth.AllowedEmailDomains)
	}
}
