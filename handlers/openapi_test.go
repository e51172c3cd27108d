package handlers_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/openapi"
)

// apiDoc is the OpenAPI document, loaded once per test binary and only read
// afterwards, so parallel tests share it.
var apiDoc struct {
	once   sync.Once
	router routers.Router
	err    error
}

func openAPIRouter() (routers.Router, error) {
	apiDoc.once.Do(func() {
		doc, err := openapi.Load()
		if err != nil {
			apiDoc.err = err
			return
		}
		// The document names a local server; the test servers listen on
		// other ports, so operations are found by path and method alone.
		doc.Servers = nil
		closeResponseSchemas(doc)
		apiDoc.router, apiDoc.err = gorillamux.NewRouter(doc)
	})
	return apiDoc.router, apiDoc.err
}

// closeResponseSchemas makes every object a response schema describes refuse
// members it does not name, unless it says additionalProperties itself. The
// published document leaves response objects open, so clients accept members
// added later; the tests hold the service to the document, so a member it
// sends but does not document (an internal field of a stored record, say)
// fails them.
func closeResponseSchemas(doc *openapi3.T) {
	closed := false
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if s.Type.Is(openapi3.TypeObject) && len(s.Properties) > 0 &&
			s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			s.AdditionalProperties.Has = &closed
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, sub := range list {
				walk(sub)
			}
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				for _, media := range resp.Value.Content {
					walk(media.Schema)
				}
			}
		}
	}
}

// validationOptions make every status an operation does not list a failure.
// Security is not checked here: the tests send wrong credentials on purpose.
var validationOptions = &openapi3filter.Options{
	IncludeResponseStatus: true,
	MultiError:            true,
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
}

// checkResponse fails t unless the response to req (status, headers and
// body) is one the OpenAPI document describes for that operation. Pages for
// browsers, CORS preflights and the router's own 404 and 405 for paths or
// methods that do not exist are not API operations and are skipped. It only
// reports (t.Errorf), so it may be called for a parent test from a subtest.
func checkResponse(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if handlers.IsWebPath(req.URL.Path) || req.Method == http.MethodOptions {
		return
	}
	router, err := openAPIRouter()
	if err != nil {
		t.Errorf("load the OpenAPI document: %v", err)
		return
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return
		}
		t.Errorf("%s %s: got status %d, want no operation there (the OpenAPI document has none: %v)",
			req.Method, req.URL.RequestURI(), status, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: validationOptions,
		},
		Status:  status,
		Header:  header,
		Options: validationOptions,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %s",
			req.Method, req.URL.RequestURI(), status, err, truncate(body, 500))
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(b[:n:n], "..."...)
}

func TestOpenAPI_Served(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	r := e.do(http.MethodGet, "/openapi.yaml", "", nil)
	wantStatus(t, r, http.StatusOK)
	if got, want := r.header.Get("Content-Type"), "application/yaml; charset=utf-8"; got != want {
		t.Errorf("got Content-Type %q, want %q", got, want)
	}
	if got, want := r.header.Get("Cache-Control"), "no-cache"; got != want {
		t.Errorf("got Cache-Control %q, want %q", got, want)
	}
	if !bytes.Equal(r.body, openapi.Document()) {
		t.Errorf("got a body of %d bytes, want the embedded document (%d bytes)", len(r.body), len(openapi.Document()))
	}
	tag := r.header.Get("ETag")
	if len(tag) != 34 || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) {
		t.Fatalf("got ETag %q, want a quoted hash", tag)
	}
	if again := e.do(http.MethodGet, "/openapi.yaml", "", nil); again.header.Get("ETag") != tag {
		t.Errorf("got ETag %q on a second request, want %q again", again.header.Get("ETag"), tag)
	}

	tests := []struct {
		name        string
		ifNoneMatch string
		want        int
	}{
		{"same tag", tag, http.StatusNotModified},
		{"weak form of the tag", "W/" + tag, http.StatusNotModified},
		{"in a list", `"0123", ` + tag, http.StatusNotModified},
		{"any", "*", http.StatusNotModified},
		{"other tag", `"0123456789abcdef0123456789abcdef"`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/openapi.yaml", "", nil, "If-None-Match", tt.ifNoneMatch)
			wantStatus(t, r, tt.want)
			if tt.want == http.StatusNotModified && len(r.body) != 0 {
				t.Errorf("got a %d-byte body on 304, want none", len(r.body))
			}
			if got := r.header.Get("ETag"); got != tag {
				t.Errorf("got ETag %q, want %q", got, tag)
			}
		})
	}
}

// TestOpenAPI_NoAuth checks that credentials, even invalid ones, change
// nothing: the document is public.
func TestOpenAPI_NoAuth(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	r := e.do(http.MethodGet, "/openapi.yaml", "not-a-token", nil)
	wantStatus(t, r, http.StatusOK)
	wantProblem(t, e.do(http.MethodPost, "/openapi.yaml", "", nil), http.StatusMethodNotAllowed)
}
