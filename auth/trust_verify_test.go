package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/salesos/portal/data"
)

// TestVerify_MaxLifetime: a token whose exp lies further ahead than the
// longest lifetime the service mints is refused, whoever signed it.
func TestVerify_MaxLifetime(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	secret := []byte(strings.Repeat("m", 40))
	mint := func(ttl time.Duration) string {
		t.Helper()
		tok, err := Mint(secret, Claims{Subject: "staff-1", Tenant: "acme", Scope: ScopeRead, TTL: ttl}, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name    string
		max     time.Duration
		ttl     time.Duration
		wantErr bool
	}{
		{"one hour, default cap", 0, time.Hour, false},
		{"366 days, default cap", 0, DefaultMaxLifetime, false},
		{"366 days and 2 minutes, default cap", 0, DefaultMaxLifetime + 2*time.Minute, true},
		{"ten years, default cap", 0, 10 * 365 * 24 * time.Hour, true},
		{"25 hours, 24 h cap", 24 * time.Hour, 25 * time.Hour, true},
		{"24 hours, 24 h cap", 24 * time.Hour, 24 * time.Hour, false},
		{"ten years, no cap", -1, 10 * 365 * 24 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(Config{Secret: secret, MaxLifetime: tt.max, CacheSize: 8, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			tok := mint(tt.ttl)
			for range 2 { // the second call goes through the cache
				_, err := v.Verify(tok)
				if tt.wantErr {
					if !errors.Is(err, data.ErrUnauthorized) {
						t.Fatalf("got error %v, want one wrapping data.ErrUnauthorized", err)
					}
				} else if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
			}
		})
	}
}

// TestVerify_AlgHeaderMustMatchKey: RFC 8725 3.1 asks that the alg header
// names the algorithm the verifier uses. The verifier takes the algorithm
// from the key, so a header that names another one is refused even when the
// signature, made with the key's algorithm, is right.
func TestVerify_AlgHeaderMustMatchKey(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	secret := []byte(strings.Repeat("a", 40))
	ec := newECKey(t, "ec-1", jwa.ES256)
	v, err := NewVerifier(Config{Secret: secret, JWKSPath: writeJWKSFile(t, true, ec), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"sub": "staff-1", "org": "acme", "exp": now.Add(time.Hour).Unix()})
	b64 := base64.RawURLEncoding.EncodeToString
	sign := func(header map[string]any, alg jwa.SignatureAlgorithm, key any) string {
		t.Helper()
		h, _ := json.Marshal(header)
		input := b64(h) + "." + b64(claims)
		signer, err := jws.NewSigner(alg)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := signer.Sign([]byte(input), key)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64(sig)
	}
	var ecRaw any
	if err := ec.Raw(&ecRaw); err != nil {
		t.Fatal(err)
	}
	kid := HMACKeyID(secret)
	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"HS256 header, HS256 signature", sign(map[string]any{"alg": "HS256", "kid": kid}, jwa.HS256, secret), false},
		{"ES256 header, ES256 signature", sign(map[string]any{"alg": "ES256", "kid": "ec-1"}, jwa.ES256, ecRaw), false},
		{"HS512 header, HS256 signature", sign(map[string]any{"alg": "HS512", "kid": kid}, jwa.HS256, secret), true},
		{"HS384 header, HS256 signature", sign(map[string]any{"alg": "HS384", "kid": kid}, jwa.HS256, secret), true},
		{"RS256 header, ES256 signature", sign(map[string]any{"alg": "RS256", "kid": "ec-1"}, jwa.ES256, ecRaw), true},
		{"ES384 header, ES256 signature", sign(map[string]any{"alg": "ES384", "kid": "ec-1"}, jwa.ES256, ecRaw), true},
		{"no alg header, HS256 signature", sign(map[string]any{"kid": kid}, jwa.HS256, secret), true},
		{"no kid, two keys", sign(map[string]any{"alg": "HS256"}, jwa.HS256, secret), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			if tt.wantErr {
				if !errors.Is(err, data.ErrUnauthorized) {
					t.Fatalf("got error %v, want one wrapping data.ErrUnauthorized", err)
				}
			} else if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
		})
	}
}
