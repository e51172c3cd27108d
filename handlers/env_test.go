package handlers_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/store"
)

// clock is a settable test clock.
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

// testEnv is a real server over a real bbolt file.
type testEnv struct {
	t     *testing.T
	srv   *httptest.Server
	db    *store.DB
	clock *clock
	key   jwk.Key // ES256 private key, kid "test-es256"
	hmac  []byte  // HS256 secret also trusted
	jwks  string  // path of the JWKS file
	// wakes counts the calls of Options.Wake: the handlers call it after
	// work that queued email, which forgot-password does after answering.
	wakes *atomic.Int64
	// operator is the operator token, the backup's credential.
	operator string
}

var fixedStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// envOptions adjust newTestEnv.
type envOptions struct {
	issuer, audience string
	logTo            io.Writer
	// hasher replaces the OWASP password hasher (tests that hash many
	// passwords pass a cheap one); the account flows keep the test clock.
	hasher *auth.Hasher
	// store are the store's options (a CommitFault, say).
	store store.Options
	// maxImports is handlers.Options.MaxConcurrentImports.
	maxImports int
	// documentQuota and maxDocument are handlers.Options.DocumentQuota and
	// MaxDocumentSize.
	documentQuota, maxDocument int64
	// webhookPolicy is handlers.Options.WebhookPolicy.
	webhookPolicy data.WebhookPolicy
	// wake, when not nil, is called with every Options.Wake.
	wake func()
	// dir is the directory of the database (a new temporary one when
	// empty): a second env on the same dir is the service restarted.
	dir string
}

func newTestEnv(t *testing.T) *testEnv { return newTestEnvWith(t, envOptions{}) }

func newTestEnvWith(t *testing.T, o envOptions) *testEnv {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	clk := &clock{t: fixedStart}
	db, err := store.Open(filepath.Join(dir, "portal.db"), clk.Now, o.store)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := signingKey(t, priv, "test-es256", jwa.ES256)
	jwksPath := writeJWKS(t, dir, key)
	secret := []byte(strings.Repeat("s", 40))
	v, err := auth.NewVerifier(auth.Config{Secret: secret, JWKSPath: jwksPath, Issuer: o.issuer, Audience: o.audience, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	logTo := o.logTo
	if logTo == nil {
		logTo = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logTo, nil))
	wakes := new(atomic.Int64)
	operatorSecret := []byte("test-operator-secret-0123456789abcdef")
	op, err := auth.NewOperator(operatorSecret)
	if err != nil {
		t.Fatal(err)
	}
	opts := handlers.Options{Now: clk.Now, CursorKey: []byte("test-cursor-key-0123456789abcdef"), MaxConcurrentImports: o.maxImports,
		Wake: func() {
			wakes.Add(1)
			if o.wake != nil {
				o.wake()
			}
		}, Operator: op, DocumentQuota: o.documentQuota, MaxDocumentSize: o.maxDocument, WebhookPolicy: o.webhookPolicy}
	if o.hasher != nil {
		opts.Accounts = account.New(db, log, account.Options{Hasher: o.hasher, Now: clk.Now})
	}
	h := handlers.New(log, db, v, opts)
	srv := httptest.NewServer(h)
	e := &testEnv{t: t, srv: srv, db: db, clock: clk, key: key, hmac: secret, jwks: jwksPath, wakes: wakes,
		operator: auth.OperatorToken(operatorSecret)}
	t.Cleanup(func() {
		srv.Close()
		_ = db.Close()
	})
	return e
}

// stop shuts the server down and closes the database, as a service that
// stops does (the cleanup that runs later does nothing more).
func (e *testEnv) stop() {
	e.t.Helper()
	e.srv.Close()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// signingKey wraps a private key as a JWK with its kid and algorithm.
func signingKey(t *testing.T, priv any, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	if err := key.Set(jwk.AlgorithmKey, alg); err != nil {
		t.Fatal(err)
	}
	return key
}

// writeJWKS writes the public halves of keys as a JWK set file in dir and
// returns its path.
func writeJWKS(t *testing.T, dir string, keys ...jwk.Key) string {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokenFor signs an ES256 staff token for org with the given scope claim
// and extra claims, valid for an hour from the test clock.
func (e *testEnv) tokenFor(org, scope string, extra ...map[string]any) string {
	e.t.Helper()
	now := e.clock.Now()
	b := jwt.NewBuilder().Subject("staff-1").Claim("org", org).IssuedAt(now).Expiration(now.Add(time.Hour))
	if scope != "" {
		b = b.Claim("scope", scope)
	}
	for _, m := range extra {
		for k, v := range m {
			b = b.Claim(k, v)
		}
	}
	tok, err := b.Build()
	if err != nil {
		e.t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, e.key))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(signed)
}

// admin is a read-write token for org.
func (e *testEnv) admin(org string) string { return e.tokenFor(org, "portal:read portal:write") }

// response is a finished request with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// decode decodes the body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, r.body)
	}
}

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON). Content-Type is application/json unless headers say.
func (e *testEnv) do(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	checkResponse(e.t, req, res.StatusCode, res.Header, raw) // against the OpenAPI document
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// wantStatus fails the test unless r has status want.
func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("got status %d, want %d: %s", r.status, want, r.body)
	}
}

// wantProblem fails unless r is a problem+json document with status want.
func wantProblem(t *testing.T, r response, want int) map[string]any {
	t.Helper()
	wantStatus(t, r, want)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("got Content-Type %q, want application/problem+json", ct)
	}
	p := r.json(t)
	if int(p["status"].(float64)) != want || p["type"] == "" || p["title"] == "" {
		t.Fatalf("got problem %v, want status %d with type and title", p, want)
	}
	return p
}

// fieldErrors returns the fields named in a validation problem.
func fieldErrors(t *testing.T, p map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, _ := p["errors"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out[m["field"].(string)] = m["message"].(string)
	}
	return out
}
