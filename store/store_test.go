package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

var configT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func configNow() time.Time { return configT0 }

// openConfigDB opens a fresh database in a temp dir, closed at cleanup.
func openConfigDB(t *testing.T) *store.DB {
	t.Helper()
	return openTestDB(t, configNow, store.Options{})
}

// openBoltDB is openConfigDB on a bbolt file whatever engine the other
// tests run on, for what only the file has.
func openBoltDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), configNow, store.Options{})
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestOpen_CreatesSchema(t *testing.T) {
	t.Parallel()
	db := openConfigDB(t)
	v, err := db.Schema()
	if err != nil {
		t.Fatal(err)
	}
	if v != store.SchemaVersion {
		t.Errorf("got schema %d, want %d", v, store.SchemaVersion)
	}
	if _, err := os.Stat(openBoltDB(t).Path()); err != nil {
		t.Errorf("got %v for the database file, want it to exist", err)
	}
}

func TestOpen_ReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := store.Open(path, configNow, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want, err := db.UpdateConfig(ctx, "acme", "u1", func(c data.Config) (data.Config, error) {
		c.PortalName, c.Slug = "Acme Help", "acme-help"
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(path, configNow, store.Options{})
	if err != nil {
		t.Fatalf("reopen: got %v, want nil", err)
	}
	defer db.Close()
	got, err := db.Config(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.PortalName != want.PortalName || got.Slug != want.Slug || got.Version != want.Version {
		t.Errorf("got %q %q v%d after reopen, want %q %q v%d", got.PortalName, got.Slug, got.Version, want.PortalName, want.Slug, want.Version)
	}
	if tenant, err := db.TenantBySlug(ctx, "acme-help"); err != nil || tenant != "acme" {
		t.Errorf("TenantBySlug after reopen: got %q, %v, want acme, nil", tenant, err)
	}
	if v, _ := db.Schema(); v != store.SchemaVersion {
		t.Errorf("got schema %d after reopen, want %d", v, store.SchemaVersion)
	}
}

// writeSchemaValue writes a raw schema value into a closed database file.
func writeSchemaValue(t *testing.T, path, value string) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, store.BoltOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte(value))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_RefusesUnknownSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, wantMsg string
	}{
		{"newer", strconv.Itoa(store.SchemaVersion + 1), "newer"},
		{"much newer", "99", "newer"},
		{"garbage", "two", "schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "portal.db")
			db, err := store.Open(path, configNow, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			writeSchemaValue(t, path, tt.value)
			db, err = store.Open(path, configNow, store.Options{})
			if err == nil {
				_ = db.Close()
				t.Fatalf("got nil error opening schema %q, want a refusal", tt.value)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %q, want it to mention %q", err, tt.wantMsg)
			}
			// The refused file is closed again: it can be opened raw.
			b, err := bbolt.Open(path, 0o600, store.BoltOptions(true))
			if err != nil {
				t.Fatalf("raw open after refusal: got %v, want nil (lock released)", err)
			}
			_ = b.Close()
		})
	}
}

func TestBoltOptions(t *testing.T) {
	t.Parallel()
	for _, ro := range []bool{false, true} {
		o := store.BoltOptions(ro)
		if o.Timeout <= 0 {
			t.Errorf("readOnly=%t: got Timeout %v, want > 0 (never wait forever for the lock)", ro, o.Timeout)
		}
		if o.NoSync {
			t.Errorf("readOnly=%t: got NoSync true, want false (every commit fsynced)", ro)
		}
		if o.NoGrowSync {
			t.Errorf("readOnly=%t: got NoGrowSync true, want false", ro)
		}
		if o.ReadOnly != ro {
			t.Errorf("got ReadOnly %t, want %t", o.ReadOnly, ro)
		}
	}
}

func TestOpen_LockedFileTimesOut(t *testing.T) {
	t.Parallel()
	db := openBoltDB(t) // a feature of the bbolt file
	// bbolt's flock belongs to the open file, so a second Open in the same
	// process waits like a second process would, then gives up.
	second, err := store.Open(db.Path(), configNow, store.Options{})
	if err == nil {
		_ = second.Close()
		t.Fatalf("got a second handle on a locked database, want a timeout error")
	}
	if !strings.Contains(err.Error(), "locked") {
		t.Errorf("got error %q, want it to say the database is locked", err)
	}
}

func TestDB_Secret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := store.Open(path, configNow, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := db.Secret("jwt_hs256", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) != 32 {
		t.Errorf("got %d bytes, want 32", len(s1))
	}
	if bytes.Equal(s1, make([]byte, 32)) {
		t.Errorf("got an all-zero secret, want random bytes")
	}
	again, err := db.Secret("jwt_hs256", 64) // n only matters on creation
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, s1) {
		t.Errorf("got a different secret on the second call, want the stored one")
	}
	other, err := db.Secret("cursor", 32)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, s1) {
		t.Errorf("got the same bytes for two secret names, want independent secrets")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(path, configNow, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reopened, err := db.Secret("jwt_hs256", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reopened, s1) {
		t.Errorf("got a different secret after reopen, want the stored one")
	}
}

func TestPeekSecret(t *testing.T) {
	t.Parallel()
	db := openBoltDB(t) // a feature of the bbolt file
	want, err := db.Secret("jwt_hs256", 32)
	if err != nil {
		t.Fatal(err)
	}
	// The database stays open (and locked) while the secret is peeked.
	got, err := store.PeekSecret(db.Path(), "jwt_hs256")
	if err != nil {
		t.Fatalf("PeekSecret: got %v, want nil", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got secret %x, want %x", got, want)
	}
	// The store is still usable afterwards.
	if _, err := db.Config(context.Background(), "acme"); err != nil {
		t.Errorf("Config after PeekSecret: got %v, want nil", err)
	}
}

func TestPeekSecret_Missing(t *testing.T) {
	t.Parallel()
	_, err := store.PeekSecret(filepath.Join(t.TempDir(), "nope.db"), "jwt_hs256")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
	db := openConfigDB(t)
	if s, err := store.PeekSecret(db.Path(), "never-made"); err == nil {
		t.Errorf("missing secret: got %x, want an error", s)
	}
}

func TestDB_WriteTo(t *testing.T) {
	t.Parallel()
	db := openBoltDB(t) // a feature of the bbolt file
	want, err := db.Secret("jwt_hs256", 32)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := db.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Errorf("got n=%d for %d bytes, want equal and non-zero", n, buf.Len())
	}
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	backup, err := store.Open(copyPath, configNow, store.Options{})
	if err != nil {
		t.Fatalf("open backup: got %v, want nil", err)
	}
	defer backup.Close()
	got, err := backup.Secret("jwt_hs256", 32)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("backup secret: got %x, %v, want %x", got, err, want)
	}
}
