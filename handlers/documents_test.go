package handlers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/store"
)

const documentsPath = "/v1/customer-portal/documents"

type documentJSON struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	FileName    string    `json:"fileName"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	AccountID   string    `json:"accountId"`
	CreatedAt   time.Time `json:"createdAt"`
	CreatedBy   string    `json:"createdBy"`
}

type documentPage struct {
	Data       []documentJSON `json:"data"`
	NextCursor *string        `json:"nextCursor"`
}

// formPart is one part of a multipart upload: a field, or a file when
// fileName is set.
type formPart struct {
	name, fileName string
	body           []byte
}

// multipartBody builds a multipart/form-data body of parts.
func multipartBody(t *testing.T, parts ...formPart) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.fileName != "" {
			h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": p.name, "filename": p.fileName}))
			h.Set("Content-Type", "application/octet-stream")
		} else {
			h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": p.name}))
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// upload posts parts to the document upload.
func (e *testEnv) upload(token string, parts ...formPart) response {
	e.t.Helper()
	body, ct := multipartBody(e.t, parts...)
	return e.do(http.MethodPost, documentsPath, token, body, "Content-Type", ct)
}

// mustUpload uploads content as a document shared with account ("" for
// everyone).
func (e *testEnv) mustUpload(token, title, account, fileName string, content []byte) documentJSON {
	e.t.Helper()
	parts := []formPart{{name: "title", body: []byte(title)}, {name: "file", fileName: fileName, body: content}}
	if account != "" {
		parts = append(parts, formPart{name: "accountId", body: []byte(account)})
	}
	r := e.upload(token, parts...)
	wantStatus(e.t, r, http.StatusCreated)
	var d documentJSON
	r.decode(e.t, &d)
	if r.header.Get("Location") != documentsPath+"/"+d.ID {
		e.t.Errorf("got Location %q, want %s/%s", r.header.Get("Location"), documentsPath, d.ID)
	}
	return d
}

// setFeature switches a feature of the token's organization.
func (e *testEnv) setFeature(token, id string, on bool) {
	e.t.Helper()
	wantStatus(e.t, e.do(http.MethodPatch, "/v1/customer-portal/features/"+id+"/toggle", token, map[string]any{"enabled": on}), http.StatusOK)
}

// customer invites and activates a portal user with extra invitation
// fields and returns the session token.
func (e *testEnv) customer(token, email string, extra map[string]any) string {
	e.t.Helper()
	inv := e.invite(token, email, extra)
	return e.accept(inv.AcceptURL).AccessToken
}

// blobStats reads the organization's blob counts from the store.
func (e *testEnv) blobStats(org string) store.BlobStats {
	e.t.Helper()
	s, err := e.db.BlobStats(e.t.Context(), "acme")
	if org != "acme" {
		s, err = e.db.BlobStats(e.t.Context(), "globex")
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func fileContent(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestDocuments_VisibilityMatrix(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme, globex := e.admin("acme"), e.admin("globex")
	e.setFeature(acme, "documents", true)
	e.setFeature(globex, "documents", true)
	mine := e.mustUpload(acme, "Contract", "acc-1", "contract.txt", []byte("contract of acc-1\n"))
	everyone := e.mustUpload(acme, "Terms", "", "terms.txt", []byte("terms for all\n"))
	theirs := e.mustUpload(acme, "Other", "acc-2", "other.txt", []byte("contract of acc-2\n"))
	elsewhere := e.mustUpload(globex, "Globex", "acc-1", "g.txt", []byte("globex, same account name\n"))

	callers := []struct {
		name, token string
		staff       bool
		sees        []string // of mine, everyone, theirs, elsewhere
	}{
		{"member of the account", e.customer(acme, "member@example.com", map[string]any{"accountId": "acc-1"}), false,
			[]string{mine.ID, everyone.ID}},
		{"customer admin of the account", e.customer(acme, "boss@example.com", map[string]any{"accountId": "acc-1", "role": "admin"}), false,
			[]string{mine.ID, everyone.ID}},
		{"member of another account", e.customer(acme, "other@example.com", map[string]any{"accountId": "acc-2"}), false,
			[]string{everyone.ID, theirs.ID}},
		{"member without an account", e.customer(acme, "none@example.com", nil), false,
			[]string{everyone.ID}},
		{"user of another organization", e.customer(globex, "g@example.com", map[string]any{"accountId": "acc-1"}), false,
			[]string{elsewhere.ID}},
		{"staff", acme, true, []string{mine.ID, everyone.ID, theirs.ID}},
		{"staff of another organization", globex, true, []string{elsewhere.ID}},
	}
	all := []documentJSON{mine, everyone, theirs, elsewhere}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			list := "/v1/portal/documents"
			if c.staff {
				list = documentsPath
			}
			r := e.do(http.MethodGet, list, c.token, nil)
			wantStatus(t, r, http.StatusOK)
			var p documentPage
			r.decode(t, &p)
			var got []string
			for _, d := range p.Data {
				got = append(got, d.ID)
			}
			want := slices.Clone(c.sees)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
			for _, d := range all {
				path := "/v1/portal/documents/" + d.ID + "/content"
				if c.staff {
					path = documentsPath + "/" + d.ID
				}
				status := http.StatusNotFound
				if slices.Contains(c.sees, d.ID) {
					status = http.StatusOK
				}
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					r := e.do(method, path, c.token, nil)
					if r.status != status {
						t.Errorf("%s %s (%s): got %d, want %d", method, path, d.Title, r.status, status)
					}
					if status == http.StatusNotFound && method == http.MethodGet {
						if p := wantProblem(t, r, http.StatusNotFound); p["type"] != "https://salesos.dev/problems/not-found" {
							t.Errorf("got problem type %v, want not-found", p["type"])
						}
					}
				}
			}
		})
	}
	// Deleting another organization's document is 404 and deletes nothing.
	wantProblem(t, e.do(http.MethodDelete, documentsPath+"/"+elsewhere.ID, acme, nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodGet, documentsPath+"/"+elsewhere.ID, globex, nil), http.StatusOK)
	// A reader may list, not upload or delete.
	reader := e.tokenFor("acme", "portal:read")
	wantStatus(t, e.do(http.MethodGet, documentsPath, reader, nil), http.StatusOK)
	wantProblem(t, e.do(http.MethodDelete, documentsPath+"/"+mine.ID, reader, nil), http.StatusForbidden)
	body, ct := multipartBody(t, formPart{name: "title", body: []byte("x")}, formPart{name: "file", fileName: "x", body: []byte("x")})
	wantProblem(t, e.do(http.MethodPost, documentsPath, reader, body, "Content-Type", ct), http.StatusForbidden)
}

func TestDocuments_FeatureDisabled(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	// Off by default; the admin API works meanwhile, so staff can prepare.
	d := e.mustUpload(acme, "Terms", "", "terms.txt", []byte("terms\n"))
	wantStatus(t, e.do(http.MethodGet, documentsPath+"/"+d.ID, acme, nil), http.StatusOK)
	tok := e.customer(acme, "c@example.com", nil)
	routes := []string{"/v1/portal/documents", "/v1/portal/documents/" + d.ID + "/content",
		"/v1/portal/documents/01ARZ3NDEKTSV4RRFFQ69G5FAV/content"}
	for _, path := range routes {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			r := e.do(method, path, tok, nil)
			if method == http.MethodHead {
				wantStatus(t, r, http.StatusNotFound)
				continue
			}
			if p := wantProblem(t, r, http.StatusNotFound); p["type"] != "https://salesos.dev/problems/feature-disabled" {
				t.Errorf("%s %s: got problem type %v, want feature-disabled", method, path, p["type"])
			}
		}
		// Without a session: 401 first, so nothing of the configuration shows.
		wantProblem(t, e.do(http.MethodGet, path, "", nil), http.StatusUnauthorized)
	}
	e.setFeature(acme, "documents", true)
	wantStatus(t, e.do(http.MethodGet, routes[0], tok, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, routes[1], tok, nil), http.StatusOK)
	e.setFeature(acme, "documents", false)
	wantProblem(t, e.do(http.MethodGet, routes[1], tok, nil), http.StatusNotFound)
}

func TestDocuments_Download(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	e.setFeature(acme, "documents", true)
	content := append([]byte("%PDF-1.7\n"), fileContent(store.BlobChunkSize+1000, 3)...)
	d := e.mustUpload(acme, "Contract", "", `C:\Users\ann\Vertrag März.pdf`, content)
	sum := sha256.Sum256(content)
	if d.SHA256 != hex.EncodeToString(sum[:]) || d.Size != int64(len(content)) || d.ContentType != "application/pdf" ||
		d.FileName != "Vertrag März.pdf" || d.CreatedBy != "staff-1" {
		t.Errorf("got %+v, want the PDF's hash, size and type, its name without the path, by staff-1", d)
	}
	tok := e.customer(acme, "c@example.com", nil)
	path := "/v1/portal/documents/" + d.ID + "/content"
	etag := `"` + d.SHA256 + `"`

	r := e.do(http.MethodGet, path, tok, nil)
	wantStatus(t, r, http.StatusOK)
	if !bytes.Equal(r.body, content) {
		t.Errorf("downloaded %d bytes that differ from the %d uploaded", len(r.body), len(content))
	}
	_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
	for k, want := range map[string]string{"ETag": etag, "Content-Type": "application/pdf", "X-Content-Type-Options": "nosniff",
		"Accept-Ranges": "bytes", "Cache-Control": "private, no-cache", "Content-Length": fmt.Sprint(len(content))} {
		if got := r.header.Get(k); got != want {
			t.Errorf("got %s %q, want %q", k, got, want)
		}
	}
	if err != nil || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment;") || params["filename"] != "Vertrag März.pdf" {
		t.Errorf("got Content-Disposition %q, want an attachment named Vertrag März.pdf", r.header.Get("Content-Disposition"))
	}

	cases := []struct {
		name    string
		headers []string
		status  int
		body    []byte
		check   func(t *testing.T, r response)
	}{
		{"If-None-Match current", []string{"If-None-Match", etag}, http.StatusNotModified, nil, nil},
		{"If-None-Match among others", []string{"If-None-Match", `"abc", ` + etag}, http.StatusNotModified, nil, nil},
		{"If-None-Match stale", []string{"If-None-Match", `"stale"`}, http.StatusOK, content, nil},
		{"a range across a chunk boundary", []string{"Range", fmt.Sprintf("bytes=%d-%d", store.BlobChunkSize-10, store.BlobChunkSize+9)},
			http.StatusPartialContent, content[store.BlobChunkSize-10 : store.BlobChunkSize+10], func(t *testing.T, r response) {
				want := fmt.Sprintf("bytes %d-%d/%d", store.BlobChunkSize-10, store.BlobChunkSize+9, len(content))
				if got := r.header.Get("Content-Range"); got != want {
					t.Errorf("got Content-Range %q, want %q", got, want)
				}
			}},
		{"a suffix range", []string{"Range", "bytes=-100"}, http.StatusPartialContent, content[len(content)-100:], nil},
		// Several ranges get the whole file, on every Go release.
		{"two ranges", []string{"Range", "bytes=0-3,10-13"}, http.StatusOK, content, nil},
		{"If-Range current", []string{"Range", "bytes=0-3", "If-Range", etag}, http.StatusPartialContent, content[:4], nil},
		{"If-Range stale", []string{"Range", "bytes=0-3", "If-Range", `"stale"`}, http.StatusOK, content, nil},
		{"a range past the end", []string{"Range", fmt.Sprintf("bytes=%d-", len(content)+5)}, http.StatusRequestedRangeNotSatisfiable, nil,
			func(t *testing.T, r response) {
				if got, want := r.header.Get("Content-Range"), fmt.Sprintf("bytes */%d", len(content)); got != want {
					t.Errorf("got Content-Range %q, want %q", got, want)
				}
			}},
	}
	for _, c := range cases {
		r := e.do(http.MethodGet, path, tok, nil, c.headers...)
		if r.status != c.status {
			t.Errorf("%s: got %d, want %d: %.200s", c.name, r.status, c.status, r.body)
			continue
		}
		if c.body != nil && !bytes.Equal(r.body, c.body) {
			t.Errorf("%s: got %d bytes that differ from the %d expected", c.name, len(r.body), len(c.body))
		}
		if c.status != http.StatusRequestedRangeNotSatisfiable && r.header.Get("ETag") != etag {
			t.Errorf("%s: got ETag %q, want %q", c.name, r.header.Get("ETag"), etag)
		}
		if c.check != nil {
			c.check(t, r)
		}
	}
	h := e.do(http.MethodHead, path, tok, nil)
	if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Length") != fmt.Sprint(len(content)) {
		t.Errorf("HEAD: got %d with %d bytes and Content-Length %q, want 200, none and %d", h.status, len(h.body),
			h.header.Get("Content-Length"), len(content))
	}
	// The list shows what the download serves.
	r = e.do(http.MethodGet, "/v1/portal/documents", tok, nil)
	wantStatus(t, r, http.StatusOK)
	var p documentPage
	r.decode(t, &p)
	if len(p.Data) != 1 || p.Data[0] != d {
		t.Errorf("got %+v, want the one document %+v", p.Data, d)
	}
}

func TestDocuments_UploadRefusals(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	e.mustUpload(acme, "Kept", "", "kept.txt", fileContent(store.BlobChunkSize+5, 1))
	before := e.blobStats("acme")
	file := formPart{name: "file", fileName: "a.txt", body: fileContent(3*store.BlobChunkSize, 2)}
	title := formPart{name: "title", body: []byte("A title")}
	cases := []struct {
		name   string
		parts  []formPart
		status int
		fields []string
	}{
		{"no title", []formPart{file}, http.StatusUnprocessableEntity, []string{"title"}},
		{"a blank title after the file", []formPart{file, {name: "title", body: []byte("  ")}}, http.StatusUnprocessableEntity, []string{"title"}},
		{"a title on two lines", []formPart{{name: "title", body: []byte("a\nb")}, file}, http.StatusUnprocessableEntity, []string{"title"}},
		{"a title not UTF-8", []formPart{{name: "title", body: []byte("\xff\xfe\xc3\x28")}, file}, http.StatusUnprocessableEntity, []string{"title"}},
		{"a file name not UTF-8", []formPart{title, {name: "file", fileName: "a\xff.txt", body: []byte("x")}}, http.StatusUnprocessableEntity, []string{"file"}},
		{"no file", []formPart{title}, http.StatusUnprocessableEntity, []string{"file"}},
		{"a file part without a file name", []formPart{title, {name: "file", body: []byte("x")}}, http.StatusUnprocessableEntity, []string{"file"}},
		{"a file named ..", []formPart{title, {name: "file", fileName: "..", body: []byte("x")}}, http.StatusUnprocessableEntity, []string{"file"}},
		{"an unknown field", []formPart{title, file, {name: "owner", body: []byte("x")}}, http.StatusUnprocessableEntity, []string{"owner"}},
		{"a bad account", []formPart{title, file, {name: "accountId", body: []byte("a b")}}, http.StatusUnprocessableEntity, []string{"accountId"}},
		{"two files", []formPart{title, file, file}, http.StatusBadRequest, nil},
	}
	for _, c := range cases {
		r := e.upload(acme, c.parts...)
		p := wantProblem(t, r, c.status)
		if c.fields != nil {
			got := fieldErrors(t, p)
			for _, f := range c.fields {
				if got[f] == "" {
					t.Errorf("%s: got errors %v, want one of %s", c.name, got, f)
				}
			}
		}
		if after := e.blobStats("acme"); after != before {
			t.Errorf("%s: got blobs %+v after the refusal, want %+v as before", c.name, after, before)
		}
	}
	for _, ct := range []string{"application/json", "multipart/form-data", "text/plain; boundary=x"} {
		r := e.do(http.MethodPost, documentsPath, acme, "{}", "Content-Type", ct)
		wantProblem(t, r, http.StatusUnsupportedMediaType)
	}
	body, ct := multipartBody(t, title, file)
	wantProblem(t, e.do(http.MethodPost, documentsPath, acme, body[:len(body)/2], "Content-Type", ct), http.StatusBadRequest)
	if after := e.blobStats("acme"); after != before {
		t.Errorf("a body cut short: got blobs %+v, want %+v as before", after, before)
	}
}

func TestDocuments_Quota(t *testing.T) {
	t.Parallel()
	e := newTestEnvWith(t, envOptions{hasher: cheapHasher(), documentQuota: 4 * store.BlobChunkSize, maxDocument: 2 * store.BlobChunkSize})
	acme := e.admin("acme")
	up := func(n int) response {
		return e.upload(acme, formPart{name: "title", body: []byte("T")}, formPart{name: "file", fileName: "f.bin", body: fileContent(n, byte(n))})
	}
	// A file over the size limit: 413, and no chunk of it is kept, though
	// several transactions' worth were written before the limit was seen.
	before := e.blobStats("acme")
	p := wantProblem(t, up(2*store.BlobChunkSize+1), http.StatusRequestEntityTooLarge)
	if p["type"] != "https://salesos.dev/problems/file-too-large" || !strings.Contains(p["detail"].(string), "512 KiB") {
		t.Errorf("got %v, want file-too-large naming the 512 KiB limit", p)
	}
	if after := e.blobStats("acme"); after != before {
		t.Errorf("after 413: got blobs %+v, want %+v", after, before)
	}
	a := up(2 * store.BlobChunkSize)
	wantStatus(t, a, http.StatusCreated)
	wantStatus(t, up(store.BlobChunkSize), http.StatusCreated)
	before = e.blobStats("acme")
	r := up(store.BlobChunkSize + 1)
	p = wantProblem(t, r, http.StatusInsufficientStorage)
	if p["type"] != "https://salesos.dev/problems/quota-exceeded" || r.header.Get("Retry-After") != "" {
		t.Errorf("got %v with Retry-After %q, want quota-exceeded without Retry-After", p, r.header.Get("Retry-After"))
	}
	if after := e.blobStats("acme"); after != before || after.Bytes != 3*store.BlobChunkSize {
		t.Errorf("after 507: got blobs %+v, want %+v", after, before)
	}
	// Another organization has its own quota.
	wantStatus(t, e.upload(e.admin("globex"), formPart{name: "title", body: []byte("G")},
		formPart{name: "file", fileName: "g", body: fileContent(2*store.BlobChunkSize, 9)}), http.StatusCreated)
	// Deleting makes room at once.
	var d documentJSON
	a.decode(t, &d)
	wantStatus(t, e.do(http.MethodDelete, documentsPath+"/"+d.ID, acme, nil), http.StatusNoContent)
	if s := e.blobStats("acme"); s.Bytes != store.BlobChunkSize || s.Chunks != 1 || s.Loose != 0 {
		t.Errorf("after the delete: got %+v, want one 256 KiB blob and its chunk only", s)
	}
	wantStatus(t, up(store.BlobChunkSize+1), http.StatusCreated)
	wantProblem(t, e.do(http.MethodDelete, documentsPath+"/"+d.ID, acme, nil), http.StatusNotFound)
}

func TestDocuments_BackupRoundTrip(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	contents := map[string][]byte{}
	for i, n := range []int{10, 2*store.BlobChunkSize + 77} {
		c := fileContent(n, byte(i))
		contents[e.mustUpload(acme, fmt.Sprint("Doc ", i), "", "f.bin", c).ID] = c
	}
	r := e.do(http.MethodGet, "/v1/admin/backup", e.operator, nil)
	wantStatus(t, r, http.StatusOK)
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Check(path)
	if err != nil || !rep.OK() || rep.Records["documents"] != 2 || rep.Records["blobs"] != 2 {
		t.Fatalf("check of the backup: got %v, %v, %v, want OK with 2 documents and 2 blobs", err, rep.Breaches, rep.Records)
	}
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id, want := range contents {
		_, rd, err := db.OpenDocument(t.Context(), "acme", id, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rd)
		_ = rd.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("document %s in the backup: got %d bytes, %v, want the %d uploaded, byte for byte", id, len(got), err, len(want))
		}
	}
}
