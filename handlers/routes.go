// Package handlers is the portal's HTTP layer: routing, decoding, encoding
// and the map from errors to problem documents. Business rules live in data
// and store; handlers only translate.
package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// Options are the service settings the handlers need beyond the store and
// the verifier.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// IDs makes request IDs (crypto/rand when nil).
	IDs *data.IDSource
	// CursorKey signs list cursors; it must be stable across restarts.
	CursorKey []byte
	// Accounts runs the customer account flows (built over db when nil).
	Accounts *account.Service
	// Wake is called after a change that queued email, so it goes out at once.
	Wake func()
	// CORSOrigins are the origins allowed to call the API from a browser.
	CORSOrigins []string
	// Observe is told about every finished request (for metrics).
	Observe Observer
	// Web serves the customer pages (/p/...) and the admin console
	// (/admin...); not mounted when nil.
	Web http.Handler
	// Metrics serves GET /metrics (404 when nil).
	Metrics http.Handler
	// Ready reports whether the service can serve, beyond its database (the
	// mail sender running); GET /readyz answers 503 while it returns an error.
	Ready func() error
}

// server holds what every handler shares.
type server struct {
	log      *slog.Logger
	db       *store.DB
	v        *auth.Verifier
	now      func() time.Time
	cursors  cursors
	wake     func()
	accounts *account.Service
}

// New returns the portal's HTTP handler. All routes are registered here and
// nowhere else.
func New(log *slog.Logger, db *store.DB, v *auth.Verifier, opt Options) http.Handler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.IDs == nil {
		opt.IDs = data.NewIDSource(nil)
	}
	if opt.Wake == nil {
		opt.Wake = func() {}
	}
	if opt.Accounts == nil {
		opt.Accounts = account.New(db, log, account.Options{Now: opt.Now})
	}
	var h http.Handler = newRouter(log, db, v, opt)
	h = cors(opt.CORSOrigins)(h)
	h = securityHeaders(h)
	h = recoverPanics(log)(h)
	h = logRequests(log, opt.Observe, opt.Now)(h)
	h = withRequestID(opt.IDs, opt.Now)(h)
	return h
}

