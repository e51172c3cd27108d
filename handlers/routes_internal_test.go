package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/openapi"
	"github.com/salesos/portal/store"
)

// webRoots are the HTML pages that share the router with the API: the
// customer pages (/p/{slug}/...) and the admin console (/admin...). They are
// pages for browsers, not JSON operations, so the OpenAPI document leaves
// them out on purpose. Nothing else may be left out.
var webRoots = []string{"/p", "/admin"}

// isWebPath reports whether a path or route template is under webRoots.
func isWebPath(p string) bool {
	for _, root := range webRoots {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// IsWebPath is isWebPath for the black-box tests, which do not validate the
// responses of pages against the API document.
var IsWebPath = isWebPath

// servedRoutes lists "METHOD /template" for every route of the router,
// "* /template" for a route that takes every method.
func servedRoutes(t *testing.T, r *mux.Router) []string {
	t.Helper()
	var out []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's prefix: its routes are walked on their own
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{"*"} // no method matcher
		}
		for _, m := range methods {
			out = append(out, m+" "+tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	return out
}

// TestRoutes_MatchOpenAPI checks that every route the router serves is in
// the OpenAPI document and every operation of the document is served, with
// the same path template ({id} in both) and method.
func TestRoutes_MatchOpenAPI(t *testing.T) {
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Every optional handler is set, so every route that can exist is registered.
	stub := http.NotFoundHandler()
	r := newRouter(log, db, nil, Options{Now: time.Now, Web: stub, Metrics: stub, Ready: func() error { return nil }})

	served := map[string]bool{}
	for _, route := range servedRoutes(t, r) {
		_, tpl, _ := strings.Cut(route, " ")
		if isWebPath(tpl) {
			continue
		}
		served[route] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	if len(served) == 0 || len(documented) == 0 {
		t.Fatalf("got %d routes served and %d documented, want both non-empty", len(served), len(documented))
	}

	var undocumented, unserved []string
	for route := range served {
		if !documented[route] {
			undocumented = append(undocumented, route)
		}
	}
	for op := range documented {
		if !served[op] {
			unserved = append(unserved, op)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unserved)
	if len(undocumented) > 0 {
		t.Errorf("served but not in openapi/openapi.yaml (document them, or list web pages in webRoots):\n\t%s",
			strings.Join(undocumented, "\n\t"))
	}
	if len(unserved) > 0 {
		t.Errorf("in openapi/openapi.yaml but not served by the router:\n\t%s", strings.Join(unserved, "\n\t"))
	}
}

func TestIsWebPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/p/", true},
		{"/p/acme/login", true},
		{"/admin", true},
		{"/admin/users", true},
		{"/administrator", false},
		{"/v1/admin/backup", false},
		{"/v1/portal/login", false},
		{"/openapi.yaml", false},
	}
	for _, tt := range tests {
		if got := isWebPath(tt.path); got != tt.want {
			t.Errorf("isWebPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
