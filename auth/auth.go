// Package auth verifies staff tokens (JWTs signed with the configured keys)
// and carries the verified caller, a Principal, through a request's context.
// It never writes HTTP responses.
package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/salesos/portal/data"
)

// Scopes a staff token can carry.
const (
	ScopeRead     = "portal:read"
	ScopeWrite    = "portal:write"
	ScopeOperator = "portal:operator"
)

// MinSecretLength is the shortest HS256 secret accepted.
const MinSecretLength = 32

// Principal is the verified caller of the admin API.
type Principal struct {
	Subject string
	Tenant  data.TenantID
	Scopes  []string
	Role    string
}

// CanRead reports whether p may use every GET of the admin API.
func (p Principal) CanRead() bool {
	return p.CanWrite() || slices.Contains(p.Scopes, ScopeRead)
}

// CanWrite reports whether p may change anything.
func (p Principal) CanWrite() bool {
	return p.Role == "admin" || p.Role == "owner" || slices.Contains(p.Scopes, ScopeWrite)
}

// IsOperator reports whether p may use the operator endpoints (backup).
func (p Principal) IsOperator() bool { return slices.Contains(p.Scopes, ScopeOperator) }

// RequireRead returns a wrapped data.ErrForbidden unless p can read.
func (p Principal) RequireRead() error {
	if !p.CanRead() {
		return fmt.Errorf("scope %s: %w", ScopeRead, data.ErrForbidden)
	}
	return nil
}

