package account_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

const tenant data.TenantID = "org-a"

const (
	slug     = "org-a"
	password = "correct horse battery staple"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a service over a fresh database, with a cheap hasher and a
// clock shared by the store and the rate limits.
type fixture struct {
	db       *store.DB
	svc      *account.Service
	clock    *clock
	failures atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, auth.HasherOptions{Concurrent: 4})
}

// newFixtureWith is newFixture with a cheap hasher built with opt.
func newFixtureWith(t *testing.T, opt auth.HasherOptions) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), clk.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f := &fixture{db: db, clock: clk}
	f.svc = account.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), account.Options{
		Hasher:         auth.NewHasherWith(auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, opt),
		Now:            clk.Now,
		OnLoginFailure: func() { f.failures.Add(1) },
	})
	return f
}

// invite returns the accept token of a new invitation of email.
func (f *fixture) invite(t *testing.T, email string) string {
	t.Helper()
	inv, err := f.db.CreateInvitation(t.Context(), tenant, "staff-1", data.InvitationRequest{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(inv.AcceptURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// activate invites and accepts email with password.
func (f *fixture) activate(t *testing.T, email string) store.Auth {
	t.Helper()
	a, err := f.svc.Accept(t.Context(), account.AcceptRequest{Token: f.invite(t, email), Password: password}, store.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("Accept: got %v, want nil", err)
	}
	return a
}

var client = store.Client{IP: "192.0.2.9", UserAgent: "test"}

func TestService_Accept(t *testing.T) {
	tests := []struct {
		name    string
		req     func(token string) account.AcceptRequest
		wantErr error // errors.Is; nil for success
		field   string
		spent   bool
	}{
		{name: "ok", req: func(tok string) account.AcceptRequest {
			return account.AcceptRequest{Token: tok, Password: password, FirstName: "Ada"}
		}, spent: true},
		{name: "short password", req: func(tok string) account.AcceptRequest { return account.AcceptRequest{Token: tok, Password: "short"} },
			field: "password"},
		{name: "long name", req: func(tok string) account.AcceptRequest {
			return account.AcceptRequest{Token: tok, Password: password, LastName: strings.Repeat("x", 101)}
		}, field: "lastName"},
		{name: "empty token", req: func(string) account.AcceptRequest { return account.AcceptRequest{Password: password} }, wantErr: data.ErrGone},
		{name: "long token", req: func(tok string) account.AcceptRequest {
			return account.AcceptRequest{Token: tok + strings.Repeat("A", 100), Password: password}
		}, wantErr: data.ErrGone},
		{name: "unknown token", req: func(string) account.AcceptRequest {
			return account.AcceptRequest{Token: strings.Repeat("A", 43), Password: password}
		}, wantErr: data.ErrGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok := f.invite(t, "ada@example.com")
			a, err := f.svc.Accept(t.Context(), tt.req(tok), client)
			switch {
			case tt.field != "":
				var ve *data.ValidationError
				if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
					t.Fatalf("got %v, want a validation error naming %s", err, tt.field)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if a.Token == "" || a.User.Status != data.UserActive || a.User.FirstName != "Ada" {
					t.Errorf("got %+v, want a session of active Ada", a)
				}
			}
			_, _, err = f.db.PendingInvitation(t.Context(), tok)
			if tt.spent != errors.Is(err, data.ErrGone) {
				t.Errorf("got %v from the token afterwards, want spent=%v", err, tt.spent)
			}
		})
	}
}

func TestService_Login(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	f.activate(t, "ada@example.com")
	revoked := f.activate(t, "grace@example.com")
	if _, err := f.db.RevokeUser(ctx, tenant, "staff-1", revoked.User.ID); err != nil {
		t.Fatal(err)
	}
	f.invite(t, "invited@example.com")

	a, err := f.svc.Login(ctx, slug, "ADA@example.com", password, client)
	if err != nil {
		t.Fatalf("Login: got %v, want nil", err)
	}
	if a.Tenant != tenant || a.User.Email != "ada@example.com" || a.Session.IP != client.IP || a.Session.UserAgent != client.UserAgent {
		t.Errorf("got %+v, want ada's session from the client", a)
	}
	refused := []struct{ name, slug, email, password string }{
		{"wrong password", slug, "ada@example.com", "not the password"},
		{"unknown email", slug, "nobody@example.com", password},
		{"revoked", slug, "grace@example.com", password},
		{"invited", slug, "invited@example.com", password},
		{"unknown portal", "nope", "ada@example.com", password},
		{"huge password", slug, "ada@example.com", strings.Repeat("p", 10000)},
	}
	for _, r := range refused {
		_, err := f.svc.Login(ctx, r.slug, r.email, r.password, client)
		if !errors.Is(err, account.ErrLoginRefused) || !errors.Is(err, data.ErrUnauthorized) || err.Error() != account.ErrLoginRefused.Error() {
			t.Errorf("%s: got %v, want the one refusal", r.name, err)
		}
	}
	if f.failures.Load() != int64(len(refused)) {
		t.Errorf("got %d failures reported, want %d", f.failures.Load(), len(refused))
	}
	if _, err := f.db.UpdateConfig(ctx, tenant, "staff-1", func(c data.Config) (data.Config, error) {
		c.Enabled = false
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, slug, "ada@example.com", password, store.Client{IP: "192.0.2.10"}); !errors.Is(err, account.ErrLoginRefused) {
		t.Errorf("disabled portal: got %v, want ErrLoginRefused", err)
	}
}

func TestService_Login_RateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	f.activate(t, "ada@example.com")
	var rl *data.RateLimitError
	for i := 0; ; i++ {
		_, err := f.svc.Login(ctx, slug, "ada@example.com", "wrong", client)
		if errors.As(err, &rl) {
			break
		}
		if !errors.Is(err, account.ErrLoginRefused) || i > 20 {
			t.Fatalf("attempt %d: got %v, want refusals and then a RateLimitError", i, err)
		}
	}
	if !errors.Is(rl, data.ErrRateLimited) || rl.RetryAfterSeconds < 1 || rl.RetryAfterSeconds > 60 {
		t.Errorf("got %+v, want a wait of 1..60 seconds", rl)
	}
	if _, err := f.svc.Login(ctx, slug, "ada@example.com", password, store.Client{IP: "192.0.2.77"}); !errors.As(err, &rl) {
		t.Errorf("right password from another address while limited: got %v, want RateLimitError", err)
	}
	// The limits run on the injected clock.
	f.clock.Advance(time.Duration(rl.RetryAfterSeconds) * time.Second)
	if _, err := f.svc.Login(ctx, slug, "ada@example.com", password, client); err != nil {
		t.Errorf("after the wait: got %v, want nil", err)
	}
}

// TestService_Login_ConcurrentWrongPasswords: attempts are reserved before
// the hash, so of 1,000 concurrent wrong passwords for one account (each
// from its own address) at most AccountAttempts are hashed.
func TestService_Login_ConcurrentWrongPasswords(t *testing.T) {
	t.Parallel()
	var hashed atomic.Int64
	f := newFixtureWith(t, auth.HasherOptions{Concurrent: 4, CheckQueue: 1000, OnHash: func() { hashed.Add(1) }})
	f.activate(t, "ada@example.com")
	hashed.Store(0)
	const n = 1000
	var limited, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Login(t.Context(), slug, "ada@example.com", "wrong", store.Client{IP: fmt.Sprintf("198.51.100.%d", i%250)})
			var rl *data.RateLimitError
			switch {
			case errors.As(err, &rl):
				limited.Add(1)
			case errors.Is(err, account.ErrLoginRefused):
				refused.Add(1)
			default:
				t.Errorf("got %v, want a refusal or a rate limit", err)
			}
		}()
	}
	wg.Wait()
	if h := hashed.Load(); h > account.AccountAttempts {
		t.Errorf("got %d hashes, want at most %d", h, account.AccountAttempts)
	}
	if refused.Load() > account.AccountAttempts || refused.Load()+limited.Load() != n {
		t.Errorf("got %d refused and %d limited, want at most %d refused and the rest limited", refused.Load(), limited.Load(), account.AccountAttempts)
	}
}

// TestService_Login_HangUpStillCounts: a client that gives up once its
// password is being hashed is charged the attempt all the same.
func TestService_Login_HangUpStillCounts(t *testing.T) {
	t.Parallel()
	var cancel context.CancelFunc
	f := newFixtureWith(t, auth.HasherOptions{Concurrent: 1, OnHash: func() {
		if cancel != nil {
			cancel()
		}
	}})
	f.activate(t, "ada@example.com")
	for i := range account.AccountAttempts {
		var ctx context.Context
		ctx, cancel = context.WithCancel(t.Context())
		if _, err := f.svc.Login(ctx, slug, "ada@example.com", "wrong", client); !errors.Is(err, account.ErrLoginRefused) {
			t.Fatalf("attempt %d: got %v, want a refusal", i, err)
		}
	}
	cancel = nil
	var rl *data.RateLimitError
	if _, err := f.svc.Login(t.Context(), slug, "ada@example.com", password, client); !errors.As(err, &rl) {
		t.Errorf("after %d abandoned attempts: got %v, want a RateLimitError", account.AccountAttempts, err)
	}
}

// TestService_Login_SuccessGivesBack: a successful login does not use up
// the account's attempts.
func TestService_Login_SuccessGivesBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.activate(t, "ada@example.com")
	for i := range 3 * account.AccountAttempts {
		if _, err := f.svc.Login(t.Context(), slug, "ada@example.com", password, client); err != nil {
			t.Fatalf("login %d: got %v, want nil", i, err)
		}
	}
}

