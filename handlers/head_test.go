package handlers_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHead_ServedWhereGetIs checks that HEAD answers every GET route with
// the GET's status and headers and no body, errors included.
func TestHead_ServedWhereGetIs(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("acme")
	c := e.mustCreateContact(admin, map[string]any{"email": "ada@example.com"})
	_, sess := e.activeUser(admin, "bea@example.com")
	operator := e.operator
	tests := []struct {
		name, path, token string
		want              int
	}{
		{"health", "/healthz", "", http.StatusOK},
		{"readiness", "/readyz", "", http.StatusOK},
		{"document", "/openapi.yaml", "", http.StatusOK},
		{"config", "/v1/customer-portal/config", admin, http.StatusOK},
		{"list", "/v1/contacts?limit=5", admin, http.StatusOK},
		{"record", "/v1/contacts/" + c.ID, admin, http.StatusOK},
		{"unknown record", "/v1/contacts/01ARZ3NDEKTSV4RRFFQ69G5FAV", admin, http.StatusNotFound},
		{"bad query parameter", "/v1/contacts?limit=0", admin, http.StatusBadRequest},
		{"no token", "/v1/customer-portal/stats", "", http.StatusUnauthorized},
		{"customer", "/v1/portal/me", sess.AccessToken, http.StatusOK},
		{"backup", "/v1/admin/backup", operator, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get := e.do(http.MethodGet, tt.path, tt.token, nil)
			head := e.do(http.MethodHead, tt.path, tt.token, nil)
			if get.status != tt.want || head.status != tt.want {
				t.Fatalf("got GET %d and HEAD %d, want %d for both: %s", get.status, head.status, tt.want, head.body)
			}
			if len(head.body) != 0 {
				t.Errorf("got a HEAD body of %d bytes, want none", len(head.body))
			}
			for _, h := range []string{"Content-Type", "ETag", "Cache-Control", "WWW-Authenticate", "Content-Disposition"} {
				if g, w := head.header.Get(h), get.header.Get(h); g != w {
					t.Errorf("%s: got %q on HEAD, want %q as on GET", h, g, w)
				}
			}
			if cl := get.header.Get("Content-Length"); cl != "" {
				if g := head.header.Get("Content-Length"); g != cl {
					t.Errorf("Content-Length: got %q on HEAD, want %q as on GET", g, cl)
				}
				if cl != strconv.Itoa(len(get.body)) {
					t.Errorf("Content-Length: got %q on GET, want %d, the body's length", cl, len(get.body))
				}
			}
		})
	}
}

// TestHead_NotWhereGetIsNot checks that HEAD is not added to routes
// without GET: 405, and Allow names only what the path serves.
func TestHead_NotWhereGetIsNot(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	r := wantProblemStatus(t, e.do(http.MethodHead, "/v1/portal/login", "", nil), http.StatusMethodNotAllowed)
	if got := r.header.Get("Allow"); got != "POST" {
		t.Errorf("got Allow %q, want POST", got)
	}
	r = e.do(http.MethodPost, "/healthz", "", nil)
	wantStatus(t, r, http.StatusMethodNotAllowed)
	if got := r.header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("got Allow %q, want GET, HEAD", got)
	}
}

// wantProblemStatus is wantStatus for a body-less answer (HEAD).
func wantProblemStatus(t *testing.T, r response, want int) response {
	t.Helper()
	wantStatus(t, r, want)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("got Content-Type %q, want application/problem+json", ct)
	}
	return r
}

// TestHead_BackupReadsNothing checks that HEAD of the backup answers its
// headers without streaming the file: the access line counts no bytes.
func TestHead_BackupReadsNothing(t *testing.T) {
	t.Parallel()
	var log lockedBuffer
	e := newTestEnvWith(t, envOptions{logTo: &log})
	r := e.do(http.MethodHead, "/v1/admin/backup", e.operator, nil)
	wantStatus(t, r, http.StatusOK)
	if n, err := strconv.Atoi(r.header.Get("Content-Length")); err != nil || n <= 0 {
		t.Errorf("got Content-Length %q, want the file's size", r.header.Get("Content-Length"))
	}
	// The access line is written after the answer is sent: poll for it.
	var line string
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); line == "" && time.Now().Before(deadline); <-tick.C {
		for _, l := range strings.Split(log.String(), "\n") {
			if strings.Contains(l, "route=/v1/admin/backup") {
				line = l
			}
		}
	}
	if !strings.Contains(line, " bytes=0 ") {
		t.Errorf("got access line %q, want bytes=0", line)
	}
}