// RequireWrite returns a wrapped data.ErrForbidden unless p can write.
func (p Principal) RequireWrite() error {
	if !p.CanWrite() {
		return fmt.Errorf("scope %s: %w", ScopeWrite, data.ErrForbidden)
	}
	return nil
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal set by NewContext.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Config says which keys and claims the verifier trusts.
type Config struct {
	Secret      []byte // HS256; at least MinSecretLength bytes
	JWKSPath    string // a JWK set of RS256, ES256 and EdDSA public keys, each with kid
	Issuer      string // checked when set
	Audience    string // checked when set
	TenantClaim string // default "org"
	Now         func() time.Time
	// CacheSize bounds the verified-token cache (0 disables it).
	CacheSize int
	// MaxLifetime is the furthest ahead a token's exp may lie (beyond the
	// leeway): a token that claims to stay valid for years is refused
	// (RFC 8725 3.10). 0 means DefaultMaxLifetime; negative, no limit.
	MaxLifetime time.Duration
}

// DefaultMaxLifetime is the longest remaining validity a staff token may
// claim: the longest `portal token` mints.
const DefaultMaxLifetime = 366 * 24 * time.Hour

// Verifier checks staff tokens against the trusted key set.
type Verifier struct {
	keys        jwk.Set
	issuer      string
	audience    string
	tenantClaim string
	now         func() time.Time
	cache       *tokenCache
	maxLifetime time.Duration
}

// HMACKeyID is the kid of an HS256 secret: a digest of it, so tokens name
// the key without revealing it.
func HMACKeyID(secret []byte) string {
	sum := sha256.Sum256(append([]byte("portal-hs256-kid:"), secret...))
	return "hs-" + hex.EncodeToString(sum[:6])
}

// NewVerifier builds a verifier from cfg. Every key in the set carries its
// algorithm, and verification uses that algorithm alone.
func NewVerifier(cfg Config) (*Verifier, error) {
	set := jwk.NewSet()
	if len(cfg.Secret) > 0 {
		if len(cfg.Secret) < MinSecretLength {
			return nil, fmt.Errorf("jwt secret: must be at least %d bytes", MinSecretLength)
		}
		k, err := jwk.FromRaw(cfg.Secret)
		if err != nil {
			return nil, fmt.Errorf("jwt secret: %w", err)
		}
		_ = k.Set(jwk.KeyIDKey, HMACKeyID(cfg.Secret))
		_ = k.Set(jwk.AlgorithmKey, jwa.HS256)
		_ = set.AddKey(k)
	}
	if cfg.JWKSPath != "" {
		if err := addJWKS(set, cfg.JWKSPath); err != nil {
			return nil, err
		}
	}
	if set.Len() == 0 {
		return nil, errors.New("no token keys configured")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	claim := cfg.TenantClaim
	if claim == "" {
		claim = "org"
	}
	maxLifetime := cfg.MaxLifetime
	if maxLifetime == 0 {
		maxLifetime = DefaultMaxLifetime
	}
	v := &Verifier{keys: set, issuer: cfg.Issuer, audience: cfg.Audience, tenantClaim: claim, now: now,
		maxLifetime: maxLifetime}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	return v, nil
}

// allowedJWKSAlgs are the public-key algorithms a JWKS file may name.
var allowedJWKSAlgs = map[jwa.SignatureAlgorithm]jwa.KeyType{
	jwa.RS256: jwa.RSA, jwa.ES256: jwa.EC, jwa.EdDSA: jwa.OKP,
}

func addJWKS(set jwk.Set, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("jwks file: %w", err)
	}
	file, err := jwk.Parse(raw)
	if err != nil {
		return fmt.Errorf("jwks file %s: %w", path, err)
	}
	for i := 0; i < file.Len(); i++ {
		k, _ := file.Key(i)
		if k.KeyID() == "" {
			return fmt.Errorf("jwks file %s: key %d has no kid", path, i)
		}
		if _, ok := set.LookupKeyID(k.KeyID()); ok {
			return fmt.Errorf("jwks file %s: kid %q appears twice", path, k.KeyID())
		}
		alg := jwa.SignatureAlgorithm(k.Algorithm().String())
		want, ok := allowedJWKSAlgs[alg]
		if !ok {
			// A key without alg gets the one algorithm its type allows.
			switch k.KeyType() {
			case jwa.RSA:
				alg = jwa.RS256
			case jwa.EC:
				alg = jwa.ES256
			case jwa.OKP:
				alg = jwa.EdDSA
			default:
				return fmt.Errorf("jwks file %s: key %q: type %s is not RS256, ES256 or EdDSA", path, k.KeyID(), k.KeyType())
			}
			if k.Algorithm().String() != "" {
				return fmt.Errorf("jwks file %s: key %q: alg %s is not RS256, ES256 or EdDSA", path, k.KeyID(), k.Algorithm())
			}
			want = k.KeyType()
			_ = k.Set(jwk.AlgorithmKey, alg)
		}
		if k.KeyType() != want {
			return fmt.Errorf("jwks file %s: key %q: alg %s does not fit key type %s", path, k.KeyID(), alg, k.KeyType())
		}
		pub, err := k.PublicKey() // never keep private material for verification
		if err != nil {
			return fmt.Errorf("jwks file %s: key %q: %w", path, k.KeyID(), err)
		}
		_ = pub.Set(jwk.AlgorithmKey, alg)
		if err := set.AddKey(pub); err != nil {
			return fmt.Errorf("jwks file %s: key %q: %w", path, k.KeyID(), err)
		}
	}
	return nil
}

// MaxTokenLength bounds the tokens the verifier will look at.
const MaxTokenLength = 8192

// Verify checks token against the trusted key set and returns its caller.
// Any failure is a wrapped data.ErrUnauthorized.
func (v *Verifier) Verify(token string) (Principal, error) {
	if len(token) > MaxTokenLength || strings.Count(token, ".") != 2 {
		return Principal{}, fmt.Errorf("%w: not a compact JWT", data.ErrUnauthorized)
	}
	now := v.now()
	if v.cache != nil {
		if p, ok := v.cache.get(token, now); ok {
			return p, nil
		}
	}
	if err := checkSegments(token); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", data.ErrUnauthorized, err)
	}
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeyProvider(jws.KeyProviderFunc(v.provideKey)),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(60*time.Second),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim(v.tenantClaim),
		optIssuer(v.issuer), optAudience(v.audience),
	)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", data.ErrUnauthorized, err)
	}
	if v.maxLifetime > 0 && tok.Expiration().Sub(now) > v.maxLifetime+60*time.Second {
		return Principal{}, fmt.Errorf("%w: exp is more than %v ahead", data.ErrUnauthorized, v.maxLifetime)
	}
	p, err := v.principalFrom(tok)
	if err != nil {
		return Principal{}, err
	}
	if v.cache != nil {
		// Cached until exp plus the leeway, the same window Parse accepts.
		v.cache.put(token, p, tok.Expiration().Add(60*time.Second), now)
	}
	return p, nil
}

// provideKey picks the trusted key a token's kid names (the only key, when
// there is one and the token names none) and verifies with that key's
// algorithm. The alg header must name that same algorithm (RFC 8725 3.1):
// a token whose header says one algorithm while its signature was made
// with another is refused, even when the signature is right.
func (v *Verifier) provideKey(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	h := sig.ProtectedHeaders()
	var key jwk.Key
	switch kid := h.KeyID(); {
	case kid != "":
		k, ok := v.keys.LookupKeyID(kid)
		if !ok {
			return fmt.Errorf("no trusted key has kid %q", kid)
		}
		key = k
	case v.keys.Len() == 1:
		key, _ = v.keys.Key(0)
	default:
		return errors.New("the token names no kid and several keys are trusted")
	}
	if u := key.KeyUsage(); u != "" && u != jwk.ForSignature.String() {
		return fmt.Errorf("key %q is not for signatures", key.KeyID())
	}
	alg := key.Algorithm().String()
	if alg == "" || h.Algorithm().String() != alg {
		return fmt.Errorf("alg %q is not the algorithm of key %q", h.Algorithm(), key.KeyID())
	}
	sink.Key(jwa.SignatureAlgorithm(alg), key)
	return nil
}

