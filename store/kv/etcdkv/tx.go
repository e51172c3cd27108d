//go:build etcd

package etcdkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/salesos/portal/store/kv"
)

// entry is a key's state at the transaction's revision.
type entry struct {
	val []byte // tagged item value (or raw for other spaces); nil when absent
	// A key read ahead (Prefetch) keeps its ModRevision and its bucket's
	// revision key, to be added to the run's reads when it is read.
	ahead bool
	mod   int64
	rev   string
}

// read is a key read by Get: the ModRevision it had (0 when absent) and
// the revision key of the bucket that holds it, which covers it when the
// commit has more compares than etcd takes.
type read struct {
	mod int64
	rev string
}

// write is a buffered Put (val non-nil, tagged) or Delete (val nil).
type write struct {
	val []byte
	raw []byte // the caller's value of a tagValue put
}

// span is a deleted key range [start, end): a deleted bucket's subtree.
type span struct{ start, end string }

// txn is one run of a View or Update function.
type txn struct {
	db       *DB
	writable bool
	rev      int64 // pinned at the first read; 0 before it
	err      error // first failed read: the run's outcome
	cache    map[string]*entry
	reads    map[string]read
	scans    map[string]bool // revision keys of scanned buckets
	spans    []span          // ranges read (an Update's)
	writes   map[string]*write
	wkeys    []string // the keys of writes, sorted
	dels     []span
	bumps    map[string]bool
	large    map[[16]byte][]byte // large values read
	pending  []assumed           // markers assumed and not yet checked
	// The generation key's ModRevision at rev, once read, and that of the
	// markers the run assumes.
	gen, assumedGen int64
	genKnown        bool
	wants           []want        // gets announced and not yet made
	ranges          []*prefetched // cursor pages read ahead
	spread          uint32        // kv.Spreader
	root            *bucket
}

func (t *txn) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.db.ctx, t.db.cfg.RequestTimeout)
}

func (t *txn) fail(err error) {
	if t.err == nil {
		t.err = mapErr(err)
	}
}

func (t *txn) pinOpts(opts ...clientv3.OpOption) []clientv3.OpOption {
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	return opts
}

func (t *txn) pin(rev int64) {
	if t.rev == 0 {
		t.rev = rev
	}
}

// server returns key's state at the transaction's revision, reading it once.
// rev is the revision key of the bucket holding key ("" outside the tree).
func (t *txn) server(key, rev string) *entry {
	if e, ok := t.cache[key]; ok {
		if e.ahead && t.writable {
			if _, ok := t.reads[key]; !ok {
				t.reads[key] = read{mod: e.mod, rev: e.rev}
			}
		}
		return e
	}
	resps := t.request(get{key: key})
	if resps == nil {
		return &entry{}
	}
	e := &entry{}
	var mod int64
	if kvs := resps[0].Kvs; len(kvs) > 0 {
		e.val, mod = kvs[0].Value, kvs[0].ModRevision
	}
	t.cache[key] = e
	if t.writable {
		t.reads[key] = read{mod: mod, rev: rev}
	}
	return e
}

func (t *txn) deleted(key string) bool {
	for _, s := range t.dels {
		if key >= s.start && key < s.end {
			return true
		}
	}
	return false
}

// lookup is key's value as this transaction sees it: its own writes first.
func (t *txn) lookup(key, rev string) []byte {
	if w, ok := t.writes[key]; ok {
		return w.val
	}
	if t.deleted(key) {
		return nil
	}
	return t.server(key, rev).val
}

// known is key's value if the transaction knows it without a request.
func (t *txn) known(key string) ([]byte, bool) {
	if w, ok := t.writes[key]; ok {
		return w.val, true
	}
	if t.deleted(key) {
		return nil, true
	}
	if e, ok := t.cache[key]; ok {
		return e.val, true
	}
	return nil, false
}

