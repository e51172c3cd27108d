// Package kvtest is the conformance suite of the kv seam: every engine runs
// it, so the store behaves the same on each.
package kvtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/salesos/portal/store/kv"
)

// Run runs the suite. open returns a fresh, empty database for one subtest
// and arranges its closing with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) kv.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db kv.DB)
	}{
		{"Buckets", testBuckets},
		{"NestedBuckets", testNestedBuckets},
		{"DeleteBucketThenRecreate", testDeleteBucketThenRecreate},
		{"CursorOrder", testCursorOrder},
		{"CursorSeek", testCursorSeek},
		{"ReadYourWrites", testReadYourWrites},
		{"Rollback", testRollback},
		{"ReadOnly", testReadOnly},
		{"ByteExact", testByteExact},
		{"KeyN", testKeyN},
		{"LargeValue", testLargeValue},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"ScanThenInsert", testScanThenInsert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// batch is how many writes the suite puts in one transaction, under the
// operation limits of every engine.
const batch = 40

func update(t *testing.T, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// fill puts keys (value "v:"+key) into bucket name, batch by batch.
func fill(t *testing.T, db kv.DB, name []byte, keys [][]byte) {
	t.Helper()
	for len(keys) > 0 {
		n := min(batch, len(keys))
		part := keys[:n]
		keys = keys[n:]
		update(t, db, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			for _, k := range part {
				if err := b.Put(k, append([]byte("v:"), k...)); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

type pair struct{ k, v []byte }

func (p pair) String() string { return fmt.Sprintf("%q=%q", p.k, p.v) }

func collect(c kv.Cursor, k, v []byte, step func() ([]byte, []byte)) []pair {
	var out []pair
	for ; k != nil; k, v = step() {
		out = append(out, pair{bytes.Clone(k), cloneNil(v)})
	}
	return out
}

func cloneNil(v []byte) []byte {
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

func equalPairs(got, want []pair) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i].k, want[i].k) || !bytes.Equal(got[i].v, want[i].v) ||
			(got[i].v == nil) != (want[i].v == nil) {
			return false
		}
	}
	return true
}

func testBuckets(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		if !tx.Writable() {
			t.Error("update tx: got Writable false, want true")
		}
		for _, name := range []string{"b", "a", "c\x00", "c"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket([]byte("a")); !errors.Is(err, kv.ErrBucketExists) {
			t.Errorf("CreateBucket existing: got %v, want ErrBucketExists", err)
		}
		if _, err := tx.CreateBucketIfNotExists([]byte("a")); err != nil {
			t.Errorf("CreateBucketIfNotExists existing: got %v, want nil", err)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if tx.Writable() {
			t.Error("view tx: got Writable true, want false")
		}
		var names []string
		if err := tx.ForEachBucket(func(name []byte) error { names = append(names, string(name)); return nil }); err != nil {
			return err
		}
		if want := []string{"a", "b", "c", "c\x00"}; fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("ForEachBucket: got %q, want %q", names, want)
		}
		if tx.Bucket([]byte("missing")) != nil {
			t.Error("Bucket(missing): got a bucket, want nil")
		}
		if tx.Bucket([]byte("a")) == nil {
			t.Error("Bucket(a): got nil, want the bucket")
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		if err := tx.DeleteBucket([]byte("b")); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("missing")); !errors.Is(err, kv.ErrBucketNotFound) {
			t.Errorf("DeleteBucket missing: got %v, want ErrBucketNotFound", err)
		}
		if _, err := tx.CreateBucket(nil); !errors.Is(err, kv.ErrKeyRequired) {
			t.Errorf("CreateBucket empty name: got %v, want ErrKeyRequired", err)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			t.Error("deleted bucket b still there")
		}
		stop := errors.New("stop")
		n := 0
		err := tx.ForEachBucket(func([]byte) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("ForEachBucket stopping: got %v after %d calls, want stop after 1", err, n)
		}
		return nil
	})
}

func testNestedBuckets(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		orgs, err := tx.CreateBucket([]byte("orgs"))
		if err != nil {
			return err
		}
		for _, org := range []string{"o2", "o1"} {
			ob, err := orgs.CreateBucket([]byte(org))
			if err != nil {
				return err
			}
			users, err := ob.CreateBucketIfNotExists([]byte("users"))
			if err != nil {
				return err
			}
			if err := users.Put([]byte("u1"), []byte(org+"/u1")); err != nil {
				return err
			}
			if err := ob.Put([]byte("plain"), []byte("x")); err != nil {
				return err
			}
		}
		return orgs.Put([]byte("o0"), []byte("a plain key among buckets"))
	})
	view(t, db, func(tx kv.Tx) error {
		orgs := tx.Bucket([]byte("orgs"))
		var got []pair
		if err := orgs.ForEach(func(k, v []byte) error { got = append(got, pair{bytes.Clone(k), cloneNil(v)}); return nil }); err != nil {
			return err
		}
		want := []pair{{[]byte("o0"), []byte("a plain key among buckets")}, {[]byte("o1"), nil}, {[]byte("o2"), nil}}
		if !equalPairs(got, want) {
			t.Errorf("ForEach: got %v, want %v", got, want)
		}
		var names []string
		if err := orgs.ForEachBucket(func(k []byte) error { names = append(names, string(k)); return nil }); err != nil {
			return err
		}
		if fmt.Sprint(names) != "[o1 o2]" {
			t.Errorf("ForEachBucket: got %v, want [o1 o2]", names)
		}
		if v := orgs.Get([]byte("o1")); v != nil {
			t.Errorf("Get on a bucket's name: got %q, want nil", v)
		}
		if orgs.Bucket([]byte("o0")) != nil {
			t.Error("Bucket on a plain key: got a bucket, want nil")
		}
		for _, org := range []string{"o1", "o2"} {
			if v := orgs.Bucket([]byte(org)).Bucket([]byte("users")).Get([]byte("u1")); string(v) != org+"/u1" {
				t.Errorf("%s/users/u1: got %q, want %q", org, v, org+"/u1")
			}
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		orgs := tx.Bucket([]byte("orgs"))
		if _, err := orgs.CreateBucket([]byte("o0")); !errors.Is(err, kv.ErrIncompatibleValue) {
			t.Errorf("CreateBucket on a plain key: got %v, want ErrIncompatibleValue", err)
		}
		if _, err := orgs.CreateBucketIfNotExists([]byte("o0")); !errors.Is(err, kv.ErrIncompatibleValue) {
			t.Errorf("CreateBucketIfNotExists on a plain key: got %v, want ErrIncompatibleValue", err)
		}
		if err := orgs.DeleteBucket([]byte("o0")); !errors.Is(err, kv.ErrIncompatibleValue) {
			t.Errorf("DeleteBucket on a plain key: got %v, want ErrIncompatibleValue", err)
		}
		return orgs.DeleteBucket([]byte("o1"))
	})
	view(t, db, func(tx kv.Tx) error {
		orgs := tx.Bucket([]byte("orgs"))
		if orgs.Bucket([]byte("o1")) != nil {
			t.Error("deleted bucket o1 still there")
		}
		if v := orgs.Bucket([]byte("o2")).Bucket([]byte("users")).Get([]byte("u1")); string(v) != "o2/u1" {
			t.Errorf("sibling o2/users/u1 after deleting o1: got %q, want o2/u1", v)
		}
		return nil
	})
}

func testDeleteBucketThenRecreate(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("top"))
		if err != nil {
			return err
		}
		n, err := b.CreateBucket([]byte("n"))
		if err != nil {
			return err
		}
		if err := n.Put([]byte("old"), []byte("1")); err != nil {
			return err
		}
		deep, err := n.CreateBucket([]byte("deep"))
		if err != nil {
			return err
		}
		return deep.Put([]byte("old"), []byte("2"))
	})
	// Delete and recreate in one transaction: only the new content remains.
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("top"))
		if err := b.DeleteBucket([]byte("n")); err != nil {
			return err
		}
		if b.Bucket([]byte("n")) != nil {
			t.Error("deleted bucket visible in its own transaction")
		}
		n, err := b.CreateBucket([]byte("n"))
		if err != nil {
			return err
		}
		if k, _ := n.Cursor().First(); k != nil {
			t.Errorf("recreated bucket holds %q, want nothing", k)
		}
		return n.Put([]byte("new"), []byte("3"))
	})
	view(t, db, func(tx kv.Tx) error {
		n := tx.Bucket([]byte("top")).Bucket([]byte("n"))
		var got []pair
		if err := n.ForEach(func(k, v []byte) error { got = append(got, pair{bytes.Clone(k), cloneNil(v)}); return nil }); err != nil {
			return err
		}
		if want := []pair{{[]byte("new"), []byte("3")}}; !equalPairs(got, want) {
			t.Errorf("recreated bucket: got %v, want %v", got, want)
		}
		return nil
	})
}

