package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

func openCommitter(t *testing.T, group int) *committer {
	t.Helper()
	b, err := bbolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, BoltOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("k")); return err }); err != nil {
		t.Fatal(err)
	}
	return &committer{kv: boltkv.Wrap(b), group: group}
}

// TestCommitter_GroupsConcurrentWrites: concurrent writes share commits up
// to the engine's group size, and with a group of one (an engine with
// optimistic transactions) each write is a commit of its own.
func TestCommitter_GroupsConcurrentWrites(t *testing.T) {
	tests := []struct {
		name  string
		group int
	}{
		{"bbolt", boltGroup},
		{"one", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openCommitter(t, tt.group)
			var before int
			_ = c.kv.View(func(tx kv.Tx) error { before = int(boltkv.Tx(tx).ID()); return nil })
			const writers = 200
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					err := c.do(func(tx kv.Tx) error {
						return tx.Bucket([]byte("k")).Put(fmt.Appendf(nil, "%04d", i), []byte("v"))
					})
					if err != nil {
						t.Errorf("write %d: got %v, want nil", i, err)
					}
				})
			}
			wg.Wait()
			var n, commits int
			_ = c.kv.View(func(tx kv.Tx) error {
				n = tx.Bucket([]byte("k")).KeyN()
				commits = int(boltkv.Tx(tx).ID()) - before
				return nil
			})
			if n != writers {
				t.Fatalf("got %d keys, want %d", n, writers)
			}
			if commits > writers {
				t.Fatalf("got %d commits for %d writes, want at most one each", commits, writers)
			}
			if tt.group == 1 && commits != writers {
				t.Fatalf("group of one: got %d commits for %d writes, want one each", commits, writers)
			}
			t.Logf("%d writes in %d commits", writers, commits)
		})
	}
}

func TestCommitter_FailureAndPanicStayWithTheirWriter(t *testing.T) {
	c := openCommitter(t, boltGroup)
	bad := errors.New("disk says no")
	// Hold the lead with a write that waits until the next ones have
	// queued, so that they form one group.
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = c.do(func(tx kv.Tx) error {
			select {
			case <-started:
			default:
				close(started)
			}
			<-release
			return tx.Bucket([]byte("k")).Put([]byte("slow"), []byte("v"))
		})
	})
	<-started
	results := make([]error, 6)
	for i := range results {
		wg.Go(func() {
			results[i] = c.do(func(tx kv.Tx) error {
				switch i {
				case 2:
					return bad
				case 4:
					panic("boom")
				}
				return tx.Bucket([]byte("k")).Put(fmt.Appendf(nil, "w%d", i), []byte("v"))
			})
		})
	}
	waitQueued(t, c, len(results))
	close(release)
	wg.Wait()
	for i, err := range results {
		switch i {
		case 2:
			if !errors.Is(err, bad) {
				t.Errorf("write 2: got %v, want %v", err, bad)
			}
		case 4:
			if !errors.Is(err, errPanicked) {
				t.Errorf("write 4: got %v, want errPanicked", err)
			}
		default:
			if err != nil {
				t.Errorf("write %d: got %v, want nil", i, err)
			}
		}
	}
	_ = c.kv.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("k"))
		for i := range results {
			got := b.Get(fmt.Appendf(nil, "w%d", i)) != nil
			if want := i != 2 && i != 4; got != want {
				t.Errorf("key w%d present %t, want %t", i, got, want)
			}
		}
		return nil
	})
}

// waitQueued polls until n writes wait in c's queue, or fails the test.
func waitQueued(t *testing.T, c *committer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		queued := len(c.queue)
		c.mu.Unlock()
		if queued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d queued writes, want %d", queued, n)
		}
		<-tick.C
	}
}

// unlockedKV runs Update functions as they come, with no transaction and
// no lock, as an optimistic engine lets them overlap.
type unlockedKV struct{ kv.DB }

func (unlockedKV) Update(fn func(kv.Tx) error) error { return fn(nil) }

// TestCommitter_GroupOfOneDoesNotQueue: with a group of one, a write runs at
// once beside another write that has not finished, instead of waiting for
// its commit.
func TestCommitter_GroupOfOneDoesNotQueue(t *testing.T) {
	c := &committer{kv: unlockedKV{}, group: 1}
	first, second := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := c.do(func(kv.Tx) error {
			close(first)
			select {
			case <-second:
				return nil
			case <-time.After(30 * time.Second):
				return errors.New("the second write never ran while the first was open")
			}
		})
		if err != nil {
			t.Error(err)
		}
	})
	<-first
	if err := c.do(func(kv.Tx) error { close(second); return nil }); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
