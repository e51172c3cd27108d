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
// it has one. Blocked and then Spend is not one step: concurrent callers
// can all pass Blocked first; Take is.
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

// Take spends one event of key's bucket at now if it has one, in one step,
// so that concurrent callers cannot all pass a check before any of them
// spends. It returns a refund that gives the event back (for an attempt
// that turned out not to count), or false and how long until an event is
// free.
func (l *Limiter) Take(key string, now time.Time) (refund func(), ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 || !r.OK() {
		r.CancelAt(now)
		return nil, false, d
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			r.CancelAt(now)
		})
	}, true, 0
}