// cursorKeys are more than one etcd page (256) of keys in shuffled order.
func cursorKeys() [][]byte {
	keys := make([][]byte, 0, 600)
	for i := range 600 {
		keys = append(keys, []byte(fmt.Sprintf("k%04d", i*2)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

func testCursorOrder(t *testing.T, db kv.DB) {
	keys := cursorKeys()
	fill(t, db, []byte("b"), keys)
	update(t, db, func(tx kv.Tx) error {
		_, err := tx.Bucket([]byte("b")).CreateBucket([]byte("k0500x")) // a nested bucket among the keys
		return err
	})
	var want []pair
	for _, k := range keys {
		want = append(want, pair{k, append([]byte("v:"), k...)})
	}
	want = append(want, pair{[]byte("k0500x"), nil})
	sort.Slice(want, func(i, j int) bool { return bytes.Compare(want[i].k, want[j].k) < 0 })
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		k, v := c.First()
		if got := collect(c, k, v, c.Next); !equalPairs(got, want) {
			t.Errorf("First/Next: got %d pairs, want %d in order", len(got), len(want))
		}
		k, v = c.Last()
		got := collect(c, k, v, c.Prev)
		rev := make([]pair, len(want))
		for i := range want {
			rev[len(want)-1-i] = want[i]
		}
		if !equalPairs(got, rev) {
			t.Errorf("Last/Prev: got %d pairs, want %d in reverse order", len(got), len(want))
		}
		// Changing direction mid-walk.
		k, _ = c.Seek([]byte("k0600"))
		k2, _ := c.Next()
		k3, _ := c.Prev()
		k4, _ := c.Prev()
		if string(k) != "k0600" || string(k2) != "k0602" || string(k3) != "k0600" || string(k4) != "k0598" {
			t.Errorf("Seek/Next/Prev/Prev: got %q %q %q %q, want k0600 k0602 k0600 k0598", k, k2, k3, k4)
		}
		if k, _ := c.First(); string(k) != "k0000" {
			t.Errorf("First: got %q, want k0000", k)
		}
		if k, _ := c.Prev(); k != nil {
			t.Errorf("Prev before First: got %q, want nil", k)
		}
		if k, _ := c.Last(); string(k) != "k1198" {
			t.Errorf("Last: got %q, want k1198", k)
		}
		if k, _ := c.Next(); k != nil {
			t.Errorf("Next after Last: got %q, want nil", k)
		}
		return nil
	})
}

func testCursorSeek(t *testing.T, db kv.DB) {
	fill(t, db, []byte("b"), cursorKeys())
	update(t, db, func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("empty")); return err })
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		tests := []struct{ seek, want string }{
			{"", "k0000"},
			{"k", "k0000"},
			{"k0000", "k0000"},
			{"k0001", "k0002"},
			{"k0511", "k0512"},
			{"k1198", "k1198"},
			{"k1199", ""},
			{"z", ""},
		}
		for _, tt := range tests {
			k, v := c.Seek([]byte(tt.seek))
			if string(k) != tt.want {
				t.Errorf("Seek(%q): got %q, want %q", tt.seek, k, tt.want)
			}
			if k != nil && string(v) != "v:"+string(k) {
				t.Errorf("Seek(%q) value: got %q, want %q", tt.seek, v, "v:"+string(k))
			}
		}
		// The store's walk down from a position: Seek then Prev.
		c.Seek([]byte("k0511"))
		if k, _ := c.Prev(); string(k) != "k0510" {
			t.Errorf("Seek(k0511) then Prev: got %q, want k0510", k)
		}
		e := tx.Bucket([]byte("empty")).Cursor()
		for name, step := range map[string]func() ([]byte, []byte){"First": e.First, "Last": e.Last} {
			if k, _ := step(); k != nil {
				t.Errorf("empty bucket %s: got %q, want nil", name, k)
			}
		}
		if k, _ := e.Seek([]byte("a")); k != nil {
			t.Errorf("empty bucket Seek: got %q, want nil", k)
		}
		return nil
	})
}

