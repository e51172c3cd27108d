package data_test

import (
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

func TestDocument_Validate(t *testing.T) {
	t.Parallel()
	ok := data.Document{Title: "Contract 2026", FileName: "contract.pdf", AccountID: "acc-1"}
	cases := []struct {
		name  string
		edit  func(d *data.Document)
		field string // "" when valid
	}{
		{"valid", func(*data.Document) {}, ""},
		{"for everyone", func(d *data.Document) { d.AccountID = "" }, ""},
		{"no title", func(d *data.Document) { d.Title = "  " }, "title"},
		{"long title", func(d *data.Document) { d.Title = strings.Repeat("é", data.MaxDocumentTitle+1) }, "title"},
		{"title with a line break", func(d *data.Document) { d.Title = "a\nb" }, "title"},
		{"no file name", func(d *data.Document) { d.FileName = "" }, "file"},
		{"dot dot", func(d *data.Document) { d.FileName = ".." }, "file"},
		{"a path", func(d *data.Document) { d.FileName = "a/b.pdf" }, "file"},
		{"a direction override", func(d *data.Document) { d.FileName = "fdp.\u202eexe" }, "file"},
		{"long file name", func(d *data.Document) { d.FileName = strings.Repeat("a", data.MaxFileName+1) }, "file"},
		{"account with a space", func(d *data.Document) { d.AccountID = "a b" }, "accountId"},
	}
	for _, c := range cases {
		d := ok
		c.edit(&d)
		err := d.Validate()
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: got %v, want valid", c.name, err)
			}
			continue
		}
		ve, isVE := err.(*data.ValidationError)
		if !isVE || ve.Fields[c.field] == "" || len(ve.Fields) != 1 {
			t.Errorf("%s: got %v, want one error of %s", c.name, err, c.field)
		}
	}
}

func TestCleanFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"report.pdf":              "report.pdf",
		`C:\Users\ann\report.pdf`: "report.pdf",
		"/home/ann/ report.pdf ":  "report.pdf",
		"dir/":                    "",
		"contrat signé (v2).docx": "contrat signé (v2).docx",
	} {
		if got := data.CleanFileName(in); got != want {
			t.Errorf("CleanFileName(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestDocument_VisibleTo(t *testing.T) {
	t.Parallel()
	everyone, shared := data.Document{}, data.Document{AccountID: "acc-1"}
	cases := []struct {
		d       data.Document
		account string
		want    bool
	}{
		{everyone, "", true}, {everyone, "acc-2", true},
		{shared, "acc-1", true}, {shared, "acc-2", false}, {shared, "", false},
	}
	for _, c := range cases {
		if got := c.d.VisibleTo(c.account); got != c.want {
			t.Errorf("document of %q to %q: got %v, want %v", c.d.AccountID, c.account, got, c.want)
		}
	}
}

func TestSniffContentType(t *testing.T) {
	t.Parallel()
	for head, want := range map[string]string{
		"%PDF-1.7\n":            "application/pdf",
		"plain words\n":         "text/plain; charset=utf-8",
		"\x89PNG\r\n\x1a\n\x00": "image/png",
		"<html><script>":        "text/html; charset=utf-8",
		"":                      "text/plain",
	} {
		if got := data.SniffContentType([]byte(head)); got != want {
			t.Errorf("SniffContentType(%q): got %q, want %q", head, got, want)
		}
	}
}

// FuzzFileName: whatever a client sends as a file name, a cleaned name that
// passes the rules is one line, one path element, and at most MaxFileName
// characters.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"a.pdf", `..\..\x`, "a/../b", "\u202egnp.exe", "a\x00b", "\xff", " . "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name := data.CleanFileName(s)
		if data.FileNameProblem(name) != "" {
			return
		}
		if strings.ContainsAny(name, "/\\\x00\r\n") || name == "." || name == ".." || !data.SingleLine(name) ||
			len([]rune(name)) > data.MaxFileName || name == "" {
			t.Fatalf("%q cleaned to %q, which passed", s, name)
		}
	})
}
