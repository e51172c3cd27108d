//go:build etcd

package etcdkv

import (
	"errors"
	"strings"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A transaction's reads go to the cluster in as few round trips as the
// store's code allows. Keys and cursor pages announced with Prefetch and
// PrefetchSeek (kv.Prefetcher) are read with the next request, all at once.
//
// And the store walks buckets before it reads a key: every Bucket call
// checks a nested bucket's marker. Markers change rarely (an organization's
// buckets are made with it), so the process remembers the ones it has seen,
// with their ModRevision and the ModRevision of the installation's
// generation key, which every commit that deletes a bucket puts. A
// transaction that meets a remembered marker goes on without reading it (it
// assumes it), provided the marker is not newer than the transaction's
// revision. The assumption holds if the generation key has not changed
// since the marker was seen: a marker seen with ModRevision m at revision
// r existed without a break from m to r, and with no bucket deleted since,
// it still does. So:
//
//   - A View checks its assumed markers at its revision. A key its reads
//     found inside an assumed bucket proves the bucket (a bucket's keys go
//     with it, in the same commit), which is how a read of a record that
//     exists needs no more than the record's own get. Markers no found key
//     proves are checked by reading the generation key, in the same request
//     when it is a Txn anyway, or in one more.
//   - An Update's commit compares the generation key's ModRevision with the
//     one its markers were seen with: one compare for all of them. An
//     Update that writes nothing checks them as a View does.
//
// When the check fails (a bucket was deleted somewhere since), the process
// forgets what it remembered and the function runs again, reading markers.
//
// Reads after the first are pinned to the first one's revision, which a
// member that has applied it serves from its own store (a serializable
// read, no round to the leader); one that has not yet applied it answers
// ErrFutureRev, and the read is made again, linearizably. The first read of
// a transaction is linearizable, so a transaction never sees the cluster
// as it was before a write another process acknowledged.

// maxMarkers bounds the markers a process remembers.
const maxMarkers = 1 << 16

// markerCache is the bucket markers the process has seen: their
// ModRevisions, all seen with generation key ModRevision gen (0: never put).
type markerCache struct {
	mu   sync.RWMutex
	gen  int64
	keys map[string]int64
}

// lookup returns the ModRevision of marker key and the generation it was
// seen with.
func (m *markerCache) lookup(key string) (mod, gen int64, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mod, ok = m.keys[key]
	return mod, m.gen, ok
}

// add remembers marker key, seen with ModRevision mod at a revision where
// the generation key had ModRevision gen. A newer generation replaces what
// the cache holds; an older one is not remembered.
func (m *markerCache) add(key string, mod, gen int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen < m.gen {
		return
	}
	if m.keys == nil || gen > m.gen || len(m.keys) >= maxMarkers {
		// Forgetting costs one read per marker met again: cheaper than
		// tracking which markers are in use.
		m.keys, m.gen = map[string]int64{}, gen
	}
	m.keys[key] = mod
}

// outdate forgets everything seen before generation gen.
func (m *markerCache) outdate(gen int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen > m.gen {
		m.keys, m.gen = nil, gen
	}
}

func (m *markerCache) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
}

// errStaleMarker is an assumed bucket marker that was gone at the
// transaction's revision: its function runs again.
var errStaleMarker = errors.New("etcd: a remembered bucket is gone")

// assumed is a marker a transaction went on without reading: its key, the
// revision key of the bucket that holds it, its ModRevision, and the prefix
// of the subtree it stands for.
type assumed struct {
	key, rev, sub string
	mod           int64
}

// mayAssume reports whether the run may assume a marker remembered with
// ModRevision mod in generation gen.
func (t *txn) mayAssume(mod, gen int64) bool {
	if t.rev > 0 && mod > t.rev {
		return false // newer than what the run reads
	}
	if t.genKnown && gen != t.gen {
		return false
	}
	return len(t.pending) == 0 || gen == t.assumedGen
}

