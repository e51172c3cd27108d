package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/salesos/portal/data"
)

// FuzzVerify feeds arbitrary strings to Verify, the first code that sees a
// bearer token. A string is either refused with a wrapped
// data.ErrUnauthorized, or it is one of the tokens the seeds signed and
// yields exactly their principal: nothing the fuzzer makes up may verify as
// anyone else, and nothing may panic.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	secret := []byte(strings.Repeat("f", 40))
	v, err := NewVerifier(Config{Secret: secret, Now: func() time.Time { return now }, CacheSize: 16})
	if err != nil {
		f.Fatal(err)
	}
	valid, err := Mint(secret, Claims{Subject: "staff-1", Tenant: "acme", Scope: "portal:read portal:write", TTL: time.Hour}, now)
	if err != nil {
		f.Fatal(err)
	}
	want := Principal{Subject: "staff-1", Tenant: "acme", Scopes: []string{"portal:read", "portal:write"}}

	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")                                                                   // signature stripped
	f.Add(b64([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")                                              // alg none
	f.Add(b64([]byte(`{"alg":"HS256","kid":"x"}`)) + "." + parts[1] + "." + parts[2])                        // unknown kid
	f.Add(parts[0] + "." + b64([]byte(`{"sub":"staff-1","org":"other","exp":9999999999}`)) + "." + parts[2]) // tampered
	f.Add(`{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`)
	f.Add(b64([]byte(`{"alg":"HS256","jku":"https://evil.example/jwks","kid":"k"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(b64([]byte(`{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}`)) + "." + parts[1] + "." + parts[2])
	f.Add("..")
	f.Add("a.b.c")
	f.Add(strings.Repeat("A", MaxTokenLength+1))
	f.Add(b64([]byte(`{"alg":"HS256","crit":["exp"],"kid":"`+HMACKeyID(secret)+`"}`)) + "." + parts[1] + "." + parts[2])
	// A token signed with the right key but another algorithm's header.
	if k, err := jwk.FromRaw(secret); err == nil {
		_ = k.Set(jwk.KeyIDKey, HMACKeyID(secret))
		tok, _ := jwt.NewBuilder().Subject("staff-1").Claim("org", "acme").Expiration(now.Add(time.Hour)).Build()
		if s, err := jwt.Sign(tok, jwt.WithKey(jwa.HS512, k, jws.WithProtectedHeaders(jws.NewHeaders()))); err == nil {
			f.Add(string(s))
		}
	}

	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, data.ErrUnauthorized) {
				t.Fatalf("Verify(%q): got error %v, want one wrapping data.ErrUnauthorized", token, err)
			}
			if p.Subject != "" || p.Tenant != "" {
				t.Fatalf("Verify(%q): refused but returned principal %+v", token, p)
			}
			return
		}
		if p.Subject != want.Subject || p.Tenant != want.Tenant || strings.Join(p.Scopes, " ") != strings.Join(want.Scopes, " ") || p.Role != "" {
			t.Fatalf("Verify(%q) = %+v, want only the signed principal %+v", token, p, want)
		}
	})
}
