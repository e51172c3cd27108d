package mail_test

import (
	"context"
	"errors"
	"html"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/salesos/portal/mail"
)

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		name, url, from string
		wantErr         bool
	}{
		{"plain", "smtp://mail.example.com", "portal@example.com", false},
		{"port and auth", "smtp://user:s3cret@mail.example.com:587", "Portal <portal@example.com>", false},
		{"smtps insecure", "smtps://user:s3cret@mail.example.com?insecure=1", "portal@example.com", false},
		{"trailing slash", "smtp://mail.example.com/", "portal@example.com", false},
		{"other scheme", "http://user:s3cret@mail.example.com", "portal@example.com", true},
		{"no host", "smtp://user:s3cret@:25", "portal@example.com", true},
		{"bad port", "smtp://user:s3cret@mail.example.com:99999", "portal@example.com", true},
		{"path", "smtp://user:s3cret@mail.example.com/x", "portal@example.com", true},
		{"unknown parameter", "smtp://user:s3cret@mail.example.com?tls=1", "portal@example.com", true},
		{"bad insecure", "smtp://user:s3cret@mail.example.com?insecure=maybe", "portal@example.com", true},
		{"malformed", "smtp://user:s3cret@mail.example.com:port", "portal@example.com", true},
		{"bad from", "smtp://mail.example.com", "not an address", true},
		{"empty from", "smtp://mail.example.com", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mail.NewSMTP(tt.url, tt.from)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q reveals the password", err)
			}
			if err == nil && strings.Contains(s.String(), "s3cret") {
				t.Errorf("String() %q reveals the password", s)
			}
		})
	}
}

func TestSMTP_Send(t *testing.T) {
	tests := []struct {
		name   string
		opt    serverOptions
		url    func(addr string) string
		failed bool
	}{
		{"plain", serverOptions{}, func(a string) string { return "smtp://" + a }, false},
		{"auth on localhost", serverOptions{user: "portal", pass: "pw"},
			func(a string) string { return "smtp://portal:pw@" + a }, false},
		{"starttls and auth", serverOptions{tls: true, user: "portal", pass: "pw"},
			func(a string) string { return "smtp://portal:pw@" + a + "?insecure=1" }, false},
		{"implicit tls", serverOptions{tls: true, implicitTLS: true},
			func(a string) string { return "smtps://" + a + "?insecure=1" }, false},
		{"untrusted certificate", serverOptions{tls: true},
			func(a string) string { return "smtp://" + a }, true},
		{"wrong password", serverOptions{user: "portal", pass: "pw"},
			func(a string) string { return "smtp://portal:nope@" + a }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.opt)
			tr, err := mail.NewSMTP(tt.url(srv.addr), "Acme Portal <portal@acme.example>")
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Send(context.Background(), "ada@example.com", "Hello Ada", "text "+testLink, `<p><a href="`+testLink+`">go</a></p>`)
			if tt.failed {
				if err == nil {
					t.Fatal("got no error, want one")
				}
				if n := len(srv.messages()); n != 0 {
					t.Errorf("got %d messages, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.messages()
			if len(msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(msgs))
			}
			if got := msgs[0].to; len(got) != 1 || got[0] != "ada@example.com" {
				t.Errorf("recipients: got %q, want [ada@example.com]", got)
			}
			if got := msgs[0].from; got != "portal@acme.example" {
				t.Errorf("envelope from: got %q, want portal@acme.example", got)
			}
			p := parse(t, msgs[0].raw)
			if p.subject != "Hello Ada" {
				t.Errorf("subject: got %q, want %q", p.subject, "Hello Ada")
			}
			if !strings.Contains(p.text, testLink) || !strings.Contains(html.UnescapeString(p.html), testLink) {
				t.Errorf("got text %q and html %q, want the link in both", p.text, p.html)
			}
		})
	}
}

func TestSMTP_SendBadRecipientIsPermanent(t *testing.T) {
	srv := startServer(t, serverOptions{})
	tr, err := mail.NewSMTP("smtp://"+srv.addr, "portal@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Send(context.Background(), "not an address", "s", "t", "h")
	if !errors.Is(err, mail.ErrPermanent) {
		t.Errorf("got %v, want ErrPermanent", err)
	}
}

func TestSMTP_SendHonoursContext(t *testing.T) {
	srv := startServer(t, serverOptions{})
	tr, err := mail.NewSMTP("smtp://"+srv.addr, "portal@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Send(ctx, "ada@example.com", "s", "t", "h"); err == nil {
		t.Error("got no error from a cancelled context, want one")
	}
}

// plainServer is a minimal SMTP server without PIPELINING, which go-smtp
// always offers: it answers each command as it comes and records them.
func plainServer(t *testing.T) (addr string, commands func() []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		tp := textproto.NewConn(conn)
		_ = tp.PrintfLine("220 localhost ready")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
			mu.Lock()
			got = append(got, verb)
			mu.Unlock()
			switch verb {
			case "EHLO":
				_ = tp.PrintfLine("250-localhost\r\n250 8BITMIME")
			case "DATA":
				_ = tp.PrintfLine("354 go ahead")
				if _, err := tp.ReadDotBytes(); err != nil {
					return
				}
				_ = tp.PrintfLine("250 queued")
			case "QUIT":
				_ = tp.PrintfLine("221 bye")
				return
			default:
				_ = tp.PrintfLine("250 ok")
			}
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	return l.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// TestSMTP_SessionWithoutPipelining: a server that does not offer
// PIPELINING gets one command at a time, and several messages share the
// connection (the server above takes only one).
func TestSMTP_SessionWithoutPipelining(t *testing.T) {
	addr, commands := plainServer(t)
	tr, err := mail.NewSMTP("smtp://"+addr, "portal@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	ss := tr.Session()
	for _, to := range []string{"ada@example.com", "bob@example.com"} {
		if err := ss.Send(context.Background(), to, "s", "t", "<p>h</p>"); err != nil {
			t.Fatalf("Send to %s: %v", to, err)
		}
	}
	if err := ss.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA", "QUIT"}
	if got := commands(); !slices.Equal(got, want) {
		t.Errorf("got commands %v, want %v", got, want)
	}
}
