package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func openCommitter(t *testing.T) *committer {
	t.Helper()
	b, err := bbolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, BoltOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("k")); return err }); err != nil {
		t.Fatal(err)
	}
	return &committer{bolt: b}
}

func TestCommitter_GroupsConcurrentWrites(t *testing.T) {
	c := openCommitter(t)
	const writers = 200
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			err := c.do(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("k")).Put(fmt.Appendf(nil, "%04d", i), []byte("v"))
			})
			if err != nil {
				t.Errorf("write %d: got %v, want nil", i, err)
			}
		})
	}
	wg.Wait()
	var n, commits int
	_ = c.bolt.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket([]byte("k")).Stats().KeyN
		commits = int(tx.ID()) - 1 // one transaction made the bucket
		return nil
	})
	if n != writers {
		t.Fatalf("got %d keys, want %d", n, writers)
	}
	if commits > writers {
		t.Fatalf("got %d commits for %d writes, want at most one each", commits, writers)
	}
	t.Logf("%d writes in %d commits", writers, commits)
}

func TestCommitter_FailureAndPanicStayWithTheirWriter(t *testing.T) {
	c := openCommitter(t)
	bad := errors.New("disk says no")
	// Hold the lead with a slow write so the next ones queue into one group.
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = c.do(func(tx *bbolt.Tx) error {
			select {
			case <-started:
			default:
				close(started)
			}
			time.Sleep(50 * time.Millisecond)
			return tx.Bucket([]byte("k")).Put([]byte("slow"), []byte("v"))
		})
	})
	<-started
	results := make([]error, 6)
	for i := range results {
		wg.Go(func() {
			results[i] = c.do(func(tx *bbolt.Tx) error {
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
	_ = c.bolt.View(func(tx *bbolt.Tx) error {
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
