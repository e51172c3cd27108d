//go:build etcd

package etcdkv

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/salesos/portal/store/kv"
)

// requestMargin is what a commit leaves free of Config.MaxRequestBytes for
// the request's own framing.
const requestMargin = 16 << 10

// perOpBytes estimates an operation's framing in a request.
const perOpBytes = 32

// commit writes the buffered writes in one etcd Txn, guarded by compares on
// everything the transaction read.
func (t *txn) commit() error {
	if len(t.writes) == 0 && len(t.dels) == 0 {
		return nil // read-only: one snapshot is serializable as it is
	}
	cfg := t.db.cfg
	cmps, err := t.compares()
	if err != nil {
		return err
	}

	// Deleted subtrees, split around the keys written again inside them
	// (etcd refuses a put inside a range deleted by the same Txn).
	var ops []clientv3.Op
	for _, s := range t.dels {
		from := s.start
		i := sort.SearchStrings(t.wkeys, s.start)
		for ; i < len(t.wkeys) && t.wkeys[i] < s.end; i++ {
			if k := t.wkeys[i]; t.writes[k].val != nil {
				if from < k {
					ops = append(ops, clientv3.OpDelete(from, clientv3.WithRange(k)))
				}
				from = k + "\x00"
			}
		}
		if from < s.end {
			ops = append(ops, clientv3.OpDelete(from, clientv3.WithRange(s.end)))
		}
	}
	if len(t.dels) > 0 {
		// A bucket goes: the markers processes remember are in doubt.
		ops = append(ops, clientv3.OpPut(t.db.genKey(), ""))
	}

	// Puts and deletes. When a write replaces a large value, its chunks go
	// in the same commit if the transaction read the old value, or right
	// after it otherwise: such a write asks etcd for the previous value.
	type put struct {
		key string
		w   *write
	}
	var puts []put
	size := 0
	for _, c := range cmps {
		size += perOpBytes + len(c.Key)
	}
	askPrev := map[string]bool{}
	for _, key := range t.wkeys {
		w := t.writes[key]
		if t.deleted(key) {
			if w.val == nil {
				continue // the range delete covers it
			}
		} else if t.inTree(key) {
			if e, ok := t.cache[key]; ok {
				if m, large := decodeManifest(e.val); large {
					ops = append(ops, t.dropChunksOps(m.id)...)
				}
			} else {
				askPrev[key] = true
			}
		}
		if w.val == nil {
			ops = append(ops, clientv3.OpDelete(key))
			size += perOpBytes + len(key)
			continue
		}
		puts = append(puts, put{key, w})
		size += perOpBytes + len(key) + len(w.val)
	}

	// Values that do not fit in one request go to chunks, largest first.
	limit := cfg.MaxRequestBytes - requestMargin
	order := make([]int, len(puts))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return len(puts[order[a]].w.val) > len(puts[order[b]].w.val) })
	chunked := map[int]bool{}
	for _, i := range order {
		if size <= limit {
			break
		}
		p := puts[i]
		if p.w.raw == nil || len(p.w.val) <= manifestLen || !t.inTree(p.key) {
			break
		}
		chunked[i] = true
		size -= len(p.w.val) - manifestLen
		size += perOpBytes + len(p.key) // the compare on its chunks
	}
	if size > limit {
		return fmt.Errorf("%w: a commit of %d bytes, over the %d-byte request limit", kv.ErrTooLarge, size, cfg.MaxRequestBytes)
	}
	if len(ops)+len(puts) > cfg.MaxTxnOps || len(cmps)+len(chunked) > cfg.MaxTxnOps {
		return fmt.Errorf("%w: %d operations and %d compares, over etcd's %d", kv.ErrTooLarge,
			len(ops)+len(puts), len(cmps)+len(chunked), cfg.MaxTxnOps)
	}

	var written [][16]byte // chunk groups to drop if the commit fails
	cleanup := func() {
		for _, id := range written {
			t.dropChunks(id)
		}
	}
	newIDs := map[string][16]byte{}
	prevAt := map[int]string{} // op index -> key, for writes that asked for the previous value
	for i, p := range puts {
		val := p.w.val
		if chunked[i] {
			m, err := t.writeChunks(p.key, p.w.raw)
			if err != nil {
				cleanup()
				return err
			}
			written = append(written, m.id)
			newIDs[p.key] = m.id
			val = m.encode()
			cmps = append(cmps, clientv3.Compare(clientv3.Version(t.db.ownerKey(m.id)), ">", 0))
		}
		var opts []clientv3.OpOption
		if askPrev[p.key] {
			opts = append(opts, clientv3.WithPrevKV())
			prevAt[len(ops)] = p.key
		}
		ops = append(ops, clientv3.OpPut(p.key, string(val), opts...))
	}
	// Deletes of keys never read ask for the previous value too.
	for i, op := range ops {
		if op.IsDelete() && askPrev[string(op.KeyBytes())] && len(op.RangeBytes()) == 0 {
			ops[i] = clientv3.OpDelete(string(op.KeyBytes()), clientv3.WithPrevKV())
			prevAt[i] = string(op.KeyBytes())
		}
	}

	ctx, cancel := t.ctx()
	resp, err := t.db.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	cancel()
	if err != nil {
		cleanup()
		return mapErr(err)
	}
	if !resp.Succeeded {
		cleanup()
		// An assumed marker may be what failed: read them afresh.
		for _, a := range t.pending {
			t.db.markers.forget(a.key)
		}
		return errConflict
	}
	if len(t.dels) > 0 {
		// This commit put the generation key: what the process remembers
		// is of an older generation.
		t.db.markers.outdate(resp.Header.Revision)
	}
	for key, w := range t.writes {
		if w.val == nil {
			t.db.markers.forget(key)
		}
	}
	for i, key := range prevAt {
		r := resp.Responses[i]
		var prev []*mvccpb.KeyValue
		if p := r.GetResponsePut(); p != nil && p.PrevKv != nil {
			prev = append(prev, p.PrevKv)
		}
		if d := r.GetResponseDeleteRange(); d != nil {
			prev = append(prev, d.PrevKvs...)
		}
		for _, kv := range prev {
			if m, ok := decodeManifest(kv.Value); ok && m.id != newIDs[key] {
				t.dropChunks(m.id) // best effort: Sweep collects what this misses
			}
		}
	}
	return nil
}

