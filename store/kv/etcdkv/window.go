//go:build etcd

package etcdkv

import (
	"math"
	"math/big"
	"slices"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Walking down a bucket (Last, Prev) reads ascending windows [w, before)
// with a limit, never a descending range: etcd (3.6 executeRange, 3.7
// rangeLimit) ignores the limit of a sorted range and reads the whole range
// from its backend, so a descending page would cost the whole bucket. An
// ascending range reads only the values within its limit, but etcd still
// walks the rest of the range in its in-memory index to count it, so w is
// chosen to hold about a page: the keys' positions are read as fractions of
// the bucket's key space, and w is placed by the density of the keys seen
// (the previous page, or the process's last Last of the bucket), widened
// while a window is empty and narrowed by interpolation while it holds more
// than a page.

const (
	// maxProbes bounds the windows one page tries before it falls back to
	// a descending range (see cursor.fallback).
	maxProbes = 24
	// maxHints bounds the buckets whose last Last window a DB remembers.
	maxHints = 4096
)

// place is a position in a bucket's key space: the bytes of a key after the
// bucket's items prefix (the empty suffix is the bucket's start), or the
// bucket's end (top).
type place struct {
	suf string
	top bool
}

// space reads places as fractions of the bucket's key space, in base A:
// one digit a byte, over an alphabet of the byte values seen in the
// bucket's keys.
// Keys drawn from an alphabet (digits, base32, letters) fill its digits
// evenly, where their bytes would leave most of a byte's 256 values empty
// at every position: a gap several pages wide between each run of keys.
// With all 256 values it is the bytes read as a big-endian fraction.
type space struct {
	seen  [256]bool  // the byte values learned
	vals  []byte     // the alphabet, ascending
	in    [256]bool  // whether a byte is in it
	under [256]int64 // how many of its values are below a byte
	bits  float64    // log2 of its size
}

func newSpace(in [256]bool) *space {
	n := 0
	for _, ok := range in {
		if ok {
			n++
		}
	}
	sp := &space{seen: in}
	if n < 2 {
		in[0x00], in[0xff] = true, true // a base needs two digits
	}
	sp.in = in
	for b := range 256 {
		sp.under[b] = int64(len(sp.vals))
		if in[b] {
			sp.vals = append(sp.vals, byte(b))
		}
	}
	sp.bits = math.Log2(float64(len(sp.vals)))
	return sp
}

// byteSpace is the space of every byte value.
var byteSpace = func() *space {
	var in [256]bool
	for b := range in {
		in[b] = true
	}
	return newSpace(in)
}()

// learn is sp widened by the byte values of keys (after items), or sp
// itself when it holds them all.
func (sp *space) learn(items string, kvs []*mvccpb.KeyValue) *space {
	in, grew := sp.seen, false
	for _, kv := range kvs {
		// Without the terminator (00 01), which would otherwise put two
		// empty digits at every position.
		for _, b := range kv.Key[len(items):max(len(items), len(kv.Key)-2)] {
			if !in[b] {
				in[b], grew = true, true
			}
		}
	}
	if !grew {
		return sp
	}
	return newSpace(in)
}

func (sp *space) base() *big.Int { return big.NewInt(int64(len(sp.vals))) }

// one is the whole space in units of A^-scale.
func (sp *space) one(scale int) *big.Int {
	return new(big.Int).Exp(sp.base(), big.NewInt(int64(scale)), nil)
}

// scaleFor is how many digits arithmetic on ps and a width g needs: the
// longest suffix or the width's precision, and two spare digits so that a
// point lies between any two distinct positions.
func (sp *space) scaleFor(g *big.Float, ps ...place) int {
	n := 0
	for _, p := range ps {
		n = max(n, len(p.suf))
	}
	if g != nil && g.Sign() > 0 {
		// g's leading bit is 2^(exp-1).
		if e := 1 - g.MantExp(nil); e > 0 {
			n = max(n, int(math.Ceil(float64(e)/sp.bits)))
		}
	}
	return n + 2
}

// num is p as an integer in units of A^-scale. A byte outside the alphabet
// reads as the digit boundary just above the alphabet's values below it,
// which keeps the order (not strictly) of every place.
func (sp *space) num(p place, scale int) *big.Int {
	if p.top {
		return sp.one(scale)
	}
	a, x := sp.base(), new(big.Int)
	for i := range scale {
		var d int64
		if i < len(p.suf) {
			b := p.suf[i]
			d = sp.under[b]
			if !sp.in[b] {
				x.Mul(x, a).Add(x, big.NewInt(d))
				return x.Mul(x, new(big.Int).Exp(a, big.NewInt(int64(scale-i-1)), nil))
			}
		}
		x.Mul(x, a).Add(x, big.NewInt(d)) // a suffix shorter than scale is padded with 00, digit 0
	}
	return x
}

// placeAt is the place of x units of A^-scale, clamped to the space: its
// digits are the alphabet's values, without trailing zero digits (the
// lowest string at that position; with 00 as digit 0 no key lies between
// s and s+"\x00").
func (sp *space) placeAt(x *big.Int, scale int) place {
	if x.Sign() <= 0 {
		return place{}
	}
	if x.Cmp(sp.one(scale)) >= 0 {
		return place{top: true}
	}
	a := sp.base()
	b := make([]byte, scale)
	q, d := new(big.Int).Set(x), new(big.Int)
	for i := scale - 1; i >= 0; i-- {
		q.DivMod(q, a, d)
		b[i] = sp.vals[d.Int64()]
	}
	for len(b) > 0 && b[len(b)-1] == sp.vals[0] {
		b = b[:len(b)-1] // the same position, and the lowest key at it
	}
	return place{suf: string(b)}
}

// frac is x units of A^-scale as a fraction of the space.
func (sp *space) frac(x *big.Int, scale int) *big.Float {
	f := new(big.Float).SetInt(x)
	return f.Quo(f, new(big.Float).SetInt(sp.one(scale)))
}

// units is the width g in units of A^-scale, at least one.
func (sp *space) units(g *big.Float, scale int) *big.Int {
	f := new(big.Float).Mul(g, new(big.Float).SetInt(sp.one(scale)))
	x, _ := f.Int(nil)
	if x.Sign() <= 0 {
		x.SetInt64(1)
	}
	return x
}

// dist is hi - lo as a fraction of the space (0 when hi <= lo).
func (sp *space) dist(lo, hi place) *big.Float {
	s := sp.scaleFor(nil, lo, hi)
	d := new(big.Int).Sub(sp.num(hi, s), sp.num(lo, s))
	if d.Sign() < 0 {
		d.SetInt64(0)
	}
	return sp.frac(d, s)
}

// below is the place g under hi, or the bucket's start when that is lower.
// It is before hi when hi's bytes are in the alphabet; the caller checks.
func (sp *space) below(hi place, g *big.Float) place {
	// hi is read to g's precision only (its floor): the window grows by
	// less than a unit, and its start does not lengthen page after page.
	s := sp.scaleFor(g, place{suf: hi.suf[:min(len(hi.suf), 1)]})
	x := new(big.Int).Sub(sp.num(hi, s), sp.units(g, s))
	return sp.placeAt(x, s)
}

// inside is the place g above lo clamped into (lo, hi): the window start
// nearest lo+g that leaves lo out and starts before hi. When no place lies
// strictly between them it is lo+"\x00", the first place after lo.
func (sp *space) inside(lo, hi place, g *big.Float) place {
	s := sp.scaleFor(g, lo) // hi read to that precision: its floor
	l, h := sp.num(lo, s), sp.num(hi, s)
	x := new(big.Int).Add(l, sp.units(g, s))
	if x.Cmp(h) >= 0 {
		x.Sub(h, big.NewInt(1))
	}
	next := place{suf: lo.suf + "\x00"}
	if x.Cmp(l) <= 0 {
		return next
	}
	p := sp.placeAt(x, s)
	if !p.top && p.suf < next.suf {
		return next // lo's bytes outside the alphabet read lower than lo
	}
	if !hi.top && (p.top || p.suf >= hi.suf) {
		return next
	}
	return p
}

// spacing is the mean width per key of a window [w, hi) that holds kvs
// (ascending, at least one key): the gaps between the keys count, so a
// bucket whose keys cluster (prefixes, runs) is measured at the scale of a
// window. Above the top key a window's width says nothing, so a window to
// the bucket's end counts up to its last key.
func (sp *space) spacing(items string, w, hi place, kvs []*mvccpb.KeyValue) *big.Float {
	if hi.top {
		hi = place{suf: string(kvs[len(kvs)-1].Key[len(items):]) + "\x00\x01"}
	}
	d := sp.dist(w, hi)
	if d.Sign() == 0 {
		d = sp.frac(big.NewInt(1), sp.scaleFor(nil, w, hi))
	}
	return d.Quo(d, big.NewFloat(float64(len(kvs))))
}

// times is g*f as a new value.
func times(g *big.Float, f float64) *big.Float {
	return new(big.Float).Mul(g, big.NewFloat(f))
}

// lastHint is where the last walk down from a bucket's end found its first
// page: the window's start, the keys' spacing in it and the space it was
// measured in.
type lastHint struct {
	lo      place
	spacing *big.Float
	sp      *space // immutable once made
}

// hints remembers, per bucket revision key, the last Last window, so the
// next newest-first page of the bucket usually takes one request.
type hints struct {
	mu sync.Mutex
	m  map[string]lastHint
}

func (h *hints) get(rev string) (lastHint, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.m[rev]
	if ok {
		l.spacing = new(big.Float).Set(l.spacing)
	}
	return l, ok
}

func (h *hints) put(rev string, l lastHint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxHints {
		// Forgetting costs each bucket one wider first window.
		h.m = make(map[string]lastHint)
	}
	h.m[rev] = l
}

// fillBelow loads the cursor's page with every server key of a window
// [lo, before) that holds at least one key below before, or that starts at
// the bucket's start.
func (c *cursor) fillBelow(before string) {
	t, items := c.b.t, c.b.items
	size := t.db.cfg.PageSize
	// A window aims at three quarters of a page, so a density that varies
	// a little from page to page still fits in one request. A sized
	// cursor (kv.Sizer) aims at twice its size, still taking up to a page,
	// so that its walk usually fits in one window.
	aim := max(1, size*3/4)
	if c.size < size {
		aim = min(aim, 2*c.size)
	}
	key := func(p place) string {
		if p.top {
			return c.b.end
		}
		return items + p.suf
	}
	hi := place{top: before == c.b.end}
	if !hi.top {
		hi.suf = before[len(items):]
	}
	h, hinted := t.db.hints.get(c.b.rev)
	if c.sp == nil {
		c.sp = newSpace([256]bool{})
		if hinted {
			c.sp = h.sp
		}
	}
	// under is the window start g below p, in the bytes' own space when a
	// byte of p outside the alphabet would put it at or above p.
	under := func(p place, g *big.Float) place {
		w := c.sp.below(p, g)
		if !w.top && (p.top || w.suf < p.suf) {
			return w
		}
		return byteSpace.below(p, g)
	}

	// The first window: below the previous page by its density; for Last
	// where the process last found the bucket's top; else the whole bucket
	// once (its keys' values are read only up to the limit).
	var w place
	var g *big.Float     // the next widening below empty
	var prior *big.Float // the spacing measured last, if any
	switch {
	case c.spacing != nil && !hi.top:
		prior = c.spacing
		g = times(c.spacing, float64(aim))
		w = under(hi, g)
	case hi.top && hinted:
		w, g, prior = h.lo, times(h.spacing, float64(aim)), h.spacing
	case !hi.top && len(c.page) > 0:
		lo := place{suf: c.lo[len(items):]}
		if c.lo < items {
			lo = place{}
		}
		c.sp = c.sp.learn(items, c.page)
		g = times(c.sp.spacing(items, lo, place{suf: c.hi[len(items):], top: c.hi == c.b.end}, c.page), float64(aim))
		w = under(hi, g)
	case hi.top:
	default:
		g = c.sp.frac(big.NewInt(1<<16), len(hi.suf))
		w = under(hi, g)
	}

	empty := hi                  // [empty, before) holds no server key
	var low place                // a key: (low, before) holds more than a page
	var above int64              // the keys in (low, before)
	var known []*mvccpb.KeyValue // every key of [knownLo, low], ascending
	var knownLo string           // set with known
	widened := 0
	overshot := false
	var last int // the previous window's outcome: 0, tooFew or tooMany
	boost := 1.0
	const tooFew, tooMany = 1, 2

	for probe := 0; t.err == nil; probe++ {
		if probe == maxProbes {
			c.fallback(key(empty), before, overshot, key(low))
			return
		}
		start := key(w)
		if c.first != "" && start <= c.first {
			// Nothing lies below the bucket's first key: start there.
			w, start = place{}, items
		}
		kvs, more, n := t.scan(start, before, size, false)
		if start == items && len(kvs) > 0 {
			c.first = string(kvs[0].Key)
		}
		c.sp = c.sp.learn(items, kvs)
		switch {
		case t.err != nil:
			return
		case !more && (len(kvs) > 0 || w == place{}):
			lo := start
			if overshot && start == key(low)+"\x00" && known != nil {
				kvs, lo = append(slices.Clip(known), kvs...), knownLo
			}
			c.page, c.lo, c.hi, c.has = kvs, lo, before, true
			if len(kvs) > 0 {
				// A few keys measure their spacing poorly: keep the last
				// measure then, if there is one.
				if prior == nil || len(kvs) >= max(2, aim/2) {
					c.spacing = c.sp.spacing(items, place{suf: lo[len(items):]}, hi, kvs)
				} else {
					c.spacing = prior
				}
				if hi.top {
					// The next Last starts at the top half window's lowest
					// key, which leaves room for the keys put meanwhile.
					k := string(kvs[len(kvs)-min(len(kvs), max(1, aim/2))].Key)
					t.db.hints.put(c.b.rev, lastHint{lo: place{suf: k[len(items):]}, spacing: new(big.Float).Set(c.spacing), sp: c.sp})
				}
			}
			return
		case !more && !overshot:
			// Empty, and nothing known below: widen, by 4 four times (a
			// gap between runs of keys, as where a prefix changes, is
			// often a few windows wide), then squaring the factor, so
			// that even the bucket's start is a handful of windows away.
			empty = w
			if g == nil {
				g = big.NewFloat(1)
			}
			f := 4.0
			for i := 4; i < widened && f < 1<<32; i++ {
				f *= f
			}
			widened++
			if g = times(g, f); g.Cmp(big.NewFloat(1)) > 0 {
				g.SetInt64(1) // the whole space: the next window starts at the bucket's start
			}
			w = under(empty, g)
		case !more:
			// Empty, with the keys above low under it: spread them evenly
			// below it; after two empty windows in a row they crowd low,
			// so go much nearer.
			room := c.sp.dist(low, w)
			empty = w
			if last == tooFew {
				w = c.sp.inside(low, empty, times(room, 1.0/16))
			} else {
				w = c.sp.inside(low, empty, times(room, float64(above-int64(aim))/float64(above)))
			}
			last = tooFew
		default:
			// The window holds more than a page and these are its lowest
			// keys: the page lies above them.
			overshot = true
			known, knownLo = kvs, start
			low = place{suf: string(kvs[len(kvs)-1].Key[len(items):])}
			above = n - int64(len(kvs))
			if above <= int64(size) {
				w = place{suf: low.suf + "\x00"}
				continue
			}
			// The keys above low, at the density of these keys (measured
			// by their own spread: the window's start may lie far below
			// them), or spread evenly up to empty. Runs of keys with gaps
			// between (prefixes, an alphabet's share of a byte) make the
			// local density too high further up: after a second window
			// with too many, spread them evenly when empty is a window that
			// held none, else reach four times further each time.
			room := c.sp.dist(low, empty)
			even := times(room, float64(above-int64(aim))/float64(above))
			gap := even
			if last == tooMany {
				boost *= 4
			} else {
				boost = 1
			}
			if len(kvs) > 1 && (last != tooMany || empty.top) {
				first := place{suf: string(kvs[0].Key[len(items):])}
				s := c.sp.spacing(items, first, place{suf: low.suf + "\x00\x01"}, kvs[1:])
				if d := times(s, float64(above-int64(aim))*boost); d.Cmp(room) < 0 {
					gap = d
				}
			}
			w = c.sp.inside(low, empty, gap)
			last = tooMany
		}
	}
}

// fallback reads the top of [lo, empty) with the descending range the
// windows avoid: etcd reads all of it. It is rare: windows find a page in a
// few requests for time-ordered, random, decimal and sparse keys alike
// (TestWalkDown), since widening squares its factor after four steps, so
// the bucket's start is a handful of empty windows away, and each window
// that holds too many moves low up by a page and measures the density
// there. Only keys whose density changes by orders of magnitude again and
// again within one bucket exhaust maxProbes; then lo is above the last
// window that held too many, so the range is bounded by that window.
func (c *cursor) fallback(empty, before string, overshot bool, low string) {
	lo := c.b.items
	if overshot {
		lo = low + "\x00"
	}
	kvs, more, _ := c.b.t.scan(lo, empty, c.b.t.db.cfg.PageSize, true)
	slices.Reverse(kvs)
	c.page, c.lo, c.hi, c.has = kvs, lo, before, true
	if more && len(kvs) > 0 {
		c.lo = string(kvs[0].Key)
	}
	c.spacing = nil
}