// newRouter registers every route. New wraps it in the middleware that every
// request passes through; tests walk it to compare the routes served with the
// routes the OpenAPI document describes.
func newRouter(log *slog.Logger, db *store.DB, v *auth.Verifier, opt Options) *mux.Router {
	s := &server{log: log, db: db, v: v, now: opt.Now, cursors: cursors{key: opt.CursorKey},
		wake: opt.Wake, accounts: opt.Accounts}

	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(s.notFound(r))
	r.MethodNotAllowedHandler = http.HandlerFunc(s.notFound(r))
	r.Use(recordRoute)

	r.Handle("/healthz", s.handleHealth()).Methods(http.MethodGet)
	r.Handle("/openapi.yaml", s.handleOpenAPI()).Methods(http.MethodGet)
	r.Handle("/readyz", readyGate(log, opt.Ready, s.handleReady())).Methods(http.MethodGet)
	r.Handle("/metrics", s.handleMetrics(opt.Metrics)).Methods(http.MethodGet)
	r.Handle("/v1/admin/backup", authenticateStaff(log, v)(s.handleBackup())).Methods(http.MethodGet)

	admin := r.PathPrefix("/v1/customer-portal").Subrouter()
	admin.Use(authenticateStaff(log, v), requirePermission(log))
	admin.Handle("/config", s.handleConfigGet()).Methods(http.MethodGet)
	admin.Handle("/config", s.handleConfigPatch()).Methods(http.MethodPatch)
	admin.Handle("/features", s.handleFeatureList()).Methods(http.MethodGet)
	admin.Handle("/features/{featureId}/toggle", s.handleFeatureToggle()).Methods(http.MethodPatch)

	admin.Handle("/audit", s.handleAuditList()).Methods(http.MethodGet)
	admin.Handle("/users", s.handleUserList()).Methods(http.MethodGet)
	admin.Handle("/users/invite", s.handleContactInvite()).Methods(http.MethodPost)
	admin.Handle("/users/{id}", s.handleUserGet()).Methods(http.MethodGet)
	admin.Handle("/users/{id}", s.handleUserDelete()).Methods(http.MethodDelete)
	admin.Handle("/users/{id}/access", s.handleUserRevoke()).Methods(http.MethodDelete)
	admin.Handle("/invitations", s.handleInvitationList()).Methods(http.MethodGet)
	admin.Handle("/invitations", s.handleInvitationCreate()).Methods(http.MethodPost)
	admin.Handle("/invitations/{id}", s.handleInvitationGet()).Methods(http.MethodGet)
	admin.Handle("/invitations/{id}", s.handleInvitationCancel()).Methods(http.MethodDelete)
	admin.Handle("/invitations/{id}/resend", s.handleInvitationResend()).Methods(http.MethodPost)
	admin.Handle("/stats", s.handleStats()).Methods(http.MethodGet)
	admin.Handle("/sessions", s.handleSessionList()).Methods(http.MethodGet)
	admin.Handle("/sessions/{id}", s.handleSessionEnd()).Methods(http.MethodDelete)

	contacts := r.PathPrefix("/v1/contacts").Subrouter()
	contacts.Use(authenticateStaff(log, v), requirePermission(log))
	contacts.Handle("", s.handleContactList()).Methods(http.MethodGet)
	contacts.Handle("", s.handleContactCreate()).Methods(http.MethodPost)
	contacts.Handle("/import", s.handleContactImport()).Methods(http.MethodPost)
	contacts.Handle("/{id}", s.handleContactGet()).Methods(http.MethodGet)
	contacts.Handle("/{id}", s.handleContactPatch()).Methods(http.MethodPatch)
	contacts.Handle("/{id}", s.handleContactDelete()).Methods(http.MethodDelete)

	public := r.PathPrefix("/v1/portal").Subrouter()
	public.Handle("/invitations/accept", s.handleAccept()).Methods(http.MethodPost)
	public.Handle("/login", s.handleLogin()).Methods(http.MethodPost)
	public.Handle("/password/forgot", s.handleForgot()).Methods(http.MethodPost)
	public.Handle("/password/reset", s.handleReset()).Methods(http.MethodPost)
	customer := r.PathPrefix("/v1/portal").Subrouter()
	customer.Use(s.authenticatePortal)
	customer.Handle("/logout", s.handleLogout()).Methods(http.MethodPost)
	customer.Handle("/me", s.handleMe()).Methods(http.MethodGet)
	customer.Handle("/sessions", s.handleMySessions()).Methods(http.MethodGet)
	customer.Handle("/sessions/{id}", s.handleMySessionEnd()).Methods(http.MethodDelete)

	if opt.Web != nil {
		r.PathPrefix("/p/").Handler(opt.Web)
		r.PathPrefix("/admin").Handler(opt.Web)
	}

	return r
}

// notFound answers a request no route took: 405 with an Allow header when
// the path exists for other methods, else 404. It probes every method itself
// because gorilla/mux loses a method mismatch when sibling routes share a
// subrouter prefix, and then reports 404.
func (s *server) notFound(router *mux.Router) func(http.ResponseWriter, *http.Request) {
	all := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range all {
			if m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			var match mux.RouteMatch
			if router.Match(probe, &match) && match.MatchErr == nil {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found", "No such resource."))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
			r.Method+" is not allowed here; see the Allow header."))
	}
}

func (s *server) handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, r, s.log, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func (s *server) handleReady() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.db.Schema(); err != nil {
			writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "unavailable", "Not ready", "The database is not usable."))
			return
		}
		encode(w, r, s.log, http.StatusOK, map[string]string{"status": "ready"})
	})
}
