package mail_test

import (
	"html"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/mail"
)

const testLink = "https://portal.example.com/invitations/accept?token=q3D9-xY_7kLmN0pQrStUvWxYz0123456789abcdEFG"

func invitationMessage() data.OutboxMessage {
	return data.OutboxMessage{
		ID:   "01JDQ2X3Y4Z5A6B7C8D9E0F1G2",
		Kind: data.MailInvitation,
		To:   "ada@example.com",
		Data: data.MailData{
			PortalName:   "Acme Portal",
			PrimaryColor: "#0a7d33",
			LogoURL:      "https://cdn.example.com/acme.png",
			SupportEmail: "help@acme.example",
			FirstName:    "Ada",
			Message:      "Welcome aboard!\nSee you inside.",
			Link:         testLink,
			ExpiresAt:    time.Date(2026, 3, 5, 14, 30, 0, 0, time.UTC),
		},
	}
}

func TestRender_Invitation(t *testing.T) {
	subject, text, body, err := mail.Render(invitationMessage())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if want := "You're invited to Acme Portal"; subject != want {
		t.Errorf("subject: got %q, want %q", subject, want)
	}
	for _, want := range []string{"Hi Ada,", testLink, "> Welcome aboard!", "> See you inside.",
		"expires on March 5, 2026 at 14:30 UTC", "help@acme.example", "Acme Portal"} {
		if !strings.Contains(text, want) {
			t.Errorf("text: got %q, want it to contain %q", text, want)
		}
	}
	unescaped := html.UnescapeString(body)
	for _, want := range []string{`href="` + testLink + `"`, "You're invited to Acme Portal", "Hi Ada,",
		"Welcome aboard!<br>See you inside.", "#0a7d33", `src="https://cdn.example.com/acme.png"`,
		"March 5, 2026 at 14:30 UTC", "mailto:help@acme.example", "Accept invitation"} {
		if !strings.Contains(unescaped, want) {
			t.Errorf("html: want it to contain %q; got\n%s", want, body)
		}
	}
}

func TestRender_PasswordReset(t *testing.T) {
	m := invitationMessage()
	m.Kind = data.MailPasswordReset
	m.Data.Message = ""
	subject, text, body, err := mail.Render(m)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if want := "Reset your Acme Portal password"; subject != want {
		t.Errorf("subject: got %q, want %q", subject, want)
	}
	for _, part := range []struct{ name, s string }{{"text", text}, {"html", html.UnescapeString(body)}} {
		for _, want := range []string{testLink, "valid for 1 hour", "Hi Ada,"} {
			if !strings.Contains(part.s, want) {
				t.Errorf("%s: got %q, want it to contain %q", part.name, part.s, want)
			}
		}
	}
}

func TestRender_Defaults(t *testing.T) {
	m := invitationMessage()
	m.Data = data.MailData{Link: testLink}
	subject, text, body, err := mail.Render(m)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if want := "You're invited to Customer Portal"; subject != want {
		t.Errorf("subject: got %q, want %q", subject, want)
	}
	if !strings.Contains(text, "Hello,") || strings.Contains(text, "expires") || strings.Contains(text, "Message from") {
		t.Errorf("text without optional data: got %q", text)
	}
	if !strings.Contains(body, "#1f6feb") || strings.Contains(body, "<img") {
		t.Errorf("html without branding: want the default colour and no logo; got\n%s", body)
	}
}

func TestRender_EscapesHostileData(t *testing.T) {
	m := invitationMessage()
	m.Data.PortalName = "<script>alert('portal')</script>\r\nBcc: victim@example.com"
	m.Data.FirstName = `<img src=x onerror="alert(1)">`
	m.Data.Message = "</div><script>steal()</script>\n<a href=\"javascript:alert(2)\">click</a>"
	m.Data.PrimaryColor = "red;background:url(javascript:alert(3))"
	m.Data.LogoURL = "javascript:alert(4)"
	m.Data.SupportEmail = `"<b>x</b>" <x@example.com>`
	m.To = `"><script>alert(5)</script>@example.com`
	subject, _, body, err := mail.Render(m)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject: got %q, want a single line", subject)
	}
	lower := strings.ToLower(body)
	for _, bad := range []string{"<script", "<img src=x", `href="javascript`, `src="javascript`, "url(javascript", "</div><script", "<b>x</b>"} {
		if strings.Contains(lower, bad) {
			t.Errorf("html contains %q:\n%s", bad, body)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#39;portal&#39;)&lt;/script&gt;", "&lt;img src=x", "#1f6feb"} {
		if !strings.Contains(body, want) {
			t.Errorf("html: want it to contain %q; got\n%s", want, body)
		}
	}
}

func TestRender_Errors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*data.OutboxMessage)
	}{
		{"unknown kind", func(m *data.OutboxMessage) { m.Kind = "newsletter" }},
		{"kind naming a file", func(m *data.OutboxMessage) { m.Kind = "../templates/layout" }},
		{"empty kind", func(m *data.OutboxMessage) { m.Kind = "" }},
		{"no link", func(m *data.OutboxMessage) { m.Data.Link = "" }},
		{"relative link", func(m *data.OutboxMessage) { m.Data.Link = "/invitations/accept?token=x" }},
		{"javascript link", func(m *data.OutboxMessage) { m.Data.Link = "javascript:alert(1)" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := invitationMessage()
			tt.change(&m)
			if _, _, _, err := mail.Render(m); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	f.Add("Acme Portal", "Welcome!", "Ada")
	f.Add("<script>alert(1)</script>", "</div><script>x()</script>", `"><script>`)
	f.Add("", "", "")
	f.Add("a\r\nBcc: x@example.com", "line\r\nline", "\x00\xff")
	f.Add("{{.Link}}", "{{template \"layout.html\"}}", "<SCRIPT>")
	f.Fuzz(func(t *testing.T, portalName, message, firstName string) {
		for _, kind := range []string{data.MailInvitation, data.MailPasswordReset} {
			m := invitationMessage()
			m.Kind = kind
			m.Data.PortalName, m.Data.Message, m.Data.FirstName = portalName, message, firstName
			subject, text, body, err := mail.Render(m)
			if err != nil {
				t.Fatalf("Render %s: %v", kind, err)
			}
			if strings.ContainsAny(subject, "\r\n") {
				t.Errorf("%s subject: got %q, want a single line", kind, subject)
			}
			if strings.Contains(strings.ToLower(body), "<script") {
				t.Errorf("%s html contains <script:\n%s", kind, body)
			}
			if !strings.Contains(text, testLink) || !strings.Contains(html.UnescapeString(body), testLink) {
				t.Errorf("%s: the link is missing from a part", kind)
			}
		}
	})
}

// TestRender_Concurrent renders both kinds from many goroutines at once, as
// the templates are parsed once and shared: every result must be whole and
// the same as a lone render's (run with -race).
func TestRender_Concurrent(t *testing.T) {
	reset := invitationMessage()
	reset.Kind = data.MailPasswordReset
	msgs := []data.OutboxMessage{invitationMessage(), reset}
	var want [2][3]string
	for i, m := range msgs {
		s, txt, h, err := mail.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = [3]string{s, txt, h}
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				k := (g + i) % 2
				s, txt, h, err := mail.Render(msgs[k])
				if err != nil || [3]string{s, txt, h} != want[k] {
					t.Errorf("goroutine %d, render %d: got a different result (%v)", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRender(b *testing.B) {
	m := invitationMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := mail.Render(m); err != nil {
			b.Fatal(err)
		}
	}
}
