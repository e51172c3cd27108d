package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// OperatorTokenPrefix starts every operator token, so that it is never taken
// for a staff JWT (which starts with "ey") and shows what it is in a config
// file.
const OperatorTokenPrefix = "portal-operator."

// MinOperatorSecret is the shortest secret an operator token is made from.
const MinOperatorSecret = 32

// Operator checks the installation's operator credential: the one bearer
// token that may take a backup. Backups are installation-level (every
// organization's data and the secrets staff tokens are signed with), so no
// organization's staff token opens them, whatever its scopes.
type Operator struct{ sum [sha256.Size]byte }

// OperatorToken is the token made from secret: OperatorTokenPrefix and the
// secret in unpadded base64url.
func OperatorToken(secret []byte) string {
	return OperatorTokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
}

// NewOperator returns the checker of OperatorToken(secret).
func NewOperator(secret []byte) (*Operator, error) {
	if len(secret) < MinOperatorSecret {
		return nil, errors.New("operator secret: too short")
	}
	return &Operator{sum: sha256.Sum256([]byte(OperatorToken(secret)))}, nil
}

// Check reports whether token is the operator token. It compares SHA-256
// sums in constant time, so neither the time taken nor the token's length
// tells a guesser how close it came.
func (o *Operator) Check(token string) bool {
	if o == nil || !strings.HasPrefix(token, OperatorTokenPrefix) {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], o.sum[:]) == 1
}
