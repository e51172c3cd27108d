//go:build etcd

package etcdkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/etcdkv"
	"github.com/salesos/portal/store/kv/kvtest"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB { return open(t, etcdkv.Config{}) })
}

func mustUpdate(t testing.TB, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// countKeys counts the raw etcd keys under the test's prefix and space.
func countKeys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// poll waits for cond, checking every few milliseconds, until deadline.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

func TestCursorReadsInPages(t *testing.T) {
	db := open(t, etcdkv.Config{})
	const n = 1000
	for start := 0; start < n; start += 100 {
		mustUpdate(t, db, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := start; i < start+100; i++ {
				if err := b.Put([]byte(fmt.Sprintf("%05d", i)), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	tests := []struct {
		name string
		most int64
		walk func(c kv.Cursor) int
	}{
		{"forward", 5, func(c kv.Cursor) int {
			n := 0
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n++
			}
			return n
		}},
		{"backward", 8, func(c kv.Cursor) int {
			n := 0
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
				n++
			}
			return n
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.View(func(tx kv.Tx) error {
				b := tx.Bucket([]byte("b")) // remembered: read with the first page
				before := theCluster(t).ranges.Load()
				if got := tt.walk(b.Cursor()); got != n {
					t.Errorf("walked %d keys, want %d", got, n)
				}
				// ceil(1000/256) = 4 pages forward; walking down reads
				// windows of about three quarters of a page (window.go),
				// and the first Last finds the bucket's top: never a
				// request per key, never the whole bucket in one.
				if got := theCluster(t).ranges.Load() - before; got < 4 || got > tt.most {
					t.Errorf("walk took %d requests, want 4 to %d", got, tt.most)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTooManyWrites(t *testing.T) {
	db := open(t, etcdkv.Config{})
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 200 {
			if err := b.Put([]byte(fmt.Sprint(i)), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, kv.ErrTooLarge) {
		t.Fatalf("200 writes in one Update: got %v, want ErrTooLarge", err)
	}
	err = db.View(func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			t.Error("a part of the refused transaction was written")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestManyReads reads more keys than etcd takes compares: the commit covers
// them with their bucket's revision key instead of failing.
func TestManyReads(t *testing.T) {
	db := open(t, etcdkv.Config{})
	keys := make([][]byte, 300)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("k%03d", i))
	}
	for start := 0; start < len(keys); start += 100 {
		mustUpdate(t, db, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for _, k := range keys[start : start+100] {
				if err := b.Put(k, []byte("1")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	mustUpdate(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		sum := 0
		for _, k := range keys {
			sum += len(b.Get(k))
		}
		return b.Put([]byte("sum"), []byte(fmt.Sprint(sum)))
	})
	err := db.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("sum")); string(v) != "300" {
			t.Errorf("sum: got %q, want 300", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConflictExhausted: when every attempt meets a conflicting write,
// Update stops after Attempts runs with ErrConflict and writes nothing.
func TestConflictExhausted(t *testing.T) {
	cfg := etcdkv.Config{Attempts: 3, Prefix: prefix(t)}
	db := open(t, cfg)
	other := open(t, cfg) // same prefix: the same installation
	mustUpdate(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("n"), []byte("0"))
	})
	runs := 0
	err := db.Update(func(tx kv.Tx) error {
		runs++
		b := tx.Bucket([]byte("b"))
		_ = b.Get([]byte("n"))
		// Another writer commits between this read and the commit.
		if err := other.Update(func(tx kv.Tx) error {
			return tx.Bucket([]byte("b")).Put([]byte("n"), []byte(fmt.Sprint(runs)))
		}); err != nil {
			return err
		}
		return b.Put([]byte("mine"), []byte("x"))
	})
	if !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("Update: got %v, want ErrConflict", err)
	}
	if runs != 3 {
		t.Errorf("fn ran %d times, want 3 (Attempts)", runs)
	}
	err = db.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("mine")); v != nil {
			t.Errorf("a conflicting transaction's write was committed: %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLargeValueChunks(t *testing.T) {
	cli := theCluster(t).client(t)
	// A small request limit makes values of a few hundred KiB large.
	p := prefix(t)
	db := open(t, etcdkv.Config{MaxRequestBytes: 256 << 10, Prefix: p})
	chunks := func() int64 { return countKeys(t, cli, p+"\x00c") }
	owners := func() int64 { return countKeys(t, cli, p+"\x00o") }
	big := bytes.Repeat([]byte("0123456789abcdef"), 50<<10) // 800 KiB: 4 chunks

	put := func(key string, v []byte) {
		t.Helper()
		mustUpdate(t, db, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(key), v)
		})
	}
	get := func(key string) []byte {
		t.Helper()
		var v []byte
		if err := db.View(func(tx kv.Tx) error {
			v = bytes.Clone(tx.Bucket([]byte("b")).Get([]byte(key)))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}

	put("a", big)
	if got := get("a"); !bytes.Equal(got, big) {
		t.Fatalf("large value: got %d bytes, want %d equal", len(got), len(big))
	}
	if c, o := chunks(), owners(); c != 4 || o != 1 {
		t.Fatalf("after one large put: %d chunks and %d owners, want 4 and 1", c, o)
	}
	// A blind overwrite (the old value never read) drops the old chunks
	// right after its commit.
	put("a", []byte("small"))
	if c, o := chunks(), owners(); c != 0 || o != 0 {
		t.Errorf("after a blind overwrite: %d chunks and %d owners, want none", c, o)
	}
	// An overwrite that read the old value drops them in its own commit.
	put("a", big)
	mustUpdate(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if !bytes.Equal(b.Get([]byte("a")), big) {
			t.Error("large value read in an update differs")
		}
		return b.Delete([]byte("a"))
	})
	if c, o := chunks(), owners(); c != 0 || o != 0 {
		t.Errorf("after a read and delete: %d chunks and %d owners, want none", c, o)
	}

	// Deleting a bucket leaves the chunks of its large values to Sweep,
	// which leaves live ones alone.
	put("live", big)
	mustUpdate(t, db, func(tx kv.Tx) error {
		d, err := tx.CreateBucket([]byte("doomed"))
		if err != nil {
			return err
		}
		return d.Put([]byte("x"), big)
	})
	mustUpdate(t, db, func(tx kv.Tx) error { return tx.DeleteBucket([]byte("doomed")) })
	if c := chunks(); c != 8 {
		t.Fatalf("before Sweep: %d chunks, want 8 (4 live, 4 orphaned)", c)
	}
	if n, err := db.Sweep(context.Background(), time.Hour); err != nil || n != 0 {
		t.Errorf("Sweep within the grace period: got %d, %v, want 0, nil", n, err)
	}
	n, err := db.Sweep(context.Background(), 0)
	if err != nil || n != 1 {
		t.Errorf("Sweep: got %d, %v, want 1 group, nil", n, err)
	}
	if c, o := chunks(), owners(); c != 4 || o != 1 {
		t.Errorf("after Sweep: %d chunks and %d owners, want the live 4 and 1", c, o)
	}
	if got := get("live"); !bytes.Equal(got, big) {
		t.Errorf("live large value after Sweep: got %d bytes, want %d equal", len(got), len(big))
	}
}

// TestLeaderStop stops the leader under a stream of increments: each Update
// either succeeds or fails with ErrUnavailable, none panics, and every
// acknowledged increment is in the counter after the election.
func TestLeaderStop(t *testing.T) {
	db := open(t, etcdkv.Config{RequestTimeout: 2 * time.Second})
	cluster := theCluster(t)
	mustUpdate(t, db, func(tx kv.Tx) error {
		_, err := tx.CreateBucket([]byte("c"))
		return err
	})
	leader := -1
	poll(t, 10*time.Second, "a leader", func() bool {
		for i, e := range cluster.Members {
			if e.Server.Leader() == e.Server.MemberID() {
				leader = i
				return true
			}
		}
		return false
	})
	old := cluster.Members[leader].Server.MemberID()

	var acked, unavailable atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := db.Update(func(tx kv.Tx) error {
				b := tx.Bucket([]byte("c"))
				n, _ := strconv.Atoi(string(b.Get([]byte("n"))))
				return b.Put([]byte("n"), []byte(strconv.Itoa(n+1)))
			})
			switch {
			case err == nil:
				acked.Add(1)
			case errors.Is(err, kv.ErrUnavailable):
				unavailable.Add(1)
			case errors.Is(err, kv.ErrConflict):
			default:
				t.Errorf("Update during the election: got %v, want nil or ErrUnavailable", err)
				return
			}
		}
	}()
	poll(t, 10*time.Second, "increments before the stop", func() bool { return acked.Load() >= 5 })

	cluster.Members[leader].Close()
	poll(t, 20*time.Second, "a new leader", func() bool {
		for i, e := range cluster.Members {
			if i != leader && e.Server.Leader() != 0 && e.Server.Leader() != old {
				return true
			}
		}
		return false
	})
	after := acked.Load()
	poll(t, 20*time.Second, "increments after the election", func() bool { return acked.Load() >= after+5 })
	close(stop)
	<-done

	err := db.View(func(tx kv.Tx) error {
		n, _ := strconv.Atoi(string(tx.Bucket([]byte("c")).Get([]byte("n"))))
		// An Update that failed with ErrUnavailable while committing may
		// have committed.
		if a, u := acked.Load(), unavailable.Load(); int64(n) < a || int64(n) > a+u {
			t.Errorf("counter %d: want between %d acknowledged and %d (with the unavailable ones)", n, a, a+u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged %d, unavailable %d", acked.Load(), unavailable.Load())

	// Bring the member back for the tests that follow.
	cfg := cluster.Configs[leader]
	cfg.ClusterState = embed.ClusterStateFlagExisting
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("restart member: %v", err)
	}
	cluster.Members[leader] = e
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("restarted member not ready")
	}
}

// TestFailedRead: a read that fails (here: the database is closed) fails
// the transaction with ErrUnavailable; fn meanwhile sees empty buckets
// rather than nil ones, so code that expects its buckets does not panic.
func TestFailedRead(t *testing.T) {
	db := open(t, etcdkv.Config{})
	mustUpdate(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func(func(kv.Tx) error) error{"View": db.View, "Update": db.Update} {
		err := run(func(tx kv.Tx) error {
			if v := tx.Bucket([]byte("b")).Bucket([]byte("nested")).Get([]byte("k")); v != nil {
				t.Errorf("%s: read after a failure: got %q, want nil", name, v)
			}
			return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("w"))
		})
		if !errors.Is(err, kv.ErrUnavailable) {
			t.Errorf("%s on a closed database: got %v, want ErrUnavailable", name, err)
		}
	}
}

// TestRememberedBuckets: once a process has seen a nested bucket, reading a
// key inside it takes one request, the bucket checks riding along; and when
// another process deletes the bucket, the next transaction still sees it
// gone, at once.
func TestRememberedBuckets(t *testing.T) {
	cfg := etcdkv.Config{Prefix: prefix(t)}
	a, b := open(t, cfg), open(t, cfg)
	mustUpdate(t, a, func(tx kv.Tx) error {
		top, err := tx.CreateBucket([]byte("orgs"))
		if err != nil {
			return err
		}
		acme, err := top.CreateBucket([]byte("acme"))
		if err != nil {
			return err
		}
		return acme.Put([]byte("k"), []byte("v1"))
	})
	get := func(db kv.DB) (found bool, val string) {
		t.Helper()
		err := db.View(func(tx kv.Tx) error {
			found, val = false, ""
			acme := tx.Bucket([]byte("orgs")).Bucket([]byte("acme"))
			if acme == nil {
				return nil
			}
			found, val = true, string(acme.Get([]byte("k")))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return found, val
	}
	get(a) // a sees both buckets

	before := theCluster(t).ranges.Load()
	if found, val := get(a); !found || val != "v1" {
		t.Fatalf("got %t %q, want the bucket and v1", found, val)
	}
	if n := theCluster(t).ranges.Load() - before; n != 1 {
		t.Errorf("a read two buckets down took %d requests, want 1", n)
	}

	// b deletes the bucket; a, which remembers it, must not see it.
	mustUpdate(t, b, func(tx kv.Tx) error { return tx.Bucket([]byte("orgs")).DeleteBucket([]byte("acme")) })
	if found, val := get(a); found {
		t.Fatalf("after another process deleted the bucket: got it (value %q), want none", val)
	}
	err := a.Update(func(tx kv.Tx) error {
		acme := tx.Bucket([]byte("orgs")).Bucket([]byte("acme"))
		if acme == nil {
			return kv.ErrBucketNotFound
		}
		return acme.Put([]byte("k"), []byte("v2"))
	})
	if !errors.Is(err, kv.ErrBucketNotFound) {
		t.Fatalf("a write into the deleted bucket: got %v, want kv.ErrBucketNotFound", err)
	}

	// b makes it again: a, which forgot it, finds it and its new key.
	mustUpdate(t, b, func(tx kv.Tx) error {
		acme, err := tx.Bucket([]byte("orgs")).CreateBucket([]byte("acme"))
		if err != nil {
			return err
		}
		return acme.Put([]byte("k"), []byte("v3"))
	})
	if found, val := get(a); !found || val != "v3" {
		t.Fatalf("after the bucket came back: got %t %q, want it with v3", found, val)
	}
	// A write that only walks remembered buckets checks them before it
	// commits: b deletes the bucket again, and a's blind put must fail.
	get(a)
	mustUpdate(t, b, func(tx kv.Tx) error { return tx.Bucket([]byte("orgs")).DeleteBucket([]byte("acme")) })
	err = a.Update(func(tx kv.Tx) error {
		acme := tx.Bucket([]byte("orgs")).Bucket([]byte("acme"))
		if acme == nil {
			return kv.ErrBucketNotFound
		}
		return acme.Put([]byte("blind"), []byte("v"))
	})
	if !errors.Is(err, kv.ErrBucketNotFound) {
		t.Fatalf("a blind write into the deleted bucket: got %v, want kv.ErrBucketNotFound", err)
	}
	if found, _ := get(b); found {
		t.Fatal("the blind write made the deleted bucket's key")
	}
}

// TestScanConflicts: an Update that walked part of a bucket commits only if
// nothing it saw changed: a key put into the range it read, a key of it
// changed or deleted make it run again (and, since deletes are tracked per
// bucket, any delete in the bucket); a key put beyond the pages it read, or
// into another bucket, does not.
func TestScanConflicts(t *testing.T) {
	tests := []struct {
		name      string
		meanwhile func(b kv.Bucket) error
		runs      int
	}{
		{"insert in the range read", func(b kv.Bucket) error { return b.Put([]byte("k05a"), []byte("x")) }, 2},
		{"change of a key read", func(b kv.Bucket) error { return b.Put([]byte("k03"), []byte("y")) }, 2},
		{"delete of a key read", func(b kv.Bucket) error { return b.Delete([]byte("k07")) }, 2},
		{"delete beyond the range read", func(b kv.Bucket) error { return b.Delete([]byte("k90")) }, 2}, // deletes are per bucket
		{"insert beyond the range read", func(b kv.Bucket) error { return b.Put([]byte("k95"), []byte("x")) }, 1},
		{"insert into another bucket", func(kv.Bucket) error { return nil }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := etcdkv.Config{Prefix: prefix(t), PageSize: 4}
			a, other := open(t, cfg), open(t, cfg)
			mustUpdate(t, a, func(tx kv.Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				if _, err := tx.CreateBucket([]byte("c")); err != nil {
					return err
				}
				for i := range 100 {
					if err := b.Put(fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			})
			runs := 0
			mustUpdate(t, a, func(tx kv.Tx) error {
				runs++
				c := tx.Bucket([]byte("b")).Cursor()
				n := 0
				for k, _ := c.Seek([]byte("k02")); k != nil && string(k) <= "k08"; k, _ = c.Next() {
					n++
				}
				if runs == 1 {
					mustUpdate(t, other, func(tx kv.Tx) error {
						if tt.name == "insert into another bucket" {
							return tx.Bucket([]byte("c")).Put([]byte("k05a"), []byte("x"))
						}
						return tt.meanwhile(tx.Bucket([]byte("b")))
					})
				}
				return tx.Bucket([]byte("c")).Put([]byte("seen"), fmt.Appendf(nil, "%d", n))
			})
			if runs != tt.runs {
				t.Errorf("the walking Update ran %d times, want %d", runs, tt.runs)
			}
		})
	}
}

// TestKeyNConflicts: KeyN counts a whole subtree, so an Update that counted
// commits only if no key came or went anywhere in it: in the bucket itself,
// in a nested bucket or deeper, or with a nested bucket deleted. A write
// outside the subtree does not make it run again.
func TestKeyNConflicts(t *testing.T) {
	nested := func(tx kv.Tx) kv.Bucket { return tx.Bucket([]byte("b")).Bucket([]byte("n")) }
	tests := []struct {
		name      string
		meanwhile func(tx kv.Tx) error
		conflict  bool
	}{
		{"put in the bucket", func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k2"), []byte("x")) }, true},
		{"delete in the bucket", func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("k")) }, true},
		{"put in a nested bucket", func(tx kv.Tx) error { return nested(tx).Put([]byte("k2"), []byte("x")) }, true},
		{"delete in a nested bucket", func(tx kv.Tx) error { return nested(tx).Delete([]byte("k")) }, true},
		{"delete two levels down", func(tx kv.Tx) error { return nested(tx).Bucket([]byte("m")).Delete([]byte("k")) }, true},
		{"nested bucket deleted", func(tx kv.Tx) error { return tx.Bucket([]byte("b")).DeleteBucket([]byte("n")) }, true},
		{"delete outside the bucket", func(tx kv.Tx) error { return tx.Bucket([]byte("c")).Delete([]byte("k")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := etcdkv.Config{Prefix: prefix(t)}
			a, other := open(t, cfg), open(t, cfg)
			mustUpdate(t, a, func(tx kv.Tx) error {
				for _, name := range []string{"b", "c"} {
					b, err := tx.CreateBucket([]byte(name))
					if err != nil {
						return err
					}
					if err := b.Put([]byte("k"), []byte("v")); err != nil {
						return err
					}
				}
				n, err := tx.Bucket([]byte("b")).CreateBucket([]byte("n"))
				if err != nil {
					return err
				}
				m, err := n.CreateBucket([]byte("m"))
				if err != nil {
					return err
				}
				if err := n.Put([]byte("k"), []byte("v")); err != nil {
					return err
				}
				return m.Put([]byte("k"), []byte("v"))
			})
			runs := 0
			var counted int
			mustUpdate(t, a, func(tx kv.Tx) error {
				runs++
				counted = tx.Bucket([]byte("b")).KeyN()
				if runs == 1 {
					mustUpdate(t, other, tt.meanwhile)
				}
				return tx.Bucket([]byte("c")).Put([]byte("count"), fmt.Appendf(nil, "%d", counted))
			})
			// After a bucket is deleted, a run may also fail on the markers
			// the process remembered from before: more than two runs.
			if conflict := runs > 1; conflict != tt.conflict {
				t.Errorf("the counting Update ran %d times; want a conflict: %t", runs, tt.conflict)
			}
			err := a.View(func(tx kv.Tx) error {
				if n := tx.Bucket([]byte("b")).KeyN(); n != counted {
					t.Errorf("the Update committed a count of %d, the bucket holds %d", counted, n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestManyScannedBuckets walks more buckets than etcd takes compares for
// their revision keys and ranges together: the commit covers the ranges
// with fewer, wider ones instead of failing, and still runs again when a
// key it saw changed, went, or came into a range it read.
func TestManyScannedBuckets(t *testing.T) {
	const buckets = 100 // each costs a revision key and a range
	name := func(i int) []byte { return fmt.Appendf(nil, "b%03d", i) }
	tests := []struct {
		name      string
		meanwhile func(tx kv.Tx) error
		conflict  bool
	}{
		{"nothing", func(tx kv.Tx) error { return tx.Bucket([]byte("c")).Put([]byte("k"), []byte("x")) }, false},
		{"insert in a range read", func(tx kv.Tx) error { return tx.Bucket(name(50)).Put([]byte("k1a"), []byte("x")) }, true},
		{"change of a key read", func(tx kv.Tx) error { return tx.Bucket(name(99)).Put([]byte("k2"), []byte("y")) }, true},
		{"delete of a key read", func(tx kv.Tx) error { return tx.Bucket(name(0)).Delete([]byte("k1")) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := etcdkv.Config{Prefix: prefix(t)}
			a, other := open(t, cfg), open(t, cfg)
			mustUpdate(t, a, func(tx kv.Tx) error {
				if _, err := tx.CreateBucket([]byte("c")); err != nil {
					return err
				}
				for i := range buckets {
					if _, err := tx.CreateBucket(name(i)); err != nil {
						return err
					}
				}
				return nil
			})
			mustUpdate(t, a, func(tx kv.Tx) error {
				for i := range buckets {
					if err := tx.Bucket(name(i)).Put([]byte("k1"), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			})
			mustUpdate(t, a, func(tx kv.Tx) error {
				for i := range buckets {
					if err := tx.Bucket(name(i)).Put([]byte("k2"), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			})
			runs := 0
			mustUpdate(t, a, func(tx kv.Tx) error {
				runs++
				n := 0
				for i := range buckets {
					_ = tx.Bucket(name(i)).ForEach(func(k, v []byte) error { n++; return nil })
				}
				if runs == 1 {
					mustUpdate(t, other, tt.meanwhile)
				}
				return tx.Bucket([]byte("c")).Put([]byte("seen"), fmt.Appendf(nil, "%d", n))
			})
			if conflict := runs > 1; conflict != tt.conflict {
				t.Errorf("the walking Update ran %d times; want a conflict: %t", runs, tt.conflict)
			}
		})
	}
}
