package data

import (
	"crypto/rand"
	"io"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// TenantID names an organization. It comes only from a verified token.
type TenantID string

// IDSource makes ULIDs: time-sortable, URL-safe and not guessable in sequence.
// IDs made within one millisecond by one source still sort in creation order.
type IDSource struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

// NewIDSource returns a source that draws from r (crypto/rand when nil).
func NewIDSource(r io.Reader) *IDSource {
	if r == nil {
		r = rand.Reader
	}
	return &IDSource{entropy: ulid.Monotonic(r, 0)}
}

// New returns a fresh ID for time t.
func (s *IDSource) New(t time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := ulid.New(ulid.Timestamp(t), s.entropy)
	if err != nil {
		// Monotonic entropy overflows only after 2^80 IDs in one millisecond,
		// or when the clock runs backwards; fall back to fresh entropy.
		id = ulid.MustNew(ulid.Timestamp(t), rand.Reader)
	}
	return id.String()
}

// ValidID reports whether s has the form of an ID this service issues.
func ValidID(s string) bool {
	if len(s) != ulid.EncodedSize {
		return false
	}
	_, err := ulid.ParseStrict(s)
	return err == nil
}
