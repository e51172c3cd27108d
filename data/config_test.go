package data_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/salesos/portal/data"
)

var cfgNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// cfgInvalidFields returns the sorted field names of a *data.ValidationError,
// nil for a nil error, and fails the test for any other error.
func cfgInvalidFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *data.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %T (%v), want *data.ValidationError", err, err)
	}
	out := make([]string, 0, len(ve.Fields))
	for k := range ve.Fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func cfgSameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	c := data.DefaultConfig("acme", cfgNow)
	if err := c.Validate(); err != nil {
		t.Fatalf("got Validate() = %v, want nil", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"enabled", c.Enabled, true},
		{"portalName", c.PortalName, "Customer Portal"},
		{"slug", c.Slug, "acme"},
		{"primaryColor", c.Branding.PrimaryColor, "#1f6feb"},
		{"accentColor", c.Branding.AccentColor, "#0f883e"},
		{"sessionTtlMinutes", c.Auth.SessionTTLMinutes, 1440},
		{"idleTimeoutMinutes", c.Auth.IdleTimeoutMinutes, 60},
		{"passwordMinLength", c.Auth.PasswordMinLength, 12},
		{"allowedEmailDomains is non-nil", c.Auth.AllowedEmailDomains != nil, true},
		{"allowedEmailDomains len", len(c.Auth.AllowedEmailDomains), 0},
		{"expiryHours", c.Invitations.ExpiryHours, 72},
		{"version", c.Version, int64(1)},
		{"features", len(c.Features), 7},
		{"enabled features", data.EnabledFeatures(c.Features), 2},
		{"updatedAt", c.UpdatedAt.Equal(cfgNow), true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	on := map[string]bool{}
	for _, f := range c.Features {
		if f.Enabled {
			on[f.ID] = true
		}
	}
	if !on["tickets"] || !on["knowledge_base"] {
		t.Errorf("got enabled features %v, want tickets and knowledge_base", on)
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *data.Config)
		want   []string // invalid fields, sorted; nil means valid
	}{
		{"defaults", func(c *data.Config) {}, nil},
		{"portalName empty", func(c *data.Config) { c.PortalName = "" }, []string{"portalName"}},
		{"portalName blank", func(c *data.Config) { c.PortalName = "   " }, []string{"portalName"}},
		{"portalName 100", func(c *data.Config) { c.PortalName = strings.Repeat("n", 100) }, nil},
		{"portalName 100 runes multibyte", func(c *data.Config) { c.PortalName = strings.Repeat("é", 100) }, nil},
		{"portalName 101", func(c *data.Config) { c.PortalName = strings.Repeat("n", 101) }, []string{"portalName"}},
		{"portalName invalid utf8", func(c *data.Config) { c.PortalName = "a\xffb" }, []string{"portalName"}},
		{"slug min 3", func(c *data.Config) { c.Slug = "abc" }, nil},
		{"slug max 63", func(c *data.Config) { c.Slug = strings.Repeat("a", 63) }, nil},
		{"slug inner dashes", func(c *data.Config) { c.Slug = "a-b-c" }, nil},
		{"slug too short", func(c *data.Config) { c.Slug = "ab" }, []string{"slug"}},
		{"slug too long", func(c *data.Config) { c.Slug = strings.Repeat("a", 64) }, []string{"slug"}},
		{"slug uppercase", func(c *data.Config) { c.Slug = "Acme" }, []string{"slug"}},
		{"slug leading dash", func(c *data.Config) { c.Slug = "-acme" }, []string{"slug"}},
		{"slug trailing dash", func(c *data.Config) { c.Slug = "acme-" }, []string{"slug"}},
		{"slug underscore", func(c *data.Config) { c.Slug = "ac_me" }, []string{"slug"}},
		{"slug empty", func(c *data.Config) { c.Slug = "" }, []string{"slug"}},
		{"slug newline", func(c *data.Config) { c.Slug = "acme\n" }, []string{"slug"}},
		{"customDomain ok", func(c *data.Config) { c.CustomDomain = "portal.example.com" }, nil},
		{"customDomain single label", func(c *data.Config) { c.CustomDomain = "localhost" }, []string{"customDomain"}},
		{"customDomain url", func(c *data.Config) { c.CustomDomain = "https://portal.example.com" }, []string{"customDomain"}},
		{"customDomain space", func(c *data.Config) { c.CustomDomain = "por tal.example.com" }, []string{"customDomain"}},
		{"customDomain label 64", func(c *data.Config) { c.CustomDomain = strings.Repeat("a", 64) + ".com" }, []string{"customDomain"}},
		{"customDomain too long", func(c *data.Config) { c.CustomDomain = strings.Repeat("abcdefghi.", 26) + "com" }, []string{"customDomain"}},
		{"welcomeMessage 2000", func(c *data.Config) { c.WelcomeMessage = strings.Repeat("w", 2000) }, nil},
		{"welcomeMessage 2001", func(c *data.Config) { c.WelcomeMessage = strings.Repeat("w", 2001) }, []string{"welcomeMessage"}},
		{"supportEmail ok", func(c *data.Config) { c.SupportEmail = "help@example.com" }, nil},
		{"supportEmail bad", func(c *data.Config) { c.SupportEmail = "not-an-email" }, []string{"supportEmail"}},
		{"supportEmail display name", func(c *data.Config) { c.SupportEmail = "Help <help@example.com>" }, []string{"supportEmail"}},
		{"logoUrl https", func(c *data.Config) { c.Branding.LogoURL = "https://cdn.example.com/logo.png" }, nil},
		{"logoUrl http", func(c *data.Config) { c.Branding.LogoURL = "http://cdn.example.com/logo.png" }, []string{"branding.logoUrl"}},
		{"logoUrl javascript", func(c *data.Config) { c.Branding.LogoURL = "javascript:alert(1)" }, []string{"branding.logoUrl"}},
		{"logoUrl no host", func(c *data.Config) { c.Branding.LogoURL = "https:///logo.png" }, []string{"branding.logoUrl"}},
		{"logoUrl userinfo", func(c *data.Config) { c.Branding.LogoURL = "https://u:p@cdn.example.com/" }, []string{"branding.logoUrl"}},
		{"logoUrl too long", func(c *data.Config) { c.Branding.LogoURL = "https://cdn.example.com/" + strings.Repeat("a", 2048) }, []string{"branding.logoUrl"}},
		{"faviconUrl http", func(c *data.Config) { c.Branding.FaviconURL = "http://cdn.example.com/f.ico" }, []string{"branding.faviconUrl"}},
		{"primaryColor short", func(c *data.Config) { c.Branding.PrimaryColor = "#fff" }, []string{"branding.primaryColor"}},
		{"primaryColor name", func(c *data.Config) { c.Branding.PrimaryColor = "red" }, []string{"branding.primaryColor"}},
		{"accentColor not hex", func(c *data.Config) { c.Branding.AccentColor = "#GGGGGG" }, []string{"branding.accentColor"}},
		{"accentColor upper ok", func(c *data.Config) { c.Branding.AccentColor = "#ABCDEF" }, nil},
		{"sessionTtl 5", func(c *data.Config) { c.Auth.SessionTTLMinutes, c.Auth.IdleTimeoutMinutes = 5, 5 }, nil},
		{"sessionTtl 43200", func(c *data.Config) { c.Auth.SessionTTLMinutes = 43200 }, nil},
		{"sessionTtl 4", func(c *data.Config) { c.Auth.SessionTTLMinutes, c.Auth.IdleTimeoutMinutes = 4, 5 }, []string{"auth.sessionTtlMinutes"}},
		{"sessionTtl 43201", func(c *data.Config) { c.Auth.SessionTTLMinutes = 43201 }, []string{"auth.sessionTtlMinutes"}},
		{"idleTimeout 4", func(c *data.Config) { c.Auth.IdleTimeoutMinutes = 4 }, []string{"auth.idleTimeoutMinutes"}},
		{"idleTimeout equals ttl", func(c *data.Config) { c.Auth.IdleTimeoutMinutes = 1440 }, nil},
		{"idleTimeout above ttl", func(c *data.Config) { c.Auth.IdleTimeoutMinutes = 1441 }, []string{"auth.idleTimeoutMinutes"}},
		{"passwordMinLength 8", func(c *data.Config) { c.Auth.PasswordMinLength = 8 }, nil},
		{"passwordMinLength 128", func(c *data.Config) { c.Auth.PasswordMinLength = 128 }, nil},
		{"passwordMinLength 7", func(c *data.Config) { c.Auth.PasswordMinLength = 7 }, []string{"auth.passwordMinLength"}},
		{"passwordMinLength 129", func(c *data.Config) { c.Auth.PasswordMinLength = 129 }, []string{"auth.passwordMinLength"}},
		{"domains ok", func(c *data.Config) { c.Auth.AllowedEmailDomains = []string{"example.com", "example.org"} }, nil},
		{"domains bad", func(c *data.Config) { c.Auth.AllowedEmailDomains = []string{"not a domain"} }, []string{"auth.allowedEmailDomains"}},
		{"domains with at", func(c *data.Config) { c.Auth.AllowedEmailDomains = []string{"@example.com"} }, []string{"auth.allowedEmailDomains"}},
		{"domains duplicate ignoring case", func(c *data.Config) { c.Auth.AllowedEmailDomains = []string{"example.com", "EXAMPLE.com"} }, []string{"auth.allowedEmailDomains"}},
		{"domains 101", func(c *data.Config) {
			for i := 0; i < 101; i++ {
				c.Auth.AllowedEmailDomains = append(c.Auth.AllowedEmailDomains, "d"+strings.Repeat("x", i)+".com")
			}
		}, []string{"auth.allowedEmailDomains"}},
		{"expiryHours 1", func(c *data.Config) { c.Invitations.ExpiryHours = 1 }, nil},
		{"expiryHours 720", func(c *data.Config) { c.Invitations.ExpiryHours = 720 }, nil},
		{"expiryHours 0", func(c *data.Config) { c.Invitations.ExpiryHours = 0 }, []string{"invitations.expiryHours"}},
		{"expiryHours 721", func(c *data.Config) { c.Invitations.ExpiryHours = 721 }, []string{"invitations.expiryHours"}},
		{"every bad field at once", func(c *data.Config) {
			c.PortalName, c.Slug, c.SupportEmail = "", "X", "nope"
			c.Branding.LogoURL, c.Branding.PrimaryColor = "http://x.example", "blue"
			c.Auth.PasswordMinLength, c.Invitations.ExpiryHours = 1, 0
		}, []string{"auth.passwordMinLength", "branding.logoUrl", "branding.primaryColor", "invitations.expiryHours", "portalName", "slug", "supportEmail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := data.DefaultConfig("acme", cfgNow)
			tt.mutate(&c)
			got := cfgInvalidFields(t, c.Validate())
			if !cfgSameStrings(got, tt.want) {
				t.Errorf("got invalid fields %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tenant data.TenantID
		want   string
	}{
		{"acme", "acme"},
		{"ACME Corp", "acme-corp"},
		{"org_123", "org-123"},
		{"a.b", "a-b"},
		{"--acme--", "acme"},
		{"a", "portal-a"},
		{"ab", "portal-ab"},
		{"abc", "abc"},
		{"", "portal"},
		{"---", "portal"},
		{"ünïcødé", "n-c-d"},
		{"日本", "portal"},
		{data.TenantID(strings.Repeat("a", 55) + "-bcdef"), strings.Repeat("a", 55)},
		{data.TenantID(strings.Repeat("x", 100)), strings.Repeat("x", 56)},
	}
	for _, tt := range tests {
		t.Run(string(tt.tenant), func(t *testing.T) {
			t.Parallel()
			got := data.DefaultSlug(tt.tenant)
			if got != tt.want {
				t.Errorf("DefaultSlug(%q): got %q, want %q", tt.tenant, got, tt.want)
			}
			if !data.ValidSlug(got) {
				t.Errorf("DefaultSlug(%q) = %q: got invalid slug, want valid", tt.tenant, got)
			}
		})
	}
}

func FuzzDefaultSlug(f *testing.F) {
	for _, s := range []string{"acme", "", "a", "-", "ACME Corp", "日本", strings.Repeat("ab-", 40), "\x00\xff", "K"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := data.DefaultSlug(data.TenantID(s))
		if !data.ValidSlug(got) {
			t.Fatalf("DefaultSlug(%q): got %q, want a valid slug", s, got)
		}
		if again := data.DefaultSlug(data.TenantID(s)); again != got {
			t.Fatalf("DefaultSlug(%q): got %q then %q, want the same", s, got, again)
		}
		c := data.DefaultConfig(data.TenantID(s), cfgNow)
		if err := c.Validate(); err != nil {
			t.Fatalf("DefaultConfig(%q).Validate(): got %v, want nil", s, err)
		}
	})
}

func TestValidSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"acme", true}, {"a1b", true}, {"123", true}, {"a-b", true}, {strings.Repeat("z", 63), true},
		{"ab", false}, {strings.Repeat("z", 64), false}, {"Acme", false}, {"-ab", false}, {"ab-", false},
		{"a b", false}, {"a.b", false}, {"", false}, {"acme\n", false},
	}
	for _, tt := range tests {
		if got := data.ValidSlug(tt.in); got != tt.want {
			t.Errorf("ValidSlug(%q): got %t, want %t", tt.in, got, tt.want)
		}
	}
}

func TestValidEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"a@example.com", true},
		{"first.last+tag@sub.example.co", true},
		{"", false},
		{"plain", false},
		{"@example.com", false},
		{"a@", false},
		{" a@example.com", false},
		{"a@example.com ", false},
		{"Name <a@example.com>", false},
		{"<a@example.com>", false},
		{"a@example.com\r\nBcc: x@y.z", false},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", false}, // 255 bytes
		{"x@y.z?cc=victim@example.com", false},                                     // mailto injection
		{"x@y.z&body=hi", false},
		{"x?subject=hi@example.com", false},
		{"x%0a@example.com", false},
		{"x#frag@example.com", false},
		{`"quoted"@example.com`, false},
		{"a(comment)@example.com", false},
		{"a@[127.0.0.1]", false},
		{"a@b", false},
		{"a@-b.com", false},
		{"a@b..com", false},
		{".a@example.com", false},
		{"a..b@example.com", false},
		{"o'brien@example.ie", true},
		{"josé@exämple.com", true},
		{"a\u202e@example.com", false},
	}
	for _, tt := range tests {
		if got := data.ValidEmail(tt.in); got != tt.want {
			t.Errorf("ValidEmail(%q): got %t, want %t", tt.in, got, tt.want)
		}
	}
}

func FuzzValidEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", "", "@", "a@b", "\"quoted\"@example.com", "Name <a@b.c>", "a@[127.0.0.1]", "\xff@\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !data.ValidEmail(s) {
			return
		}
		at := strings.LastIndexByte(s, '@')
		if len(s) > 254 || at <= 0 || at == len(s)-1 || strings.ContainsAny(s, "<>\r\n") || strings.TrimSpace(s) != s {
			t.Fatalf("ValidEmail(%q): got true, want false", s)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("ValidEmail(%q): got true for invalid UTF-8, want false", s)
		}
	})
}

