package handlers_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/openapi"
)

// TestValidationErrors_Capped sends bodies with thousands of invalid members
// and checks that the problem lists at most 100 errors and counts the rest,
// so the answer stays small whatever the body holds.
func TestValidationErrors_Capped(t *testing.T) {
	const n = 3000
	cols := make([]string, n)
	members := make([]string, n)
	for i := range cols {
		cols[i] = "col" + strconv.Itoa(i)
		members[i] = `"x` + strconv.Itoa(i) + `":1`
	}
	tests := []struct {
		name, method, path, contentType, body string
	}{
		{"csv import unknown headers", http.MethodPost, "/v1/contacts/import", "text/csv", strings.Join(cols, ",") + "\n"},
		{"csv import bad rows", http.MethodPost, "/v1/contacts/import", "text/csv", "email\n" + strings.Repeat("nope\n", n)},
		{"json import bad rows", http.MethodPost, "/v1/contacts/import", "application/json",
			"[" + strings.TrimSuffix(strings.Repeat(`{"email":"nope"},`, n), ",") + "]"},
		{"config patch unknown members", http.MethodPatch, "/v1/customer-portal/config", "application/merge-patch+json",
			"{" + strings.Join(members, ",") + "}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			r := e.do(tt.method, tt.path, e.admin("acme"), tt.body, "Content-Type", tt.contentType)
			p := wantProblem(t, r, http.StatusUnprocessableEntity)
			if got := len(fieldErrors(t, p)); got != 100 {
				t.Errorf("got %d errors listed, want 100", got)
			}
			if got, _ := p["errorCount"].(float64); int(got) != n {
				t.Errorf("got errorCount %v, want %d", p["errorCount"], n)
			}
			if len(r.body) > 16<<10 {
				t.Errorf("got a %d-byte problem, want at most 16 KiB", len(r.body))
			}
		})
	}
}

// TestEmailFields_BareAddress checks that every email field takes a bare
// address only: an address with a query, as pages print supportEmail into
// a mailto: link, would add recipients or a body to the customer's mail.
func TestEmailFields_BareAddress(t *testing.T) {
	bad := []string{"x@y.z?cc=victim@example.com", "help@example.com&body=x", `"q"@example.com`, "a@[127.0.0.1]"}
	fields := []struct {
		name, method, path, field string
	}{
		{"config supportEmail", http.MethodPatch, "/v1/customer-portal/config", "supportEmail"},
		{"invitation email", http.MethodPost, "/v1/customer-portal/invitations", "email"},
		{"contact email", http.MethodPost, "/v1/contacts", "email"},
	}
	for _, f := range fields {
		for _, addr := range bad {
			t.Run(f.name+" "+addr, func(t *testing.T) {
				t.Parallel()
				e := newTestEnv(t)
				r := e.do(f.method, f.path, e.admin("acme"), map[string]any{f.field: addr})
				p := wantProblem(t, r, http.StatusUnprocessableEntity)
				if _, ok := fieldErrors(t, p)[f.field]; !ok {
					t.Errorf("got errors %v, want %s among them", fieldErrors(t, p), f.field)
				}
			})
		}
	}
	e := newTestEnv(t)
	wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/config", e.admin("acme"),
		map[string]any{"supportEmail": "help@example.com"}), http.StatusOK)
}

// TestTextFields_ControlCharacters sends escape codes and direction
// overrides in one-line text fields: each is a 422 naming the rule.
func TestTextFields_ControlCharacters(t *testing.T) {
	tests := []struct {
		name, method, path, field, value string
	}{
		{"contact firstName escape", http.MethodPost, "/v1/contacts", "firstName", "Ada\x1b[2J"},
		{"contact company override", http.MethodPost, "/v1/contacts", "company", "Acme\u202egnp.exe"},
		{"portalName override", http.MethodPatch, "/v1/customer-portal/config", "portalName", "Help\u202e"},
		{"invitation lastName tab", http.MethodPost, "/v1/customer-portal/invitations", "lastName", "A\tB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			body := map[string]any{tt.field: tt.value}
			if tt.method == http.MethodPost {
				body["email"] = "ada@example.com"
			}
			p := wantProblem(t, e.do(tt.method, tt.path, e.admin("acme"), body), http.StatusUnprocessableEntity)
			if msg := fieldErrors(t, p)[tt.field]; !strings.Contains(msg, "control or invisible formatting characters") {
				t.Errorf("got errors %v, want %s naming the control character rule", fieldErrors(t, p), tt.field)
			}
		})
	}
}

