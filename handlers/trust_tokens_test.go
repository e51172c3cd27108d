package handlers_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/salesos/portal/auth"
)

// trustPublicRoutes need no credential. Every other route the router
// serves must refuse every attack token with 401.
var trustPublicRoutes = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /openapi.yaml": true, "GET /metrics": true,
	"HEAD /healthz": true, "HEAD /readyz": true, "HEAD /openapi.yaml": true, "HEAD /metrics": true,
	"POST /v1/portal/invitations/accept": true, "POST /v1/portal/login": true,
	"POST /v1/portal/password/forgot": true, "POST /v1/portal/password/reset": true,
	"* /p/": true, "* /admin": true,
}

func trustB64(v any) string {
	var raw []byte
	switch b := v.(type) {
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(v)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// trustJWS signs header and claims exactly as given (the header is not
// touched by any library), with alg's signer and key; alg "" leaves the
// signature empty.
func trustJWS(t *testing.T, header, claims map[string]any, alg jwa.SignatureAlgorithm, key any) string {
	t.Helper()
	input := trustB64(header) + "." + trustB64(claims)
	if alg == "" {
		return input + "."
	}
	var sig []byte
	if raw, ok := key.([]byte); ok && alg == jwa.HS256 {
		m := hmac.New(sha256.New, raw) // also for keys a library refuses, such as an empty one
		m.Write([]byte(input))
		sig = m.Sum(nil)
	} else {
		signer, err := jws.NewSigner(alg)
		if err != nil {
			t.Fatal(err)
		}
		if sig, err = signer.Sign([]byte(input), key); err != nil {
			t.Fatalf("sign %s: %v", alg, err)
		}
	}
	return input + "." + trustB64(sig)
}

// trustAttack is one way to present a token that must not pass.
type trustAttack struct {
	name string
	// auth is the whole Authorization header ("" sends none).
	auth string
}

// trustAttacks builds every token attack of RFC 8725 that applies to the
// service's verifier (keys from configuration, algorithm from the key,
// required exp/sub/org, iss and aud checked), for org.
func trustAttacks(t *testing.T, e *trustEnv, org string, fetches *atomic.Int64) []trustAttack {
	t.Helper()
	good := e.claims(org, "portal:read portal:write")
	with := func(mod map[string]any) map[string]any {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range mod {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	now := e.clock.Now()
	esPriv, rsPriv := trustRaw(t, e.es256), trustRaw(t, e.rs256)
	esHeader := map[string]any{"alg": "ES256", "typ": "JWT", "kid": "trust-es256"}
	valid := trustJWS(t, esHeader, good, jwa.ES256, esPriv)
	parts := strings.Split(valid, ".")

	attackerPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	attackerPub, _ := jwk.FromRaw(&attackerPriv.PublicKey)
	_ = attackerPub.Set(jwk.KeyIDKey, "attacker")
	attackerSet := jwk.NewSet()
	_ = attackerSet.AddKey(attackerPub)
	// The attacker's key server: the verifier must never fetch from it.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(attackerSet)
	}))
	t.Cleanup(evil.Close)
	certDER := trustSelfSigned(t, attackerPriv)

	rsPub, _ := e.rs256.PublicKey()
	rsPubJSON, _ := json.Marshal(rsPub)
	rsPEM := trustPEM(t, rsPriv)
	esPEM := trustPEM(t, esPriv)

	es := func(h map[string]any, c map[string]any) string { return trustJWS(t, h, c, jwa.ES256, esPriv) }
	atk := func(h map[string]any, c map[string]any) string { return trustJWS(t, h, c, jwa.ES256, attackerPriv) }
	bearer := func(tok string) string { return "Bearer " + tok }
	flat, _ := json.Marshal(map[string]any{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
	general, _ := json.Marshal(map[string]any{"payload": parts[1], "signatures": []any{map[string]any{"protected": parts[0], "signature": parts[2]}}})

	return []trustAttack{
		{"no Authorization header", ""},
		{"empty bearer", "Bearer "},
		{"basic scheme", "Basic " + trustB64("staff:password")},
		{"alg none", bearer(trustJWS(t, map[string]any{"alg": "none", "typ": "JWT"}, good, "", nil))},
		{"alg none with a trusted kid", bearer(trustJWS(t, map[string]any{"alg": "none", "kid": "trust-es256"}, good, "", nil))},
		{"alg NONE with the valid signature", bearer(trustB64(map[string]any{"alg": "NONE", "kid": "trust-es256"}) + "." + parts[1] + "." + parts[2])},
		{"HS256 keyed with the RS256 public key (PEM)", bearer(trustJWS(t, map[string]any{"alg": "HS256", "kid": "trust-rs256"}, good, jwa.HS256, rsPEM))},
		{"HS256 keyed with the RS256 public key (JWK)", bearer(trustJWS(t, map[string]any{"alg": "HS256", "kid": "trust-rs256"}, good, jwa.HS256, rsPubJSON))},
		{"HS256 keyed with the ES256 public key (PEM)", bearer(trustJWS(t, map[string]any{"alg": "HS256", "kid": "trust-es256"}, good, jwa.HS256, esPEM))},
		{"PS256 by the RS256 key (alg not the key's)", bearer(trustJWS(t, map[string]any{"alg": "PS256", "kid": "trust-rs256"}, good, jwa.PS256, rsPriv))},
		{"HS512 by the HS256 secret", bearer(trustJWS(t, map[string]any{"alg": "HS512", "kid": auth.HMACKeyID(e.secret)}, good, jwa.HS512, e.secret))},
		// RFC 8725 3.1: the alg header must name the algorithm that verifies.
		{"alg HS512 in the header, HS256 signature by the secret", bearer(trustB64(map[string]any{"alg": "HS512", "kid": auth.HMACKeyID(e.secret)}) + "." +
			trustB64(good) + "." + trustHS256Sig(e.secret, trustB64(map[string]any{"alg": "HS512", "kid": auth.HMACKeyID(e.secret)})+"."+trustB64(good)))},
		{"alg RS256 in the header, ES256 signature by the ES256 key", bearer(trustWithSig(t, map[string]any{"alg": "RS256", "kid": "trust-es256"}, good, jwa.ES256, esPriv))},
		{"jku to the attacker's keys", bearer(atk(map[string]any{"alg": "ES256", "kid": "attacker", "jku": evil.URL + "/jwks.json"}, good))},
		{"jku with a trusted kid", bearer(atk(map[string]any{"alg": "ES256", "kid": "trust-es256", "jku": evil.URL + "/jwks.json"}, good))},
		{"jwk header with the attacker's key", bearer(atk(map[string]any{"alg": "ES256", "jwk": attackerPub}, good))},
		{"jwk header with a trusted kid", bearer(atk(map[string]any{"alg": "ES256", "kid": "trust-es256", "jwk": attackerPub}, good))},
		{"x5u to the attacker's certificate", bearer(atk(map[string]any{"alg": "ES256", "kid": "attacker", "x5u": evil.URL + "/cert.pem"}, good))},
		{"x5c with the attacker's certificate", bearer(atk(map[string]any{"alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}}, good))},
		{"x5c with a trusted kid", bearer(atk(map[string]any{"alg": "ES256", "kid": "trust-es256", "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}}, good))},
		{"unknown kid", bearer(atk(map[string]any{"alg": "ES256", "kid": "rotated-away"}, good))},
		{"trusted kid, attacker's key", bearer(atk(map[string]any{"alg": "ES256", "kid": "trust-es256"}, good))},
		{"kid path injection with an empty HMAC key", bearer(trustJWS(t, map[string]any{"alg": "HS256", "kid": "../../../../../dev/null"}, good, jwa.HS256, []byte{}))},
		{"missing exp", bearer(es(esHeader, with(map[string]any{"exp": nil})))},
		{"exp ten years ahead", bearer(es(esHeader, with(map[string]any{"exp": now.AddDate(10, 0, 0).Unix()})))},
		{"exp 2 minutes ago", bearer(es(esHeader, with(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})))},
		{"exp as a string", bearer(es(esHeader, with(map[string]any{"exp": "never"})))},
		{"nbf 5 minutes ahead", bearer(es(esHeader, with(map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})))},
		{"iat 5 minutes ahead", bearer(es(esHeader, with(map[string]any{"iat": now.Add(5 * time.Minute).Unix()})))},
		{"wrong iss", bearer(es(esHeader, with(map[string]any{"iss": "https://evil.example"})))},
		{"missing iss", bearer(es(esHeader, with(map[string]any{"iss": nil})))},
		{"wrong aud", bearer(es(esHeader, with(map[string]any{"aud": "another-api"})))},
		{"missing aud", bearer(es(esHeader, with(map[string]any{"aud": nil})))},
		{"missing sub", bearer(es(esHeader, with(map[string]any{"sub": nil})))},
		{"missing org", bearer(es(esHeader, with(map[string]any{"org": nil})))},
		{"tampered payload (other org)", bearer(parts[0] + "." + trustB64(with(map[string]any{"org": "org-other"})) + "." + parts[2])},
		{"tampered payload (role owner)", bearer(parts[0] + "." + trustB64(with(map[string]any{"role": "owner"})) + "." + parts[2])},
		{"tampered header (kid of the RSA key)", bearer(trustB64(map[string]any{"alg": "ES256", "kid": "trust-rs256"}) + "." + parts[1] + "." + parts[2])},
		{"tampered signature", bearer(parts[0] + "." + parts[1] + "." + trustFlip(parts[2]))},
		{"signature stripped", bearer(parts[0] + "." + parts[1] + ".")},
		{"JWS JSON serialization (flattened)", bearer(string(flat))},
		{"JWS JSON serialization (general)", bearer(string(general))},
		{"two tokens", bearer(valid + " " + valid)},
		{"over 8 KiB", bearer(valid + strings.Repeat("A", 9000))},
	}
}

// trustHS256Sig is the base64url HMAC-SHA256 of input.
func trustHS256Sig(key []byte, input string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return trustB64(m.Sum(nil))
}

// trustWithSig signs header and claims with alg, whatever alg the header names.
func trustWithSig(t *testing.T, header, claims map[string]any, alg jwa.SignatureAlgorithm, key any) string {
	t.Helper()
	input := trustB64(header) + "." + trustB64(claims)
	signer, err := jws.NewSigner(alg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign([]byte(input), key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + trustB64(sig)
}

// trustFlip changes the first character of a base64url string.
func trustFlip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// trustRaw returns the raw private key of a JWK.
func trustRaw(t *testing.T, k jwk.Key) any {
	t.Helper()
	var raw any
	if err := k.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// trustPEM is the PEM of a private key's public half, as an attacker would
// download it and use it as an HMAC secret.
func trustPEM(t *testing.T, priv any) []byte {
	t.Helper()
	pub := priv.(crypto.Signer).Public()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// trustSelfSigned makes a certificate for the attacker's key.
func trustSelfSigned(t *testing.T, priv *ecdsa.PrivateKey) []byte {
	t.Helper()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp.trust.example"},
		NotBefore: fixedStart.Add(-time.Hour), NotAfter: fixedStart.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestTokens_EveryProtectedRoute sends every attack token to every route
// the router serves except the public ones: each answers 401 with a Bearer
// challenge, and the verifier never fetches a key from a URL a token names.
// A valid credential on the same requests is not refused, so the 401s come
// from the token check.
func TestTokens_EveryProtectedRoute(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	var fetches atomic.Int64
	attacks := trustAttacks(t, e, a.org, &fetches)
	staffValid := e.admin(a.org)

	var protected []string
	customerValid := ""
	for _, route := range e.routes {
		if !trustPublicRoutes[route] {
			protected = append(protected, route)
		}
	}
	if len(protected) < 25 {
		t.Fatalf("found %d protected routes (%v), want the admin and customer APIs", len(protected), protected)
	}
	for _, route := range protected {
		method, tpl, _ := strings.Cut(route, " ")
		path := trustSubstitute(tpl, a)
		var body any
		if method != http.MethodGet && method != http.MethodDelete {
			body = map[string]any{}
		}
		// The right credential passes the token check here.
		valid := staffValid
		switch {
		case tpl == "/v1/admin/backup":
			valid = e.operator // installation-level: no staff token opens it
		case route == "POST /v1/portal/logout" || route == "DELETE /v1/portal/sessions/{id}":
			valid = e.login(a.slug, a.userEmail) // they end the session they use
		case !trustStaffRoute(tpl):
			// One session for the rest: a login per route would run into
			// the login rate limit of the account.
			if customerValid == "" {
				customerValid = e.login(a.slug, a.userEmail)
			}
			valid = customerValid
		}
		// An ID nobody has keeps the control from changing a's records.
		control := strings.NewReplacer("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "{featureId}", "chat").Replace(tpl)
		if r := e.do(method, control, valid, body); r.status == http.StatusUnauthorized {
			t.Errorf("%s %s with a valid credential: got 401, want it past the token check: %s", method, control, r.body)
		}
		for _, at := range attacks {
			var r trustResp
			if at.auth == "" {
				r = e.do(method, path, "", body)
			} else {
				r = e.do(method, path, "", body, "Authorization", at.auth)
			}
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s, %s: got %d, want 401: %.300s", method, path, at.name, r.status, r.body)
				continue
			}
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer") {
				t.Errorf("%s %s, %s: got WWW-Authenticate %q, want a Bearer challenge", method, path, at.name, ch)
			}
			if strings.HasPrefix(at.auth, "Bearer ") && len(at.auth) > len("Bearer ") && !strings.Contains(ch, `error="invalid_token"`) {
				t.Errorf("%s %s, %s: got WWW-Authenticate %q, want error=\"invalid_token\"", method, path, at.name, ch)
			}
		}
		// A valid staff token is no customer credential, and the other way round.
		if !trustStaffRoute(tpl) {
			if r := e.do(method, path, staffValid, body); r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with a staff JWT: got %d, want 401", method, path, r.status)
			}
		}
	}
	if n := fetches.Load(); n != 0 {
		t.Errorf("the verifier fetched %d times from a URL a token named (jku/x5u), want never", n)
	}
	t.Logf("%d attacks x %d protected routes: all 401", len(attacks), len(protected))
}
