//go:build etcd

package etcdkv

import (
	"errors"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A transaction's reads go to the cluster in as few round trips as the
// store's code allows. Keys and cursor pages announced with Prefetch and
// PrefetchSeek (kv.Prefetcher) are read with the next request, all at once.
// And the store walks buckets before it reads a key: every Bucket call
// checks a nested bucket's marker. Markers change rarely (an
// organization's buckets are made with it), so the process remembers the
// ones it has seen, and a transaction that meets a remembered marker goes on
// without asking: it notes the marker as assumed, and its next request
// reads the assumed markers along with what it asks for, in one Txn at the
// transaction's revision. A View or Update that ends with markers still
// unchecked checks them before it returns; an Update that writes commits
// only if they are still buckets (a compare on their values). When an assumed
// marker turns out gone at the revision (another process deleted the
// bucket) the process forgets it and the function runs again, reading it.
//
// Reads after the first are pinned to the first one's revision, which a
// member that has applied it serves from its own store (a serializable
// read, no round to the leader); one that has not yet applied it answers
// ErrFutureRev, and the read is made again, linearizably. The first read of
// a transaction is linearizable, so a transaction never sees the cluster
// as it was before a write another process acknowledged.

// maxMarkers bounds the markers a process remembers.
const maxMarkers = 1 << 16

// markerCache is the set of bucket marker keys the process has seen.
type markerCache struct {
	mu   sync.RWMutex
	keys map[string]struct{}
}

func (m *markerCache) has(key string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.keys[key]
	return ok
}

func (m *markerCache) add(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil || len(m.keys) >= maxMarkers {
		// Forgetting costs one read per marker met again: cheaper than
		// tracking which markers are in use.
		m.keys = map[string]struct{}{}
	}
	m.keys[key] = struct{}{}
}

func (m *markerCache) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
}

// forgetRange forgets the markers in [start, end): a deleted subtree's.
func (m *markerCache) forgetRange(start, end string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.keys {
		if k >= start && k < end {
			delete(m.keys, k)
		}
	}
}

// errStaleMarker is an assumed bucket marker that was gone at the
// transaction's revision: its function runs again.
var errStaleMarker = errors.New("etcd: a remembered bucket is gone")

// assumed is a marker a transaction went on without reading, and the
// revision key of the bucket that holds it.
type assumed struct{ key, rev string }

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

// request makes gets, and reads of the markers assumed so far, in one round
// trip at the transaction's revision (pinning it if this is the first read).
// It returns the gets' responses, or nil when the request failed (t.err
// says why). A marker found gone fails the run with errStaleMarker.
func (t *txn) request(gets ...get) []*pb.RangeResponse {
	if t.err != nil {
		return nil
	}
	pend, wants := t.pending, t.wants
	t.pending, t.wants = nil, nil
	all := gets
	for _, w := range wants {
		all = append(all, w.g)
	}
	for _, a := range pend {
		all = append(all, get{key: a.key})
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
	for i, a := range pend {
		r := resps[len(gets)+len(wants)+i]
		e := &entry{}
		var mod int64
		if len(r.Kvs) > 0 {
			e.val, mod = r.Kvs[0].Value, r.Kvs[0].ModRevision
		}
		t.cache[a.key] = e
		if t.writable {
			t.reads[a.key] = read{mod: mod, rev: a.rev}
		}
		if len(e.val) == 0 || e.val[0] != tagBucket {
			t.db.markers.forget(a.key)
			t.fail(errStaleMarker)
		}
	}
	return resps[:len(gets)]
}

// send makes the gets in one request: a plain Range for one, a Txn of
// Ranges (one revision for all) for several.
func (t *txn) send(gets []get, serializable bool) ([]*pb.RangeResponse, int64, error) {
	ctx, cancel := t.ctx()
	defer cancel()
	if len(gets) == 1 {
		resp, err := t.db.cli.Do(ctx, gets[0].op(t.rev, serializable))
		if err != nil {
			return nil, 0, err
		}
		r := (*pb.RangeResponse)(resp.Get())
		return []*pb.RangeResponse{r}, r.Header.Revision, nil
	}
	ops := make([]clientv3.Op, len(gets))
	for i, g := range gets {
		ops[i] = g.op(t.rev, serializable)
	}
	resp, err := t.db.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, 0, err
	}
	out := make([]*pb.RangeResponse, len(gets))
	for i, r := range resp.Responses {
		out[i] = r.GetResponseRange()
		if out[i] == nil {
			out[i] = &pb.RangeResponse{}
		}
	}
	return out, resp.Header.Revision, nil
}

// assume goes on past the marker key of a nested bucket the process has
// seen, to be checked by the transaction's next request.
func (t *txn) assume(key, rev string) {
	t.pending = append(t.pending, assumed{key: key, rev: rev})
	// Later lookups of the key in this run know it as a bucket; the check
	// replaces this entry only if it finds otherwise (and fails the run).
	t.cache[key] = &entry{val: []byte{tagBucket}}
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

// settle checks the markers the run still assumes.
func (t *txn) settle() {
	if len(t.pending) > 0 {
		t.request()
	}
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
