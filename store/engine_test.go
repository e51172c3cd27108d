package store_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

// opaque hides the bbolt file under an engine, as etcd has none: the store
// on it takes the paths of an engine without a file (grouped writes off,
// backups exported).
type opaque struct{ kv.DB }

type opaqueTx struct{ kv.Tx }

func (o opaque) View(fn func(kv.Tx) error) error {
	return o.DB.View(func(tx kv.Tx) error { return fn(opaqueTx{tx}) })
}

func (o opaque) Update(fn func(kv.Tx) error) error {
	return o.DB.Update(func(tx kv.Tx) error { return fn(opaqueTx{tx}) })
}

// MaxWrites bounds transactions as etcd's default does, so work over many
// records is split.
func (o opaque) MaxWrites() int { return 128 }

// openOpaque opens a store on a bbolt file behind opaque.
func openOpaque(t *testing.T) *store.DB {
	t.Helper()
	b, err := bbolt.Open(filepath.Join(t.TempDir(), "portal.db"), 0o600, store.BoltOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenKV(opaque{boltkv.Wrap(b)}, "opaque", configNow, store.Options{})
	if err != nil {
		t.Fatalf("OpenKV: got %v, want nil", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// fill writes records of every kind the tree copy must carry: users,
// invitations with queued email, sessions, contacts, a config, a file of
// several chunks.
func fill(t *testing.T, db *store.DB) {
	t.Helper()
	for i := range 3 {
		mustActivate(t, db, tenantA, fmt.Sprintf("active%d@example.com", i))
		mustInvite(t, db, tenantB, fmt.Sprintf("pending%d@example.com", i))
	}
	rows := make([]data.Contact, 300) // more than one bounded transaction
	for i := range rows {
		rows[i] = data.Contact{Email: fmt.Sprintf("c%d@example.com", i), FirstName: "C", Company: "Co"}
	}
	if _, _, err := db.ImportContacts(t.Context(), tenantA, "staff-1", rows); err != nil {
		t.Fatalf("ImportContacts: %v", err)
	}
}

// dump is every bucket path and key of e with its value, in order.
func dump(t *testing.T, e kv.DB) []string {
	t.Helper()
	var out []string
	var walk func(path string, b kv.Bucket) error
	walk = func(path string, b kv.Bucket) error {
		out = append(out, path+"/")
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(path+"/"+fmt.Sprintf("%x", k), b.Bucket(k))
			}
			out = append(out, fmt.Sprintf("%s/%x=%x", path, k, v))
			return nil
		})
	}
	err := e.View(func(tx kv.Tx) error {
		out = out[:0]
		return tx.ForEachBucket(func(name []byte) error { return walk(fmt.Sprintf("%x", name), tx.Bucket(name)) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCopyTree(t *testing.T) {
	t.Parallel()
	src := openBoltDB(t)
	fill(t, src)
	path := filepath.Join(t.TempDir(), "copy.db")
	dst, err := store.OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := store.CopyTree(dst, src.Engine())
	if err != nil {
		t.Fatalf("CopyTree: got %v, want nil", err)
	}
	want, got := dump(t, src.Engine()), dump(t, dst)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the copy differs: %d entries, want %d", len(got), len(want))
	}
	keys := 0
	for _, e := range want {
		if !strings.HasSuffix(e, "/") {
			keys++
		}
	}
	if n != keys || n < 300 {
		t.Errorf("CopyTree copied %d keys, want %d (and more than the 300 contacts)", n, keys)
	}
	// A second copy into the same target is refused.
	if _, err := store.CopyTree(dst, src.Engine()); err != store.ErrNotEmpty {
		t.Errorf("copy into a target with data: got %v, want ErrNotEmpty", err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := store.Check(path)
	if err != nil || !r.OK() {
		t.Errorf("check of the copy: got %v, %+v, want OK", err, r.Breaches)
	}
	if r.Records["contacts"] != 300 || r.Records["users"] != 6 {
		t.Errorf("check of the copy counted %v, want 300 contacts and 6 users", r.Records)
	}
}

// TestBackup_Export: a store on an engine without a file backs up as a
// bbolt file written from one read transaction, which check and restore
// read as any backup; the engine's own check agrees.
func TestBackup_Export(t *testing.T) {
	t.Parallel()
	db := openOpaque(t)
	fill(t, db)
	live, err := store.CheckKV(db.Engine(), "opaque")
	if err != nil || !live.OK() {
		t.Fatalf("CheckKV: got %v, %+v, want OK", err, live.Breaches)
	}
	var buf bytes.Buffer
	var announced int64 = -1
	n, err := db.Backup(t.Context(), &buf, func(size int64) { announced = size })
	if err != nil {
		t.Fatalf("Backup: got %v, want nil", err)
	}
	if n != int64(buf.Len()) || announced != n {
		t.Errorf("Backup wrote %d bytes (buffer %d), announced %d", n, buf.Len(), announced)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := store.Check(path)
	if err != nil || !r.OK() {
		t.Fatalf("check of the export: got %v, %+v, want OK", err, r.Breaches)
	}
	for _, name := range []string{"users", "contacts", "invitations", "sessions", "outbox"} {
		if r.Records[name] != live.Records[name] || r.Records[name] == 0 {
			t.Errorf("%s: the export holds %d, the store %d", name, r.Records[name], live.Records[name])
		}
	}
	restored := filepath.Join(t.TempDir(), "restored.db")
	if err := store.Restore(path, restored, false); err != nil {
		t.Fatalf("Restore: got %v, want nil", err)
	}
	again, err := store.Open(restored, configNow, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got, want := dump(t, again.Engine()), dump(t, db.Engine()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the restored export differs from the store: %d entries, want %d", len(got), len(want))
	}
}

// TestImportContacts_Split: on an engine that bounds a transaction's
// writes, a large import is written in several transactions, and an
// invalid row still writes nothing.
func TestImportContacts_Split(t *testing.T) {
	t.Parallel()
	db := openOpaque(t)
	rows := make([]data.Contact, 500)
	for i := range rows {
		rows[i] = data.Contact{Email: fmt.Sprintf("c%d@example.com", i), FirstName: "C"}
	}
	created, updated, err := db.ImportContacts(t.Context(), tenantA, "staff-1", rows)
	if err != nil || created != 500 || updated != 0 {
		t.Fatalf("import: got %d created, %d updated, %v; want 500, 0, nil", created, updated, err)
	}
	// Again with changes: every row updates its contact.
	for i := range rows {
		rows[i].Company = "Acme"
	}
	created, updated, err = db.ImportContacts(t.Context(), tenantA, "staff-1", rows)
	if err != nil || created != 0 || updated != 500 {
		t.Fatalf("import again: got %d created, %d updated, %v; want 0, 500, nil", created, updated, err)
	}
	// A row that merges into an invalid contact (a name too long with the
	// stored one kept) fails the whole import before anything is written.
	bad := append([]data.Contact{}, rows...)
	bad[450].FirstName = strings.Repeat("x", 1000)
	bad[0].Company = "Changed"
	if _, _, err := db.ImportContacts(t.Context(), tenantA, "staff-1", bad); err == nil {
		t.Fatal("import with an invalid row: got nil, want an error")
	}
	c, err := db.Contacts(t.Context(), tenantA, store.ContactFilter{Q: "c0@example.com"}, "", 10)
	if err != nil || len(c.Items) == 0 || c.Items[0].Company != "Acme" {
		t.Errorf("after the refused import: got %+v, %v, want the first contact unchanged", c.Items, err)
	}
	r, err := store.CheckKV(db.Engine(), "opaque")
	if err != nil || !r.OK() || r.Records["contacts"] != 500 {
		t.Errorf("check: got %v, %+v, %d contacts; want OK and 500", err, r.Breaches, r.Records["contacts"])
	}
}
