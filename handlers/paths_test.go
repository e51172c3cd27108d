package handlers_test

import (
	"io"
	"net/http"
	"testing"
)

// rawRequest sends method to the path exactly as written (encoded slashes
// and dot segments kept) and never follows a redirect.
func (e *testEnv) rawRequest(method, path, token string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := *e.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// TestPaths_NotCleaned checks that a path holding an encoded slash or a dot
// segment is not redirected to its cleaned form (which a client following
// redirects would then act on) but answered 404, and that the record the
// cleaned path names is untouched.
func TestPaths_NotCleaned(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	c := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com", "firstName": "Ada"})
	tests := []struct {
		name string
		path string
	}{
		{"encoded slash before the id", "/v1/contacts/%2F" + c.ID},
		{"encoded slash after the id", "/v1/contacts/" + c.ID + "%2F"},
		{"lowercase encoded slash", "/v1/contacts/%2f" + c.ID},
		{"dot segment", "/v1/contacts/./" + c.ID},
		{"dot-dot segment", "/v1/contacts/x/../" + c.ID},
		{"encoded dot-dot segment", "/v1/contacts/x/%2E%2E/" + c.ID},
		{"double slash", "/v1/contacts//" + c.ID},
		{"double slash at the root", "//v1/contacts/" + c.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodDelete, http.MethodGet} {
				r := e.rawRequest(method, tt.path, tok)
				if r.status != http.StatusNotFound {
					t.Errorf("%s %s: got status %d (Location %q), want 404", method, tt.path, r.status, r.header.Get("Location"))
				}
				// Without credentials the answer is never a redirect either.
				if r := e.rawRequest(method, tt.path, ""); r.status/100 == 3 {
					t.Errorf("%s %s without a token: got status %d (Location %q), want no redirect",
						method, tt.path, r.status, r.header.Get("Location"))
				}
			}
		})
	}
	wantStatus(t, e.do(http.MethodGet, "/v1/contacts/"+c.ID, tok, nil), http.StatusOK)
}
