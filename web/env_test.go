package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/web"
)

const testTenant data.TenantID = "org-acme"

const (
	testSlug     = "acme"
	testPortal   = "Acme Support"
	testPassword = "correct horse battery staple"
)

// env is the whole service over a real bbolt file, wired as serve wires
// it: handlers.New with the web handler mounted, one account.Service
// shared by both, and a mail sender whose transport keeps every message.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	db     *store.DB
	secret []byte
	mail   *mailbox
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), time.Now, store.Options{PublicURL: base})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	secret := []byte(strings.Repeat("k", 40))
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	// A cheap argon2id: the tests check flows, not hashing cost.
	hasher := auth.NewHasher(auth.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	accounts := account.New(db, log, account.Options{Hasher: hasher})
	box := &mailbox{}
	sender := mail.NewSender(db, box, log, nil)
	pages, err := web.New(log, db, web.Options{Accounts: accounts, Wake: sender.Wake, PublicURL: base})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = handlers.New(log, db, v, handlers.Options{Accounts: accounts, Wake: sender.Wake,
		CursorKey: []byte("test-cursor-key-0123456789abcdef"), Web: pages})
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sender.Run(ctx)
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		_ = db.Close()
	})
	e := &env{t: t, srv: srv, db: db, secret: secret, mail: box}
	e.setConfig(func(c data.Config) data.Config {
		c.PortalName, c.Slug, c.WelcomeMessage, c.SupportEmail = testPortal, testSlug, "Hello from Acme.\nWe are glad you are here.", "help@acme.test"
		c.Branding.PrimaryColor, c.Branding.AccentColor = "#5b2a86", "#d9480f"
		return c
	})
	return e
}

// setConfig changes the test organization's portal configuration.
func (e *env) setConfig(change func(data.Config) data.Config) {
	e.t.Helper()
	_, err := e.db.UpdateConfig(context.Background(), testTenant, "test", func(c data.Config) (data.Config, error) {
		return change(c), nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// staffToken is an admin API token for the test organization.
func (e *env) staffToken() string {
	e.t.Helper()
	tok, err := auth.Mint(e.secret, auth.Claims{Subject: "alex@salesos.test", Tenant: string(testTenant),
		Scope: "portal:read portal:write", TTL: time.Hour}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// invite invites email and returns the invitation and its token.
func (e *env) invite(email string) (data.Invitation, string) {
	e.t.Helper()
	inv, err := e.db.CreateInvitation(context.Background(), testTenant, "test", data.InvitationRequest{Email: email, Role: data.RoleMember})
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := url.Parse(inv.AcceptURL)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv, u.Query().Get("token")
}

// invitationStatus reads an invitation's status from the store.
func (e *env) invitationStatus(id string) data.InvitationStatus {
	e.t.Helper()
	inv, err := e.db.Invitation(context.Background(), testTenant, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv.Status
}

// mailbox is a mail.Transport that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	msgs []message
}

type message struct{ to, subject, text string }

func (m *mailbox) Send(_ context.Context, to, subject, text, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, message{to, subject, text})
	return nil
}

var linkRE = regexp.MustCompile(`https?://\S+/p/[a-z0-9-]+/(?:accept|reset)\?token=[A-Za-z0-9_-]+`)

// waitLink waits for a message to `to` and returns the first portal link in it.
func (m *mailbox) waitLink(t *testing.T, to string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		for _, msg := range m.msgs {
			if msg.to == to {
				if l := linkRE.FindString(msg.text); l != "" {
					m.mu.Unlock()
					return l
				}
			}
		}
		m.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail with a link to %s within 10s", to)
	return ""
}

// client is a browser without JavaScript: a cookie jar, forms posted as
// application/x-www-form-urlencoded, redirects not followed by itself.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (e *env) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{t: e.t, base: e.srv.URL, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	status int
	header http.Header
	body   string
	path   string
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return page{status: res.StatusCode, header: res.Header, body: string(b), path: req.URL.RequestURI()}
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// post sends a form; headers are name, value pairs.
func (c *client) post(path string, form url.Values, headers ...string) page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

// follow follows redirects from p with GETs, as a browser does after a
// form post, and returns the first page that is not a redirect.
func (c *client) follow(p page) page {
	c.t.Helper()
	for i := 0; i < 5 && p.status >= 300 && p.status < 400; i++ {
		loc := p.header.Get("Location")
		if loc == "" {
			c.t.Fatalf("redirect %d from %s without Location", p.status, p.path)
		}
		p = c.get(loc)
	}
	return p
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the form token of the page's first form.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field in %s:\n%s", p.path, p.body)
	}
	return m[1]
}

func wantStatus(t *testing.T, p page, want int) {
	t.Helper()
	if p.status != want {
		t.Fatalf("%s: got status %d, want %d\n%s", p.path, p.status, want, p.body)
	}
}

func wantContains(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Errorf("%s: body does not contain %q", p.path, s)
		}
	}
}

func wantNotContains(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if strings.Contains(p.body, s) {
			t.Errorf("%s: body contains %q, want it absent", p.path, s)
		}
	}
}

// acceptInvitation signs a new customer in through the accept form and
// returns the client, now holding the session cookie.
func (e *env) acceptInvitation(email string) *client {
	e.t.Helper()
	_, token := e.invite(email)
	c := e.client()
	form := c.get("/p/" + testSlug + "/accept?token=" + token)
	wantStatus(e.t, form, http.StatusOK)
	p := c.post("/p/"+testSlug+"/accept", url.Values{"csrf": {form.csrf(e.t)}, "token": {token},
		"firstName": {"Dana"}, "password": {testPassword}, "passwordConfirm": {testPassword}})
	wantStatus(e.t, p, http.StatusSeeOther)
	return c
}