// assume goes on past marker key of a bucket the process has seen.
func (t *txn) assume(key, rev, sub string, mod, gen int64) {
	t.pending = append(t.pending, assumed{key: key, rev: rev, sub: sub, mod: mod})
	t.assumedGen = gen
	t.cache[key] = &entry{val: []byte{tagBucket}}
}

// proven reports whether a key the responses found lies in a's subtree.
func proven(a assumed, resps []*pb.RangeResponse) bool {
	for _, r := range resps {
		for _, kv := range r.Kvs {
			if strings.HasPrefix(string(kv.Key), a.sub) {
				return true
			}
		}
	}
	return false
}

// settle checks the markers the run still assumes.
func (t *txn) settle() {
	if len(t.pending) > 0 {
		t.requestWith(true)
	}
}

// want is an announced get, and the revision key of the bucket it reads.
type want struct {
	g   get
	rev string
}

// prefetched is a cursor page read ahead: the keys of [lo, end) from lo on,
// up to the get's limit.
type prefetched struct {
	lo, end string
	kvs     []*mvccpb.KeyValue
	more    bool
}

// hi is the end of what the page covers.
func (p *prefetched) hi() string {
	if p.more && len(p.kvs) > 0 {
		return string(p.kvs[len(p.kvs)-1].Key) + "\x00"
	}
	return p.end
}

// page is a prefetched page that holds the keys of [from, end) from from on.
func (t *txn) page(from, end string) *prefetched {
	for _, p := range t.ranges {
		if p.end == end && p.lo <= from && from < p.hi() {
			return p
		}
	}
	return nil
}

// get is one read of a request: a key, or a range [key, end) of at most
// limit keys (0: all), its count only, or in descending key order.
type get struct {
	key, end string
	limit    int64
	count    bool
	desc     bool
	marker   bool // a marker read: the generation key is wanted too
}

