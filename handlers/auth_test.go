package handlers_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/store"
)

const portalConfigPath = "/v1/customer-portal/config"

// authB64 is base64url (no padding) of v's JSON.
func authB64(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// authHS256 builds a compact HS256 JWS by hand, so the header can say
// anything (kid of an RSA key, no kid, extra members).
func authHS256(t *testing.T, secret []byte, header, claims map[string]any) string {
	t.Helper()
	input := authB64(t, header) + "." + authB64(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// authSign signs claims with key (a jwk.Key or a raw key) and alg, adding
// header members to the protected header. A jwk.Key's kid is used unless
// header sets one.
func authSign(t *testing.T, alg jwa.SignatureAlgorithm, key any, header, claims map[string]any, extra ...jws.SignOption) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	for k, v := range header {
		if err := h.Set(k, v); err != nil {
			t.Fatalf("header %s: %v", k, err)
		}
	}
	if _, ok := header["kid"]; ok {
		// jws.Sign writes a jwk.Key's own kid over the header's: sign with
		// the raw key so the header says what the test wants.
		if k, isJWK := key.(jwk.Key); isJWK {
			var raw any
			if err := k.Raw(&raw); err != nil {
				t.Fatal(err)
			}
			key = raw
		}
	}
	opts := append([]jws.SignOption{jws.WithKey(alg, key, jws.WithProtectedHeaders(h))}, extra...)
	tok, err := jws.Sign(payload, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// authClaims are valid claims for org at the env's clock, with mods applied
// (a nil value deletes the claim).
func authClaims(e *testEnv, org string, mods map[string]any) map[string]any {
	now := e.clock.Now()
	c := map[string]any{"sub": "staff-1", "org": org, "scope": "portal:read portal:write",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range mods {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func authNewEC(t *testing.T, kid string) jwk.Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		_ = k.Set(jwk.KeyIDKey, kid)
	}
	_ = k.Set(jwk.AlgorithmKey, jwa.ES256)
	return k
}

// envFor returns e for subtest t: the same server and database, with
// failures reported to t. Subtests that share an env keep apart by using
// their own organizations.
func envFor(t *testing.T, e *testEnv) *testEnv {
	c := *e
	c.t = t
	return &c
}

// wantUnauthorized fails unless r is a 401 problem with a Bearer challenge
// that says invalid_token exactly when a token was sent.
func wantUnauthorized(t *testing.T, r response, tokenSent bool) {
	t.Helper()
	p := wantProblem(t, r, http.StatusUnauthorized)
	if p["type"] != "https://salesos.dev/problems/unauthorized" {
		t.Errorf("got type %v, want https://salesos.dev/problems/unauthorized", p["type"])
	}
	ch := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, "Bearer") {
		t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", ch)
	}
	if got := strings.Contains(ch, `error="invalid_token"`); got != tokenSent {
		t.Errorf("got WWW-Authenticate %q (invalid_token=%t), want invalid_token=%t", ch, got, tokenSent)
	}
	if strings.Contains(string(r.body), "jwt") || strings.Contains(string(r.body), "jws") {
		t.Errorf("got body %s, want no library error text", r.body)
	}
}

func TestAuth_Matrix(t *testing.T) {
	t.Parallel()
	attacker := authNewEC(t, "attacker")
	attackerPub, _ := attacker.PublicKey()
	tests := []struct {
		name string
		// header, when set, replaces the Authorization header; else token is
		// sent as a Bearer token.
		header string
		token  func(t *testing.T, e *testEnv) string
		want   int
	}{
		{"valid ES256", "", func(t *testing.T, e *testEnv) string { return e.admin("acme") }, 200},
		{"valid HS256 minted with the secret", "", func(t *testing.T, e *testEnv) string {
			tok, err := auth.Mint(e.hmac, auth.Claims{Subject: "s", Tenant: "acme", Scope: "portal:read", TTL: time.Hour}, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, 200},
		{"valid HS256 built by hand with the secret's kid", "", func(t *testing.T, e *testEnv) string {
			return authHS256(t, e.hmac, map[string]any{"alg": "HS256", "typ": "JWT", "kid": auth.HMACKeyID(e.hmac)}, authClaims(e, "acme", nil))
		}, 200},
		{"lower-case bearer scheme", "bearer", func(t *testing.T, e *testEnv) string { return e.admin("acme") }, 200},
		{"30s past exp (leeway)", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"exp": e.clock.Now().Add(-30 * time.Second).Unix()}))
		}, 200},
		{"nbf 30s ahead (leeway)", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"nbf": e.clock.Now().Add(30 * time.Second).Unix()}))
		}, 200},

		{"no token", "none", nil, 401},
		{"basic scheme", "Basic dXNlcjpwYXNz", nil, 401},
		{"bearer without token", "Bearer ", nil, 401},
		{"garbage", "", func(t *testing.T, e *testEnv) string { return "garbage" }, 401},
		{"garbage with dots", "", func(t *testing.T, e *testEnv) string { return "a.b.c" }, 401},
		{"too long", "", func(t *testing.T, e *testEnv) string { return e.admin("acme") + strings.Repeat("A", 9000) }, 401},
		{"wrong HS256 secret", "", func(t *testing.T, e *testEnv) string {
			return authHS256(t, []byte(strings.Repeat("w", 40)), map[string]any{"alg": "HS256", "kid": auth.HMACKeyID(e.hmac)}, authClaims(e, "acme", nil))
		}, 401},
		{"wrong HS256 secret with its own kid", "", func(t *testing.T, e *testEnv) string {
			wrong := []byte(strings.Repeat("w", 40))
			return authHS256(t, wrong, map[string]any{"alg": "HS256", "kid": auth.HMACKeyID(wrong)}, authClaims(e, "acme", nil))
		}, 401},
		{"HS256 with the secret but no kid (two keys)", "", func(t *testing.T, e *testEnv) string {
			return authHS256(t, e.hmac, map[string]any{"alg": "HS256", "typ": "JWT"}, authClaims(e, "acme", nil))
		}, 401},
		{"alg none", "", func(t *testing.T, e *testEnv) string {
			return authB64(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + authB64(t, authClaims(e, "acme", nil)) + "."
		}, 401},
		{"alg none with a known kid", "", func(t *testing.T, e *testEnv) string {
			return authB64(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "test-es256"}) + "." + authB64(t, authClaims(e, "acme", nil)) + "."
		}, 401},
		{"alg None with the secret's kid", "", func(t *testing.T, e *testEnv) string {
			return authB64(t, map[string]any{"alg": "None", "kid": auth.HMACKeyID(e.hmac)}) + "." + authB64(t, authClaims(e, "acme", nil)) + "."
		}, 401},
		{"HS256 keyed with the ES256 public key", "", func(t *testing.T, e *testEnv) string {
			pub, _ := e.key.PublicKey()
			raw, _ := json.Marshal(pub)
			return authHS256(t, raw, map[string]any{"alg": "HS256", "kid": "test-es256"}, authClaims(e, "acme", nil))
		}, 401},
		{"unknown kid", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, authNewEC(t, "nope"), nil, authClaims(e, "acme", nil))
		}, 401},
		{"known kid, other key", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, authNewEC(t, "test-es256"), nil, authClaims(e, "acme", nil))
		}, 401},
		{"expired 61s ago", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"exp": e.clock.Now().Add(-61 * time.Second).Unix()}))
		}, 401},
		{"nbf 2 minutes ahead", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"nbf": e.clock.Now().Add(2 * time.Minute).Unix()}))
		}, 401},
		{"missing exp", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"exp": nil}))
		}, 401},
		{"missing sub", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"sub": nil}))
		}, 401},
		{"missing org", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"org": nil}))
		}, 401},
		{"org not a string", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"org": []string{"acme"}}))
		}, 401},
		{"exp not a number", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", map[string]any{"exp": "tomorrow"}))
		}, 401},
		{"tampered payload", "", func(t *testing.T, e *testEnv) string {
			parts := strings.Split(e.tokenFor("acme", "portal:read"), ".")
			parts[1] = authB64(t, authClaims(e, "globex", nil))
			return strings.Join(parts, ".")
		}, 401},
		{"tampered signature", "", func(t *testing.T, e *testEnv) string {
			parts := strings.Split(e.admin("acme"), ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[0] ^= 1
			parts[2] = base64.RawURLEncoding.EncodeToString(sig)
			return strings.Join(parts, ".")
		}, 401},
		{"signature stripped", "", func(t *testing.T, e *testEnv) string {
			parts := strings.Split(e.admin("acme"), ".")
			return parts[0] + "." + parts[1] + "."
		}, 401},
		{"attacker key in jwk header", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, attacker, map[string]any{"jwk": attackerPub}, authClaims(e, "acme", nil))
		}, 401},
		{"attacker key in jwk header, known kid", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, attacker, map[string]any{"jwk": attackerPub, "kid": "test-es256"}, authClaims(e, "acme", nil))
		}, 401},
		{"jku header", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, attacker, map[string]any{"jku": "https://evil.example/jwks.json"}, authClaims(e, "acme", nil))
		}, 401},
		{"x5u header", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, attacker, map[string]any{"x5u": "https://evil.example/cert.pem"}, authClaims(e, "acme", nil))
		}, 401},
		{"JSON serialization", "", func(t *testing.T, e *testEnv) string {
			return authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", nil), jws.WithJSON())
		}, 401},
	}
	shared := newTestEnv(t) // every case only reads acme's config
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			var r response
			switch {
			case tt.header == "none":
				r = e.do(http.MethodGet, portalConfigPath, "", nil)
			case tt.header == "bearer":
				r = e.do(http.MethodGet, portalConfigPath, "", nil, "Authorization", "bearer "+tt.token(t, e))
			case tt.header != "":
				r = e.do(http.MethodGet, portalConfigPath, "", nil, "Authorization", tt.header)
			default:
				r = e.do(http.MethodGet, portalConfigPath, tt.token(t, e), nil)
			}
			if tt.want == http.StatusOK {
				wantStatus(t, r, http.StatusOK)
				if slug := r.json(t)["slug"]; slug != "acme" {
					t.Errorf("got slug %v, want acme (the token's organization)", slug)
				}
				return
			}
			wantUnauthorized(t, r, tt.header == "" || tt.header == "bearer")
		})
	}
}