// TestTenantClaim_Pattern checks that organization IDs outside the
// documented pattern are 401, so "../acme" or "acme " cannot open a tenant.
func TestTenantClaim_Pattern(t *testing.T) {
	e := newTestEnv(t)
	for _, org := range []string{"../acme", "ａｃｍｅ", "acme ", "Acme", "acme\x1b[0m", "acme\u202e"} {
		p := wantProblem(t, e.do(http.MethodGet, "/v1/contacts", e.admin(org), nil), http.StatusUnauthorized)
		if p["type"] != "https://salesos.dev/problems/unauthorized" {
			t.Errorf("org %q: got %v, want an unauthorized problem", org, p["type"])
		}
	}
	wantStatus(t, e.do(http.MethodGet, "/v1/contacts", e.admin("demo"), nil), http.StatusOK)
}

// TestContentEncoding_Refused sends gzip bodies: each is a 415 problem, not
// compressed bytes read as JSON or CSV.
func TestContentEncoding_Refused(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"email":"ada@example.com"}`))
	_ = zw.Close()
	tests := []struct {
		name, method, path, contentType, encoding string
	}{
		{"create gzip", http.MethodPost, "/v1/contacts", "application/json", "gzip"},
		{"create br", http.MethodPost, "/v1/contacts", "application/json", "br"},
		{"create gzip after identity", http.MethodPost, "/v1/contacts", "application/json", "identity, gzip"},
		{"import gzip", http.MethodPost, "/v1/contacts/import", "text/csv", "gzip"},
		{"config deflate", http.MethodPatch, "/v1/customer-portal/config", "application/merge-patch+json", "deflate"},
		{"login gzip", http.MethodPost, "/v1/portal/login", "application/json", "gzip"},
	}
	e := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, e.admin("acme"), gz.Bytes(), "Content-Type", tt.contentType, "Content-Encoding", tt.encoding)
			p := wantProblem(t, r, http.StatusUnsupportedMediaType)
			if d, _ := p["detail"].(string); !strings.Contains(d, "Content-Encoding") {
				t.Errorf("got detail %q, want it to name Content-Encoding", d)
			}
		})
	}
	r := e.do(http.MethodPost, "/v1/contacts", e.admin("acme"), `{"email":"ada@example.com"}`, "Content-Encoding", "identity")
	wantStatus(t, r, http.StatusCreated)
}

// TestCursor_OtherOrganization pages a list in one organization and hands
// its cursor to another: 400, as the cursor is bound to the organization.
func TestCursor_OtherOrganization(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.admin("acme"), e.admin("globex")
	for _, org := range []string{a, b} {
		for i := range 2 {
			e.mustCreateContact(org, map[string]any{"email": "c" + strconv.Itoa(i) + "@example.com"})
		}
	}
	var page struct{ NextCursor string }
	e.do(http.MethodGet, "/v1/contacts?limit=1", a, nil).decode(t, &page)
	if page.NextCursor == "" {
		t.Fatal("got no nextCursor, want one")
	}
	wantStatus(t, e.do(http.MethodGet, "/v1/contacts?limit=1&cursor="+page.NextCursor, a, nil), http.StatusOK)
	p := wantProblem(t, e.do(http.MethodGet, "/v1/contacts?limit=1&cursor="+page.NextCursor, b, nil), http.StatusBadRequest)
	if p["type"] != "https://salesos.dev/problems/invalid-parameter" {
		t.Errorf("got %v, want invalid-parameter", p["type"])
	}
}

// TestReferrerPolicy_AsDocumented checks the Referrer-Policy of the API and
// of the pages against what the OpenAPI document and the operations guide
// say, so the header and the documents cannot drift apart again.
func TestReferrerPolicy_AsDocumented(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	docs := flat(doc.Info.Description) + " " + flat(string(ops))
	tests := []struct{ name, path, want, docSays string }{
		{"api", "/healthz", "no-referrer", "`Referrer-Policy: no-referrer`"},
		{"api problem", "/v1/contacts", "no-referrer", "`Referrer-Policy: no-referrer`"},
		{"customer pages", "/p/nowhere/login", "same-origin", "(`/p/...`) and the admin console (`/admin`), which send `same-origin`"},
		{"admin console", "/admin/", "same-origin", "`Referrer-Policy: same-origin`"},
	}
	for _, tt := range tests {
		r := e.do(http.MethodGet, tt.path, "", nil)
		if got := r.header.Get("Referrer-Policy"); got != tt.want {
			t.Errorf("%s: got Referrer-Policy %q, want %q", tt.name, got, tt.want)
		}
		if !strings.Contains(docs, tt.docSays) {
			t.Errorf("%s: the documents do not say %s", tt.name, tt.docSays)
		}
	}
}

// heldImport is an import whose body the test writes chunk by chunk over
// a raw connection, so every byte reaches the server when written: no
// client buffer holds the request line back.
type heldImport struct {
	conn net.Conn
	body io.WriteCloser
}

func (h *heldImport) Write(p []byte) (int, error) { return h.body.Write(p) }

// Close ends the chunked body (last chunk and empty trailer).
func (h *heldImport) Close() error {
	if err := h.body.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(h.conn, "\r\n")
	return err
}

// pipeImport starts an import whose body is fed through the returned
// writer; its response arrives on the returned channel.
func pipeImport(t *testing.T, e *testEnv, token, contentType string) (io.WriteCloser, <-chan *http.Response) {
	t.Helper()
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	head := "POST /v1/contacts/import HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: " + contentType +
		"\r\nAuthorization: Bearer " + token + "\r\nTransfer-Encoding: chunked\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	done := make(chan *http.Response, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			done <- nil
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		done <- res
	}()
	return &heldImport{conn: conn, body: httputil.NewChunkedWriter(conn)}, done
}

// TestContacts_Import_ConcurrencyCap holds the allowed number of imports
// in flight and checks that one more is a 503 with Retry-After, and that a
// slot frees when an import ends.
func TestContacts_Import_ConcurrencyCap(t *testing.T) {
	e := newTestEnvWith(t, envOptions{maxImports: 2})
	tok := e.admin("acme")
	hold := func() (io.WriteCloser, <-chan *http.Response) {
		pw, done := pipeImport(t, e, tok, "text/csv")
		if _, err := io.WriteString(pw, "email,firstName\n"); err != nil {
			t.Fatal(err)
		}
		return pw, done
	}
	held := make([]io.WriteCloser, 2)
	answers := make([]<-chan *http.Response, 2)
	for i := range held {
		held[i], answers[i] = hold()
	}
	// An import holds a slot once the server has read its header row; until
	// then a probe may take the slot first, and the held import is the one
	// refused. So ask until a probe is refused while both held imports are
	// still unanswered, holding again any that was refused.
	deadline := time.Now().Add(20 * time.Second)
	var r response
	for i := 0; ; i++ {
		for j, done := range answers {
			select {
			case res := <-done:
				if res == nil || res.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("held import %d answered %v before its body ended, want 503 or nothing", j, res)
				}
				_ = held[j].Close()
				held[j], answers[j] = hold()
			default:
			}
		}
		r = e.importContacts(tok, "text/csv", "email\nextra"+strconv.Itoa(i)+"@example.com\n")
		if r.status == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	wantProblem(t, r, http.StatusServiceUnavailable)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("got Retry-After %q, want whole seconds", r.header.Get("Retry-After"))
	}
	for i, pw := range held {
		if _, err := io.WriteString(pw, "held"+strconv.Itoa(i)+"@example.com,Held\n"); err != nil {
			t.Fatal(err)
		}
		_ = pw.Close()
		if res := <-answers[i]; res == nil || res.StatusCode != http.StatusOK {
			t.Fatalf("held import %d: got %v, want 200", i, res)
		}
	}
	wantStatus(t, e.importContacts(tok, "text/csv", "email\nafter@example.com\n"), http.StatusOK)
}
