package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/salesos/portal/data"
)

// Argon2Params are argon2id's cost settings. They are written into every
// hash (PHC string format), so they can be raised later without breaking
// existing passwords.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// OWASPParams returns OWASP's recommended argon2id settings (m=19 MiB, t=2, p=1).
func OWASPParams() Argon2Params {
	return Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// MaxPasswordBytes bounds what is hashed, so a huge password cannot cost
// more than a normal one.
const MaxPasswordBytes = 256

// Hasher hashes and checks passwords, running at most a fixed number of
// hashes at once so that a burst of logins cannot exhaust memory: each
// argon2id hash holds MemoryKiB while it runs. Requests that find every
// slot taken wait in one of two bounded lines: logins (Check) are served
// before new passwords (Hash), so a flood of invitation acceptances or
// resets cannot delay sign-ins; a request that finds its line full fails
// at once with a *data.BusyError instead of queueing.
type Hasher struct {
	params Argon2Params
	onHash func()

	mu   sync.Mutex
	free int                // idle slots; never above zero while anyone waits
	line [2][]chan struct{} // waiting requests by lane, first come first served
	max  [2]int             // the bound of each line
	// dummy is hashed against when there is no user, made on first need so
	// that start-up does not spend a hash's memory.
	dummy func() string
}

// Hashing lanes, in the order they are served.
const (
	laneCheck = iota // logins
	laneHash         // new passwords: accepting an invitation, a reset
)

// HasherOptions tune NewHasherWith.
type HasherOptions struct {
	// Concurrent is how many hashes run at once (1 when below 1).
	Concurrent int
	// CheckQueue bounds the logins waiting for a slot (64 when 0).
	CheckQueue int
	// HashQueue bounds the new passwords waiting for a slot (16 when 0):
	// enough for a team accepting its invitations together, few enough
	// that a flood is turned away in well under a second of waiting.
	HashQueue int
	// OnHash, when not nil, is called as each hash starts in its slot
	// (for metrics, and for tests that count the work done).
	OnHash func()
}

// Default line bounds.
const (
	defaultCheckQueue = 64
	defaultHashQueue  = 16
)

// BusyRetryAfter is the wait a client is told to take when the hasher's
// line is full: about as long as a few hashes take.
const BusyRetryAfter = time.Second

// NewHasher returns a hasher with params that runs at most concurrent
// hashes at a time, with the default line bounds.
func NewHasher(params Argon2Params, concurrent int) *Hasher {
	return NewHasherWith(params, HasherOptions{Concurrent: concurrent})
}

// NewHasherWith returns a hasher with params and opt.
func NewHasherWith(params Argon2Params, opt HasherOptions) *Hasher {
	if opt.Concurrent < 1 {
		opt.Concurrent = 1
	}
	if opt.CheckQueue <= 0 {
		opt.CheckQueue = defaultCheckQueue
	}
	if opt.HashQueue <= 0 {
		opt.HashQueue = defaultHashQueue
	}
	if opt.OnHash == nil {
		opt.OnHash = func() {}
	}
	h := &Hasher{params: params, onHash: opt.OnHash, free: opt.Concurrent,
		max: [2]int{laneCheck: opt.CheckQueue, laneHash: opt.HashQueue}}
	h.dummy = sync.OnceValue(func() string {
		d, _ := h.hash("not a real password")
		return d
	})
	return h
}

// busy is what Hash and Check return when their line is full.
func busy() error {
	return &data.BusyError{RetryAfterSeconds: int(BusyRetryAfter / time.Second)}
}

// acquire takes a slot, waiting in lane's line when none is free.
func (h *Hasher) acquire(ctx context.Context, lane int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	if h.free > 0 {
		h.free--
		h.mu.Unlock()
		return nil
	}
	if len(h.line[lane]) >= h.max[lane] {
		h.mu.Unlock()
		return busy()
	}
	ready := make(chan struct{})
	h.line[lane] = append(h.line[lane], ready)
	h.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		defer h.mu.Unlock()
		for i, c := range h.line[lane] {
			if c == ready {
				h.line[lane] = append(h.line[lane][:i], h.line[lane][i+1:]...)
				return ctx.Err()
			}
		}
		// release handed the slot over as the context ended: pass it on.
		h.releaseLocked()
		return ctx.Err()
	}
}

// Waiting reports how many new passwords and how many logins wait for a
// hashing slot.
func (h *Hasher) Waiting() (hashes, checks int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.line[laneHash]), len(h.line[laneCheck])
}

// release gives a slot to the first waiter of the first lane that has
// one, or frees it.
func (h *Hasher) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

func (h *Hasher) releaseLocked() {
	for lane := range h.line {
		if q := h.line[lane]; len(q) > 0 {
			h.line[lane] = q[1:]
			close(q[0])
			return
		}
	}
	h.free++
}

// Hash returns the PHC-encoded argon2id hash of password. precheck, when
// not nil, runs once a hashing slot is free and can cancel the work: many
// concurrent requests for one single-use token then pay for one hash, not
// for all of theirs. A full line is a *data.BusyError.
func (h *Hasher) Hash(ctx context.Context, password string, precheck func() error) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", errors.New("password too long")
	}
	if err := h.acquire(ctx, laneHash); err != nil {
		return "", err
	}
	defer h.release()
	if precheck != nil {
		if err := precheck(); err != nil {
			return "", err
		}
	}
	h.onHash()
	return h.hash(password)
}

func (h *Hasher) hash(password string) (string, error) {
	p := h.params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check reports whether password matches encoded. An empty encoded (no such
// user) still spends one hash, so the answer takes as long either way.
//
// A full line is a *data.BusyError, returned before any hash.
func (h *Hasher) Check(ctx context.Context, encoded, password string) (bool, error) {
	if err := h.acquire(ctx, laneCheck); err != nil {
		return false, err
	}
	defer h.release()
	h.onHash()
	if encoded == "" {
		encoded = h.dummy()
		password += "\x00never"
	}
	if len(password) > MaxPasswordBytes {
		password = password[:MaxPasswordBytes] + "\x00too-long" // still hashed, never matches
		_, _ = checkPHC(encoded, password)
		return false, nil
	}
	return checkPHC(encoded, password)
}

func checkPHC(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash: not argon2id PHC")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("password hash: unsupported version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 100 {
		return false, errors.New("password hash: bad parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errors.New("password hash: bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, errors.New("password hash: bad key")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
