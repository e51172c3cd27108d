package data

import (
	"strings"
	"testing"
	"time"
)

// FuzzValidID feeds arbitrary path segments to ValidID, the check every
// {id} of the API passes before any lookup. It never panics, and what it
// accepts is 26 URL-safe characters, as the IDs this service issues are.
func FuzzValidID(f *testing.F) {
	ids := NewIDSource(nil)
	for _, s := range []string{ids.New(time.Now()), "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01arz3ndektsv4rrffq69g5fav",
		"", "0", strings.Repeat("Z", 26), "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "../../../etc/passwd", "01ARZ3NDEKTSV4RRFFQ69G5FA\x00",
		"01ARZ3NDEKTSV4RRFFQ69G5FAU", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01ARZ3NDEKTSV4RRFFQ69G5FAVX"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidID(s) {
			return
		}
		if len(s) != 26 {
			t.Fatalf("ValidID(%q) = true for %d characters, want 26", s, len(s))
		}
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
				t.Fatalf("ValidID(%q) = true with %q, want only letters and digits", s, c)
			}
		}
	})
}