func (t *txn) setWrite(key string, w *write) error {
	if _, ok := t.writes[key]; !ok {
		if len(t.writes)+len(t.dels) >= t.db.cfg.MaxTxnOps {
			return fmt.Errorf("%w: more than %d writes in one transaction", kv.ErrTooLarge, t.db.cfg.MaxTxnOps)
		}
		i, _ := slices.BinarySearch(t.wkeys, key)
		t.wkeys = slices.Insert(t.wkeys, i, key)
	}
	t.writes[key] = w
	return nil
}

// deleteRange deletes [start, end), dropping the writes it supersedes.
func (t *txn) deleteRange(start, end string) {
	i, _ := slices.BinarySearch(t.wkeys, start)
	j := i
	for j < len(t.wkeys) && t.wkeys[j] < end {
		delete(t.writes, t.wkeys[j])
		j++
	}
	t.wkeys = slices.Delete(t.wkeys, i, j)
	t.dels = append(t.dels, span{start, end})
}

// scan reads up to limit keys of [start, end) at the transaction's revision,
// ascending or descending; more reports whether the range holds others, n
// how many keys it holds.
func (t *txn) scan(start, end string, limit int, desc bool) (kvs []*mvccpb.KeyValue, more bool, n int64) {
	resps := t.request(get{key: start, end: end, limit: int64(limit), desc: desc})
	if resps == nil {
		return nil, false, 0
	}
	for _, kv := range resps[0].Kvs {
		if _, ok := t.cache[string(kv.Key)]; !ok {
			t.cache[string(kv.Key)] = &entry{val: kv.Value}
		}
	}
	return resps[0].Kvs, resps[0].More, resps[0].Count
}

// value turns a tagged item value into the caller's: nil for a bucket.
func (t *txn) value(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	switch v[0] {
	case tagValue:
		return v[1:]
	case tagManifest:
		if m, ok := decodeManifest(v); ok {
			return t.loadLarge(m)
		}
	}
	return nil
}

// Tx methods: the root holds the top-level buckets.

func (t *txn) Bucket(name []byte) kv.Bucket { return t.root.Bucket(name) }
func (t *txn) CreateBucket(name []byte) (kv.Bucket, error) {
	return t.root.CreateBucket(name)
}
func (t *txn) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	return t.root.CreateBucketIfNotExists(name)
}
func (t *txn) DeleteBucket(name []byte) error                 { return t.root.DeleteBucket(name) }
func (t *txn) ForEachBucket(fn func(name []byte) error) error { return t.root.ForEachBucket(fn) }
func (t *txn) Writable() bool                                 { return t.writable }

// bucket is a bucket handle: its subtree's prefix, the prefix of its own
// items, and its revision key.
type bucket struct {
	t      *txn
	prefix []byte
	items  string
	end    string // prefixEnd(items)
	rev    string
}

func (t *txn) bucketAt(prefix []byte) *bucket {
	items := append(bytes.Clone(prefix), sepItems)
	p := len(t.db.prefix)
	rev := append(append(bytes.Clone(t.db.prefix), spaceRev), prefix[p+1:]...)
	return &bucket{t: t, prefix: prefix, items: string(items), end: string(prefixEnd(items)), rev: string(rev)}
}

func (b *bucket) key(k []byte) string { return string(appendEnc([]byte(b.items), k)) }

func (b *bucket) child(name []byte) *bucket {
	p := append(bytes.Clone(b.prefix), sepBucket)
	return b.t.bucketAt(appendEnc(p, name))
}

// bump marks a key of the bucket deleted, for the transactions that scanned
// it: a put they see by its ModRevision in the range they read (a range
// compare), a key that went they cannot.
func (b *bucket) bump() error {
	if b.t.bumps[b.rev] {
		return nil
	}
	b.t.bumps[b.rev] = true
	return b.t.setWrite(b.rev, &write{val: []byte{}})
}

func (b *bucket) checkWrite(k []byte) error {
	if !b.t.writable {
		return kv.ErrTxNotWritable
	}
	if len(k) == 0 {
		return kv.ErrKeyRequired
	}
	return nil
}