// compares guards the commit: every key read still has the ModRevision it
// had; no key in a range the transaction read was put since its revision;
// no key was deleted since from a bucket it scanned (every delete puts the
// bucket's revision key); and the markers it assumed stand. When that is
// more compares than etcd takes, the keys read in one bucket are covered by
// one range compare, from the first to the last, and the bucket's revision
// key, the buckets with most keys read first; then, if need be, neighbouring
// ranges by one (coarsen).
func (t *txn) compares() ([]clientv3.Cmp, error) {
	maxOps := t.db.cfg.MaxTxnOps
	scans := maps.Clone(t.scans)
	spans := mergeSpans(t.spans)
	byBucket := map[string][]string{}
	for key, r := range t.reads {
		if r.rev != "" {
			byBucket[r.rev] = append(byBucket[r.rev], key)
		}
	}
	n := len(scans) + len(spans) + len(t.reads)
	if len(t.pending) > 0 {
		n++ // the generation key
	}
	folded := map[string]bool{}
	if n > maxOps {
		buckets := slices.Collect(maps.Keys(byBucket))
		sort.Slice(buckets, func(i, j int) bool { return len(byBucket[buckets[i]]) > len(byBucket[buckets[j]]) })
		for _, b := range buckets {
			if n <= maxOps || len(byBucket[b]) < 3 {
				break
			}
			n -= len(byBucket[b]) - 1
			if !scans[b] {
				n++
				scans[b] = true
			}
			folded[b] = true
		}
	}
	if n > maxOps && len(spans) > 1 {
		// Still too many: each scanned bucket costs its revision key and
		// at least one range. The ranges are covered by fewer, wider ones,
		// each from the first to the last of a run of neighbours (coarser:
		// a put between them conflicts too), so that, as before ranges
		// were compared, only more distinct buckets than the limit fail.
		wide := coarsen(spans, max(1, maxOps-(n-len(spans))))
		n -= len(spans) - len(wide)
		spans = wide
	}
	if n > maxOps {
		return nil, fmt.Errorf("%w: %d compares, over etcd's %d", kv.ErrTooLarge, n, maxOps)
	}
	cmps := make([]clientv3.Cmp, 0, n)
	if t.rev > 0 {
		unchanged := func(key, end string) clientv3.Cmp {
			c := clientv3.Compare(clientv3.ModRevision(key), "<", t.rev+1)
			if end != "" {
				c = c.WithRange(end)
			}
			return c
		}
		for r := range scans {
			cmps = append(cmps, unchanged(r, ""))
		}
		for _, s := range spans {
			cmps = append(cmps, unchanged(s.start, s.end))
		}
		for b := range folded {
			keys := byBucket[b]
			cmps = append(cmps, unchanged(slices.Min(keys), slices.Max(keys)+"\x00"))
		}
	}
	for key, r := range t.reads {
		if !folded[r.rev] {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", r.mod))
		}
	}
	// Markers still assumed stand if no bucket was deleted since they were
	// seen (read.go).
	if len(t.pending) > 0 {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(t.db.genKey()), "=", t.assumedGen))
	}
	return cmps, nil
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(spans []span) []span {
	if len(spans) == 0 {
		return nil
	}
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b span) int { return strings.Compare(a.start, b.start) })
	out := s[:1]
	for _, x := range s[1:] {
		last := &out[len(out)-1]
		if x.start <= last.end {
			last.end = max(last.end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

// coarsen covers sorted spans with k spans at most: runs of neighbours,
// each replaced by the span from its first start to its furthest end.
func coarsen(spans []span, k int) []span {
	if len(spans) <= k {
		return spans
	}
	out := make([]span, 0, k)
	for i := range k {
		run := spans[i*len(spans)/k : (i+1)*len(spans)/k]
		w := span{run[0].start, run[0].end}
		for _, s := range run[1:] {
			w.end = max(w.end, s.end)
		}
		out = append(out, w)
	}
	return out
}

// genKey is the installation's generation key, put by every commit that
// deletes a bucket.
func (db *DB) genKey() string { return string(db.prefix) + string(spaceGen) }

func (db *DB) chunkPrefix(id [16]byte) string {
	return string(db.prefix) + string(spaceChunk) + string(id[:])
}

func (db *DB) chunkKey(id [16]byte, i uint32) string {
	return db.chunkPrefix(id) + string(binary.BigEndian.AppendUint32(nil, i))
}

func (db *DB) ownerKey(id [16]byte) string {
	return string(db.prefix) + string(spaceOwner) + string(id[:])
}

// chunkSize is how much of a large value one request carries.
func (db *DB) chunkSize() int { return db.cfg.MaxRequestBytes - requestMargin - len(db.prefix) - 64 }

// writeChunks stores raw as a new chunk group owned by key, one request per
// chunk, and returns the manifest that points at it. The group's id begins
// with the time, for Sweep's grace period.
func (t *txn) writeChunks(key string, raw []byte) (manifest, error) {
	db := t.db
	var m manifest
	binary.BigEndian.PutUint64(m.id[:8], uint64(time.Now().UnixNano()))
	if _, err := rand.Read(m.id[8:]); err != nil {
		return m, err
	}
	m.size = uint64(len(raw))
	put := func(k string, v []byte) error {
		ctx, cancel := t.ctx()
		defer cancel()
		_, err := db.cli.Put(ctx, k, string(v))
		return mapErr(err)
	}
	// The owner first: a chunk group without one is never left behind.
	if err := put(db.ownerKey(m.id), []byte(key)); err != nil {
		return m, err
	}
	cs := db.chunkSize()
	for off := 0; off < len(raw); off += cs {
		if err := put(db.chunkKey(m.id, m.chunks), raw[off:min(off+cs, len(raw))]); err != nil {
			t.dropChunks(m.id)
			return m, err
		}
		m.chunks++
	}
	return m, nil
}

// dropChunksOps are the operations that delete a chunk group.
func (t *txn) dropChunksOps(id [16]byte) []clientv3.Op {
	p := t.db.chunkPrefix(id)
	return []clientv3.Op{clientv3.OpDelete(p, clientv3.WithRange(string(prefixEnd([]byte(p))))), clientv3.OpDelete(t.db.ownerKey(id))}
}

// dropChunks deletes a chunk group now, best effort: Sweep collects a group
// this fails to delete.
func (t *txn) dropChunks(id [16]byte) {
	ctx, cancel := context.WithTimeout(t.db.ctx, t.db.cfg.RequestTimeout)
	defer cancel()
	_, _ = t.db.cli.Txn(ctx).Then(t.dropChunksOps(id)...).Commit()
}

// loadLarge reads a large value's chunks at the transaction's revision.
func (t *txn) loadLarge(m manifest) []byte {
	if v, ok := t.large[m.id]; ok {
		return v
	}
	if t.err != nil {
		return nil
	}
	out := make([]byte, 0, m.size)
	for i := range m.chunks {
		ctx, cancel := t.ctx()
		resp, err := t.db.cli.Get(ctx, t.db.chunkKey(m.id, i), t.pinOpts()...)
		cancel()
		if err != nil {
			t.fail(err)
			return nil
		}
		if len(resp.Kvs) == 0 {
			t.fail(fmt.Errorf("etcd: chunk %d of large value %x is missing", i, m.id))
			return nil
		}
		out = append(out, resp.Kvs[0].Value...)
	}
	if uint64(len(out)) != m.size {
		t.fail(fmt.Errorf("etcd: large value %x has %d bytes, its manifest says %d", m.id, len(out), m.size))
		return nil
	}
	if t.large == nil {
		t.large = map[[16]byte][]byte{}
	}
	t.large[m.id] = out
	return out
}

// Sweep deletes the chunk groups that no item points at: those of a commit
// that failed or never came (the process died between writing the chunks
// and committing), of a large value replaced while its drop failed, and of
// large values in a deleted bucket. Groups younger than grace are left
// alone, as their commit may still be under way; a commit whose group Sweep
// took anyway fails its compare and runs again, so nothing is lost. It
// returns how many groups it deleted.
func (db *DB) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	start := string(db.prefix) + string(spaceOwner)
	end := string(prefixEnd([]byte(start)))
	cutoff := time.Now().Add(-grace).UnixNano()
	n := 0
	for start < end {
		rctx, cancel := context.WithTimeout(ctx, db.cfg.RequestTimeout)
		resp, err := db.cli.Get(rctx, start, clientv3.WithRange(end), clientv3.WithLimit(int64(db.cfg.PageSize)))
		cancel()
		if err != nil {
			return n, mapErr(err)
		}
		for _, o := range resp.Kvs {
			var id [16]byte
			if len(o.Key) != len(db.prefix)+1+len(id) {
				continue // not an owner key of this layout
			}
			copy(id[:], o.Key[len(db.prefix)+1:])
			if int64(binary.BigEndian.Uint64(id[:8])) > cutoff {
				continue
			}
			dropped, err := db.sweepOne(ctx, o, id)
			if err != nil {
				return n, err
			}
			if dropped {
				n++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return n, nil
}

// sweepOne deletes the chunk group of owner record o unless its item
// points at it, in one Txn that holds only if neither changed meanwhile.
func (db *DB) sweepOne(ctx context.Context, o *mvccpb.KeyValue, id [16]byte) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, db.cfg.RequestTimeout)
	defer cancel()
	item := string(o.Value)
	resp, err := db.cli.Get(rctx, item)
	if err != nil {
		return false, mapErr(err)
	}
	var mod int64
	if len(resp.Kvs) > 0 {
		if m, ok := decodeManifest(resp.Kvs[0].Value); ok && m.id == id {
			return false, nil // live
		}
		mod = resp.Kvs[0].ModRevision
	}
	p := db.chunkPrefix(id)
	tr, err := db.cli.Txn(rctx).If(
		clientv3.Compare(clientv3.ModRevision(item), "=", mod),
		clientv3.Compare(clientv3.ModRevision(string(o.Key)), "=", o.ModRevision),
	).Then(
		clientv3.OpDelete(p, clientv3.WithRange(string(prefixEnd([]byte(p))))),
		clientv3.OpDelete(string(o.Key)),
	).Commit()
	if err != nil {
		return false, mapErr(err)
	}
	return tr.Succeeded, nil
}
