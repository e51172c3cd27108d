package store

import (
	"bytes"
	"testing"
)

func TestLowerASCII(t *testing.T) {
	all := make([]byte, 0x80)
	for i := range all {
		all[i] = byte(i)
	}
	for _, in := range [][]byte{all, []byte("ABCXYZ@[`abcxyz{"), []byte("Short"), []byte("Ünïcode AND MORE"), nil} {
		got, ok := lowerASCII(nil, in)
		want := bytes.ToLower(in)
		wantOK := isASCII(in)
		if ok != wantOK || (ok && !bytes.Equal(got, want)) {
			t.Errorf("lowerASCII(%q): got %q, %t, want %q, %t", in, got, ok, want, wantOK)
		}
	}
}

func FuzzLowerASCII(f *testing.F) {
	f.Add([]byte("Ada LOVELACE <ada@example.com>"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := lowerASCII(nil, in)
		if !isASCII(in) {
			if ok {
				t.Fatalf("lowerASCII(%q): got ok for non-ASCII", in)
			}
			return
		}
		if !ok || !bytes.Equal(got, bytes.ToLower(in)) {
			t.Fatalf("lowerASCII(%q): got %q, %t, want %q", in, got, ok, bytes.ToLower(in))
		}
	})
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
