//go:build etcd

package etcdkv

import (
	"bytes"
	"testing"
)

func FuzzEncoding(f *testing.F) {
	for _, s := range [][2]string{{"", "a"}, {"a", "a\x00"}, {"\x00", "\x00\xff"}, {"a\x00\x01", "a\x01"}, {"\xff", "\xff\x00"}} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ea, eb := appendEnc(nil, a), appendEnc(nil, b)
		if got := decodeItem(ea); !bytes.Equal(got, a) {
			t.Fatalf("decode(enc(%x)): got %x", a, got)
		}
		if c, ce := bytes.Compare(a, b), bytes.Compare(ea, eb); c != ce {
			t.Fatalf("order of %x, %x: names compare %d, encodings %d", a, b, c, ce)
		}
		if !bytes.Equal(a, b) && (bytes.HasPrefix(ea, eb) || bytes.HasPrefix(eb, ea)) {
			t.Fatalf("enc(%x)=%x and enc(%x)=%x: one is a prefix of the other", a, ea, b, eb)
		}
		if pe := prefixEnd(ea); bytes.Compare(pe, ea) <= 0 || (bytes.HasPrefix(eb, ea) && bytes.Compare(eb, pe) >= 0) {
			t.Fatalf("prefixEnd(%x) = %x does not bound its prefix", ea, pe)
		}
	})
}

// FuzzDecodePath: the path of a bucket, as encoded in the key of one of its
// items, decodes to itself whatever the item's name.
func FuzzDecodePath(f *testing.F) {
	f.Add([]byte("orgs"), []byte("acme"), []byte("kb_articles"), []byte("article-1"))
	f.Add([]byte{0}, []byte{0, 0xff, 1}, []byte{}, []byte{2, 0, 1})
	f.Fuzz(func(t *testing.T, a, b, c, item []byte) {
		var enc []byte
		var want [][]byte
		for _, seg := range [][]byte{a, b, c} {
			enc = appendEnc(append(enc, sepBucket), seg)
			want = append(want, seg)
		}
		enc = appendEnc(append(enc, sepItems), item)
		got, ok := decodePath(enc)
		if !ok || len(got) != len(want) {
			t.Fatalf("decodePath(%x) = %q, %v; want %q", enc, got, ok, want)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("segment %d: got %q, want %q", i, got[i], want[i])
			}
		}
	})
}