func (b *bucket) Get(k []byte) []byte {
	if len(k) == 0 {
		return nil
	}
	return b.t.value(b.t.lookup(b.key(k), b.rev))
}

func (b *bucket) Put(k, v []byte) error {
	if err := b.checkWrite(k); err != nil {
		return err
	}
	key := b.key(k)
	if old, ok := b.t.known(key); ok && len(old) > 0 && old[0] == tagBucket {
		return kv.ErrIncompatibleValue
	}
	return b.t.setWrite(key, &write{val: append([]byte{tagValue}, v...), raw: v})
}

func (b *bucket) Delete(k []byte) error {
	if err := b.checkWrite(k); err != nil {
		return err
	}
	key := b.key(k)
	if old, ok := b.t.known(key); ok && len(old) > 0 && old[0] == tagBucket {
		return kv.ErrIncompatibleValue
	}
	if err := b.t.setWrite(key, &write{}); err != nil {
		return err
	}
	return b.bump()
}

// marker is the value of the item key that may name a nested bucket: a
// bucket the process remembers is assumed (see read.go), others are read.
func (b *bucket) marker(key string) []byte {
	t := b.t
	if _, ok := t.known(key); !ok && t.err == nil {
		if mod, gen, ok := t.db.markers.lookup(key); ok && t.mayAssume(mod, gen) {
			sub := string(b.prefix) + string([]byte{sepBucket}) + key[len(b.items):]
			t.assume(key, b.rev, sub, mod, gen)
		} else {
			t.readMarker(key, b.rev)
		}
	}
	return t.lookup(key, b.rev)
}

// readMarker reads a marker key with the generation key, and remembers the
// bucket it names.
func (t *txn) readMarker(key, rev string) {
	resps := t.request(get{key: key, marker: true})
	if resps == nil {
		return
	}
	e := &entry{}
	var mod int64
	if kvs := resps[0].Kvs; len(kvs) > 0 {
		e.val, mod = kvs[0].Value, kvs[0].ModRevision
	}
	t.cache[key] = e
	if t.writable {
		t.reads[key] = read{mod: mod, rev: rev}
	}
	if len(e.val) > 0 && e.val[0] == tagBucket && t.genKnown {
		t.db.markers.add(key, mod, t.gen)
	}
}

func (b *bucket) Bucket(name []byte) kv.Bucket {
	if len(name) == 0 {
		return nil
	}
	v := b.marker(b.key(name))
	if (len(v) > 0 && v[0] == tagBucket) || b.t.err != nil {
		// After a failed read the run is lost anyway (View and Update
		// return the failure): a handle that reads nothing keeps fn from
		// tripping over a nil bucket meanwhile.
		return b.child(name)
	}
	return nil
}

func (b *bucket) CreateBucket(name []byte) (kv.Bucket, error) {
	if err := b.checkWrite(name); err != nil {
		return nil, err
	}
	key := b.key(name)
	if v := b.marker(key); v != nil {
		if len(v) > 0 && v[0] == tagBucket {
			return nil, kv.ErrBucketExists
		}
		return nil, kv.ErrIncompatibleValue
	}
	if b.t.err != nil {
		return nil, b.t.err
	}
	if err := b.t.setWrite(key, &write{val: []byte{tagBucket}}); err != nil {
		return nil, err
	}
	return b.child(name), nil
}

func (b *bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	nb, err := b.CreateBucket(name)
	if errors.Is(err, kv.ErrBucketExists) {
		return b.child(name), nil
	}
	return nb, err
}

func (b *bucket) DeleteBucket(name []byte) error {
	if err := b.checkWrite(name); err != nil {
		return err
	}
	key := b.key(name)
	v := b.t.lookup(key, b.rev)
	if b.t.err != nil {
		return b.t.err
	}
	if v == nil {
		return kv.ErrBucketNotFound
	}
	if v[0] != tagBucket {
		return kv.ErrIncompatibleValue
	}
	c := b.child(name)
	// The subtree's revision keys go with it: a transaction that scanned
	// a bucket in it also read the bucket's marker, which this deletes.
	b.t.deleteRange(string(c.prefix), string(prefixEnd(c.prefix)))
	b.t.deleteRange(c.rev, string(prefixEnd([]byte(c.rev))))
	if err := b.t.setWrite(key, &write{}); err != nil {
		return err
	}
	return b.bump()
}

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.t.err
}