func testReadYourWrites(t *testing.T, db kv.DB) {
	fill(t, db, []byte("b"), [][]byte{[]byte("a"), []byte("c"), []byte("e")})
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.Put([]byte("d"), []byte("new")); err != nil {
			return err
		}
		if err := b.Put([]byte("a"), []byte("changed")); err != nil {
			return err
		}
		if err := b.Delete([]byte("c")); err != nil {
			return err
		}
		if err := b.Delete([]byte("never")); err != nil {
			t.Errorf("Delete absent key: got %v, want nil", err)
		}
		if _, err := b.CreateBucket([]byte("f")); err != nil {
			return err
		}
		if v := b.Get([]byte("d")); string(v) != "new" {
			t.Errorf("Get own put: got %q, want new", v)
		}
		if v := b.Get([]byte("c")); v != nil {
			t.Errorf("Get own delete: got %q, want nil", v)
		}
		want := []pair{{[]byte("a"), []byte("changed")}, {[]byte("d"), []byte("new")}, {[]byte("e"), []byte("v:e")}, {[]byte("f"), nil}}
		c := b.Cursor()
		k, v := c.First()
		if got := collect(c, k, v, c.Next); !equalPairs(got, want) {
			t.Errorf("cursor over own writes: got %v, want %v", got, want)
		}
		k, v = c.Last()
		if got := collect(c, k, v, c.Prev); len(got) != 4 || string(got[0].k) != "f" || string(got[3].k) != "a" {
			t.Errorf("reverse cursor over own writes: got %v", got)
		}
		if k, _ := c.Seek([]byte("b")); string(k) != "d" {
			t.Errorf("Seek(b) over own delete of c: got %q, want d", k)
		}
		if b.Bucket([]byte("f")) == nil {
			t.Error("own nested bucket not visible")
		}
		if tx.Bucket([]byte("fresh")) != nil {
			t.Error("Bucket(fresh) before creating it: got a bucket")
		}
		nb, err := tx.CreateBucket([]byte("fresh"))
		if err != nil {
			return err
		}
		if err := nb.Put([]byte("x"), []byte("y")); err != nil {
			return err
		}
		if v := tx.Bucket([]byte("fresh")).Get([]byte("x")); string(v) != "y" {
			t.Errorf("own new bucket's key: got %q, want y", v)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for k, want := range map[string]string{"a": "changed", "c": "", "d": "new", "e": "v:e"} {
			if got := string(b.Get([]byte(k))); got != want {
				t.Errorf("after commit %s: got %q, want %q", k, got, want)
			}
		}
		return nil
	})
}

