//go:build etcd

package etcdkv_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/etcdkv"
)

// interleave runs an Update on a that reads, then (in its first run only)
// waits for meanwhile to commit through other, then writes; it returns how
// many times the Update ran.
func interleave(t *testing.T, a, other kv.DB, read func(tx kv.Tx), meanwhile, write func(tx kv.Tx) error) int {
	t.Helper()
	runs := 0
	mustUpdate(t, a, func(tx kv.Tx) error {
		runs++
		read(tx)
		if runs == 1 {
			mustUpdate(t, other, meanwhile)
		}
		return write(tx)
	})
	return runs
}

// TestPhantoms: an Update runs again when a key comes into what it read
// as a range, wherever the range lies: an empty bucket walked either way,
// past the last key or above the top, a gap a walk down crossed with empty
// windows, between keys a walk down saw, a nested bucket's name, and what
// it announced (kv.Prefetcher) and then read: an absent key, a page.
func TestPhantoms(t *testing.T) {
	var sparse []string // two runs of keys, a gap of the alphabet between
	for i := range 40 {
		sparse = append(sparse, fmt.Sprintf("a%02d", i), fmt.Sprintf("z%02d", i))
	}
	put := func(k string) func(tx kv.Tx) error {
		return func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("x")) }
	}
	walkDown := func(to string) func(tx kv.Tx) {
		return func(tx kv.Tx) {
			c := tx.Bucket([]byte("b")).Cursor()
			for k, _ := c.Last(); k != nil && string(k) >= to; k, _ = c.Prev() {
			}
		}
	}
	tests := []struct {
		name      string
		keys      []string
		read      func(tx kv.Tx)
		meanwhile func(tx kv.Tx) error
	}{
		{"into an empty bucket walked up", nil, func(tx kv.Tx) { tx.Bucket([]byte("b")).Cursor().First() }, put("k")},
		{"into an empty bucket walked down", nil, func(tx kv.Tx) { tx.Bucket([]byte("b")).Cursor().Last() }, put("k")},
		{"past the last key", []string{"k1", "k2"}, func(tx kv.Tx) {
			c := tx.Bucket([]byte("b")).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
			}
		}, put("k3")},
		{"above the top", []string{"k1", "k2"}, func(tx kv.Tx) { tx.Bucket([]byte("b")).Cursor().Last() }, put("k3")},
		{"into the gap a walk down crossed", sparse, walkDown("a38"), put("m")},
		{"between keys a walk down saw", sparse, walkDown("z20"), put("z25a")},
		{"a nested bucket", []string{"k1", "k2"}, func(tx kv.Tx) {
			_ = tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error { return nil })
		}, func(tx kv.Tx) error {
			_, err := tx.Bucket([]byte("b")).CreateBucket([]byte("k15"))
			return err
		}},
		{"an absent key read ahead", []string{"k1"}, func(tx kv.Tx) {
			b := tx.Bucket([]byte("b"))
			b.(kv.Prefetcher).Prefetch([]byte("k9"))
			_ = b.Get([]byte("k1")) // reads k9 along
			_ = b.Get([]byte("k9"))
		}, put("k9")},
		{"into a page read ahead", []string{"k1", "k3", "k5"}, func(tx kv.Tx) {
			b := tx.Bucket([]byte("b"))
			b.(kv.Prefetcher).PrefetchSeek([]byte("k"), 2)
			c := b.Cursor()
			for k, _ := c.Seek([]byte("k")); k != nil && string(k) < "k4"; k, _ = c.Next() {
			}
		}, put("k2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := etcdkv.Config{Prefix: prefix(t), PageSize: 4}
			a, other := open(t, cfg), open(t, cfg)
			keys := make([][]byte, len(tt.keys))
			for i, k := range tt.keys {
				keys[i] = []byte(k)
			}
			seed(t, a, "b", keys, []byte("v"))
			seed(t, a, "c", nil, nil)
			runs := interleave(t, a, other, tt.read, tt.meanwhile, func(tx kv.Tx) error {
				return tx.Bucket([]byte("c")).Put([]byte("seen"), []byte("x"))
			})
			if runs != 2 {
				t.Errorf("the reading Update ran %d times, want 2", runs)
			}
		})
	}
}

