//go:build etcd

package etcdkv_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/etcdkv"
)

// crockford is the ULID alphabet.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ulids are n time-ordered IDs: a millisecond clock that advances 0 to 3 ms
// an ID, in ten characters, and sixteen random ones.
func ulids(r *rand.Rand, n int) [][]byte {
	ms := uint64(1_700_000_000_000)
	out := make([][]byte, n)
	for i := range out {
		ms += r.Uint64N(4)
		b := make([]byte, 26)
		for j, t := 9, ms; j >= 0; j, t = j-1, t>>5 {
			b[j] = crockford[t&31]
		}
		for j := 10; j < 26; j++ {
			b[j] = crockford[r.IntN(32)]
		}
		out[i] = b
	}
	return out
}

// randomKeys are n keys of 1 to 20 random bytes, 0x00 and 0xff included.
func randomKeys(r *rand.Rand, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 1+r.IntN(20))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = b
	}
	return out
}

func decimalKeys(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%06d", i*7)
	}
	return out
}

// seed puts keys into bucket name, a hundred a transaction.
func seed(t testing.TB, db kv.DB, name string, keys [][]byte, val []byte) {
	t.Helper()
	mustUpdate(t, db, func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(name))
		return err
	})
	for start := 0; start < len(keys); start += 100 {
		chunk := keys[start:min(start+100, len(keys))]
		mustUpdate(t, db, func(tx kv.Tx) error {
			b := tx.Bucket([]byte(name))
			for _, k := range chunk {
				if err := b.Put(k, val); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

func forward(b kv.Bucket) [][]byte {
	var out [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		out = append(out, bytes.Clone(k))
	}
	return out
}

func backward(b kv.Bucket) [][]byte {
	var out [][]byte
	c := b.Cursor()
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		out = append(out, bytes.Clone(k))
	}
	slices.Reverse(out)
	return out
}

// rangeLog records the Range requests under one installation prefix.
type rangeLog struct {
	prefix string
	mu     sync.Mutex
	reqs   []rangeSeen
}

type rangeSeen struct {
	sorted bool
	count  int64 // keys in the requested range
	limit  int64
	read   int // keys returned
}

func watchRanges(t *testing.T, prefix string) *rangeLog {
	l := &rangeLog{prefix: prefix}
	f := func(req *pb.RangeRequest, resp *pb.RangeResponse) {
		if !strings.HasPrefix(string(req.Key), prefix) {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.reqs = append(l.reqs, rangeSeen{
			sorted: req.SortOrder != pb.RangeRequest_NONE,
			count:  resp.Count,
			limit:  req.Limit,
			read:   len(resp.Kvs),
		})
	}
	onRange.Store(&f)
	t.Cleanup(func() { onRange.Store(nil) })
	return l
}

// take returns the requests seen since the last take.
func (l *rangeLog) take() []rangeSeen {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// TestWalkDown walks buckets of several key shapes down with Last and Prev
// and compares with Next's order: the same keys, reversed. The server sees
// no sorted range, and once the database has found the bucket's top, no
// request's range holds more than a few pages of keys.
func TestWalkDown(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	shapes := []struct {
		name string
		keys [][]byte
	}{
		{"ulid", ulids(r, 3000)},
		{"random", randomKeys(r, 3000)},
		{"decimal", decimalKeys(2000)},
		{"extremes", [][]byte{{0x00}, {0x00, 0x00}, {0xff, 0xff, 0xff, 0xff}}},
		{"one key", [][]byte{[]byte("only")}},
		{"empty", nil},
	}
	p := prefix(t)
	seeder := open(t, etcdkv.Config{Prefix: p})
	for _, s := range shapes {
		seed(t, seeder, s.name, s.keys, []byte("v"))
	}
	for _, size := range []int{256, 7} {
		db := open(t, etcdkv.Config{Prefix: p, PageSize: size})
		for _, s := range shapes {
			t.Run(fmt.Sprintf("%s/page %d", s.name, size), func(t *testing.T) {
				want := slices.Clone(s.keys)
				slices.SortFunc(want, bytes.Compare)
				want = slices.CompactFunc(want, bytes.Equal)
				log := watchRanges(t, p)
				for walk := range 2 {
					var fwd, bwd [][]byte
					var last, prev []rangeSeen
					err := db.View(func(tx kv.Tx) error {
						b := tx.Bucket([]byte(s.name))
						fwd = forward(b)
						log.take()
						c := b.Cursor()
						k, _ := c.Last()
						last = log.take()
						for ; k != nil; k, _ = c.Prev() {
							bwd = append(bwd, bytes.Clone(k))
						}
						prev = log.take()
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					slices.Reverse(bwd)
					if !slices.EqualFunc(fwd, want, bytes.Equal) {
						t.Fatalf("Next walked %d keys, want the %d put", len(fwd), len(want))
					}
					if !slices.EqualFunc(bwd, want, bytes.Equal) {
						t.Fatalf("walk %d: Prev walked %d keys, not Next's %d reversed", walk, len(bwd), len(want))
					}
					// The first Last may read the bucket's index: nothing
					// tells where its top is yet. After it, no request's
					// range holds more than a few windows of keys.
					checked := prev
					if walk > 0 {
						checked = append(last, prev...)
					}
					most := int64(0)
					for _, q := range append(last, prev...) {
						if q.sorted {
							t.Errorf("walk %d asks for a sorted range", walk)
						}
					}
					for _, q := range checked {
						most = max(most, q.count)
					}
					// A few windows' worth, and some slack for the chance
					// bunching of random keys in tiny pages.
					if bound := int64(4*size + 40); most > bound {
						t.Errorf("walk %d: a range holds %d keys, want at most %d", walk, most, bound)
					}
					// About a window of three quarters of a page a request,
					// with a few more to cross gaps and find the top.
					reqs := len(last) + len(prev)
					if bound := 3*len(want)/size + 8; reqs > bound {
						t.Errorf("walk %d took %d requests for %d keys, want at most %d", walk, reqs, len(want), bound)
					}
					t.Logf("walk %d: %d keys in %d requests (Last %d), largest range %d keys", walk, len(bwd), reqs, len(last), most)
				}
			})
		}
	}
}

// TestWalkDownOwnWrites walks down in an Update that deleted and put keys:
// Prev sees the transaction's writes exactly as Next does.
func TestWalkDownOwnWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	keys := ulids(r, 1500)
	db := open(t, etcdkv.Config{PageSize: 16})
	seed(t, db, "b", keys, []byte("v"))
	errRollback := errors.New("rollback")
	err := db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := 0; i < len(keys); i += 30 {
			if err := b.Delete(keys[i]); err != nil {
				return err
			}
		}
		for _, k := range ulids(r, 40) {
			if err := b.Put(k, []byte("w")); err != nil {
				return err
			}
		}
		fwd, bwd := forward(b), backward(b)
		if !slices.EqualFunc(fwd, bwd, bytes.Equal) {
			t.Errorf("Prev walked %d keys, not Next's %d reversed", len(bwd), len(fwd))
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
}

// TestLastPageOneRequest: a newest-first page of a bucket whose top the
// database has found costs one request, however large the bucket.
func TestLastPageOneRequest(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	db := open(t, etcdkv.Config{})
	seed(t, db, "users", ulids(r, 2000), []byte("v"))
	page := func() int64 {
		var got int64
		err := db.View(func(tx kv.Tx) error {
			b := tx.Bucket([]byte("users"))
			start := theCluster(t).ranges.Load()
			c := b.Cursor()
			n := 0
			for k, _ := c.Last(); k != nil && n < 20; k, _ = c.Prev() {
				n++
			}
			got = theCluster(t).ranges.Load() - start
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	page() // finds the top
	seed(t, db, "users", ulids(r, 30), []byte("v"))
	if got := page(); got != 1 {
		t.Errorf("a page of 20 took %d requests after the top was found, want 1", got)
	}
}

// TestSizedWalkDown: a cursor sized for a page of 20 (kv.Sizer) walks a
// newest-first page in one request that reads about that many keys, not a
// default page of 256, once the top is found. (The read of the generation
// key that checks the remembered bucket rides in the same request.)
func TestSizedWalkDown(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	p := prefix(t)
	db := open(t, etcdkv.Config{Prefix: p})
	seed(t, db, "users", ulids(r, 3000), []byte("v"))
	log := watchRanges(t, p)
	page := func() []string {
		var keys []string
		err := db.View(func(tx kv.Tx) error {
			keys = nil
			// As a list page of 20 walks: 21 keys, the last to see that
			// there are more.
			c := tx.Bucket([]byte("users")).(kv.Sizer).CursorSized(21)
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
				if keys = append(keys, string(k)); len(keys) == 21 {
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	page() // finds the top
	log.take()
	for i := range 3 {
		seed(t, db, "users", ulids(r, 30), []byte("v"))
		log.take()
		keys := page()
		windows, read := 0, 0
		for _, q := range log.take() {
			if q.limit > 0 {
				windows++
				read += q.read
			}
		}
		if windows != 1 || read > 64 {
			t.Errorf("page %d: %d windows reading %d keys, want 1 reading at most 64", i, windows, read)
		}
		var all [][]byte
		if err := db.View(func(tx kv.Tx) error { all = forward(tx.Bucket([]byte("users"))); return nil }); err != nil {
			t.Fatal(err)
		}
		var want []string
		for j := len(all) - 1; j >= len(all)-21; j-- {
			want = append(want, string(all[j]))
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("page %d: got %q, want %q", i, keys, want)
		}
		log.take()
	}
}

// BenchmarkCursorLastPage reads a newest-first page of 20 from a bucket of
// 20,000 time-ordered keys with values the size of a user record.
func BenchmarkCursorLastPage(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	db := open(b, etcdkv.Config{})
	seed(b, db, "users", ulids(r, 20000), bytes.Repeat([]byte("u"), 440))
	b.ResetTimer()
	for b.Loop() {
		err := db.View(func(tx kv.Tx) error {
			c := tx.Bucket([]byte("users")).Cursor()
			n := 0
			for k, _ := c.Last(); k != nil && n < 20; k, _ = c.Prev() {
				n++
			}
			if n != 20 {
				return fmt.Errorf("page of %d", n)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
