//go:build etcd

package etcdkv

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// frac2 is 2^e as a width.
func frac2(e int) *big.Float { return new(big.Float).SetMantExp(big.NewFloat(1), e) }

func TestPlaceNum(t *testing.T) {
	tests := []struct {
		name  string
		p     place
		scale int
		want  string // hex of the integer
	}{
		{"start", place{}, 2, "0"},
		{"top", place{top: true}, 2, "10000"},
		{"one byte", place{suf: "a"}, 2, "6100"},
		{"zero byte", place{suf: "\x00\x01"}, 3, "100"},
		{"ff bytes", place{suf: "\xff\xff"}, 2, "ffff"},
		{"truncated to the scale", place{suf: "abc"}, 2, "6162"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := byteSpace.num(tt.p, tt.scale).Text(16); got != tt.want {
				t.Errorf("num(%q, %d) = %s, want %s", tt.p.suf, tt.scale, got, tt.want)
			}
		})
	}
}

func TestPlaceAt(t *testing.T) {
	tests := []struct {
		name  string
		x     string // hex
		scale int
		want  place
	}{
		{"zero is the start", "0", 3, place{}},
		{"trailing zeros dropped", "610000", 3, place{suf: "a"}},
		{"inner zeros kept", "610001", 3, place{suf: "a\x00\x01"}},
		{"ff kept", "ffff00", 3, place{suf: "\xff\xff"}},
		{"one past the last is the top", "1000000", 3, place{top: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _ := new(big.Int).SetString(tt.x, 16)
			if got := byteSpace.placeAt(x, tt.scale); got != tt.want {
				t.Errorf("byteSpace.placeAt(%s, %d) = %v, want %v", tt.x, tt.scale, got, tt.want)
			}
		})
	}
	if got := byteSpace.placeAt(big.NewInt(-5), 2); got != (place{}) {
		t.Errorf("byteSpace.placeAt(-5) = %v, want the start", got)
	}
}

func TestDist(t *testing.T) {
	tests := []struct {
		lo, hi place
		want   *big.Float
	}{
		{place{}, place{top: true}, big.NewFloat(1)},
		{place{suf: "a"}, place{suf: "b"}, frac2(-8)},
		{place{suf: "\x80"}, place{top: true}, frac2(-1)},
		{place{suf: "b"}, place{suf: "a"}, big.NewFloat(0)},
		{place{suf: "a"}, place{suf: "a\x00"}, big.NewFloat(0)}, // no key between them
		{place{suf: "ab\xff"}, place{suf: "ac"}, frac2(-24)},
	}
	for _, tt := range tests {
		if got := byteSpace.dist(tt.lo, tt.hi); got.Cmp(tt.want) != 0 {
			t.Errorf("byteSpace.dist(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
		}
	}
}

func TestBelow(t *testing.T) {
	tests := []struct {
		name string
		hi   place
		g    *big.Float
		want place
	}{
		{"half below the top", place{top: true}, frac2(-1), place{suf: "\x80"}},
		{"the whole space", place{top: true}, big.NewFloat(1), place{}},
		{"more than the space", place{suf: "b"}, big.NewFloat(4), place{}},
		{"one byte down", place{suf: "b"}, frac2(-8), place{suf: "a"}},
		{"borrow through ff", place{suf: "b\x00\x01"}, frac2(-16), place{suf: "a\xff\x01"}},
		{"below a zero byte", place{suf: "a\x00\x01"}, frac2(-24), place{suf: "a"}},
		{"at the bucket start", place{suf: "\x00\x01"}, frac2(-8), place{}},
		{"a width under the scale", place{suf: "a"}, frac2(-100), place{suf: "`\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xf0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := byteSpace.below(tt.hi, tt.g); got != tt.want {
				t.Errorf("byteSpace.below(%v, %v) = %v, want %v", tt.hi, tt.g, got, tt.want)
			}
		})
	}
}