func testRollback(t *testing.T, db kv.DB) {
	fill(t, db, []byte("b"), [][]byte{[]byte("keep")})
	boom := errors.New("boom")
	err := db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.Put([]byte("keep"), []byte("overwritten")); err != nil {
			return err
		}
		if err := b.Put([]byte("new"), []byte("x")); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("other")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returning an error: got %v, want boom", err)
	}
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("keep")); string(v) != "v:keep" {
			t.Errorf("keep after rollback: got %q, want v:keep", v)
		}
		if v := b.Get([]byte("new")); v != nil {
			t.Errorf("new after rollback: got %q, want nil", v)
		}
		if tx.Bucket([]byte("other")) != nil {
			t.Error("bucket created in a rolled back transaction exists")
		}
		return nil
	})
}

func testReadOnly(t *testing.T, db kv.DB) {
	fill(t, db, []byte("b"), [][]byte{[]byte("a")})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b.Writable() {
			t.Error("bucket in a view: got Writable true")
		}
		if err := b.Put([]byte("a"), []byte("x")); !errors.Is(err, kv.ErrTxNotWritable) {
			t.Errorf("Put in a view: got %v, want ErrTxNotWritable", err)
		}
		if err := b.Delete([]byte("a")); !errors.Is(err, kv.ErrTxNotWritable) {
			t.Errorf("Delete in a view: got %v, want ErrTxNotWritable", err)
		}
		if _, err := tx.CreateBucket([]byte("x")); !errors.Is(err, kv.ErrTxNotWritable) {
			t.Errorf("CreateBucket in a view: got %v, want ErrTxNotWritable", err)
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("b")).Put(nil, []byte("x")); !errors.Is(err, kv.ErrKeyRequired) {
			t.Errorf("Put empty key: got %v, want ErrKeyRequired", err)
		}
		return nil
	})
}

