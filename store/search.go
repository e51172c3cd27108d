package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
)

// A q= search walks every record of a list that does not match, so its cost
// is the cost per record. Decoding each record's JSON to compare its fields
// made a search of 50,000 contacts take 80 ms of CPU. searchFilter first
// looks for the search terms in the stored bytes, lower-cased in place of a
// decode, and leaves to the exact match only the records that hold every
// term; and it stops the walk once the request is cancelled.

// cancelCheckEvery is how many records a walk visits between looks at its
// context: often enough that an abandoned search stops within a fraction of
// a millisecond, rarely enough to cost nothing.
const cancelCheckEvery = 256

// searchFilter is a necessary condition for a record to match a search: its
// stored JSON holds every term, ignoring ASCII case. A record that fails it
// cannot match; one that passes is checked exactly.
type searchFilter struct {
	ctx   context.Context
	terms [][]byte // lower-case ASCII, no white space
	off   bool     // the terms cannot be looked for in raw bytes
	seen  int
	buf   []byte
}

// newSearchFilter prepares the terms of q and of exact (values that must
// occur in a record as they are, such as an accountId). The matchers of
// contacts and users look for q in single fields and in the full name
// "first last"; a full-name match spans two fields, so q is split at white
// space into terms, each of which lies within one field of any record that
// matches.
func newSearchFilter(ctx context.Context, q string, exact ...string) *searchFilter {
	f := &searchFilter{ctx: ctx}
	for _, s := range append(strings.Fields(q), exact...) {
		if !plainASCII(s) {
			// Non-ASCII folds in ways byte comparison does not (K and the
			// Kelvin sign), and JSON escapes some ASCII: decode every record.
			f.off = true
			return f
		}
		f.terms = append(f.terms, []byte(strings.ToLower(s)))
	}
	return f
}

// plainASCII reports whether s is printable ASCII that JSON encoders write
// as it is (goccy/go-json and encoding/json escape " \ < > &).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// mayMatch reports whether the stored record raw can match, and fails with
// the context's error once the request is cancelled.
func (f *searchFilter) mayMatch(raw []byte) (bool, error) {
	if f.seen++; f.seen%cancelCheckEvery == 0 {
		if err := f.ctx.Err(); err != nil {
			return false, err
		}
	}
	if f.off || len(f.terms) == 0 {
		return true, nil
	}
	var ok bool
	if f.buf, ok = lowerASCII(f.buf[:0], raw); !ok {
		return true, nil // a non-ASCII value: only the exact match can tell
	}
	for _, t := range f.terms {
		if !bytes.Contains(f.buf, t) {
			return false, nil
		}
	}
	return true, nil
}

// lowerASCII appends src to dst with A-Z lower-cased, eight bytes at a
// time; ok is false when src holds a byte outside ASCII.
func lowerASCII(dst, src []byte) (out []byte, ok bool) {
	const (
		high = 0x8080808080808080
		ones = 0x0101010101010101
	)
	n := len(dst)
	dst = append(dst, src...)
	b := dst[n:]
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		if v&high != 0 {
			return dst, false
		}
		// Per byte c < 0x80: c+(0x80-'A') has its high bit set when
		// c >= 'A', c+(0x80-'Z'-1) when c > 'Z'; no sum carries into the
		// next byte.
		upper := (v + (0x80-'A')*ones) &^ (v + (0x80-'Z'-1)*ones) & high
		binary.LittleEndian.PutUint64(b[i:], v|upper>>2)
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 {
			return dst, false
		}
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return dst, true
}
