package auth_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
)

func TestLimiter_TakeConcurrent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := auth.NewLimiter(time.Minute, 5, 100)
	const n = 1000
	var taken atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, wait := l.Take("acct", now); ok {
				taken.Add(1)
			} else if wait <= 0 || wait > time.Minute {
				t.Errorf("got wait %v, want 0..1m", wait)
			}
		}()
	}
	wg.Wait()
	if got := taken.Load(); got != 5 {
		t.Errorf("got %d of %d concurrent takes through, want 5", got, n)
	}
}

func TestLimiter_TakeRefund(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := auth.NewLimiter(time.Minute, 2, 100)
	r1, ok1, _ := l.Take("k", now)
	_, ok2, _ := l.Take("k", now)
	if !ok1 || !ok2 {
		t.Fatalf("got %v %v, want both of the burst", ok1, ok2)
	}
	if _, ok, _ := l.Take("k", now); ok {
		t.Fatal("got a third take of a burst of 2, want refused")
	}
	r1()
	r1() // twice is once
	if _, ok, _ := l.Take("k", now.Add(time.Second)); !ok {
		t.Error("after a refund: got refused, want one more")
	}
	if _, ok, _ := l.Take("k", now.Add(2*time.Second)); ok {
		t.Error("a refund given twice: got two more, want one")
	}
	if _, ok, _ := l.Take("other", now); !ok {
		t.Error("another key: got refused, want its own bucket")
	}
}