func testByteExact(t *testing.T, db kv.DB) {
	keys := [][]byte{
		{0x00}, {0x00, 0x00}, {0x00, 0x01}, {0x00, 0xff}, {0x01}, {0xff}, {0xff, 0x00}, {0xff, 0xff},
		[]byte("a"), []byte("a\x00"), []byte("a\x00\x00"), []byte("a\x01"), []byte("a\xff"), []byte("ab"),
	}
	values := map[string][]byte{}
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte{0x00, 0xff})
		if err != nil {
			return err
		}
		for i, k := range keys {
			v := []byte{0x00, byte(i), 0xff, 0x00}
			if i == 3 {
				v = []byte{} // empty, not absent
			}
			values[string(k)] = v
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		if _, err := b.CreateBucket([]byte{0x00}); !errors.Is(err, kv.ErrIncompatibleValue) {
			t.Errorf("CreateBucket over the plain key 0x00: got %v, want ErrIncompatibleValue", err)
		}
		n2, err := b.CreateBucket([]byte("a\x00\x01"))
		if err != nil {
			return err
		}
		return n2.Put([]byte{0xff}, []byte{0x00})
	})
	sorted := append([][]byte{}, keys...)
	sorted = append(sorted, []byte("a\x00\x01"))
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte{0x00, 0xff})
		if b == nil {
			t.Fatal("bucket 00ff missing")
		}
		if tx.Bucket([]byte{0x00}) != nil {
			t.Error("bucket 00 exists: bucket names collide")
		}
		var got [][]byte
		err := b.ForEach(func(k, v []byte) error {
			got = append(got, bytes.Clone(k))
			if want, ok := values[string(k)]; ok {
				if !bytes.Equal(v, want) || v == nil {
					t.Errorf("value of %x: got %x (nil %v), want %x", k, v, v == nil, want)
				}
			} else if v != nil {
				t.Errorf("nested bucket %x: got value %x, want nil", k, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if fmt.Sprintf("%x", got) != fmt.Sprintf("%x", sorted) {
			t.Errorf("key order: got %x, want %x", got, sorted)
		}
		if v := b.Bucket([]byte("a\x00\x01")).Get([]byte{0xff}); !bytes.Equal(v, []byte{0x00}) {
			t.Errorf("nested a 00 01 / ff: got %x, want 00", v)
		}
		if v := b.Get([]byte{0x00, 0x00, 0x00}); v != nil {
			t.Errorf("absent key 000000: got %x, want nil", v)
		}
		c := b.Cursor()
		if k, _ := c.Seek([]byte("a\x00")); !bytes.Equal(k, []byte("a\x00")) {
			t.Errorf("Seek(a 00): got %x, want 6100", k)
		}
		if k, _ := c.Next(); !bytes.Equal(k, []byte("a\x00\x00")) {
			t.Errorf("Next after a 00: got %x, want 610000", k)
		}
		return nil
	})
}

func testKeyN(t *testing.T, db kv.DB) {
	keys := make([][]byte, 70)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("k%03d", i))
	}
	fill(t, db, []byte("b"), keys)
	update(t, db, func(tx kv.Tx) error {
		n, err := tx.Bucket([]byte("b")).CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		if err := n.Put([]byte("x"), []byte("1")); err != nil {
			return err
		}
		return n.Put([]byte("y"), []byte("2"))
	})
	view(t, db, func(tx kv.Tx) error {
		if got, want := tx.Bucket([]byte("b")).KeyN(), 70+1+2; got != want {
			t.Errorf("KeyN: got %d, want %d", got, want)
		}
		if got := tx.Bucket([]byte("b")).Bucket([]byte("nested")).KeyN(); got != 2 {
			t.Errorf("nested KeyN: got %d, want 2", got)
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.Delete([]byte("k000")); err != nil {
			return err
		}
		if err := b.Put([]byte("k001"), []byte("again")); err != nil {
			return err
		}
		if err := b.Put([]byte("zz"), []byte("new")); err != nil {
			return err
		}
		if got, want := b.KeyN(), 70+1+2; got != want {
			t.Errorf("KeyN with own writes: got %d, want %d", got, want)
		}
		return nil
	})
}