func (b *bucket) ForEachBucket(fn func(name []byte) error) error {
	c := b.cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if err := fn(k); err != nil {
				return err
			}
		}
	}
	return b.t.err
}

func (b *bucket) Writable() bool { return b.t.writable }

// KeyN counts the subtree on the server at the transaction's revision and
// corrects the count by the transaction's own writes in it. In an Update it
// is conflict-checked against puts anywhere in the subtree (the range it
// counted) and deletes anywhere in it: the revision keys of the bucket and
// of every bucket below it are one range, since a nested bucket's revision
// key extends its parent's.
func (b *bucket) KeyN() int {
	t := b.t
	start, end := string(b.prefix), string(prefixEnd(b.prefix))
	n := t.count(start, end)
	if t.writable {
		t.spans = append(t.spans, span{b.rev, string(prefixEnd([]byte(b.rev)))})
	}
	for _, s := range t.dels {
		lo, hi := max(s.start, start), min(s.end, end)
		if lo < hi {
			n -= t.count(lo, hi)
		}
	}
	i, _ := slices.BinarySearch(t.wkeys, start)
	for ; i < len(t.wkeys) && t.wkeys[i] < end; i++ {
		key := t.wkeys[i]
		existed := !t.deleted(key) && t.server(key, "").val != nil
		switch put := t.writes[key].val != nil; {
		case put && !existed:
			n++
		case !put && existed:
			n--
		}
	}
	return n
}

func (t *txn) count(start, end string) int {
	resps := t.request(get{key: start, end: end, count: true})
	if resps == nil {
		return 0
	}
	return int(resps[0].Count)
}

func (b *bucket) Cursor() kv.Cursor { return b.cursor() }

func (b *bucket) cursor() *cursor {
	if b.t.writable {
		b.t.scans[b.rev] = true
	}
	return &cursor{b: b, size: b.t.db.cfg.PageSize}
}

// CursorSized is a cursor for a walk of about n keys (kv.Sizer): it reads
// pages of n keys forward, and windows of about n below (at most a page).
func (b *bucket) CursorSized(n int) kv.Cursor {
	c := b.cursor()
	c.size = min(max(n, 1), c.size)
	return c
}

// cursor merges the server's keys, read a page at a time at the
// transaction's revision, with the transaction's own writes. page holds
// every server key in [lo, hi), ascending.
type cursor struct {
	b      *bucket
	size   int // keys read per request
	page   []*mvccpb.KeyValue
	lo, hi string
	has    bool   // page is set
	cur    string // current full key; "" when unpositioned
	// spacing is the mean width per key (in sp) of the last window read
	// walking down (see window.go), nil before one; first is the bucket's
	// first server key once a window from the bucket's start has seen it.
	spacing *big.Float
	first   string
	sp      *space // the alphabet of the keys seen; nil before a window
}

func (c *cursor) covers(key string) bool { return c.has && key >= c.lo && key < c.hi }

// serverNext is the first server key >= from, skipping keys this
// transaction overwrote or deleted.
func (c *cursor) serverNext(from string) *mvccpb.KeyValue {
	t, end := c.b.t, c.b.end
	for from < end && t.err == nil {
		if p := t.page(from, end); !c.covers(from) && p != nil {
			c.page, c.lo, c.hi, c.has = p.kvs, p.lo, p.hi(), true
		} else if !c.covers(from) {
			kvs, more, _ := t.scan(from, end, c.size, false)
			c.page, c.lo, c.hi, c.has = kvs, from, end, true
			if more && len(kvs) > 0 {
				c.hi = string(kvs[len(kvs)-1].Key) + "\x00"
			}
		}
		i := sort.Search(len(c.page), func(i int) bool { return string(c.page[i].Key) >= from })
		for ; i < len(c.page); i++ {
			k := string(c.page[i].Key)
			if _, mine := t.writes[k]; !mine && !t.deleted(k) {
				return c.page[i]
			}
		}
		from = c.hi
	}
	return nil
}

