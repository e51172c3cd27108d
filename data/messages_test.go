package data_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// TestValidate_MessageNamesTheRule checks that each validation message
// names the rule that failed: a line break is not reported as a length,
// a name of spaces not as a count, invalid UTF-8 not as too long.
func TestValidate_MessageNamesTheRule(t *testing.T) {
	cfg := func(change func(*data.Config)) error {
		c := data.DefaultConfig("acme", time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
		change(&c)
		return c.Validate()
	}
	contact := func(change func(*data.Contact)) error {
		c := data.Contact{Email: "ada@example.com"}
		change(&c)
		return c.Validate()
	}
	invitation := func(change func(*data.InvitationRequest)) error {
		r := data.InvitationRequest{Email: "ada@example.com"}
		change(&r)
		return r.Validate()
	}
	tests := []struct {
		name, field, want string
		err               error
	}{
		{"contact first name with a newline", "firstName", "must be one line, without line breaks",
			contact(func(c *data.Contact) { c.FirstName = "Ada\nLovelace" })},
		{"contact first name too long", "firstName", "must be at most 100 characters",
			contact(func(c *data.Contact) { c.FirstName = strings.Repeat("a", 101) })},
		{"contact last name with NUL", "lastName", "must not contain NUL characters",
			contact(func(c *data.Contact) { c.LastName = "a\x00b" })},
		{"contact phone with a carriage return", "phone", "must be one line, without line breaks",
			contact(func(c *data.Contact) { c.Phone = "+1 555\r0134" })},
		{"contact phone too long", "phone", "must be at most 40 characters",
			contact(func(c *data.Contact) { c.Phone = strings.Repeat("1", 41) })},
		{"contact company invalid UTF-8", "company", "must be valid UTF-8",
			contact(func(c *data.Contact) { c.Company = "Acme \xff" })},
		{"contact account with a space", "accountId", "must be printable ASCII characters without spaces",
			contact(func(c *data.Contact) { c.AccountID = "ACC 1" })},
		{"contact account too long", "accountId", "must be at most 100 characters",
			contact(func(c *data.Contact) { c.AccountID = strings.Repeat("A", 101) })},
		{"invitation message invalid UTF-8", "message", "must be valid UTF-8",
			invitation(func(r *data.InvitationRequest) { r.Message = "hi \xff" })},
		{"invitation message too long", "message", "must be at most 2000 characters",
			invitation(func(r *data.InvitationRequest) { r.Message = strings.Repeat("a", 2001) })},
		{"invitation last name with a newline", "lastName", "must be one line, without line breaks",
			invitation(func(r *data.InvitationRequest) { r.LastName = "a\nb" })},
		{"portal name of spaces", "portalName", "must not be only spaces",
			cfg(func(c *data.Config) { c.PortalName = "   " })},
		{"portal name empty", "portalName", "must be 1 to 100 characters",
			cfg(func(c *data.Config) { c.PortalName = "" })},
		{"portal name invalid UTF-8", "portalName", "must be valid UTF-8",
			cfg(func(c *data.Config) { c.PortalName = "\xff" })},
		{"welcome message invalid UTF-8", "welcomeMessage", "must be valid UTF-8",
			cfg(func(c *data.Config) { c.WelcomeMessage = "hi \xff" })},
		{"logo over http", "branding.logoUrl", "must be an https URL",
			cfg(func(c *data.Config) { c.Branding.LogoURL = "http://cdn.example.com/logo.png" })},
		{"logo without a host", "branding.logoUrl", "must be an https URL with a host",
			cfg(func(c *data.Config) { c.Branding.LogoURL = "https:///logo.png" })},
		{"logo with a password", "branding.faviconUrl", "must not hold a user name or password",
			cfg(func(c *data.Config) { c.Branding.FaviconURL = "https://u:p@cdn.example.com/f.ico" })},
		{"logo too long", "branding.logoUrl", "must be at most 2048 characters",
			cfg(func(c *data.Config) { c.Branding.LogoURL = "https://cdn.example.com/" + strings.Repeat("a", 2048) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ve *data.ValidationError
			if !errors.As(tt.err, &ve) {
				t.Fatalf("got %v, want a validation error", tt.err)
			}
			if got := ve.Fields[tt.field]; got != tt.want {
				t.Errorf("got %s: %q, want %q", tt.field, got, tt.want)
			}
		})
	}
	if got := data.NameProblem("Ada"); got != "" {
		t.Errorf("NameProblem(Ada) = %q, want none", got)
	}
}
