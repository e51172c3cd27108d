package auth

import (
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Claims are what a minted staff token says.
type Claims struct {
	Subject  string
	Tenant   string
	Scope    string
	Role     string
	Issuer   string
	Audience string
	TTL      time.Duration
	// TenantClaim is the claim name of the organization (default "org").
	TenantClaim string
}

// Mint signs a staff token with an HS256 secret, naming the secret's kid.
func Mint(secret []byte, c Claims, now time.Time) (string, error) {
	if len(secret) < MinSecretLength {
		return "", fmt.Errorf("mint: secret must be at least %d bytes", MinSecretLength)
	}
	if c.Subject == "" || c.Tenant == "" {
		return "", fmt.Errorf("mint: subject and organization are required")
	}
	if c.TTL <= 0 {
		return "", fmt.Errorf("mint: ttl must be positive")
	}
	claim := c.TenantClaim
	if claim == "" {
		claim = "org"
	}
	b := jwt.NewBuilder().Subject(c.Subject).Claim(claim, c.Tenant).
		IssuedAt(now).NotBefore(now).Expiration(now.Add(c.TTL))
	if c.Scope != "" {
		b = b.Claim("scope", c.Scope)
	}
	if c.Role != "" {
		b = b.Claim("role", c.Role)
	}
	if c.Issuer != "" {
		b = b.Issuer(c.Issuer)
	}
	if c.Audience != "" {
		b = b.Audience([]string{c.Audience})
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	key, err := jwk.FromRaw(secret)
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	_ = key.Set(jwk.KeyIDKey, HMACKeyID(secret))
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, key, jws.WithProtectedHeaders(jws.NewHeaders())))
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	return string(signed), nil
}
