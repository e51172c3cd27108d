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

// SMTP delivers messages to an SMTP server: Send over a connection per
// message, a Session over one connection for many.
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

// Send delivers one message with a plain-text part and an HTML alternative
// over a connection of its own. It gives up when ctx is done, and after
// DefaultSendTimeout at the latest.
func (s *SMTP) Send(ctx context.Context, to, subject, text, html string) error {
	ss := s.Session()
	defer ss.Close()
	return ss.Send(ctx, to, subject, text, html)
}

// Session returns a Session that delivers message after message over one
// connection: it dials at its first Send, and again after a failure.
func (s *SMTP) Session() Session { return &smtpSession{s: s} }

// message builds the email; a recipient that is no address is permanent.
func (s *SMTP) message(to, subject, text, html string) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", s.from, err)
	}
	if err := msg.To(to); err != nil {
		return nil, fmt.Errorf("%w: recipient %q: %v", ErrPermanent, to, err)
	}
	msg.Subject(subject)
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName:         s.host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.insecure, // only when the URL asks for it, for test servers
	}
}

// quitTimeout bounds the polite QUIT that ends a session.
const quitTimeout = 5 * time.Second

// smtpSession is one connection to the server, used for one message after
// another. It is not safe for concurrent use.
type smtpSession struct {
	s    *SMTP
	c    *gomail.Client
	sc   *gosmtp.Client
	conn net.Conn // under sc (and its TLS), for deadlines
}

// Send delivers one message. On a connection that has already carried mail
// a failure before the message reached the server (the server closed an
// idle or used-up connection) is tried once more on a fresh connection.
// Any other failure closes the connection, and the next Send dials again.
func (ss *smtpSession) Send(ctx context.Context, to, subject, text, html string) error {
	msg, err := ss.s.message(to, subject, text, html)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultSendTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return err
	}
	reused := ss.sc != nil
	started, err := ss.send(ctx, msg)
	if err != nil && reused && !started && ctx.Err() == nil {
		ss.drop()
		_, err = ss.send(ctx, msg)
	}
	if err != nil {
		ss.drop()
		return fmt.Errorf("smtp %s:%d: %w", ss.s.host, ss.s.port, err)
	}
	return nil
}

// send delivers msg as one mail transaction (MAIL, RCPT, DATA), dialling
// first if there is no connection, and reports whether the server saw more
// than MAIL FROM of it. After the server accepts the data the transaction is
// over and the next one can follow at once: unlike go-mail's Send, no NOOP
// before and no RSET after, two round trips fewer per message. ctx bounds
// it: its deadline and its end unblock every read and write.
func (ss *smtpSession) send(ctx context.Context, msg *gomail.Msg) (started bool, err error) {
	from, err := msg.GetSender(false)
	if err != nil {
		return false, fmt.Errorf("mail from: %w", err)
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return false, fmt.Errorf("%w: recipients: %v", ErrPermanent, err)
	}
	if ss.sc == nil {
		if err := ss.dial(ctx); err != nil {
			return false, err
		}
	}
	conn := ss.conn
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			ss.drop() // the connection's deadline is spent; the next message dials
		}
	}()
	if ok, _ := ss.sc.Extension("PIPELINING"); ok {
		return ss.pipeline(from, rcpts, msg)
	}
	if err := ss.sc.Mail(from); err != nil {
		return false, fmt.Errorf("mail from: %w", err)
	}
	for _, r := range rcpts {
		if err := ss.sc.Rcpt(r); err != nil {
			return true, fmt.Errorf("rcpt to: %w", err)
		}
	}
	w, err := ss.sc.Data()
	if err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		_ = w.Close()
		return true, fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	return true, nil
}

// pipeline is send for a server that offers PIPELINING (RFC 2920): MAIL,
// RCPT and DATA go out in one write and their replies are read after it, so
// a message takes two round trips instead of four. Any failure drops the
// connection, so the replies left unread do not matter.
func (ss *smtpSession) pipeline(from string, rcpts []string, msg *gomail.Msg) (started bool, err error) {
	for _, a := range append([]string{from}, rcpts...) {
		if strings.ContainsAny(a, "\r\n") {
			return false, fmt.Errorf("%w: address %q spans lines", ErrPermanent, a)
		}
	}
	t := ss.sc.Text
	params := ""
	if ok, _ := ss.sc.Extension("SMTPUTF8"); ok {
		params = " SMTPUTF8"
	}
	fmt.Fprintf(t.W, "MAIL FROM:%s%s\r\n", from, params)
	for _, r := range rcpts {
		fmt.Fprintf(t.W, "RCPT TO:%s\r\n", r)
	}
	_, _ = t.W.WriteString("DATA\r\n")
	if err := t.W.Flush(); err != nil {
		return false, fmt.Errorf("mail from: %w", err)
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return false, fmt.Errorf("mail from: %w", err)
	}
	for range rcpts {
		if _, _, err := t.ReadResponse(25); err != nil {
			return true, fmt.Errorf("rcpt to: %w", err)
		}
	}
	if _, _, err := t.ReadResponse(354); err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	w := t.DotWriter()
	if _, err := msg.WriteTo(w); err != nil {
		_ = w.Close()
		return true, fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	return true, nil
}

// dial connects, greets, and does STARTTLS and AUTH as the URL asks.
func (ss *smtpSession) dial(ctx context.Context) error {
	s := ss.s
	deadline, _ := ctx.Deadline()
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		// go-mail bounds the dial with this; ctx's deadline, applied to
		// the connection, also bounds the greeting, STARTTLS and AUTH.
		gomail.WithTimeout(max(time.Until(deadline), time.Millisecond)),
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
		gomail.WithTLSConfig(s.tlsConfig()),
		gomail.WithDialContextFunc(ss.dialConn(ctx)),
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&plainOrLogin{user: s.user, pass: s.pass, host: s.host}))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ss.conn = nil
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if ss.conn != nil && err != nil {
		_ = ss.conn.Close()
	}
	if err != nil {
		ss.conn = nil
		return fmt.Errorf("dial failed: %w", err)
	}
	ss.c, ss.sc = c, sc
	return nil
}

// dialConn connects to the server (with TLS at once for smtps) and ties the
// connection to sendCtx for the dial: its deadline bounds every read and
// write, and its end unblocks them. go-mail itself only bounds the dial
// with a context.
func (ss *smtpSession) dialConn(sendCtx context.Context) gomail.DialContextFunc {
	s := ss.s
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
		if sendCtx.Err() != nil {
			_ = conn.SetDeadline(time.Unix(1, 0))
		}
		ss.conn = conn
		return conn, nil
	}
}

// drop closes the connection without a word: after a failure the server
// may be in any state.
func (ss *smtpSession) drop() {
	if ss.sc != nil {
		_ = ss.sc.Close()
	}
	ss.c, ss.sc, ss.conn = nil, nil, nil
}

// Close ends the session with QUIT, waiting at most quitTimeout.
func (ss *smtpSession) Close() error {
	if ss.sc == nil {
		return nil
	}
	_ = ss.conn.SetDeadline(time.Now().Add(quitTimeout))
	err := ss.c.CloseWithSMTPClient(ss.sc)
	ss.drop()
	return err
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