// TestService_Accept_CheapChecksFirst: an accept that fails a cheap check
// hashes nothing.
func TestService_Accept_CheapChecksFirst(t *testing.T) {
	t.Parallel()
	var hashed atomic.Int64
	f := newFixtureWith(t, auth.HasherOptions{Concurrent: 2, OnHash: func() { hashed.Add(1) }})
	tok := f.invite(t, "ada@example.com")
	for _, req := range []account.AcceptRequest{
		{Token: tok, Password: password, FirstName: strings.Repeat("a", 101)},
		{Token: tok, Password: password, LastName: "a\x00b"},
		{Token: tok, Password: "short"},
		{Token: strings.Repeat("A", 51), Password: password},
	} {
		if _, err := f.svc.Accept(t.Context(), req, client); err == nil {
			t.Errorf("%+v: got nil, want an error", req)
		}
	}
	if h := hashed.Load(); h != 0 {
		t.Errorf("got %d hashes, want none", h)
	}
}

func TestService_Admit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flow, shares account.Flow
		budget       int
	}{
		{account.FlowLogin, account.FlowForgot, 30},
		{account.FlowAccept, account.FlowReset, 10},
	}
	for _, tt := range tests {
		f := newFixture(t)
		c := store.Client{IP: "203.0.113.5"}
		for i := range tt.budget {
			flow := tt.flow
			if i%2 == 1 {
				flow = tt.shares
			}
			if err := f.svc.Admit(flow, c); err != nil {
				t.Fatalf("flow %d, attempt %d: got %v, want admitted", tt.flow, i, err)
			}
		}
		var rl *data.RateLimitError
		if err := f.svc.Admit(tt.flow, c); !errors.As(err, &rl) || rl.RetryAfterSeconds < 1 {
			t.Errorf("flow %d over budget: got %v, want a RateLimitError", tt.flow, err)
		}
		if err := f.svc.Admit(tt.flow, store.Client{IP: "203.0.113.6"}); err != nil {
			t.Errorf("flow %d, another address: got %v, want admitted", tt.flow, err)
		}
	}
}

