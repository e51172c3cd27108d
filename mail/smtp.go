package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// DefaultSendTimeout bounds one SMTP delivery when the caller's context has
// no earlier deadline.
const DefaultSendTimeout = 30 * time.Second

// SMTP delivers messages to an SMTP server, one connection per message.
type SMTP struct {
	host        string
	port        int
	implicitTLS bool
	insecure    bool
	user, pass  string
	from        string
	redacted    string
}

// NewSMTP returns a Transport for the server that rawURL names, sending from
// the address from:
//
//	smtp://[user:password@]host[:port][?insecure=1]   port 25, STARTTLS when the server offers it
//	smtps://[user:password@]host[:port][?insecure=1]  port 465, TLS from the first byte
//
// With a user, the client authenticates with AUTH PLAIN, or LOGIN when the
// server offers only that; it never sends a password unencrypted except to
// localhost. insecure=1 skips certificate verification, for test servers.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return nil, fmt.Errorf("smtp url: %v", err)
	}
	s := &SMTP{host: u.Hostname(), redacted: u.Redacted()}
	switch u.Scheme {
	case "smtp":
		s.port = 25
	case "smtps":
		s.port, s.implicitTLS = 465, true
	default:
		return nil, fmt.Errorf("smtp url %s: scheme must be smtp or smtps", s.redacted)
	}
	if s.host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("smtp url %s: no host", s.redacted)
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return nil, fmt.Errorf("smtp url %s: unexpected path or fragment", s.redacted)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("smtp url %s: port must be 1 to 65535", s.redacted)
		}
		s.port = n
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("smtp url %s: query: %v", s.redacted, err)
	}
	for k, vs := range q {
		if k != "insecure" {
			return nil, fmt.Errorf("smtp url %s: unknown parameter %q", s.redacted, k)
		}
		switch strings.ToLower(vs[len(vs)-1]) {
		case "1", "true", "yes":
			s.insecure = true
		case "", "0", "false", "no":
		default:
			return nil, fmt.Errorf("smtp url %s: insecure must be 1 or 0", s.redacted)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail from %q: %w", from, err)
	}
	s.from = a.String()
	return s, nil
}

// String describes the server without its password, for logs.
func (s *SMTP) String() string { return s.redacted }

// Send delivers one message with a plain-text part and an HTML alternative.
// It gives up when ctx is done, and after DefaultSendTimeout at the latest.
func (s *SMTP) Send(ctx context.Context, to, subject, text, html string) error {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("mail from %q: %w", s.from, err)
	}
	if err := msg.To(to); err != nil {
		return fmt.Errorf("%w: recipient %q: %v", ErrPermanent, to, err)
	}
	msg.Subject(subject)
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)

	ctx, cancel := context.WithTimeout(ctx, DefaultSendTimeout)
	defer cancel() // also releases the connection watcher set up in dial
	deadline, _ := ctx.Deadline()
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		// go-mail applies this to each command after the dial; dial adds the
		// context's deadline for the greeting, STARTTLS and AUTH before them.
		gomail.WithTimeout(timeout),
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
		gomail.WithTLSConfig(s.tlsConfig()),
		gomail.WithDialContextFunc(s.dial(ctx)),
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&plainOrLogin{user: s.user, pass: s.pass, host: s.host}))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.host, s.port, err)
	}
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName:         s.host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.insecure, // only when the URL asks for it, for test servers
	}
}

// dial connects to the server (with TLS at once for smtps) and ties the
// connection to sendCtx: its deadline bounds every read and write, and its
// end unblocks them. go-mail itself only bounds the dial with a context.
func (s *SMTP) dial(sendCtx context.Context) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.implicitTLS {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(ctx, network, addr)
		} else {
			conn, err = d.DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		if dl, ok := sendCtx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		context.AfterFunc(sendCtx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		return conn, nil
	}
}

// plainOrLogin authenticates with AUTH PLAIN, or with LOGIN when the server
// offers only that. The go-mail mechanisms it delegates to refuse to send
// the password over a connection that is neither TLS nor to localhost.
type plainOrLogin struct {
	user, pass, host string
	auth             gosmtp.Auth
}

// Start picks the mechanism from those the server advertised.
func (a *plainOrLogin) Start(server *gosmtp.ServerInfo) (string, []byte, error) {
	offers := func(mech string) bool {
		for _, m := range server.Auth {
			if strings.EqualFold(m, mech) {
				return true
			}
		}
		return false
	}
	switch {
	case offers("PLAIN"):
		a.auth = gosmtp.PlainAuth("", a.user, a.pass, a.host, false)
	case offers("LOGIN"):
		a.auth = gosmtp.LoginAuth(a.user, a.pass, a.host, false)
	default:
		return "", nil, errors.New("server offers neither AUTH PLAIN nor AUTH LOGIN")
	}
	return a.auth.Start(server)
}

// Next continues the chosen mechanism.
func (a *plainOrLogin) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.auth.Next(fromServer, more)
}
