package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/salesos/portal/data"
)

var authT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// authClock is a settable clock for verifiers under test.
type authClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *authClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *authClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func testSecret(b byte) []byte { return []byte(strings.Repeat(string(rune(b)), 40)) }

// rawKeyWith wraps a raw private key as a JWK with kid and (when not empty) alg.
func rawKeyWith(t *testing.T, raw any, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		_ = k.Set(jwk.KeyIDKey, kid)
	}
	if alg != "" {
		_ = k.Set(jwk.AlgorithmKey, alg)
	}
	return k
}

func newRSAKey(t *testing.T, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return rawKeyWith(t, priv, kid, alg)
}

func newECKey(t *testing.T, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return rawKeyWith(t, priv, kid, alg)
}

func newEdKey(t *testing.T, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return rawKeyWith(t, priv, kid, alg)
}

// writeJWKSFile writes the public halves of keys (or the keys as they are
// when public is false) as a JWK set and returns its path.
func writeJWKSFile(t *testing.T, public bool, keys ...jwk.Key) string {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if public {
			pub, err := k.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			k = pub
		}
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, raw)
}

func writeFile(t *testing.T, raw []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// signClaims signs claims (a JSON object, any members) with key and alg.
func signClaims(t *testing.T, alg jwa.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// claimsAt are valid claims for org acme at now, expiring in an hour.
func claimsAt(now time.Time) map[string]any {
	return map[string]any{"sub": "staff-1", "org": "acme", "scope": "portal:read", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func TestMintVerify_RoundTrip(t *testing.T) {
	t.Parallel()
	secret := testSecret('k')
	tests := []struct {
		name   string
		claims Claims
		cfg    Config
		want   Principal
	}{
		{"scopes", Claims{Subject: "u1", Tenant: "acme", Scope: "portal:read portal:write", TTL: time.Hour},
			Config{}, Principal{Subject: "u1", Tenant: "acme", Scopes: []string{ScopeRead, ScopeWrite}}},
		{"role", Claims{Subject: "u2", Tenant: "globex", Role: "owner", TTL: time.Minute},
			Config{}, Principal{Subject: "u2", Tenant: "globex", Role: "owner"}},
		{"issuer and audience", Claims{Subject: "u3", Tenant: "acme", Scope: "portal:read", Issuer: "https://idp.example", Audience: "portal", TTL: time.Hour},
			Config{Issuer: "https://idp.example", Audience: "portal"}, Principal{Subject: "u3", Tenant: "acme", Scopes: []string{ScopeRead}}},
		{"custom tenant claim", Claims{Subject: "u4", Tenant: "initech", Scope: "portal:read", TenantClaim: "tenant_id", TTL: time.Hour},
			Config{TenantClaim: "tenant_id"}, Principal{Subject: "u4", Tenant: "initech", Scopes: []string{ScopeRead}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := Mint(secret, tt.claims, authT0)
			if err != nil {
				t.Fatalf("Mint: got %v, want nil", err)
			}
			if n := strings.Count(tok, "."); n != 2 {
				t.Fatalf("got %d dots in %q, want a compact JWT", n, tok)
			}
			cfg := tt.cfg
			cfg.Secret = secret
			cfg.Now = func() time.Time { return authT0.Add(time.Second) }
			v, err := NewVerifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: got %v, want nil", err)
			}
			if got.Subject != tt.want.Subject || got.Tenant != tt.want.Tenant || got.Role != tt.want.Role || !slices.Equal(got.Scopes, tt.want.Scopes) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMint_Header(t *testing.T) {
	t.Parallel()
	secret := testSecret('h')
	tok, err := Mint(secret, Claims{Subject: "u", Tenant: "acme", TTL: time.Hour}, authT0)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.Algorithm() != jwa.HS256 || h.KeyID() != HMACKeyID(secret) {
		t.Errorf("got alg %s kid %q, want HS256 %q", h.Algorithm(), h.KeyID(), HMACKeyID(secret))
	}
}

func TestMint_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret []byte
		claims Claims
	}{
		{"short secret", []byte(strings.Repeat("s", MinSecretLength-1)), Claims{Subject: "u", Tenant: "acme", TTL: time.Hour}},
		{"no subject", testSecret('s'), Claims{Tenant: "acme", TTL: time.Hour}},
		{"no tenant", testSecret('s'), Claims{Subject: "u", TTL: time.Hour}},
		{"zero ttl", testSecret('s'), Claims{Subject: "u", Tenant: "acme"}},
		{"negative ttl", testSecret('s'), Claims{Subject: "u", Tenant: "acme", TTL: -time.Minute}},
	}
	for _, tt := range tests {
		if tok, err := Mint(tt.secret, tt.claims, authT0); err == nil {
			t.Errorf("%s: got token %q, want an error", tt.name, tok)
		}
	}
}

func TestHMACKeyID(t *testing.T) {
	t.Parallel()
	a, b := testSecret('a'), testSecret('b')
	if HMACKeyID(a) != HMACKeyID(append([]byte(nil), a...)) {
		t.Errorf("got different kids for the same secret, want a stable kid")
	}
	if HMACKeyID(a) == HMACKeyID(b) {
		t.Errorf("got the same kid %q for different secrets, want different", HMACKeyID(a))
	}
	kid := HMACKeyID(a)
	if !strings.HasPrefix(kid, "hs-") || len(kid) != len("hs-")+12 {
		t.Errorf("got kid %q, want hs- and 12 hex digits", kid)
	}
	if strings.Contains(kid, string(a[:8])) {
		t.Errorf("got kid %q containing the secret, want a digest", kid)
	}
	// The kid must not change between releases: tokens in the wild name it.
	if got, want := HMACKeyID([]byte(strings.Repeat("s", 40))), "hs-ebd49cbf5504"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNewVerifier_Rejects(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t, "rsa-1", jwa.RS256)
	ecKey := newECKey(t, "ec-1", jwa.ES256)
	tests := []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"no keys", func(t *testing.T) Config { return Config{} }},
		{"short secret", func(t *testing.T) Config { return Config{Secret: []byte(strings.Repeat("x", MinSecretLength-1))} }},
		{"missing jwks file", func(t *testing.T) Config { return Config{JWKSPath: filepath.Join(t.TempDir(), "nope.json")} }},
		{"jwks not json", func(t *testing.T) Config { return Config{JWKSPath: writeFile(t, []byte("not json"))} }},
		{"key without kid", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, newECKey(t, "", jwa.ES256))}
		}},
		{"rsa key with alg ES256", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, newRSAKey(t, "rsa-es", jwa.ES256))}
		}},
		{"ec key with alg RS256", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, newECKey(t, "ec-rs", jwa.RS256))}
		}},
		{"ed25519 key with alg ES256", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, newEdKey(t, "ed-es", jwa.ES256))}
		}},
		{"rsa key with alg HS256", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, newRSAKey(t, "rsa-hs", jwa.HS256))}
		}},
		{"rsa key with alg RS512", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, newRSAKey(t, "rsa-512", jwa.RS512))}
		}},
		{"symmetric key in jwks", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, false, rawKeyWith(t, testSecret('o'), "oct-1", jwa.HS256))}
		}},
		{"symmetric key without alg in jwks", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, false, rawKeyWith(t, testSecret('o'), "oct-2", ""))}
		}},
		{"duplicate kid", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, ecKey, newECKey(t, "ec-1", jwa.ES256))}
		}},
		{"kid of the hmac secret", func(t *testing.T) Config {
			s := testSecret('d')
			return Config{Secret: s, JWKSPath: writeJWKSFile(t, true, newRSAKey(t, HMACKeyID(s), jwa.RS256))}
		}},
		{"bad key among good ones", func(t *testing.T) Config {
			return Config{JWKSPath: writeJWKSFile(t, true, rsaKey, newRSAKey(t, "bad", jwa.ES256))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if v, err := NewVerifier(tt.cfg(t)); err == nil {
				t.Errorf("got verifier %v, want an error", v)
			}
		})
	}
}