func optIssuer(s string) jwt.ParseOption {
	if s == "" {
		return jwt.WithValidate(true)
	}
	return jwt.WithIssuer(s)
}

func optAudience(s string) jwt.ParseOption {
	if s == "" {
		return jwt.WithValidate(true)
	}
	return jwt.WithAudience(s)
}

// MaxClaimLength bounds sub (the tenant claim is bounded by
// data.TenantPattern).
const MaxClaimLength = 200

func (v *Verifier) principalFrom(tok jwt.Token) (Principal, error) {
	sub := tok.Subject()
	raw, _ := tok.Get(v.tenantClaim)
	tenant, _ := raw.(string)
	if sub == "" || len(sub) > MaxClaimLength || !data.SingleLine(sub) {
		return Principal{}, fmt.Errorf("%w: sub must be a non-empty string of one line", data.ErrUnauthorized)
	}
	// The claim names the organization whose records the caller reaches:
	// "../acme", a full-width "ａｃｍｅ" or "acme " must not each open one.
	if !data.ValidTenantID(tenant) {
		return Principal{}, fmt.Errorf("%w: %s must match %s", data.ErrUnauthorized, v.tenantClaim, data.TenantPattern)
	}
	p := Principal{Subject: sub, Tenant: data.TenantID(tenant)}
	if s, ok := tok.Get("scope"); ok {
		str, _ := s.(string)
		p.Scopes = strings.Fields(str)
	}
	if r, ok := tok.Get("role"); ok {
		p.Role, _ = r.(string)
	}
	return p, nil
}

// tokenCache remembers verified tokens by their SHA-256 until they expire,
// so a client that sends the same token on every request pays for the
// signature check once. It is bounded; when full, it is cleared.
type tokenCache struct {
	mu    sync.RWMutex
	max   int
	items map[[32]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p     Principal
	until time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, items: make(map[[32]byte]cachedPrincipal)}
}

func (c *tokenCache) get(token string, now time.Time) (Principal, bool) {
	h := sha256.Sum256([]byte(token))
	c.mu.RLock()
	e, ok := c.items[h]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.p, true
}

func (c *tokenCache) put(token string, p Principal, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	h := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.items) >= c.max {
		for k, e := range c.items {
			if !now.Before(e.until) {
				delete(c.items, k)
			}
		}
		if len(c.items) >= c.max {
			clear(c.items)
		}
	}
	c.items[h] = cachedPrincipal{p, until}
}

// checkSegments holds the header and the claims of a compact JWT to what the
// JSON parser of jwt.Parse lets through: each must be one JSON object with
// nothing after it and no member named twice (which member wins differs
// between parsers, RFC 7519 section 4); exp, nbf and iat must be numbers
// (RFC 7519 NumericDate, never a string); and a crit header is refused, as
// the service understands no extension it could list (RFC 7515 4.1.11).
func checkSegments(token string) error {
	parts := strings.SplitN(token, ".", 3)
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return errors.New("header is not base64url")
	}
	members, err := jsonObjectMembers(header)
	if err != nil {
		return fmt.Errorf("header %v", err)
	}
	if _, ok := members["crit"]; ok {
		return errors.New("header lists crit extensions, none of which is supported")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("claims are not base64url")
	}
	if members, err = jsonObjectMembers(payload); err != nil {
		return fmt.Errorf("claims %v", err)
	}
	for _, name := range [...]string{jwt.ExpirationKey, jwt.NotBeforeKey, jwt.IssuedAtKey} {
		if raw, ok := members[name]; ok {
			if _, isNum := raw.(json.Number); !isNum {
				return fmt.Errorf("claim %s is not a number", name)
			}
		}
	}
	return nil
}

// jsonObjectMembers reads b as one JSON object and returns its top-level
// members (numbers as json.Number): an error for anything else, for bytes
// after the object and for a member named twice.
func jsonObjectMembers(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("is not a JSON object")
	}
	members := map[string]any{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("is not a JSON object")
		}
		name, _ := t.(string)
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("names member %q twice", name)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("is not a JSON object")
		}
		members[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, errors.New("is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("has data after the JSON object")
	}
	return members, nil
}
