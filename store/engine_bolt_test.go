//go:build !etcd

package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/salesos/portal/store"
)

// openTestDB opens a fresh database for a test: a bbolt file in the test's
// directory (built with -tags etcd, an installation on a shared etcd
// cluster; see engine_etcd_test.go).
func openTestDB(t testing.TB, now func() time.Time, opt store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), now, opt)
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
