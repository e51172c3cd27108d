package data_test

import (
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

func TestSingleLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in            string
		single, multi bool
	}{
		{"Ada Lovelace", true, true},
		{"José Ñúñez", true, true},
		{"محمد\u200cرضا", true, true}, // zero-width non-joiner, as Persian writes it
		{"👩\u200d💻", true, true},      // zero-width joiner in an emoji
		{"", true, true},
		{"line\nbreak", false, true},
		{"cr\rhere", false, true},
		{"tab\there", false, true},
		{"esc\x1b[31mred", false, false},
		{"nul\x00", false, false},
		{"del\x7f", false, false},
		{"c1\u0085next", false, false},
		{"rtl\u202eoverride", false, false},
		{"isolate\u2066x\u2069", false, false},
		{"zero\u200bwidth", false, false},
		{"bom\ufeff", false, false},
		{"line\u2028sep", false, false},
		{"bad \xff utf8", false, false},
	}
	for _, tt := range tests {
		if got := data.SingleLine(tt.in); got != tt.single {
			t.Errorf("SingleLine(%q): got %t, want %t", tt.in, got, tt.single)
		}
		if got := data.MultiLine(tt.in); got != tt.multi {
			t.Errorf("MultiLine(%q): got %t, want %t", tt.in, got, tt.multi)
		}
	}
}

func FuzzSingleLine(f *testing.F) {
	for _, s := range []string{"Ada", "a\nb", "\u202e", "\x1b[0m", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if data.SingleLine(s) && (!data.MultiLine(s) || strings.ContainsAny(s, "\x00\n\r\t\x1b\u202e")) {
			t.Fatalf("SingleLine(%q): got true, want false", s)
		}
	})
}

// TestTextFields_ControlCharacters checks that every one-line text field
// refuses escape codes and direction overrides with the message that names
// the rule.
func TestTextFields_ControlCharacters(t *testing.T) {
	t.Parallel()
	const esc, rlo = "x\x1b[2Jy", "x\u202ey"
	valid := data.Contact{Email: "a@example.com", FirstName: "A"}
	cfg := data.DefaultConfig("acme", cfgNow)
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"contact firstName", func() error { c := valid; c.FirstName = esc; return c.Validate() }(), "firstName"},
		{"contact lastName", func() error { c := valid; c.LastName = rlo; return c.Validate() }(), "lastName"},
		{"contact company", func() error { c := valid; c.Company = rlo; return c.Validate() }(), "company"},
		{"contact phone", func() error { c := valid; c.Phone = esc; return c.Validate() }(), "phone"},
		{"config portalName", func() error { c := cfg; c.PortalName = rlo; return c.Validate() }(), "portalName"},
		{"invitation firstName", data.InvitationRequest{Email: "a@example.com", FirstName: esc}.Validate(), "firstName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := contactInvalidFields(tt.err)
			if len(got) != 1 || got[0] != tt.field {
				t.Fatalf("got fields %v, want [%s]", got, tt.field)
			}
			if !strings.Contains(tt.err.Error(), data.SingleLineRule) {
				t.Errorf("got %q, want the single-line rule", tt.err.Error())
			}
		})
	}
	c := cfg
	c.WelcomeMessage = "Hello\nWelcome\tin"
	if err := c.Validate(); err != nil {
		t.Errorf("got %v for a multi-line welcome message, want nil", err)
	}
	c.WelcomeMessage = "Hello"
	c.Branding.LogoURL = "https://cdn.example.com/\u202egpj.exe"
	if got := contactInvalidFields(c.Validate()); len(got) != 1 || got[0] != "branding.logoUrl" {
		t.Errorf("got fields %v, want [branding.logoUrl]", got)
	}
	c.Branding.LogoURL = ""
	c.WelcomeMessage = "Hello\x1b[2J"
	if got := contactInvalidFields(c.Validate()); len(got) != 1 || got[0] != "welcomeMessage" {
		t.Errorf("got fields %v, want [welcomeMessage]", got)
	}
}

func TestValidTenantID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"acme", true}, {"demo", true}, {"org-a", true}, {"org_7", true}, {"7up", true},
		{strings.Repeat("a", 63), true}, {strings.Repeat("a", 64), false},
		{"", false}, {"../acme", false}, {"ａｃｍｅ", false}, {"acme ", false}, {" acme", false},
		{"Acme", false}, {"-acme", false}, {"_acme", false}, {"ac/me", false}, {"acme\n", false},
	}
	for _, tt := range tests {
		if got := data.ValidTenantID(tt.in); got != tt.want {
			t.Errorf("ValidTenantID(%q): got %t, want %t", tt.in, got, tt.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" for valid, else a part of the reason
	}{
		{"Ada", ""}, {"", ""}, {"Ada\u202e", "control or invisible formatting"},
		{"Ada\nLovelace", "one line, without line breaks"}, {"Ada\x1b[0m", "control or invisible formatting"}, {strings.Repeat("a", 101), "at most 100"},
	}
	for _, tt := range tests {
		err := data.CheckName("firstName", tt.in)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckName(%q): got %v, want nil", tt.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "firstName") {
			t.Errorf("CheckName(%q): got %v, want firstName: ...%s...", tt.in, err, tt.want)
		}
	}
}