func TestInside(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi place
		g      *big.Float
		want   place
	}{
		{"quarter up", place{suf: "\x40"}, place{top: true}, frac2(-2), place{suf: "\x80"}},
		{"clamped under hi", place{suf: "a"}, place{suf: "b"}, big.NewFloat(1), place{suf: "a\xff\xff"}},
		{"no room: the first place after lo", place{suf: "a"}, place{suf: "a\x00"}, frac2(-8), place{suf: "a\x00"}},
		{"a tiny width still leaves lo out", place{suf: "a\x00\x01"}, place{suf: "b"}, frac2(-400), place{suf: "a\x00\x01\x00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byteSpace.inside(tt.lo, tt.hi, tt.g)
			if tt.name == "a tiny width still leaves lo out" {
				// Any place in (lo, lo+"\x00"] is right; the arithmetic gives
				// lo plus one unit of its scale.
				if got.suf <= tt.lo.suf || got.suf >= tt.hi.suf {
					t.Errorf("inside = %v, want in (%v, %v)", got, tt.lo, tt.hi)
				}
				return
			}
			if got != tt.want {
				t.Errorf("byteSpace.inside(%v, %v, %v) = %v, want %v", tt.lo, tt.hi, tt.g, got, tt.want)
			}
		})
	}
}

// TestWindowBounds checks on random places what the walk relies on: below
// is before hi and at or after the start, inside is after lo and before hi.
func TestWindowBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x01, 0x02, '0', '9', 'A', 'z', 0xfe, 0xff}
	randPlace := func() place {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return place{suf: string(b), top: r.IntN(20) == 0}
	}
	less := func(a, b place) bool { return !a.top && (b.top || a.suf < b.suf) }
	for range 20000 {
		a, b := randPlace(), randPlace()
		g := frac2(-r.IntN(120))
		g.Mul(g, big.NewFloat(1+r.Float64()))
		if a.top || a.suf == "" {
			continue
		}
		if w := byteSpace.below(a, g); !less(w, a) {
			t.Fatalf("byteSpace.below(%v, %v) = %v, not before it", a, g, w)
		}
		if !less(a, b) || (!b.top && b.suf == a.suf+"\x00") {
			continue
		}
		if w := byteSpace.inside(a, b, g); !less(a, w) || !less(w, b) {
			t.Fatalf("byteSpace.inside(%v, %v, %v) = %v, not between them", a, b, g, w)
		}
	}
}

