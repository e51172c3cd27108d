package mail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"maps"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtpd "github.com/emersion/go-smtp"
)

// serverOptions configure a test SMTP server.
type serverOptions struct {
	failFirst   int    // reject this many deliveries at DATA
	failCode    int    // with this code; 451 when 0
	tls         bool   // offer STARTTLS, or with implicitTLS speak TLS at once
	implicitTLS bool   // smtps
	user, pass  string // require AUTH PLAIN with these
	maxPerConn  int    // after this many messages on a connection, answer 421 to MAIL
	countOnly   bool   // keep only a count per recipient, not the messages (for large runs)
}

// received is one message the test server accepted.
type received struct {
	from string
	to   []string
	raw  []byte
}

// testServer is an in-process SMTP server that records what it accepts.
type testServer struct {
	addr string
	opt  serverOptions

	mu       sync.Mutex
	attempts int
	conns    int
	msgs     []received
	counts   map[string]int // with countOnly
}

func startServer(t testing.TB, opt serverOptions) *testServer {
	t.Helper()
	ts := &testServer{opt: opt, counts: map[string]int{}}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(*smtpd.Conn) (smtpd.Session, error) {
		ts.mu.Lock()
		ts.conns++
		ts.mu.Unlock()
		return &testSession{srv: ts}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opt.tls {
		cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: tls.VersionTLS12}
		if opt.implicitTLS {
			l = tls.NewListener(l, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	} else if opt.user != "" {
		srv.AllowInsecureAuth = true
	}
	ts.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // Close misses a listener that Serve has not registered yet
		<-done
	})
	return ts
}

// messages returns a copy of what the server accepted.
func (ts *testServer) messages() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...)
}

// delivered returns, with countOnly, how many messages each recipient got.
func (ts *testServer) delivered() map[string]int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return maps.Clone(ts.counts)
}

// connections counts the connections the server has accepted.
func (ts *testServer) connections() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.conns
}

// tries counts the deliveries that reached DATA, accepted or not.
func (ts *testServer) tries() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.attempts
}

// testSession is one client connection to a testServer.
type testSession struct {
	srv    *testServer
	authed bool
	from   string
	to     []string
	sent   int // messages accepted on this connection
}

func (s *testSession) AuthMechanisms() []string {
	if s.srv.opt.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.opt.user || pass != s.srv.opt.pass {
			return smtpd.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtpd.MailOptions) error {
	if s.srv.opt.user != "" && !s.authed {
		return smtpd.ErrAuthRequired
	}
	if limit := s.srv.opt.maxPerConn; limit > 0 && s.sent >= limit {
		return &smtpd.SMTPError{Code: 421, EnhancedCode: smtpd.EnhancedCode{4, 7, 0}, Message: "enough for this connection"}
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtpd.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	ts := s.srv
	if ts.opt.countOnly {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.attempts++
		for _, to := range s.to {
			ts.counts[to]++
		}
		return nil
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.attempts++
	if ts.attempts <= ts.opt.failFirst {
		code := ts.opt.failCode
		if code == 0 {
			code = 451
		}
		return &smtpd.SMTPError{Code: code, EnhancedCode: smtpd.EnhancedCode{code / 100, 3, 0}, Message: "not now"}
	}
	ts.msgs = append(ts.msgs, received{from: s.from, to: s.to, raw: raw})
	s.sent++
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// parsedMessage is a received message taken apart.
type parsedMessage struct {
	from, to, subject, text, html string
}

// parse reads a multipart/alternative message with a text and an HTML part,
// undoing their transfer encoding.
func parse(t *testing.T, raw []byte) parsedMessage {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	var p parsedMessage
	p.from, p.to = m.Header.Get("From"), m.Header.Get("To")
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("content type: got %q (%v), want multipart/alternative", mediaType, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	if strings.TrimSpace(p.text) == "" || strings.TrimSpace(p.html) == "" {
		t.Fatalf("got text %q and html %q, want both parts", p.text, p.html)
	}
	return p
}

// waitFor polls cond until it holds, or fails the test after a deadline
// generous enough for a loaded machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