func TestNewVerifier_AlgFromKeyType(t *testing.T) {
	t.Parallel()
	// Keys without alg get the one algorithm their type allows; private keys
	// in the file are reduced to their public halves.
	rsaKey, ecKey, edKey := newRSAKey(t, "rsa-1", ""), newECKey(t, "ec-1", ""), newEdKey(t, "ed-1", "")
	v, err := NewVerifier(Config{JWKSPath: writeJWKSFile(t, false, rsaKey, ecKey, edKey), Now: func() time.Time { return authT0 }})
	if err != nil {
		t.Fatalf("NewVerifier: got %v, want nil", err)
	}
	for i := 0; i < v.keys.Len(); i++ {
		k, _ := v.keys.Key(i)
		if _, err := k.PublicKey(); err != nil {
			t.Fatal(err)
		}
		switch k.(type) {
		case jwk.RSAPrivateKey, jwk.ECDSAPrivateKey, jwk.OKPPrivateKey:
			t.Errorf("key %q: got a private key in the verifier, want the public half", k.KeyID())
		}
	}
	tests := []struct {
		alg jwa.SignatureAlgorithm
		key jwk.Key
	}{
		{jwa.RS256, rsaKey}, {jwa.ES256, ecKey}, {jwa.EdDSA, edKey},
	}
	for _, tt := range tests {
		tok := signClaims(t, tt.alg, tt.key, claimsAt(authT0))
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("%s token: got %v, want accepted", tt.alg, err)
		}
	}
	// The same keys with another algorithm of their type are refused.
	rs512 := signClaims(t, jwa.RS512, rsaKey, claimsAt(authT0))
	if _, err := v.Verify(rs512); err == nil {
		t.Errorf("RS512 token for an RS256 key: got accepted, want refused")
	}
}