func TestAuth_ExpiryByClock(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme") // exp = now + 1h
	wantStatus(t, e.do(http.MethodGet, portalConfigPath, tok, nil), http.StatusOK)
	e.clock.Advance(time.Hour + 30*time.Second)
	wantStatus(t, e.do(http.MethodGet, portalConfigPath, tok, nil), http.StatusOK)
	e.clock.Advance(31 * time.Second) // 61s past exp
	wantUnauthorized(t, e.do(http.MethodGet, portalConfigPath, tok, nil), true)
}

func TestAuth_IssuerAudience(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims map[string]any
		want   int
	}{
		{"right iss and aud", map[string]any{"iss": "https://idp.example", "aud": "portal"}, 200},
		{"aud in a list", map[string]any{"iss": "https://idp.example", "aud": []string{"crm", "portal"}}, 200},
		{"missing iss", map[string]any{"aud": "portal"}, 401},
		{"wrong iss", map[string]any{"iss": "https://evil.example", "aud": "portal"}, 401},
		{"iss differs in case", map[string]any{"iss": "https://IDP.example", "aud": "portal"}, 401},
		{"missing aud", map[string]any{"iss": "https://idp.example"}, 401},
		{"wrong aud", map[string]any{"iss": "https://idp.example", "aud": "crm"}, 401},
	}
	shared := newTestEnvWith(t, envOptions{issuer: "https://idp.example", audience: "portal"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			r := e.do(http.MethodGet, portalConfigPath, authSign(t, jwa.ES256, e.key, nil, authClaims(e, "acme", tt.claims)), nil)
			if tt.want == http.StatusOK {
				wantStatus(t, r, http.StatusOK)
				return
			}
			wantUnauthorized(t, r, true)
		})
	}
}

