package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets by key (an account, a client address).
// Buckets refill, so a limit slows an attacker down without locking the
// owner out for good. The set is bounded: idle full buckets are dropped.
type Limiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	max     int
	buckets map[string]*rate.Limiter
}

// NewLimiter allows burst events at once per key, refilling one per every.
// It tracks at most max keys.
func NewLimiter(every time.Duration, burst, max int) *Limiter {
	return &Limiter{every: every, burst: burst, max: max, buckets: make(map[string]*rate.Limiter)}
}

func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	b, ok := l.buckets[key]
	if ok {
		return b
	}
	if len(l.buckets) >= l.max {
		for k, v := range l.buckets {
			if v.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		if len(l.buckets) >= l.max {
			// Everyone is limited: forget the oldest-looking half at random
			// rather than grow without bound.
			n := 0
			for k := range l.buckets {
				delete(l.buckets, k)
				if n++; n >= l.max/2 {
					break
				}
			}
		}
	}
	b = rate.NewLimiter(rate.Every(l.every), l.burst)
	b.SetBurstAt(now, l.burst)
	l.buckets[key] = b
	return b
}

// Blocked reports whether key has no event left at now, and how long until
// it has one.
func (l *Limiter) Blocked(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return false, 0
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	wait := time.Duration(math.Ceil((1 - tokens) * float64(l.every)))
	return true, wait
}

// Spend takes one event from key's bucket at now and reports whether there
// was one.
func (l *Limiter) Spend(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(key, now).AllowN(now, 1)
}
