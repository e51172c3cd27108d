package handlers

import (
	"bytes"
	"mime/multipart"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// FuzzReadDocumentForm feeds the parser of document uploads (multipart
// bodies with the boundary "B"). Errors are fine; a panic fails, and so
// does an accepted form that is not a valid document with its file, or
// any chunk left behind once the form's file is discarded.
func FuzzReadDocumentForm(f *testing.F) {
	form := func(parts ...string) string {
		return strings.Join(parts, "") + "--B--\r\n"
	}
	field := func(name, value string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	file := func(name, content string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + name + "\"\r\n" +
			"Content-Type: application/octet-stream\r\n\r\n" + content + "\r\n"
	}
	for _, seed := range []string{
		form(field("title", "Terms"), file("terms.txt", "hello")),
		form(file(`C:\x\y.pdf`, "%PDF-1.7"), field("title", "T"), field("accountId", "acc-1")),
		form(field("title", "T")),
		form(file("a", "x"), file("b", "y")),
		form(field("title", "a\nb"), file("..", "x")),
		form(field("other", "x"), file("f", strings.Repeat("z", 70<<10))),
		"--B\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nunterminated",
		"not multipart at all",
		"",
	} {
		f.Add([]byte(seed))
	}
	db, err := store.Open(filepath.Join(f.TempDir(), "portal.db"), time.Now, store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	s := &server{db: db, docLimit: documentLimits(1<<20, 64<<10)}
	const tenant = data.TenantID("acme")
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, file, err := s.readDocumentForm(t.Context(), tenant, multipart.NewReader(bytes.NewReader(body), "B"))
		if err == nil {
			if file == nil {
				t.Fatal("accepted a form without its file")
			}
			if verr := doc.Validate(); verr != nil || strings.ContainsAny(doc.FileName, `/\`) {
				t.Fatalf("accepted %+v: %v", doc, verr)
			}
		}
		if file != nil {
			if err := db.DiscardBlob(t.Context(), tenant, file.ID); err != nil {
				t.Fatal(err)
			}
		}
		if st, err := db.BlobStats(t.Context(), tenant); err != nil || st.Chunks != 0 || st.Loose != 0 {
			t.Fatalf("got %+v, %v after the form, want nothing stored", st, err)
		}
	})
}
