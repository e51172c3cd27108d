package store

import (
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestSweep_IdleMakesNoCommit: a sweep that finds nothing to end commits
// nothing, so an idle server does not fsync every interval.
func TestSweep_IdleMakesNoCommit(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	now := checkT0
	db, err := Open(f.path, func() time.Time { return now }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	txid := func() int {
		var id int
		_ = db.bolt.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	r, err := db.Sweep(t.Context())
	if err != nil || r != (SweepResult{}) {
		t.Fatalf("idle sweep: got %+v, %v, want nothing ended", r, err)
	}
	if after := txid(); after != before {
		t.Errorf("idle sweep: the database went from transaction %d to %d, want no commit", before, after)
	}
	now = checkT0.Add(30 * 24 * time.Hour) // every session and invitation is past its end
	if r, err = db.Sweep(t.Context()); err != nil || r.Sessions == 0 || r.Invitations == 0 {
		t.Fatalf("sweep a month later: got %+v, %v, want sessions and invitations ended", r, err)
	}
	if after := txid(); after == before {
		t.Error("sweep a month later: got no commit, want one")
	}
}