// span is the part of a range get's range its response shows in full.
func (g get) span(r *pb.RangeResponse) span {
	switch {
	case g.count || !r.More || len(r.Kvs) == 0:
		return span{g.key, g.end}
	case g.desc:
		return span{string(r.Kvs[len(r.Kvs)-1].Key), g.end}
	}
	return span{g.key, string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"}
}

func (g get) op(rev int64, serializable bool) clientv3.Op {
	var opts []clientv3.OpOption
	if g.end != "" {
		opts = append(opts, clientv3.WithRange(g.end))
	}
	if g.limit > 0 {
		opts = append(opts, clientv3.WithLimit(g.limit))
	}
	if g.count {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if g.desc {
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	if serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	return clientv3.OpGet(g.key, opts...)
}

// request makes gets, and the gets announced so far, in one round trip at
// the transaction's revision (pinning it if this is the first read). It
// returns the gets' responses, or nil when the request failed (t.err says
// why). In a View it also checks the markers assumed so far.
func (t *txn) request(gets ...get) []*pb.RangeResponse {
	return t.requestWith(!t.writable, gets...)
}

// requestWith is request, checking assumed markers if check is set.
func (t *txn) requestWith(check bool, gets ...get) []*pb.RangeResponse {
	if t.err != nil {
		return nil
	}
	wants := t.wants
	t.wants = nil
	var pend []assumed
	if check {
		pend, t.pending = t.pending, nil
	}
	all := gets
	for _, w := range wants {
		all = append(all, w.g)
	}
	withGen := false
	if !t.genKnown {
		for _, g := range all {
			withGen = withGen || g.marker
		}
		// A lone get of a key proves the markers above it if it finds the
		// key; otherwise the generation key rides along.
		lone := len(all) == 1 && all[0].end == ""
		for _, a := range pend {
			withGen = withGen || !lone || !strings.HasPrefix(all[0].key, a.sub)
		}
	}
	if withGen {
		all = append(all, get{key: t.db.genKey()})
	}
	if len(all) == 0 {
		return nil
	}
	resps, rev, err := t.send(all, t.rev > 0)
	if errors.Is(err, rpctypes.ErrFutureRev) {
		// The member serving the read is behind the revision: ask again
		// through the leader.
		resps, rev, err = t.send(all, false)
	}
	if err != nil {
		t.fail(err)
		return nil
	}
	t.pin(rev)
	if withGen {
		r := resps[len(resps)-1]
		t.gen, t.genKnown = 0, true
		if len(r.Kvs) > 0 {
			t.gen = r.Kvs[0].ModRevision
		}
		resps = resps[:len(resps)-1]
	}
	if t.writable {
		for i, g := range all[:len(gets)+len(wants)] {
			if g.end != "" {
				t.spans = append(t.spans, g.span(resps[i]))
			}
		}
	}
	for i, w := range wants {
		r := resps[len(gets)+i]
		if w.g.end != "" {
			t.ranges = append(t.ranges, &prefetched{lo: w.g.key, end: w.g.end, kvs: r.Kvs, more: r.More})
		} else if len(r.Kvs) == 0 {
			t.keep(w.g.key, nil, w.rev)
		}
		for _, kv := range r.Kvs {
			t.keep(string(kv.Key), kv, w.rev)
		}
	}
	var unproven []assumed
	for _, a := range pend {
		switch {
		case proven(a, resps):
		case !t.genKnown:
			unproven = append(unproven, a)
		case t.gen == t.assumedGen && a.mod <= t.rev:
		default:
			// A bucket was deleted since the marker was seen: it may be
			// this one.
			t.db.markers.outdate(t.gen)
			t.db.markers.forget(a.key)
			t.fail(errStaleMarker)
		}
	}
	if len(unproven) > 0 {
		t.pending = append(unproven, t.pending...)
		t.requestWith(true) // with the generation key
	}
	return resps[:len(gets)]
}

// send makes the gets in one request at the transaction's revision, or,
// for its first read, linearizably and perhaps with other transactions'
// first reads (batch.go).
func (t *txn) send(gets []get, serializable bool) ([]*pb.RangeResponse, int64, error) {
	if t.rev == 0 && !serializable {
		return t.db.first(gets)
	}
	return t.db.do(gets, t.rev, serializable)
}

// keep caches a key read ahead (kv nil: absent), unless the run has it. Its
// ModRevision is kept for the commit's compares, added only if the run
// reads the key.
func (t *txn) keep(key string, kv *mvccpb.KeyValue, rev string) {
	if _, ok := t.cache[key]; ok {
		return
	}
	e := &entry{rev: rev, ahead: true}
	if kv != nil {
		e.val, e.mod = kv.Value, kv.ModRevision
	}
	t.cache[key] = e
}

// Prefetch announces Gets of keys of the bucket (kv.Prefetcher).
func (b *bucket) Prefetch(keys ...[]byte) {
	t := b.t
	if t.err != nil {
		return
	}
	for _, k := range keys {
		if len(k) == 0 {
			continue
		}
		key := b.key(k)
		if _, ok := t.known(key); !ok {
			t.wants = append(t.wants, want{g: get{key: key}, rev: b.rev})
		}
	}
}

// PrefetchSeek announces a cursor's Seek(seek) and a walk forward over
// about n keys (kv.Prefetcher): the cursor's first page, of n+1 keys at
// most and of a page at least.
func (b *bucket) PrefetchSeek(seek []byte, n int) {
	if b.t.err != nil {
		return
	}
	limit := min(max(n, 0)+1, b.t.db.cfg.PageSize)
	b.t.wants = append(b.t.wants, want{g: get{key: b.seekKey(seek), end: b.end, limit: int64(limit)}, rev: b.rev})
}

// Spread is fixed for the transaction's run and turns with each run the
// process begins (kv.Spreader).
func (b *bucket) Spread() uint32 { return b.t.spread }