func testLargeValue(t *testing.T, db kv.DB) {
	big := make([]byte, 3<<20+12345) // larger than etcd's default request limit
	r := rand.New(rand.NewPCG(3, 4))
	for i := range big {
		big[i] = byte(r.UintN(256))
	}
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("big"), big); err != nil {
			return err
		}
		if v := b.Get([]byte("big")); !bytes.Equal(v, big) {
			t.Errorf("own large value: got %d bytes, want %d equal", len(v), len(big))
		}
		return b.Put([]byte("small"), []byte("s"))
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("big")); !bytes.Equal(v, big) {
			t.Errorf("large value: got %d bytes, want %d equal", len(v), len(big))
		}
		c := b.Cursor()
		if k, v := c.First(); string(k) != "big" || !bytes.Equal(v, big) {
			t.Errorf("large value through a cursor: got %q with %d bytes", k, len(v))
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("big"), []byte("now small")) })
	view(t, db, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("big")); string(v) != "now small" {
			t.Errorf("overwritten large value: got %d bytes, want %q", len(v), "now small")
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("big")) })
	view(t, db, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("big")); v != nil {
			t.Errorf("deleted large value: got %d bytes, want nil", len(v))
		}
		return nil
	})
}

// retry runs Update until it does not fail with kv.ErrConflict, which a
// caller of an optimistic engine is entitled to see under heavy contention.
func retry(db kv.DB, fn func(kv.Tx) error) error {
	for range 50 {
		err := db.Update(fn)
		if !errors.Is(err, kv.ErrConflict) {
			return err
		}
	}
	return kv.ErrConflict
}

func testConcurrentIncrements(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("c")); return err })
	const workers, each = 32, 3
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[uint64]bool{}
		errs []error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				var wrote uint64
				err := retry(db, func(tx kv.Tx) error {
					b := tx.Bucket([]byte("c"))
					var n uint64
					if v := b.Get([]byte("n")); v != nil {
						n = binary.BigEndian.Uint64(v)
					}
					wrote = n + 1 // set afresh on every run
					return b.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, wrote))
				})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if seen[wrote] {
					errs = append(errs, fmt.Errorf("two committed increments both wrote %d", wrote))
				} else {
					seen[wrote] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	view(t, db, func(tx kv.Tx) error {
		got := binary.BigEndian.Uint64(tx.Bucket([]byte("c")).Get([]byte("n")))
		if got != workers*each {
			t.Errorf("counter: got %d, want %d", got, workers*each)
		}
		return nil
	})
	for i := uint64(1); i <= workers*each; i++ {
		if !seen[i] {
			t.Errorf("no committed increment reported writing %d", i)
		}
	}
}

func testScanThenInsert(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("s")); return err })
	const limit, workers = 5, 8
	var wg sync.WaitGroup
	errc := make(chan error, workers*limit)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range limit {
				errc <- retry(db, func(tx kv.Tx) error {
					b := tx.Bucket([]byte("s"))
					n := 0
					c := b.Cursor()
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						n++
					}
					if n >= limit {
						return nil
					}
					return b.Put([]byte(fmt.Sprintf("w%d-%d", w, i)), []byte("x"))
				})
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	view(t, db, func(tx kv.Tx) error {
		n := 0
		err := tx.Bucket([]byte("s")).ForEach(func(k, v []byte) error { n++; return nil })
		if n != limit {
			t.Errorf("keys after concurrent scan-then-insert: got %d, want exactly %d", n, limit)
		}
		return err
	})
}
