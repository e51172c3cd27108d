package handlers

import (
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

// FuzzParseIfMatch feeds arbitrary If-Match headers to parseIfMatch. It may
// refuse a header (a 400 parameter error), but it never panics, every tag it
// returns is a quoted strong entity tag, and the tags it reads re-encode to a
// header that parses to the same list.
func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{"", "*", `"1"`, `"7", "8"`, `W/"3"`, `"0"`, `"-1"`, `"abc"`, `"`, `""`,
		`"9223372036854775807"`, `"9223372036854775808"`, `1`, `"1",`, `,,`, `*, "1"`, " \"2\" ",
		strings.Repeat(`"1",`, 300), "\"\xff\"", `"1"` + "\x00", `"02"`, `"+2"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tags, present, err := parseIfMatch(h)
		if err != nil {
			if _, ok := err.(*paramError); !ok {
				t.Fatalf("parseIfMatch(%q): got error %T %v, want a *paramError (400)", h, err, err)
			}
			if !present {
				t.Fatalf("parseIfMatch(%q): error with present=false", h)
			}
			return
		}
		if !present {
			if len(tags) != 0 {
				t.Fatalf("parseIfMatch(%q): not present but tags %v", h, tags)
			}
			return
		}
		for _, tag := range tags {
			if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.Contains(tag[1:len(tag)-1], `"`) {
				t.Fatalf("parseIfMatch(%q): tag %q is not a quoted strong entity tag", h, tag)
			}
		}
		if len(tags) == 0 {
			return
		}
		again, present2, err := parseIfMatch(strings.Join(tags, ", "))
		if err != nil || !present2 {
			t.Fatalf("re-encoded %q of %q: got err %v present %t", strings.Join(tags, ", "), h, err, present2)
		}
		if strings.Join(again, ",") != strings.Join(tags, ",") {
			t.Fatalf("parseIfMatch(%q) = %v; re-encoded it parses to %v", h, tags, again)
		}
	})
}

// TestIfMatch_ComparesTagsAsStrings: strong comparison is character by
// character, so "02" and "+2" do not match the ETag "2".
func TestIfMatch_ComparesTagsAsStrings(t *testing.T) {
	for _, h := range []string{`"02"`, `"+2"`, `" 2"`} {
		tags, _, err := parseIfMatch(h)
		if err != nil {
			t.Fatalf("parseIfMatch(%q): %v", h, err)
		}
		for _, tag := range tags {
			if tag == (data.Config{Version: 2}).ETag() {
				t.Fatalf("parseIfMatch(%q) gave %q, which equals the ETag of version 2", h, tag)
			}
		}
	}
}