// keysEnv is a server whose verifier trusts an RSA and an Ed25519 key from
// a JWKS file (and optionally an HS256 secret).
type keysEnv struct {
	*testEnv
	rsa, ed jwk.Key // private keys, kids "rsa-1" and "ed-1"
	rsaPub  *rsa.PublicKey
}

type keysEnvOptions struct {
	secret      []byte
	onlyRSA     bool
	tenantClaim string
	// rsaPriv and edPriv are the keys to trust (generated when nil).
	rsaPriv *rsa.PrivateKey
	edPriv  ed25519.PrivateKey
}

func newKeysEnv(t *testing.T, o keysEnvOptions) *keysEnv {
	t.Helper()
	dir := t.TempDir()
	clk := &clock{t: fixedStart}
	db, err := store.Open(filepath.Join(dir, "portal.db"), clk.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, edPriv := o.rsaPriv, o.edPriv
	if rsaPriv == nil {
		if rsaPriv, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	if edPriv == nil {
		if _, edPriv, err = ed25519.GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	rsaKey := signingKey(t, rsaPriv, "rsa-1", jwa.RS256)
	edKey := signingKey(t, edPriv, "ed-1", jwa.EdDSA)
	trusted := []jwk.Key{rsaKey, edKey}
	if o.onlyRSA {
		trusted = trusted[:1]
	}
	jwksPath := writeJWKS(t, dir, trusted...)
	v, err := auth.NewVerifier(auth.Config{Secret: o.secret, JWKSPath: jwksPath, TenantClaim: o.tenantClaim, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := handlers.New(slog.New(slog.NewTextHandler(io.Discard, nil)), db, v,
		handlers.Options{Now: clk.Now, CursorKey: []byte("test-cursor-key-0123456789abcdef")})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = db.Close()
	})
	return &keysEnv{
		testEnv: &testEnv{t: t, srv: srv, db: db, clock: clk, hmac: o.secret, jwks: jwksPath},
		rsa:     rsaKey, ed: edKey, rsaPub: &rsaPriv.PublicKey,
	}
}

func TestAuth_JWKSKeys(t *testing.T) {
	t.Parallel()
	pemOf := func(k *rsa.PublicKey) []byte {
		der, _ := x509.MarshalPKIXPublicKey(k)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	tests := []struct {
		name  string
		kind  string // which server: "", "secret", "onlyRSA" or "tenantClaim"
		token func(t *testing.T, e *keysEnv) string
		want  int
	}{
		{"RS256", "", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.RS256, e.rsa, nil, authClaims(e.testEnv, "acme", nil))
		}, 200},
		{"EdDSA", "", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.EdDSA, e.ed, nil, authClaims(e.testEnv, "acme", nil))
		}, 200},
		{"RS256 next to an HS256 secret", "secret", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.RS256, e.rsa, nil, authClaims(e.testEnv, "acme", nil))
		}, 200},
		{"HS256 keyed with the RSA public key PEM", "", func(t *testing.T, e *keysEnv) string {
			return authHS256(t, pemOf(e.rsaPub), map[string]any{"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"HS256 keyed with the RSA public key DER", "", func(t *testing.T, e *keysEnv) string {
			der, _ := x509.MarshalPKIXPublicKey(e.rsaPub)
			return authHS256(t, der, map[string]any{"alg": "HS256", "kid": "rsa-1"}, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"HS256 keyed with the RSA public JWK", "", func(t *testing.T, e *keysEnv) string {
			pub, _ := e.rsa.PublicKey()
			raw, _ := json.Marshal(pub)
			return authHS256(t, raw, map[string]any{"alg": "HS256", "kid": "rsa-1"}, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"HS256 keyed with the RSA modulus", "", func(t *testing.T, e *keysEnv) string {
			return authHS256(t, e.rsaPub.N.Bytes(), map[string]any{"alg": "HS256", "kid": "rsa-1"}, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"HS256 keyed with the RSA PEM, only key, no kid", "onlyRSA", func(t *testing.T, e *keysEnv) string {
			return authHS256(t, pemOf(e.rsaPub), map[string]any{"alg": "HS256", "typ": "JWT"}, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"RS256 without kid, only key", "onlyRSA", func(t *testing.T, e *keysEnv) string {
			var raw rsa.PrivateKey
			_ = e.rsa.Raw(&raw)
			return authSign(t, jwa.RS256, &raw, nil, authClaims(e.testEnv, "acme", nil))
		}, 200},
		{"RS256 without kid, two keys", "", func(t *testing.T, e *keysEnv) string {
			var raw rsa.PrivateKey
			_ = e.rsa.Raw(&raw)
			return authSign(t, jwa.RS256, &raw, nil, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"RS512 with the RS256 key", "", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.RS512, e.rsa, nil, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"PS256 with the RS256 key", "", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.PS256, e.rsa, nil, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"RSA signature under the Ed25519 kid", "", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.RS256, e.rsa, map[string]any{"kid": "ed-1"}, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"Ed25519 signature under the RSA kid", "", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.EdDSA, e.ed, map[string]any{"kid": "rsa-1"}, authClaims(e.testEnv, "acme", nil))
		}, 401},
		{"custom tenant claim present", "tenantClaim", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.RS256, e.rsa, nil, authClaims(e.testEnv, "other", map[string]any{"tenant_id": "acme"}))
		}, 200},
		{"custom tenant claim missing", "tenantClaim", func(t *testing.T, e *keysEnv) string {
			return authSign(t, jwa.RS256, e.rsa, nil, authClaims(e.testEnv, "acme", nil))
		}, 401},
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	envs := map[string]*keysEnv{
		"":            newKeysEnv(t, keysEnvOptions{rsaPriv: rsaPriv, edPriv: edPriv}),
		"secret":      newKeysEnv(t, keysEnvOptions{rsaPriv: rsaPriv, edPriv: edPriv, secret: []byte(strings.Repeat("k", 32))}),
		"onlyRSA":     newKeysEnv(t, keysEnvOptions{rsaPriv: rsaPriv, edPriv: edPriv, onlyRSA: true}),
		"tenantClaim": newKeysEnv(t, keysEnvOptions{rsaPriv: rsaPriv, edPriv: edPriv, tenantClaim: "tenant_id"}),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shared := envs[tt.kind]
			e := &keysEnv{testEnv: envFor(t, shared.testEnv), rsa: shared.rsa, ed: shared.ed, rsaPub: shared.rsaPub}
			r := e.do(http.MethodGet, portalConfigPath, tt.token(t, e), nil)
			if tt.want == http.StatusOK {
				wantStatus(t, r, http.StatusOK)
				if slug := r.json(t)["slug"]; slug != "acme" {
					t.Errorf("got slug %v, want acme (the token's organization)", slug)
				}
				return
			}
			wantUnauthorized(t, r, true)
		})
	}
}

func TestAuth_Permissions(t *testing.T) {
	t.Parallel()
	type access struct{ getConfig, getFeatures, getAudit, patchConfig, toggle int }
	all := access{200, 200, 200, 200, 200}
	readOnly := access{200, 200, 200, 403, 403}
	none := access{403, 403, 403, 403, 403}
	tests := []struct {
		name  string
		scope string
		role  string
		want  access
	}{
		{"portal:read", "portal:read", "", readOnly},
		{"portal:write", "portal:write", "", all},
		{"read and write", "portal:read portal:write", "", all},
		{"role admin", "", "admin", all},
		{"role owner", "", "owner", all},
		{"role admin with read scope", "portal:read", "admin", all},
		{"role member", "", "member", none},
		{"unrelated scope", "crm:read", "", none},
		{"no scope", "", "", none},
		{"operator", "portal:operator", "", none},
		{"scope look-alike", "portal:reader portal:writer", "", none},
	}
	shared := newTestEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, shared)
			org := fmt.Sprintf("perm-%d", i) // cases share the server, not an organization
			var extra []map[string]any
			if tt.role != "" {
				extra = append(extra, map[string]any{"role": tt.role})
			}
			tok := e.tokenFor(org, tt.scope, extra...)
			checks := []struct {
				method, path string
				body         any
				want         int
			}{
				{http.MethodGet, portalConfigPath, nil, tt.want.getConfig},
				{http.MethodGet, "/v1/customer-portal/features", nil, tt.want.getFeatures},
				{http.MethodGet, "/v1/customer-portal/audit", nil, tt.want.getAudit},
				{http.MethodPatch, portalConfigPath, map[string]any{"portalName": "Changed"}, tt.want.patchConfig},
				{http.MethodPatch, "/v1/customer-portal/features/chat/toggle", nil, tt.want.toggle},
			}
			for _, c := range checks {
				r := e.do(c.method, c.path, tok, c.body)
				if c.want == http.StatusForbidden {
					p := wantProblem(t, r, http.StatusForbidden)
					if p["type"] != "https://salesos.dev/problems/forbidden" {
						t.Errorf("%s %s: got type %v, want forbidden", c.method, c.path, p["type"])
					}
					continue
				}
				if r.status != c.want {
					t.Errorf("%s %s: got status %d, want %d: %s", c.method, c.path, r.status, c.want, r.body)
				}
			}
			// Refused mutations change nothing.
			if tt.want.patchConfig == http.StatusForbidden {
				r := e.do(http.MethodGet, portalConfigPath, e.admin(org), nil)
				wantStatus(t, r, http.StatusOK)
				c := r.json(t)
				if c["portalName"] != "Customer Portal" || c["version"] != float64(1) {
					t.Errorf("got portalName %v version %v after refused writes, want the defaults at version 1", c["portalName"], c["version"])
				}
			}
		})
	}
}

// authFeatureStates maps feature ids to enabled for the token's organization.
func authFeatureStates(t *testing.T, e *testEnv, token string) map[string]bool {
	t.Helper()
	r := e.do(http.MethodGet, "/v1/customer-portal/features", token, nil)
	wantStatus(t, r, http.StatusOK)
	var list struct {
		Data []struct {
			ID      string `json:"id"`
			Enabled bool   `json:"enabled"`
		} `json:"data"`
	}
	r.decode(t, &list)
	out := map[string]bool{}
	for _, f := range list.Data {
		out[f.ID] = f.Enabled
	}
	return out
}

func TestTenancy_ConfigAndFeatures(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acme, globex := e.admin("acme"), e.admin("globex")

	wantStatus(t, e.do(http.MethodPatch, portalConfigPath, acme, map[string]any{
		"portalName": "Acme Help", "slug": "acme-help", "branding": map[string]any{"primaryColor": "#000000"},
	}), http.StatusOK)
	wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/features/chat/toggle", acme, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/features/tickets/toggle", acme, map[string]any{"enabled": false}), http.StatusOK)

	// The other organization sees its own defaults.
	r := e.do(http.MethodGet, portalConfigPath, globex, nil)
	wantStatus(t, r, http.StatusOK)
	g := r.json(t)
	if g["portalName"] != "Customer Portal" || g["slug"] != "globex" || g["version"] != float64(1) {
		t.Errorf("globex: got name %v slug %v version %v, want defaults at version 1", g["portalName"], g["slug"], g["version"])
	}
	if et := r.header.Get("ETag"); et != `"1-globex"` {
		t.Errorf("globex: got ETag %s, want \"1-globex\"", et)
	}
	if b := g["branding"].(map[string]any); b["primaryColor"] != "#1f6feb" {
		t.Errorf("globex: got primaryColor %v, want #1f6feb", b["primaryColor"])
	}
	if fs := authFeatureStates(t, e, globex); fs["chat"] || !fs["tickets"] {
		t.Errorf("globex: got features %v, want chat off and tickets on", fs)
	}

	// And its changes do not reach the first organization.
	wantStatus(t, e.do(http.MethodPatch, portalConfigPath, globex, map[string]any{"portalName": "Globex"}), http.StatusOK)
	wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/features/invoices/toggle", globex, nil), http.StatusOK)
	r = e.do(http.MethodGet, portalConfigPath, acme, nil)
	wantStatus(t, r, http.StatusOK)
	a := r.json(t)
	if a["portalName"] != "Acme Help" || a["slug"] != "acme-help" || a["version"] != float64(4) {
		t.Errorf("acme: got name %v slug %v version %v, want Acme Help acme-help 4", a["portalName"], a["slug"], a["version"])
	}
	if fs := authFeatureStates(t, e, acme); !fs["chat"] || fs["tickets"] || fs["invoices"] {
		t.Errorf("acme: got features %v, want chat on, tickets off, invoices off", fs)
	}

	// The organization comes from the token only, never from the request.
	r = e.do(http.MethodGet, portalConfigPath+"?org=acme", globex, nil, "X-Org", "acme", "X-Tenant-Id", "acme")
	wantStatus(t, r, http.StatusOK)
	if name := r.json(t)["portalName"]; name != "Globex" {
		t.Errorf("globex with acme in query and headers: got %v, want Globex", name)
	}

	// Audit trails are per organization too.
	r = e.do(http.MethodGet, "/v1/customer-portal/audit", globex, nil)
	wantStatus(t, r, http.StatusOK)
	var trail struct {
		Data []struct {
			Action   string `json:"action"`
			TargetID string `json:"targetId"`
		} `json:"data"`
	}
	r.decode(t, &trail)
	if len(trail.Data) != 2 {
		t.Errorf("globex audit: got %d entries %+v, want 2", len(trail.Data), trail.Data)
	}
	for _, en := range trail.Data {
		if en.TargetID == "acme" || en.TargetID == "chat" || en.TargetID == "tickets" {
			t.Errorf("globex audit: got acme's entry %+v, want none", en)
		}
	}
}

