package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
)

// TestAppendOnlyBucketsPackFull invites many users concurrently, as a burst
// does, and checks that the buckets keyed in creation order split their
// pages full rather than half empty.
func TestAppendOnlyBucketsPackFull(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	db, err := Open(filepath.Join(t.TempDir(), "portal.db"), now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n, workers = 3000, 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				req := data.InvitationRequest{Email: fmt.Sprintf("user%05d@example.com", i), FirstName: "Pat"}
				if _, err := db.CreateInvitation(t.Context(), "acme", "staff", req); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	err = db.bolt.View(func(tx *bbolt.Tx) error {
		acme := tx.Bucket(bOrgs).Bucket([]byte("acme"))
		buckets := map[string]*bbolt.Bucket{"invitation_tokens": tx.Bucket(bInvitationTokens), "outbox": tx.Bucket(bOutbox)}
		for _, name := range [][]byte{bUsers, bInvitations, bUserInvitation, bInvitationExpiry, bAudit} {
			buckets[string(name)] = acme.Bucket(name)
		}
		for name, b := range buckets {
			st := b.Stats()
			if st.KeyN != n {
				t.Errorf("%s: got %d keys, want %d", name, st.KeyN, n)
			}
			if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.8 {
				t.Errorf("%s: leaf pages %.0f%% full, want at least 80%%", name, 100*fill)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
