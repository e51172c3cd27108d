package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	texttemplate "text/template"

	"github.com/salesos/portal/data"
)

// templateFS holds one template pair per kind, <kind>.txt and <kind>.html,
// and the HTML layout they share. The .txt file also defines "subject".
//
//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

// Defaults for a message whose branding is missing or unusable; they match
// the portal configuration's defaults.
const (
	defaultPortalName   = "Customer Portal"
	defaultPrimaryColor = "#1f6feb"
)

// templatesFor returns the base name of kind's template files and the label
// of its call-to-action button, and false for an unknown kind. The switch
// also keeps a stored kind from naming any other file.
func templatesFor(kind string) (file, action string, ok bool) {
	switch kind {
	case data.MailInvitation:
		return "invitation", "Accept invitation", true
	case data.MailPasswordReset:
		return "password_reset", "Reset password", true
	case data.MailTicketReply:
		return "ticket_reply", "View the reply", true
	case data.MailTicketMessage:
		return "ticket_message", "Open the ticket", true
	}
	return "", "", false
}

// templateSet is one kind's templates, parsed.
type templateSet struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// templateSets parses every kind's templates once, on first use: a burst of
// invitations renders thousands of messages, and parsing (with html/template's
// escaping analysis) costs far more than executing. Parsed templates are
// safe to execute concurrently.
var templateSets = sync.OnceValues(func() (map[string]templateSet, error) {
	sets := map[string]templateSet{}
	for _, kind := range []string{data.MailInvitation, data.MailPasswordReset, data.MailTicketReply, data.MailTicketMessage} {
		file, _, _ := templatesFor(kind)
		tt, err := texttemplate.ParseFS(templateFS, "templates/"+file+".txt")
		if err != nil {
			return nil, err
		}
		ht, err := htmltemplate.ParseFS(templateFS, "templates/layout.html", "templates/"+file+".html")
		if err != nil {
			return nil, err
		}
		sets[file] = templateSet{text: tt, html: ht}
	}
	return sets, nil
})

// parsed returns the parsed templates of a file named by templatesFor.
func parsed(file string) (templateSet, error) {
	sets, err := templateSets()
	if err != nil {
		return templateSet{}, err
	}
	ts, ok := sets[file]
	if !ok {
		return templateSet{}, fmt.Errorf("no templates %q", file)
	}
	return ts, nil
}

// isHexColor reports whether s is #rgb or #rrggbb, the only colour form put
// into a style attribute.
func isHexColor(s string) bool {
	if len(s) != 4 && len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// view is what the templates see: the message's data, checked and prepared.
type view struct {
	Subject      string
	To           string
	PortalName   string
	PrimaryColor string
	LogoURL      string
	SupportEmail string
	FirstName    string
	MessageLines []string
	Link         string
	Expires      string
	Action       string
	// TicketSubject and AuthorName are set on ticket mail, one line each.
	TicketSubject string
	AuthorName    string
}

// Render returns the subject and the plain-text and HTML bodies of m. Every
// value from m.Data is escaped in the HTML body. An unknown kind or a missing
// or non-HTTP link is an error: no retry can fix such a message.
func Render(m data.OutboxMessage) (subject, text, html string, err error) {
	file, action, ok := templatesFor(m.Kind)
	if !ok {
		return "", "", "", fmt.Errorf("render: unknown mail kind %q", m.Kind)
	}
	v, err := newView(m)
	if err != nil {
		return "", "", "", fmt.Errorf("render %s: %w", m.Kind, err)
	}
	v.Action = action

	ts, err := parsed(file)
	if err != nil {
		return "", "", "", fmt.Errorf("render %s: %w", m.Kind, err)
	}
	tt, ht := ts.text, ts.html
	var b bytes.Buffer
	if err := tt.ExecuteTemplate(&b, "subject", v); err != nil {
		return "", "", "", fmt.Errorf("render %s subject: %w", m.Kind, err)
	}
	// A header is one line: fold any newline or run of spaces from the data.
	v.Subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := tt.ExecuteTemplate(&b, file+".txt", v); err != nil {
		return "", "", "", fmt.Errorf("render %s text: %w", m.Kind, err)
	}
	text = b.String()

	b.Reset()
	if err := ht.ExecuteTemplate(&b, "layout.html", v); err != nil {
		return "", "", "", fmt.Errorf("render %s html: %w", m.Kind, err)
	}
	return v.Subject, text, b.String(), nil
}

// newView checks m's data and fills in the branding defaults.
func newView(m data.OutboxMessage) (view, error) {
	d := m.Data
	link, err := url.Parse(d.Link)
	if err != nil || (link.Scheme != "https" && link.Scheme != "http") || link.Host == "" {
		return view{}, errors.New("link must be an absolute http or https URL")
	}
	v := view{
		To:            m.To,
		PortalName:    strings.Join(strings.Fields(d.PortalName), " "),
		PrimaryColor:  d.PrimaryColor,
		FirstName:     strings.Join(strings.Fields(d.FirstName), " "),
		Link:          d.Link,
		TicketSubject: strings.Join(strings.Fields(d.TicketSubject), " "),
		AuthorName:    strings.Join(strings.Fields(d.AuthorName), " "),
	}
	if v.PortalName == "" {
		v.PortalName = defaultPortalName
	}
	if !isHexColor(v.PrimaryColor) {
		v.PrimaryColor = defaultPrimaryColor
	}
	if u, err := url.Parse(d.LogoURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		v.LogoURL = d.LogoURL
	}
	if a, err := netmail.ParseAddress(d.SupportEmail); err == nil {
		v.SupportEmail = a.Address
	}
	if msg := strings.TrimSpace(strings.ReplaceAll(d.Message, "\r\n", "\n")); msg != "" {
		v.MessageLines = strings.Split(msg, "\n")
	}
	if !d.ExpiresAt.IsZero() {
		v.Expires = d.ExpiresAt.UTC().Format("January 2, 2006 at 15:04 UTC")
	}
	return v, nil
}