// serverPrev is the last server key < before, skipping keys this
// transaction overwrote or deleted.
func (c *cursor) serverPrev(before string) *mvccpb.KeyValue {
	t, start := c.b.t, c.b.items
	for before > start && t.err == nil {
		if !c.has || before <= c.lo || before > c.hi {
			c.fillBelow(before)
		}
		i := sort.Search(len(c.page), func(i int) bool { return string(c.page[i].Key) >= before })
		for i--; i >= 0; i-- {
			k := string(c.page[i].Key)
			if _, mine := t.writes[k]; !mine && !t.deleted(k) {
				return c.page[i]
			}
		}
		before = c.lo
	}
	return nil
}

// writeNext is the first key >= from that this transaction put in the bucket.
func (c *cursor) writeNext(from string) string {
	t := c.b.t
	i, _ := slices.BinarySearch(t.wkeys, from)
	for ; i < len(t.wkeys) && t.wkeys[i] < c.b.end; i++ {
		if t.writes[t.wkeys[i]].val != nil {
			return t.wkeys[i]
		}
	}
	return ""
}

// writePrev is the last key < before that this transaction put in the bucket.
func (c *cursor) writePrev(before string) string {
	t := c.b.t
	i, _ := slices.BinarySearch(t.wkeys, before)
	for i--; i >= 0 && t.wkeys[i] >= c.b.items; i-- {
		if t.writes[t.wkeys[i]].val != nil {
			return t.wkeys[i]
		}
	}
	return ""
}

func (c *cursor) next(from string) ([]byte, []byte) {
	s := c.serverNext(from)
	w := c.writeNext(from)
	switch {
	case w != "" && (s == nil || w < string(s.Key)):
		return c.land(w, c.b.t.writes[w].val)
	case s != nil:
		return c.land(string(s.Key), s.Value)
	}
	c.cur = ""
	return nil, nil
}

func (c *cursor) prev(before string) ([]byte, []byte) {
	s := c.serverPrev(before)
	w := c.writePrev(before)
	switch {
	case w != "" && (s == nil || w > string(s.Key)):
		return c.land(w, c.b.t.writes[w].val)
	case s != nil:
		return c.land(string(s.Key), s.Value)
	}
	c.cur = ""
	return nil, nil
}

func (c *cursor) land(key string, val []byte) ([]byte, []byte) {
	c.cur = key
	k := decodeItem([]byte(key[len(c.b.items):]))
	return k, c.b.t.value(val)
}

func (c *cursor) First() ([]byte, []byte) { return c.next(c.b.items) }
func (c *cursor) Last() ([]byte, []byte)  { return c.prev(c.b.end) }

func (c *cursor) Seek(seek []byte) ([]byte, []byte) { return c.next(c.b.seekKey(seek)) }

// seekKey is where a cursor's Seek(seek) starts: the encoding of seek
// without its terminator sorts at or before every item >= seek, and after
// every item < seek.
func (b *bucket) seekKey(seek []byte) string {
	enc := appendEnc([]byte(b.items), seek)
	return string(enc[:len(enc)-2])
}

func (c *cursor) Next() ([]byte, []byte) {
	if c.cur == "" {
		return nil, nil
	}
	return c.next(c.cur + "\x00")
}

func (c *cursor) Prev() ([]byte, []byte) {
	if c.cur == "" {
		return nil, nil
	}
	return c.prev(c.cur)
}

// inTree reports whether key is an item of the bucket tree (not a
// revision, chunk or owner key).
func (t *txn) inTree(key string) bool {
	return strings.HasPrefix(key, string(t.db.prefix)) && len(key) > len(t.db.prefix) && key[len(t.db.prefix)] == spaceTree
}
