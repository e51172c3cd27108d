package store

// Per-account login limits kept in the store, for processes that share it
// (etcd): a token bucket per account, so the limit holds whichever process
// a login reaches.
//
//	login_limits/<sha256 of the account key> -> loginBucket (made on first use)

import (
	"context"
	"crypto/sha256"
	"math"
	"time"

	"github.com/salesos/portal/store/kv"
)

var bLoginLimits = []byte("login_limits")

// loginBucket is a token bucket as stored: the tokens at At, and when it
// is full again (for the sweeper).
type loginBucket struct {
	Tokens float64 `json:"t"`
	At     int64   `json:"at"`
	Full   int64   `json:"full"`
}

// refill is b's tokens at now, of a bucket of burst refilling one per
// every; an unknown bucket is full.
func (b *loginBucket) refill(now time.Time, every time.Duration, burst int) float64 {
	if b.At == 0 {
		return float64(burst)
	}
	elapsed := now.Sub(time.Unix(0, b.At))
	return math.Min(float64(burst), b.Tokens+max(0, float64(elapsed)/float64(every)))
}

func (b *loginBucket) set(tokens float64, now time.Time, every time.Duration, burst int) {
	b.Tokens, b.At = tokens, now.UnixNano()
	b.Full = now.Add(time.Duration((float64(burst) - tokens) * float64(every))).UnixNano()
}

func loginLimitKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// TakeLoginAttempt spends one attempt of key's bucket (burst attempts,
// refilling one per every) in one transaction, or reports false and how
// long until one is free (writing nothing).
func (db *DB) TakeLoginAttempt(ctx context.Context, key string, now time.Time, every time.Duration, burst int) (ok bool, wait time.Duration, err error) {
	k := loginLimitKey(key)
	err = db.write(ctx, func(tx kv.Tx) error {
		ok, wait = false, 0
		var b loginBucket
		if limits := tx.Bucket(bLoginLimits); limits != nil {
			if _, err := getJSON(limits, k, &b); err != nil {
				return err
			}
		}
		tokens := b.refill(now, every, burst)
		if tokens < 1 {
			wait = time.Duration(math.Ceil((1 - tokens) * float64(every)))
			return nil
		}
		limits, err := tx.CreateBucketIfNotExists(bLoginLimits)
		if err != nil {
			return err
		}
		b.set(tokens-1, now, every, burst)
		ok = true
		return putJSON(limits, k, b)
	})
	return ok, wait, err
}

// RefundLoginAttempt gives back an attempt TakeLoginAttempt spent.
func (db *DB) RefundLoginAttempt(ctx context.Context, key string, now time.Time, every time.Duration, burst int) error {
	k := loginLimitKey(key)
	return db.write(ctx, func(tx kv.Tx) error {
		limits := tx.Bucket(bLoginLimits)
		if limits == nil {
			return nil
		}
		var b loginBucket
		found, err := getJSON(limits, k, &b)
		if err != nil || !found {
			return err
		}
		b.set(math.Min(float64(burst), b.refill(now, every, burst)+1), now, every, burst)
		return putJSON(limits, k, b)
	})
}

// loginLimitFull reports whether a stored bucket is full at now (nothing
// to remember); an unreadable one is dropped too.
func loginLimitFull(v []byte, now time.Time) bool {
	var b loginBucket
	if jsonDecode(v, &b) != nil {
		return true
	}
	return b.Full <= now.UnixNano()
}
