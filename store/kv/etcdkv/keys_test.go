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