func TestService_Reset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	keep := f.activate(t, "ada@example.com")
	other, err := f.svc.Login(ctx, slug, "ada@example.com", password, client)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Forgot(ctx, slug, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Forgot(ctx, slug, strings.Repeat("x", 300)+"@example.com"); err != nil {
		t.Errorf("Forgot of an absurd email: got %v, want nil", err)
	}
	msgs, err := f.db.DueMessages(ctx, f.clock.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var tok string
	for _, m := range msgs {
		if m.Kind == data.MailPasswordReset {
			u, _ := url.Parse(m.Data.Link)
			tok = u.Query().Get("token")
		}
	}
	if tok == "" {
		t.Fatalf("got outbox %+v, want a reset email", msgs)
	}
	var ve *data.ValidationError
	if err := f.svc.Reset(ctx, tok, "short", ""); !errors.As(err, &ve) {
		t.Errorf("short password: got %v, want a ValidationError", err)
	}
	for _, bad := range []string{"", strings.Repeat("A", 65), strings.Repeat("A", 43)} {
		if err := f.svc.Reset(ctx, bad, "a new long passphrase", ""); !errors.Is(err, data.ErrGone) {
			t.Errorf("token %q: got %v, want ErrGone", bad, err)
		}
		if _, err := f.svc.ResetPolicy(ctx, bad); !errors.Is(err, data.ErrGone) {
			t.Errorf("policy of token %q: got %v, want ErrGone", bad, err)
		}
	}
	if cfg, err := f.svc.ResetPolicy(ctx, tok); err != nil || cfg.Slug != slug {
		t.Errorf("policy of a live token: got %+v, %v, want the portal %s", cfg.Slug, err, slug)
	}
	if err := f.svc.Reset(ctx, tok, "a new long passphrase", keep.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(ctx, keep.Token); err != nil {
		t.Errorf("kept session: got %v, want alive", err)
	}
	if _, err := f.svc.Session(ctx, other.Token); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("other session: got %v, want ErrUnauthorized", err)
	}
	if _, err := f.svc.Login(ctx, slug, "ada@example.com", password, client); !errors.Is(err, account.ErrLoginRefused) {
		t.Errorf("old password: got %v, want ErrLoginRefused", err)
	}
	if _, err := f.svc.Login(ctx, slug, "ada@example.com", "a new long passphrase", client); err != nil {
		t.Errorf("new password: got %v, want nil", err)
	}
	if err := f.svc.Reset(ctx, tok, "yet another passphrase", ""); !errors.Is(err, data.ErrGone) {
		t.Errorf("second use: got %v, want ErrGone", err)
	}
}

func TestService_Session(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.activate(t, "ada@example.com")
	for _, tok := range []string{"", strings.Repeat("a", 65), "eyJhbGciOiJFUzI1NiJ9.e30.sig"} {
		if _, err := f.svc.Session(t.Context(), tok); !errors.Is(err, data.ErrUnauthorized) {
			t.Errorf("token %q: got %v, want ErrUnauthorized", tok, err)
		}
	}
	got, err := f.svc.Session(t.Context(), a.Token)
	if err != nil || got.Session.ID != a.Session.ID {
		t.Errorf("got %+v, %v, want the session", got.Session, err)
	}
}

// TestService_Login_SharedLimits: with the account limit in the store, two
// services on one store (two processes on one etcd store) share it: of 200
// concurrent wrong passwords split between them, at most AccountAttempts
// are hashed; a right password after the wait logs in, and gives its
// attempt back.
func TestService_Login_SharedLimits(t *testing.T) {
	t.Parallel()
	var hashed atomic.Int64
	f := newFixture(t)
	f.activate(t, "ada@example.com")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	services := make([]*account.Service, 2)
	for i := range services {
		services[i] = account.New(f.db, log, account.Options{
			Hasher: auth.NewHasherWith(auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
				auth.HasherOptions{Concurrent: 4, CheckQueue: 1000, OnHash: func() { hashed.Add(1) }}),
			Now: f.clock.Now, SharedLimits: true,
		})
	}
	const n = 200
	var limited, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := services[i%2].Login(t.Context(), slug, "ada@example.com", "wrong", store.Client{IP: fmt.Sprintf("198.51.100.%d", i%250)})
			var rl *data.RateLimitError
			switch {
			case errors.As(err, &rl):
				limited.Add(1)
			case errors.Is(err, account.ErrLoginRefused):
				refused.Add(1)
			default:
				t.Errorf("got %v, want a refusal or a rate limit", err)
			}
		})
	}
	wg.Wait()
	if h := hashed.Load(); h > account.AccountAttempts || refused.Load() != h {
		t.Errorf("got %d hashes and %d refusals, want at most %d of each, equal", h, refused.Load(), account.AccountAttempts)
	}
	if refused.Load()+limited.Load() != n {
		t.Errorf("got %d refused and %d limited, want %d in all", refused.Load(), limited.Load(), n)
	}
	var rl *data.RateLimitError
	if _, err := services[1].Login(t.Context(), slug, "ada@example.com", password, client); !errors.As(err, &rl) {
		t.Fatalf("right password while limited: got %v, want RateLimitError", err)
	}
	f.clock.Advance(time.Duration(rl.RetryAfterSeconds) * time.Second)
	if _, err := services[0].Login(t.Context(), slug, "ada@example.com", password, client); err != nil {
		t.Fatalf("after the wait: got %v, want nil", err)
	}
	// The success gave its attempt back: another right login passes at once.
	if _, err := services[1].Login(t.Context(), slug, "ada@example.com", password, client); err != nil {
		t.Errorf("second login after the wait: got %v, want nil", err)
	}
}