func TestAuthSettings_EmailDomainAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		domains []string
		email   string
		want    bool
	}{
		{"empty list allows any", nil, "a@anything.test", true},
		{"listed", []string{"example.com"}, "a@example.com", true},
		{"case-insensitive", []string{"Example.COM"}, "a@example.com", true},
		{"subdomain is not the domain", []string{"example.com"}, "a@sub.example.com", false},
		{"other domain", []string{"example.com"}, "a@example.org", false},
		{"no at sign", []string{"example.com"}, "example.com", false},
	}
	for _, tt := range tests {
		a := data.AuthSettings{AllowedEmailDomains: tt.domains}
		if got := a.EmailDomainAllowed(tt.email); got != tt.want {
			t.Errorf("%s: EmailDomainAllowed(%q): got %t, want %t", tt.name, tt.email, got, tt.want)
		}
	}
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	ids := []string{"tickets", "knowledge_base", "documents", "invoices", "quotes", "orders", "chat"}
	fs := data.DefaultFeatures(cfgNow)
	if len(fs) != len(ids) {
		t.Fatalf("got %d features, want %d", len(fs), len(ids))
	}
	for i, id := range ids {
		if fs[i].ID != id {
			t.Errorf("feature %d: got %q, want %q", i, fs[i].ID, id)
		}
		if !data.KnownFeature(id) {
			t.Errorf("KnownFeature(%q): got false, want true", id)
		}
		if fs[i].Name == "" || fs[i].Description == "" {
			t.Errorf("feature %q: got empty name or description, want both", id)
		}
	}
	if data.KnownFeature("teleport") {
		t.Errorf("KnownFeature(teleport): got true, want false")
	}

	// SyncFeatures keeps stored states, adds missing features and drops unknown ones.
	later := cfgNow.Add(time.Hour)
	stored := []data.Feature{{ID: "chat", Enabled: true, UpdatedAt: later}, {ID: "teleport", Enabled: true}}
	synced := data.SyncFeatures(stored, cfgNow)
	if len(synced) != len(ids) {
		t.Fatalf("SyncFeatures: got %d features, want %d", len(synced), len(ids))
	}
	for _, f := range synced {
		switch f.ID {
		case "chat":
			if !f.Enabled || !f.UpdatedAt.Equal(later) {
				t.Errorf("chat: got enabled=%t at %v, want true at %v", f.Enabled, f.UpdatedAt, later)
			}
		case "teleport":
			t.Errorf("SyncFeatures: got unknown feature teleport, want it dropped")
		default:
			want := f.ID == "tickets" || f.ID == "knowledge_base" // catalogue defaults
			if f.Enabled != want {
				t.Errorf("%s: got enabled=%t, want the catalogue default %t", f.ID, f.Enabled, want)
			}
		}
	}
}
