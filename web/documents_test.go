package web_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// shareDocument stores a document of content for account ("" for everyone).
func (e *env) shareDocument(title, account, content string) data.Document {
	e.t.Helper()
	ctx := context.Background()
	lim := store.DocumentLimits{MaxSize: 1 << 20, Quota: 1 << 20}
	file, err := e.db.PutDocumentFile(ctx, testTenant, strings.NewReader(content), lim)
	if err != nil {
		e.t.Fatal(err)
	}
	d := data.Document{Title: title, FileName: strings.ToLower(title) + ".txt", AccountID: account}
	if err := e.db.CreateDocument(ctx, testTenant, "test", &d, file, lim.Quota); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func TestDocumentsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mine := e.shareDocument("Contract", "", "the contract\n")
	other := e.shareDocument("Secret", "acc-9", "not for you\n")
	c := e.acceptInvitation("dana@customer.test") // no account: sees documents for everyone only
	list, download := "/p/"+testSlug+"/documents", "/p/"+testSlug+"/documents/download?id="

	// Off by default: the pages are not available, and the menu has no link.
	off := c.get(list)
	wantStatus(t, off, http.StatusNotFound)
	wantNotContains(t, off, "Contract")
	wantStatus(t, c.get(download+mine.ID), http.StatusNotFound)
	wantNotContains(t, c.get("/p/"+testSlug+"/"), `href="/p/acme/documents"`)

	on := true
	if _, err := e.db.SetFeature(context.Background(), testTenant, "test", "documents", &on); err != nil {
		t.Fatal(err)
	}
	home := c.get("/p/" + testSlug + "/")
	wantContains(t, home, `href="/p/acme/documents"`)
	p := c.get(list)
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Contract", "contract.txt", download+mine.ID)
	wantNotContains(t, p, "Secret", other.ID)

	d := c.get(download + mine.ID)
	wantStatus(t, d, http.StatusOK)
	if d.body != "the contract\n" || d.header.Get("ETag") != `"`+mine.SHA256+`"` ||
		!strings.HasPrefix(d.header.Get("Content-Disposition"), "attachment") || d.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download: got %q with %v, want the file as an attachment with its ETag", d.body, d.header)
	}
	for _, bad := range []string{other.ID, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-an-id", ""} {
		r := c.get(download + bad)
		wantStatus(t, r, http.StatusNotFound)
		if bytes.Contains([]byte(r.body), []byte("not for you")) {
			t.Errorf("download of %q served another account's file", bad)
		}
	}
	// Signed out: to the login page.
	anon := e.client()
	if r := anon.get(list); r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "/login") {
		t.Errorf("signed out: got %d to %q, want a redirect to the login page", r.status, r.header.Get("Location"))
	}
}