func TestSpacing(t *testing.T) {
	kvs := func(keys ...string) []*mvccpb.KeyValue {
		var out []*mvccpb.KeyValue
		for _, k := range keys {
			out = append(out, &mvccpb.KeyValue{Key: []byte("P" + k)})
		}
		return out
	}
	tests := []struct {
		name  string
		w, hi place
		kvs   []*mvccpb.KeyValue
		want  *big.Float
	}{
		{"the window's width per key", place{suf: "\x40"}, place{suf: "\x80"}, kvs("\x50", "\x60"), frac2(-3)},
		{"one key", place{suf: "a"}, place{suf: "b"}, kvs("a\x80"), frac2(-8)},
		{"to the top: up to the last key", place{suf: "\x40"}, place{top: true}, kvs("\x50", "\x7f\xff\xff\x00\x01"),
			new(big.Float).Quo(byteSpace.dist(place{suf: "\x40"}, place{suf: "\x7f\xff\xff\x00\x01\x00\x01"}), big.NewFloat(2))},
		{"one key at the window's start, to the top", place{suf: "a\x00\x01"}, place{top: true}, kvs("a\x00\x01"),
			byteSpace.dist(place{suf: "a\x00\x01"}, place{suf: "a\x00\x01\x00\x01"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byteSpace.spacing("P", tt.w, tt.hi, tt.kvs)
			if got.Cmp(tt.want) != 0 || got.Sign() <= 0 {
				t.Errorf("spacing = %v, want %v (positive)", got, tt.want)
			}
		})
	}
}

func TestScaleFor(t *testing.T) {
	tests := []struct {
		g    *big.Float
		ps   []place
		want int
	}{
		{nil, nil, 2},
		{nil, []place{{suf: "abc"}, {top: true}}, 5},
		{frac2(-8), []place{{suf: "a"}}, 3},
		{frac2(-17), []place{{suf: "a"}}, 5},
		{big.NewFloat(3), []place{{suf: "abcd"}}, 6},
	}
	for _, tt := range tests {
		if got := byteSpace.scaleFor(tt.g, tt.ps...); got != tt.want {
			t.Errorf("byteSpace.scaleFor(%v, %v) = %d, want %d", tt.g, tt.ps, got, tt.want)
		}
	}
}

func TestHintsBounded(t *testing.T) {
	var h hints
	for i := range maxHints + 10 {
		h.put(string(rune(i)), lastHint{spacing: big.NewFloat(1)})
	}
	if n := len(h.m); n > maxHints {
		t.Errorf("%d hints kept, want at most %d", n, maxHints)
	}
	l, ok := h.get(string(rune(maxHints + 9)))
	if !ok {
		t.Fatal("the latest hint is gone")
	}
	l.spacing.SetInt64(7) // a copy: the stored hint keeps its value
	if l2, _ := h.get(string(rune(maxHints + 9))); l2.spacing.Cmp(big.NewFloat(1)) != 0 {
		t.Errorf("stored hint changed through a copy: %v", l2.spacing)
	}
}

func (p place) String() string {
	if p.top {
		return "top"
	}
	return strconv.Quote(p.suf)
}

// TestAlphabetSpace: keys drawn from the decimal digits are read in base
// 10, so no gap lies between 0999 and 1000; bytes outside the alphabet
// (the terminator among them) read as the digit boundary above the values
// under them.
func TestAlphabetSpace(t *testing.T) {
	sp := newSpace([256]bool{}).learn("P", []*mvccpb.KeyValue{{Key: []byte("P0123456789\x00\x01")}})
	if got := string(sp.vals); got != "0123456789" {
		t.Fatalf("alphabet %q, want the digits (no terminator)", got)
	}
	if again := sp.learn("P", []*mvccpb.KeyValue{{Key: []byte("P42\x00\x01")}}); again != sp {
		t.Error("learning known bytes made a new space")
	}
	nums := []struct {
		p     place
		scale int
		want  int64
	}{
		{place{suf: "5"}, 1, 5},
		{place{suf: "50"}, 2, 50},
		{place{suf: "5\x00\x01"}, 2, 50}, // 00 is below every digit
		{place{suf: "1a"}, 2, 20},        // 'a' is above every digit: carry
		{place{suf: "0999"}, 4, 999},
		{place{top: true}, 3, 1000},
	}
	for _, tt := range nums {
		if got := sp.num(tt.p, tt.scale); got.Int64() != tt.want {
			t.Errorf("num(%v, %d) = %v, want %d", tt.p, tt.scale, got, tt.want)
		}
	}
	if got := sp.placeAt(big.NewInt(1234), 4); got != (place{suf: "1234"}) {
		t.Errorf("placeAt(1234, 4) = %v, want \"1234\"", got)
	}
	if got, want := sp.dist(place{suf: "0999"}, place{suf: "1000"}), sp.frac(big.NewInt(1), 4); got.Cmp(want) != 0 {
		t.Errorf("dist(0999, 1000) = %v, want one unit of the fourth digit, %v", got, want)
	}
	if got := sp.below(place{suf: "1000"}, sp.frac(big.NewInt(1), 4)); got != (place{suf: "0999"}) {
		t.Errorf("below(1000, 1e-4) = %v, want \"0999\"", got)
	}
	if got := sp.inside(place{suf: "0999"}, place{suf: "1001"}, sp.frac(big.NewInt(1), 4)); got.suf <= "0999" || got.suf >= "1001" {
		t.Errorf("inside(0999, 1001) = %v, not between them", got)
	}
	if one := newSpace([256]bool{}); len(one.vals) != 2 {
		t.Errorf("a space with nothing learned has %d digits, want 2", len(one.vals))
	}
}