func TestVerify_Claims(t *testing.T) {
	t.Parallel()
	secret := testSecret('v')
	ecKey := newECKey(t, "ec-1", jwa.ES256)
	hmacKey := rawKeyWith(t, secret, HMACKeyID(secret), "")
	jwks := writeJWKSFile(t, true, ecKey)
	now := authT0
	with := func(mod func(c map[string]any)) map[string]any {
		c := claimsAt(now)
		mod(c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		token   func(t *testing.T) string
		wantErr bool
	}{
		{"valid", Config{}, func(t *testing.T) string { return signClaims(t, jwa.ES256, ecKey, claimsAt(now)) }, false},
		{"valid hs256", Config{}, func(t *testing.T) string { return signClaims(t, jwa.HS256, hmacKey, claimsAt(now)) }, false},
		{"expired 61s ago", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["exp"] = now.Add(-61 * time.Second).Unix() }))
		}, true},
		{"expired 30s ago, within leeway", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }))
		}, false},
		{"nbf 2 minutes ahead", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() }))
		}, true},
		{"nbf 30s ahead, within leeway", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() }))
		}, false},
		{"iat 2 minutes ahead", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() }))
		}, true},
		{"no exp", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { delete(c, "exp") }))
		}, true},
		{"no sub", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { delete(c, "sub") }))
		}, true},
		{"empty sub", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["sub"] = "" }))
		}, true},
		{"sub too long", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["sub"] = strings.Repeat("s", MaxClaimLength+1) }))
		}, true},
		{"no org", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { delete(c, "org") }))
		}, true},
		{"empty org", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = "" }))
		}, true},
		{"org not a string", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = 42 }))
		}, true},
		{"org with NUL", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = "ac\x00me" }))
		}, true},
		{"org with a path", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = "../acme" }))
		}, true},
		{"org full width", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = "ａｃｍｅ" }))
		}, true},
		{"org trailing space", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = "acme " }))
		}, true},
		{"org upper case", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = "ACME" }))
		}, true},
		{"org with an escape code", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = "acme\x1b[2J" }))
		}, true},
		{"org too long", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["org"] = strings.Repeat("a", 64) }))
		}, true},
		{"sub with a direction override", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["sub"] = "staff\u202e1" }))
		}, true},
		{"org claim renamed", Config{TenantClaim: "tenant_id"}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, claimsAt(now))
		}, true},
		{"issuer missing", Config{Issuer: "https://idp.example"}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, claimsAt(now))
		}, true},
		{"issuer wrong", Config{Issuer: "https://idp.example"}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["iss"] = "https://evil.example" }))
		}, true},
		{"issuer right", Config{Issuer: "https://idp.example"}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["iss"] = "https://idp.example" }))
		}, false},
		{"audience missing", Config{Audience: "portal"}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, claimsAt(now))
		}, true},
		{"audience wrong", Config{Audience: "portal"}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["aud"] = "crm" }))
		}, true},
		{"audience in a list", Config{Audience: "portal"}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, ecKey, with(func(c map[string]any) { c["aud"] = []string{"crm", "portal"} }))
		}, false},
		{"not compact", Config{}, func(t *testing.T) string { return "a.b" }, true},
		{"too long", Config{}, func(t *testing.T) string { return strings.Repeat("a", MaxTokenLength) + ".b.c" }, true},
		{"no kid with two keys", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.HS256, secret, claimsAt(now))
		}, true},
		{"unknown kid", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, newECKey(t, "other", jwa.ES256), claimsAt(now))
		}, true},
		{"known kid, other key", Config{}, func(t *testing.T) string {
			return signClaims(t, jwa.ES256, newECKey(t, "ec-1", jwa.ES256), claimsAt(now))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Secret, cfg.JWKSPath, cfg.Now = secret, jwks, func() time.Time { return now }
			v, err := NewVerifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(tt.token(t))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got principal %+v, want an error", p)
				}
				if !errors.Is(err, data.ErrUnauthorized) {
					t.Errorf("got error %v, want one wrapping data.ErrUnauthorized", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if p.Tenant != "acme" || p.Subject != "staff-1" {
				t.Errorf("got principal %+v, want staff-1 of acme", p)
			}
		})
	}
}

