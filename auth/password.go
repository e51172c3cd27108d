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

	"golang.org/x/crypto/argon2"
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
// argon2id hash holds MemoryKiB while it runs.
type Hasher struct {
	params Argon2Params
	sem    chan struct{}
	// dummy is hashed against when there is no user, made on first need so
	// that start-up does not spend a hash's memory.
	dummy func() string
}

// NewHasher returns a hasher with params that runs at most concurrent
// hashes at a time.
func NewHasher(params Argon2Params, concurrent int) *Hasher {
	if concurrent < 1 {
		concurrent = 1
	}
	h := &Hasher{params: params, sem: make(chan struct{}, concurrent)}
	h.dummy = sync.OnceValue(func() string {
		d, _ := h.hash("not a real password")
		return d
	})
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC-encoded argon2id hash of password. precheck, when
// not nil, runs once a hashing slot is free and can cancel the work: many
// concurrent requests for one single-use token then pay for one hash, not
// for all of theirs.
func (h *Hasher) Hash(ctx context.Context, password string, precheck func() error) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", errors.New("password too long")
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	if precheck != nil {
		if err := precheck(); err != nil {
			return "", err
		}
	}
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
func (h *Hasher) Check(ctx context.Context, encoded, password string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
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
