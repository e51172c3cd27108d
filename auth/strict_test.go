package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/salesos/portal/data"
)

// signRaw signs payload as it is, with extra protected headers.
func signRaw(t *testing.T, key any, payload string, headers map[string]any) string {
	t.Helper()
	h := jws.NewHeaders()
	for k, v := range headers {
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign([]byte(payload), jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// TestVerify_StrictJSON checks the token forms the JSON parser behind
// jwt.Parse lets through and the verifier must not: each is 401, while the
// same claims in plain form verify.
func TestVerify_StrictJSON(t *testing.T) {
	t.Parallel()
	ecKey := newECKey(t, "ec-1", jwa.ES256)
	jwks := writeJWKSFile(t, true, ecKey)
	now := authT0
	exp := now.Add(time.Hour).Unix()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"sub":"staff-1","org":"acme","scope":"portal:read","exp":%d%s}`, exp, extra)
	}
	tests := []struct {
		name    string
		token   func(t *testing.T) string
		wantErr bool
	}{
		{"plain", func(t *testing.T) string { return signRaw(t, ecKey, claims(""), nil) }, false},
		{"exp as a string", func(t *testing.T) string {
			return signRaw(t, ecKey, fmt.Sprintf(`{"sub":"staff-1","org":"acme","exp":"%d"}`, exp), nil)
		}, true},
		{"nbf as a string", func(t *testing.T) string { return signRaw(t, ecKey, claims(`,"nbf":"0"`), nil) }, true},
		{"iat as a string", func(t *testing.T) string { return signRaw(t, ecKey, claims(`,"iat":"0"`), nil) }, true},
		{"trailing object", func(t *testing.T) string { return signRaw(t, ecKey, claims("")+`{"org":"globex"}`, nil) }, true},
		{"trailing garbage", func(t *testing.T) string { return signRaw(t, ecKey, claims("")+`xyz`, nil) }, true},
		{"trailing white space", func(t *testing.T) string { return signRaw(t, ecKey, claims("")+" \n", nil) }, false},
		{"duplicate org", func(t *testing.T) string { return signRaw(t, ecKey, claims(`,"org":"globex"`), nil) }, true},
		{"duplicate exp", func(t *testing.T) string {
			return signRaw(t, ecKey, claims(fmt.Sprintf(`,"exp":%d`, exp+1000)), nil)
		}, true},
		{"claims an array", func(t *testing.T) string { return signRaw(t, ecKey, `[1]`, nil) }, true},
		{"unknown crit", func(t *testing.T) string {
			return signRaw(t, ecKey, claims(""), map[string]any{"crit": []string{"x-must-check"}, "x-must-check": true})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(Config{JWKSPath: jwks, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(tt.token(t))
			if !tt.wantErr {
				if err != nil || p.Tenant != "acme" {
					t.Fatalf("got %+v, %v, want acme and nil", p, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got principal %+v, want an error", p)
			}
			if !errors.Is(err, data.ErrUnauthorized) {
				t.Errorf("got error %v, want one wrapping data.ErrUnauthorized", err)
			}
		})
	}
	// A duplicate header member is refused too.
	tok := signRaw(t, ecKey, claims(""), nil)
	parts := strings.Split(tok, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	dup := strings.Replace(string(hdr), "}", `,"alg":"none"}`, 1)
	if err := checkSegments(base64.RawURLEncoding.EncodeToString([]byte(dup)) + "." + parts[1] + "." + parts[2]); err == nil {
		t.Errorf("got nil for header %s, want an error", dup)
	}
}

func FuzzCheckSegments(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{"exp":1}`)) + ".sig")
	f.Add(enc([]byte(`{"alg":"ES256","crit":["b64"]}`)) + "." + enc([]byte(`{}`)) + ".sig")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		if strings.Count(token, ".") != 2 {
			return
		}
		_ = checkSegments(token) // an error or nil, never a panic
	})
}
