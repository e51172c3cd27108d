package boltkv_test

import (
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
	"github.com/salesos/portal/store/kv/kvtest"
)

func open(t *testing.T) *boltkv.DB {
	t.Helper()
	b, err := bbolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := boltkv.Wrap(b)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB { return open(t) })
}

// TestSameFile checks the file format: what the seam writes is what bbolt
// reads directly, bucket for bucket.
func TestSameFile(t *testing.T) {
	db := open(t)
	err := db.Update(func(tx kv.Tx) error {
		orgs, err := tx.CreateBucket([]byte("orgs"))
		if err != nil {
			return err
		}
		users, err := orgs.CreateBucket([]byte("o1"))
		if err != nil {
			return err
		}
		return users.Put([]byte("u1"), []byte("record"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Bolt().View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte("orgs")).Bucket([]byte("o1")).Get([]byte("u1")); string(v) != "record" {
			t.Errorf("bbolt read of orgs/o1/u1: got %q, want record", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx kv.Tx) error {
		if boltkv.Tx(tx) == nil {
			t.Error("Tx: got nil, want the bbolt transaction")
		}
		if boltkv.Bucket(tx.Bucket([]byte("orgs"))) == nil {
			t.Error("Bucket: got nil, want the bbolt bucket")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoAllocations checks that the seam adds no allocation to bbolt's own.
func TestNoAllocations(t *testing.T) {
	db := open(t)
	if err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(tx kv.Tx) error {
		raw := boltkv.Tx(tx)
		// Names held in variables, as the store holds them: a []byte
		// literal passed through an interface escapes to the heap.
		name, key := []byte("b"), []byte("k")
		get := func(b *bbolt.Bucket) {
			if b.Get(key) == nil {
				t.Error("k missing")
			}
		}
		if direct, seam := testing.AllocsPerRun(100, func() { get(raw.Bucket(name)) }),
			testing.AllocsPerRun(100, func() { _ = tx.Bucket(name).Get(key) }); seam != direct {
			t.Errorf("Bucket and Get: got %v allocations through the seam, want bbolt's %v", seam, direct)
		}
		// A cursor behind an interface lives on the heap, where inlined
		// bbolt may keep it on the stack: one allocation, no more.
		direct := testing.AllocsPerRun(100, func() { c := raw.Bucket(name).Cursor(); c.First(); c.Next() })
		seam := testing.AllocsPerRun(100, func() { c := tx.Bucket(name).Cursor(); c.First(); c.Next() })
		if seam > direct+1 {
			t.Errorf("a cursor walk: got %v allocations through the seam, want at most bbolt's %v + 1", seam, direct)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkGet(b *testing.B) {
	bdb, err := bbolt.Open(filepath.Join(b.TempDir(), "kv.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	db := boltkv.Wrap(bdb)
	_ = db.Update(func(tx kv.Tx) error {
		bk, _ := tx.CreateBucket([]byte("b"))
		return bk.Put([]byte("k"), []byte("v"))
	})
	b.Run("bbolt", func(b *testing.B) {
		_ = bdb.View(func(tx *bbolt.Tx) error {
			for b.Loop() {
				tx.Bucket([]byte("b")).Get([]byte("k"))
			}
			return nil
		})
	})
	b.Run("boltkv", func(b *testing.B) {
		_ = db.View(func(tx kv.Tx) error {
			for b.Loop() {
				tx.Bucket([]byte("b")).Get([]byte("k"))
			}
			return nil
		})
	})
}