func TestTenancy_SlugConflict(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acme, globex := e.admin("acme"), e.admin("globex")
	wantStatus(t, e.do(http.MethodPatch, portalConfigPath, acme, map[string]any{"slug": "shared"}), http.StatusOK)
	p := wantProblem(t, e.do(http.MethodPatch, portalConfigPath, globex, map[string]any{"slug": "shared", "portalName": "Globex"}), http.StatusConflict)
	if p["type"] != "https://salesos.dev/problems/conflict" {
		t.Errorf("got type %v, want conflict", p["type"])
	}
	r := e.do(http.MethodGet, portalConfigPath, globex, nil)
	if c := r.json(t); c["slug"] != "globex" || c["portalName"] != "Customer Portal" {
		t.Errorf("globex after 409: got slug %v name %v, want nothing changed", c["slug"], c["portalName"])
	}
	// Another organization's default slug is taken too once it is stored.
	wantProblem(t, e.do(http.MethodPatch, portalConfigPath, acme, map[string]any{"slug": "globex"}), http.StatusConflict)
	// A released slug is free again.
	wantStatus(t, e.do(http.MethodPatch, portalConfigPath, acme, map[string]any{"slug": "acme-2026"}), http.StatusOK)
	wantStatus(t, e.do(http.MethodPatch, portalConfigPath, globex, map[string]any{"slug": "shared"}), http.StatusOK)
}

// authRawPatch sends a PATCH of body without using t (safe in goroutines).
func authRawPatch(client *http.Client, url, token, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPatch, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

func TestTenancy_SlugConflictConcurrent(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tokens := []string{e.admin("acme"), e.admin("globex")}
	client := e.srv.Client()
	for round := 0; round < 20; round++ {
		slug := fmt.Sprintf("race-%02d", round)
		body := `{"slug": "` + slug + `"}`
		start := make(chan struct{})
		statuses := make([]int, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, tok := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i], errs[i] = authRawPatch(client, e.srv.URL+portalConfigPath, tok, body)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		ok, conflict := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
				conflict++
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("round %d: got statuses %v, want exactly one 200 and one 409", round, statuses)
		}
		// The winner holds the slug, the loser kept its own.
		slugs := map[string]int{}
		for _, tok := range tokens {
			s, _ := e.do(http.MethodGet, portalConfigPath, tok, nil).json(t)["slug"].(string)
			slugs[s]++
		}
		if slugs[slug] != 1 {
			t.Fatalf("round %d: got slugs %v, want %s held by exactly one organization", round, slugs, slug)
		}
	}
}