// TestRecreatedBucket: an Update that read keys of orgs/acme/users runs
// again when, meanwhile, acme is deleted and made again with users empty,
// however it knew the buckets: markers read, found by a walk of their
// parent, or remembered by the process (assumed); and when its reads were
// more than etcd takes compares, so that its keys, or its keys and the
// markers, were covered by ranges and revision keys. Only the markers show
// the change there: the keys read are all absent at the commit, and the
// deleted bucket's revision key with them.
func TestRecreatedBucket(t *testing.T) {
	keys := make([][]byte, 200) // more than the 128 compares etcd takes
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "u%03d", i)
	}
	makeAcme := func(n int) func(tx kv.Tx) error {
		return func(tx kv.Tx) error {
			orgs := tx.Bucket([]byte("orgs"))
			if orgs.Bucket([]byte("acme")) != nil {
				if err := orgs.DeleteBucket([]byte("acme")); err != nil {
					return err
				}
			}
			acme, err := orgs.CreateBucket([]byte("acme"))
			if err != nil {
				return err
			}
			users, err := acme.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			for _, k := range keys[:n] {
				if err := users.Put(k, []byte("v")); err != nil {
					return err
				}
			}
			return nil
		}
	}
	users := func(tx kv.Tx) kv.Bucket {
		return tx.Bucket([]byte("orgs")).Bucket([]byte("acme")).Bucket([]byte("users"))
	}
	tests := []struct {
		name string
		warm bool // the process remembers the markers
		read func(tx kv.Tx) int
	}{
		{"markers read", false, func(tx kv.Tx) int { return len(users(tx).Get(keys[0])) }},
		{"markers assumed", true, func(tx kv.Tx) int { return len(users(tx).Get(keys[0])) }},
		{"markers from a walk", false, func(tx kv.Tx) int {
			_ = tx.Bucket([]byte("orgs")).ForEachBucket(func([]byte) error { return nil })
			return len(users(tx).Get(keys[0]))
		}},
		{"keys folded, markers read", false, func(tx kv.Tx) int {
			n, u := 0, users(tx)
			for _, k := range keys {
				n += len(u.Get(k))
			}
			return n
		}},
		{"keys folded, markers assumed", true, func(tx kv.Tx) int {
			n, u := 0, users(tx)
			for _, k := range keys {
				n += len(u.Get(k))
			}
			return n
		}},
		{"keys and markers folded", false, func(tx kv.Tx) int {
			orgs := tx.Bucket([]byte("orgs"))
			for i := range 150 { // more than the keys: folded too
				_ = orgs.Bucket(fmt.Appendf(nil, "x%03d", i))
			}
			n, u := 0, users(tx)
			for _, k := range keys {
				n += len(u.Get(k))
			}
			return n
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := etcdkv.Config{Prefix: prefix(t)}
			a, other := open(t, cfg), open(t, cfg)
			mustUpdate(t, other, func(tx kv.Tx) error {
				for _, name := range []string{"c", "orgs"} {
					if _, err := tx.CreateBucket([]byte(name)); err != nil {
						return err
					}
				}
				return nil
			})
			mustUpdate(t, other, makeAcme(40))
			if tt.warm {
				if err := a.View(func(tx kv.Tx) error { tt.read(tx); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			runs := interleave(t, a, other, func(tx kv.Tx) { n = tt.read(tx) }, makeAcme(0), func(tx kv.Tx) error {
				return tx.Bucket([]byte("c")).Put([]byte("n"), []byte(strconv.Itoa(n)))
			})
			// A run after the bucket went may also fail on markers the
			// process remembered from before it: more than two runs.
			if runs < 2 {
				t.Errorf("the reading Update ran %d times, want a conflict", runs)
			}
			err := a.View(func(tx kv.Tx) error {
				if got := string(tx.Bucket([]byte("c")).Get([]byte("n"))); got != "0" {
					t.Errorf("the Update committed %s for the keys it read, the bucket holds none", got)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriteSkew: two Updates each read both of two keys and clear one if
// both are set; the one that commits second must see the other's write
// and leave its key set, however it read them.
func TestWriteSkew(t *testing.T) {
	reads := map[string]func(b kv.Bucket) (x, y []byte){
		"Get": func(b kv.Bucket) (x, y []byte) { return b.Get([]byte("x")), b.Get([]byte("y")) },
		"read ahead": func(b kv.Bucket) (x, y []byte) {
			b.(kv.Prefetcher).Prefetch([]byte("x"), []byte("y"))
			return b.Get([]byte("x")), b.Get([]byte("y"))
		},
		"cursor": func(b kv.Bucket) (x, y []byte) {
			c := b.Cursor()
			_, x = c.First()
			_, y = c.Next()
			return x, y
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			cfg := etcdkv.Config{Prefix: prefix(t)}
			a, other := open(t, cfg), open(t, cfg)
			seed(t, a, "b", [][]byte{[]byte("x"), []byte("y")}, []byte("1"))
			clear := func(key string) func(tx kv.Tx) error {
				return func(tx kv.Tx) error {
					b := tx.Bucket([]byte("b"))
					if x, y := read(b); string(x) == "1" && string(y) == "1" {
						return b.Put([]byte(key), []byte("0"))
					}
					return nil
				}
			}
			runs := 0
			mustUpdate(t, a, func(tx kv.Tx) error {
				runs++
				b := tx.Bucket([]byte("b"))
				x, y := read(b)
				if runs == 1 {
					mustUpdate(t, other, clear("y"))
				}
				if string(x) == "1" && string(y) == "1" {
					return b.Put([]byte("x"), []byte("0"))
				}
				return nil
			})
			err := a.View(func(tx kv.Tx) error {
				b := tx.Bucket([]byte("b"))
				if x, y := b.Get([]byte("x")), b.Get([]byte("y")); string(x) != "1" && string(y) != "1" {
					t.Errorf("both keys cleared (x %q, y %q): write skew", x, y)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if runs != 2 {
				t.Errorf("the second Update ran %d times, want 2", runs)
			}
		})
	}
}
