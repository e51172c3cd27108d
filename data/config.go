package data

import (
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Config is an organization's portal configuration. Its JSON form is both the
// API representation and the stored record.
type Config struct {
	Enabled        bool              `json:"enabled"`
	PortalName     string            `json:"portalName"`
	Slug           string            `json:"slug"`
	CustomDomain   string            `json:"customDomain"`
	WelcomeMessage string            `json:"welcomeMessage"`
	SupportEmail   string            `json:"supportEmail"`
	Branding       Branding          `json:"branding"`
	Auth           AuthSettings      `json:"auth"`
	Invitations    InvitationSetting `json:"invitations"`
	// QuotesMemberAccept lets every customer of an account accept or
	// decline its quotes; when false only a customer admin may.
	QuotesMemberAccept bool      `json:"quotesMemberAccept"`
	Features           []Feature `json:"features"`
	Version            int64     `json:"version"`
	UpdatedAt          time.Time `json:"updatedAt"`
	UpdatedBy          string    `json:"updatedBy"`
}

// Branding is how the customer pages look.
type Branding struct {
	LogoURL      string `json:"logoUrl"`
	FaviconURL   string `json:"faviconUrl"`
	PrimaryColor string `json:"primaryColor"`
	AccentColor  string `json:"accentColor"`
}

// AuthSettings are the session and password rules for portal users.
type AuthSettings struct {
	SessionTTLMinutes   int      `json:"sessionTtlMinutes"`
	IdleTimeoutMinutes  int      `json:"idleTimeoutMinutes"`
	PasswordMinLength   int      `json:"passwordMinLength"`
	AllowedEmailDomains []string `json:"allowedEmailDomains"`
}

// InvitationSetting holds invitation defaults.
type InvitationSetting struct {
	ExpiryHours int `json:"expiryHours"`
}

// Limits of the configuration.
const (
	MaxPortalName     = 100
	MaxWelcomeMessage = 2000
	MaxDomains        = 100
	MaxURL            = 2048
)

var (
	slugRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])$`)
	colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	// hostRE accepts DNS names of two or more labels (RFC 1123).
	hostRE = regexp.MustCompile(`^(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?))+$`)
)

// DefaultConfig returns the configuration an organization starts with. The
// slug is derived from the organization so that it is unique from the start.
func DefaultConfig(tenant TenantID, now time.Time) Config {
	return Config{
		Enabled:    true,
		PortalName: "Customer Portal",
		Slug:       DefaultSlug(tenant),
		Branding:   Branding{PrimaryColor: "#1f6feb", AccentColor: "#0f883e"},
		Auth: AuthSettings{
			SessionTTLMinutes:   1440,
			IdleTimeoutMinutes:  60,
			PasswordMinLength:   12,
			AllowedEmailDomains: []string{},
		},
		Invitations: InvitationSetting{ExpiryHours: 72},
		Features:    DefaultFeatures(now),
		Version:     1,
		UpdatedAt:   now.UTC(),
		UpdatedBy:   "system",
	}
}

// ETag is the entity tag of the configuration as the API shows it: its
// version in quotes ("7"). The defaults (version 1, which no change has
// made) also name their slug ("1-acme"): an organization that has never
// written its configuration is shown the first slug no other organization
// holds, and that slug moves when another organization takes it, so the
// version alone would name two representations.
func (c Config) ETag() string {
	if c.Version <= 1 {
		return `"1-` + c.Slug + `"`
	}
	return `"` + strconv.FormatInt(c.Version, 10) + `"`
}

// DefaultSlug derives a valid slug from an organization ID: lowercase
// letters and digits kept, every other run of characters folded to one dash.
func DefaultSlug(tenant TenantID) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(string(tenant)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 56 {
		s = strings.TrimRight(s[:56], "-")
	}
	if len(s) < 3 {
		s = "portal-" + s
		s = strings.TrimRight(s, "-")
	}
	if !slugRE.MatchString(s) {
		s = "portal"
	}
	return s
}

// ValidSlug reports whether s is a well-formed portal slug.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	bad := &FieldErrors{}
	switch {
	case c.PortalName == "":
		bad.Add("portalName", "must be 1 to 100 characters")
	case strings.TrimSpace(c.PortalName) == "" && SingleLine(c.PortalName):
		bad.Add("portalName", "must not be only spaces")
	default:
		checkText(bad, "portalName", c.PortalName, MaxPortalName, false)
	}
	if !slugRE.MatchString(c.Slug) {
		bad.Add("slug", "must be 3 to 63 lowercase letters, digits or dashes, starting and ending with a letter or digit")
	}
	if c.CustomDomain != "" && (len(c.CustomDomain) > 253 || !hostRE.MatchString(c.CustomDomain)) {
		bad.Add("customDomain", "must be a domain name such as portal.example.com")
	}
	checkText(bad, "welcomeMessage", c.WelcomeMessage, MaxWelcomeMessage, true)
	if c.SupportEmail != "" && !ValidEmail(c.SupportEmail) {
		bad.Add("supportEmail", "must be an email address")
	}
	checkHTTPS(bad, "branding.logoUrl", c.Branding.LogoURL)
	checkHTTPS(bad, "branding.faviconUrl", c.Branding.FaviconURL)
	if c.Branding.PrimaryColor != "" && !colorRE.MatchString(c.Branding.PrimaryColor) {
		bad.Add("branding.primaryColor", "must be a colour as #rrggbb")
	}
	if c.Branding.AccentColor != "" && !colorRE.MatchString(c.Branding.AccentColor) {
		bad.Add("branding.accentColor", "must be a colour as #rrggbb")
	}
	a := c.Auth
	if a.SessionTTLMinutes < 5 || a.SessionTTLMinutes > 43200 {
		bad.Add("auth.sessionTtlMinutes", "must be 5 to 43200")
	}
	if a.IdleTimeoutMinutes < 5 || a.IdleTimeoutMinutes > max(a.SessionTTLMinutes, 5) {
		bad.Add("auth.idleTimeoutMinutes", "must be 5 to auth.sessionTtlMinutes")
	}
	if a.PasswordMinLength < 8 || a.PasswordMinLength > 128 {
		bad.Add("auth.passwordMinLength", "must be 8 to 128")
	}
	if len(a.AllowedEmailDomains) > MaxDomains {
		bad.Add("auth.allowedEmailDomains", "must list at most 100 domains")
	}
	seen := map[string]bool{}
	for _, d := range a.AllowedEmailDomains {
		if len(d) > 253 || !hostRE.MatchString(d) {
			bad.Add("auth.allowedEmailDomains", "must list domain names such as example.com")
			break
		}
		if seen[strings.ToLower(d)] {
			bad.Add("auth.allowedEmailDomains", "must not list a domain twice")
			break
		}
		seen[strings.ToLower(d)] = true
	}
	if e := c.Invitations.ExpiryHours; e < 1 || e > 720 {
		bad.Add("invitations.expiryHours", "must be 1 to 720")
	}
	return bad.Err()
}

func checkHTTPS(bad *FieldErrors, field, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	switch {
	case len(raw) > MaxURL:
		bad.Add(field, "must be at most "+strconv.Itoa(MaxURL)+" characters")
	case !SingleLine(raw):
		bad.Add(field, SingleLineRule)
	case err != nil || u.Scheme != "https":
		bad.Add(field, "must be an https URL")
	case u.Host == "":
		bad.Add(field, "must be an https URL with a host")
	case u.User != nil:
		bad.Add(field, "must not hold a user name or password")
	}
}

// ValidEmail reports whether s is a bare address of at most 254 bytes: a
// plain addr-spec (no display name, no quoted local part, no comment) whose
// domain is a host name of two or more labels. Characters that mean
// something in a mailto: link or a URL (? & % # and the like) are refused
// in the local part too, so an address printed into a link stays one
// address: "x@y.z?cc=..." is not an email address.
func ValidEmail(s string) bool {
	if len(s) > 254 || s == "" || strings.TrimSpace(s) != s || !utf8.ValidString(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	return validLocalPart(s[:at]) && validMailDomain(s[at+1:])
}

// validLocalPart accepts a dot-atom of letters, digits and the atext
// characters that are inert in a URL.
func validLocalPart(s string) bool {
	if len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (isASCIIAlnum(byte(r)) || strings.ContainsRune(".!$'*+-/=^_`{|}~", r)):
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
		default:
			return false
		}
	}
	return true
}

// validMailDomain accepts a host name of two or more labels, each 1..63
// bytes of letters, digits and inner dashes (international letters too).
func validMailDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(s) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			switch {
			case r < utf8.RuneSelf && (isASCIIAlnum(byte(r)) || r == '-'):
			case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
			default:
				return false
			}
		}
	}
	return true
}

func isASCIIAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// NormalizeEmail is the form emails are compared and indexed in.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// EmailDomainAllowed reports whether email's domain is on the list (an empty
// list allows any). Comparison ignores case.
func (a AuthSettings) EmailDomainAllowed(email string) bool {
	if len(a.AllowedEmailDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := email[at+1:]
	for _, d := range a.AllowedEmailDomains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}