func TestVerify_SingleKeyWithoutKid(t *testing.T) {
	t.Parallel()
	// With exactly one key configured, a token without kid uses it; the
	// algorithm is still the key's, so an HS256 token made with the RSA
	// public key as the HMAC secret fails.
	rsaKey := newRSAKey(t, "rsa-1", jwa.RS256)
	v, err := NewVerifier(Config{JWKSPath: writeJWKSFile(t, true, rsaKey), Now: func() time.Time { return authT0 }})
	if err != nil {
		t.Fatal(err)
	}
	keyless, err := jwk.FromRaw(mustRaw(t, rsaKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(signClaims(t, jwa.RS256, keyless, claimsAt(authT0))); err != nil {
		t.Errorf("RS256 without kid, one key: got %v, want accepted", err)
	}
	pub, _ := rsaKey.PublicKey()
	pubJSON, _ := json.Marshal(pub)
	if _, err := v.Verify(signClaims(t, jwa.HS256, pubJSON, claimsAt(authT0))); err == nil {
		t.Errorf("HS256 with the public key as secret: got accepted, want refused")
	}

	s := testSecret('z')
	hv, err := NewVerifier(Config{Secret: s, Now: func() time.Time { return authT0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hv.Verify(signClaims(t, jwa.HS256, s, claimsAt(authT0))); err != nil {
		t.Errorf("HS256 without kid, secret only: got %v, want accepted", err)
	}
}

func mustRaw(t *testing.T, k jwk.Key) any {
	t.Helper()
	var raw any
	if err := k.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerify_Cache(t *testing.T) {
	t.Parallel()
	secret := testSecret('c')
	clk := &authClock{t: authT0}
	v, err := NewVerifier(Config{Secret: secret, Now: clk.now, CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Mint(secret, Claims{Subject: "u1", Tenant: "acme", Scope: "portal:read", TTL: time.Minute}, authT0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.cache.items); n != 1 {
		t.Fatalf("got %d cached tokens, want 1", n)
	}
	second, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("cached Verify: got %v, want nil", err)
	}
	if first.Subject != second.Subject || first.Tenant != second.Tenant || !slices.Equal(first.Scopes, second.Scopes) {
		t.Errorf("got %+v from the cache, want %+v", second, first)
	}

	// Within the leeway after exp the cached token is still good ...
	clk.set(authT0.Add(time.Minute + 59*time.Second))
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("59s past exp: got %v, want accepted", err)
	}
	// ... and beyond it the cache does not keep it alive.
	clk.set(authT0.Add(time.Minute + 61*time.Second))
	if _, err := v.Verify(tok); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("61s past exp: got %v, want ErrUnauthorized", err)
	}

	// The cache stays bounded.
	clk.set(authT0)
	for i := 0; i < 5; i++ {
		tk, err := Mint(secret, Claims{Subject: "u" + string(rune('a'+i)), Tenant: "acme", TTL: time.Hour}, authT0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(tk); err != nil {
			t.Fatalf("token %d: got %v, want nil", i, err)
		}
		if n := len(v.cache.items); n > 2 {
			t.Fatalf("got %d cached tokens, want at most 2", n)
		}
	}
	// A rejected token is never cached.
	bad := tok[:len(tok)-2] + "xx"
	if _, err := v.Verify(bad); err == nil {
		t.Errorf("tampered signature: got accepted, want refused")
	}
}

func TestVerify_CacheDoesNotOutliveFailure(t *testing.T) {
	t.Parallel()
	// A cache hit must not let a token through that a fresh verifier refuses
	// at the same moment.
	secret := testSecret('f')
	clk := &authClock{t: authT0}
	cached, err := NewVerifier(Config{Secret: secret, Now: clk.now, CacheSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := NewVerifier(Config{Secret: secret, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Mint(secret, Claims{Subject: "u", Tenant: "acme", TTL: 10 * time.Second}, authT0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, 10 * time.Second, 69 * time.Second, 70 * time.Second, 71 * time.Second, time.Hour} {
		clk.set(authT0.Add(d))
		_, errCached := cached.Verify(tok)
		_, errFresh := fresh.Verify(tok)
		if (errCached == nil) != (errFresh == nil) {
			t.Errorf("at +%v: got cached err %v, fresh err %v, want the same outcome", d, errCached, errFresh)
		}
	}
}

func TestPrincipal_Permissions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		p                     Principal
		read, write, operator bool
	}{
		{"nothing", Principal{}, false, false, false},
		{"read", Principal{Scopes: []string{ScopeRead}}, true, false, false},
		{"write implies read", Principal{Scopes: []string{ScopeWrite}}, true, true, false},
		{"read and write", Principal{Scopes: []string{ScopeRead, ScopeWrite}}, true, true, false},
		{"admin role", Principal{Role: "admin"}, true, true, false},
		{"owner role", Principal{Role: "owner"}, true, true, false},
		{"member role", Principal{Role: "member"}, false, false, false},
		{"role is case-sensitive", Principal{Role: "Admin"}, false, false, false},
		{"operator only", Principal{Scopes: []string{ScopeOperator}}, false, false, true},
		{"unrelated scope", Principal{Scopes: []string{"crm:read"}}, false, false, false},
		{"scope prefix is not the scope", Principal{Scopes: []string{"portal:reader", "portal:writes"}}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.p.CanRead(); got != tt.read {
				t.Errorf("CanRead: got %t, want %t", got, tt.read)
			}
			if got := tt.p.CanWrite(); got != tt.write {
				t.Errorf("CanWrite: got %t, want %t", got, tt.write)
			}
			if got := tt.p.IsOperator(); got != tt.operator {
				t.Errorf("IsOperator: got %t, want %t", got, tt.operator)
			}
			if err := tt.p.RequireRead(); (err == nil) != tt.read || (err != nil && !errors.Is(err, data.ErrForbidden)) {
				t.Errorf("RequireRead: got %v, want nil=%t and ErrForbidden otherwise", err, tt.read)
			}
			if err := tt.p.RequireWrite(); (err == nil) != tt.write || (err != nil && !errors.Is(err, data.ErrForbidden)) {
				t.Errorf("RequireWrite: got %v, want nil=%t and ErrForbidden otherwise", err, tt.write)
			}
		})
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	if _, ok := FromContext(context.Background()); ok {
		t.Errorf("FromContext(empty): got ok, want false")
	}
	want := Principal{Subject: "u", Tenant: "acme", Scopes: []string{ScopeRead}}
	got, ok := FromContext(NewContext(context.Background(), want))
	if !ok || got.Subject != want.Subject || got.Tenant != want.Tenant {
		t.Errorf("got %+v %t, want %+v true", got, ok, want)
	}
}
