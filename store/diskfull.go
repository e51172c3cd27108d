package store

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/salesos/portal/store/kv"
)

// ErrDiskFull is wrapped by the error of a write refused because the file
// system holding the database is full (ENOSPC) or its owner's quota is
// spent (EDQUOT). The transaction rolled back: nothing of the write was
// stored, and the file is as sound as before it.
var ErrDiskFull = errors.New("no space left for the database")

// DiskFullError is the error of a write refused for a full disk. It wraps
// both ErrDiskFull and the file system's error.
type DiskFullError struct {
	Err error
	// First is set on the one write that found the disk full after the
	// last write that succeeded, so that a caller logs the episode once
	// rather than once per refused request.
	First bool
}

func (e *DiskFullError) Error() string { return ErrDiskFull.Error() + ": " + e.Err.Error() }

func (e *DiskFullError) Unwrap() []error { return []error{ErrDiskFull, e.Err} }

// diskProbeInterval is how often ProbeDiskFull tries a write of its own
// while the disk is full.
const diskProbeInterval = 5 * time.Second

// diskState is what the store knows of the space under the database: full
// from a write refused for space until a write succeeds again.
type diskState struct {
	full    atomic.Bool
	since   atomic.Int64 // UnixNano of the write that found it full
	refused atomic.Int64 // writes refused for space since Open
	probed  atomic.Int64 // UnixNano of the last probe
}

// isNoSpace reports whether err is the file system saying it has no room.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// noteCommit records how a commit ended and turns a full disk into a
// *DiskFullError.
func (db *DB) noteCommit(err error) error {
	if err == nil {
		if db.disk.full.Load() {
			db.disk.full.Store(false)
		}
		return nil
	}
	if !isNoSpace(err) {
		return err
	}
	db.disk.refused.Add(1)
	first := db.disk.full.CompareAndSwap(false, true)
	if first {
		db.disk.since.Store(db.now().UnixNano())
	}
	return &DiskFullError{Err: err, First: first}
}

// DiskFull reports whether the last write was refused because the disk is
// full, and since when. It clears as soon as a write succeeds.
func (db *DB) DiskFull() (full bool, since time.Time) {
	if !db.disk.full.Load() {
		return false, time.Time{}
	}
	return true, time.Unix(0, db.disk.since.Load()).UTC()
}

// RefusedWrites counts the writes refused for a full disk since Open.
func (db *DB) RefusedWrites() int64 { return db.disk.refused.Load() }

// ProbeDiskFull reports whether the disk is still full. While it is, it
// tries a write of its own (a key written and deleted in one transaction,
// which leaves nothing behind) at most every diskProbeInterval, so that the
// state clears once space is freed even when nothing else writes: a
// readiness check that reports the disk full keeps traffic, and so writes,
// away.
func (db *DB) ProbeDiskFull(ctx context.Context) bool {
	if !db.disk.full.Load() {
		return false
	}
	now := db.now().UnixNano()
	last := db.disk.probed.Load()
	if now-last < int64(diskProbeInterval) || !db.disk.probed.CompareAndSwap(last, now) {
		return true // probed a moment ago, or being probed now
	}
	if ctx.Err() != nil {
		return true
	}
	// Through the committer, not write: a probe that fails is not a refused
	// write of a client's.
	key := []byte("probe:disk")
	err := db.commit.do(func(tx kv.Tx) error {
		m := tx.Bucket(bMeta)
		if err := m.Put(key, itob(now)); err != nil {
			return err
		}
		return m.Delete(key)
	})
	if err == nil {
		db.disk.full.Store(false)
	}
	return db.disk.full.Load()
}
