package handlers

import (
	"log/slog"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/store"
)

// TrustRoutes lists "METHOD /template" for every route the router built by
// newRouter serves with opt ("* /template" for a route that takes every
// method, such as the web pages' prefixes). The black-box trust tests
// (tenancy, tokens, hostile input) walk it so that a route added later
// without a probe fails them.
func TrustRoutes(log *slog.Logger, db *store.DB, v *auth.Verifier, opt Options) ([]string, error) {
	var out []string
	err := newRouter(log, db, v, opt).Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's prefix: its routes are walked on their own
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{"*"}
		}
		for _, m := range methods {
			out = append(out, m+" "+tpl)
		}
		return nil
	})
	return out, err
}
