package store

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The durability promise (an acknowledged write survives kill -9 and power
// loss) rests on bbolt fsyncing every commit, and an on-prem install must
// not hang forever when a second process holds the file. These tests pin
// the settings that promise depends on.

func TestBoltOptions_Durable(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		o := BoltOptions(readOnly)
		if o.NoSync {
			t.Errorf("BoltOptions(%t).NoSync = true, want false: commits must be fsynced", readOnly)
		}
		if o.NoGrowSync {
			t.Errorf("BoltOptions(%t).NoGrowSync = true, want false: file growth must be fsynced", readOnly)
		}
		if o.Timeout <= 0 || o.Timeout > 10*time.Second {
			t.Errorf("BoltOptions(%t).Timeout = %v, want a bounded wait for the file lock (0 waits forever)", readOnly, o.Timeout)
		}
		if o.ReadOnly != readOnly {
			t.Errorf("BoltOptions(%t).ReadOnly = %t", readOnly, o.ReadOnly)
		}
	}
}

func TestOpen_DurableSettings(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "portal.db"), time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.bolt.NoSync {
		t.Error("opened database has NoSync set: commits would not be fsynced")
	}
	if db.bolt.NoGrowSync {
		t.Error("opened database has NoGrowSync set")
	}
}

// TestOpen_LockedFileTimesOut proves Open waits a bounded time for a file
// another holder has locked (bbolt's flock is per open file, so a second
// Open in this process contends like a second process would).
func TestOpen_LockedFileTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(path, time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		second, err := Open(path, time.Now, Options{})
		if err == nil {
			_ = second.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("second Open of a locked file succeeded, want a lock error")
		}
		if !strings.Contains(err.Error(), "locked") {
			t.Errorf("got error %q, want it to say the database is locked", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("second Open took %v, want about the 1 s lock timeout", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("second Open of a locked file still blocked after 15 s: no lock timeout")
	}
}
