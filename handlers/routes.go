// Package handlers is the portal's HTTP layer: routing, decoding, encoding
// and the map from errors to problem documents. Business rules live in data
// and store; handlers only translate.
package handlers

import (
	"log/slog"
	"net/http"
	"net/netip"
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
	// Operator checks the operator token, the only credential that opens
	// GET /v1/admin/backup (every token is refused when nil).
	Operator *auth.Operator
	// TrustedProxies are the reverse proxies whose X-Forwarded-For or
	// Forwarded header names the client; empty trusts no header.
	TrustedProxies []netip.Prefix
	// Ready reports whether the service can serve, beyond its database (the
	// mail sender running); GET /readyz answers 503 while it returns an error.
	Ready func() error
	// MaxConcurrentImports bounds the contact imports in flight; one more
	// is answered 503 with Retry-After (DefaultMaxConcurrentImports when 0).
	MaxConcurrentImports int
	// DocumentQuota is each organization's storage for document files in
	// bytes (data.DefaultDocumentQuota when 0); MaxDocumentSize the largest
	// file one upload takes (data.DefaultMaxDocumentSize when 0, and never
	// more than the quota).
	DocumentQuota, MaxDocumentSize int64
	// MaxAttachmentSize is the largest file a ticket message takes
	// (data.DefaultMaxAttachmentSize when 0).
	MaxAttachmentSize int64
	// WebhookPolicy is what webhook URLs may point at beyond public HTTPS
	// endpoints.
	WebhookPolicy data.WebhookPolicy
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
	imports  chan struct{} // a slot per contact import in flight
	docLimit store.DocumentLimits
	// maxAttachment is the largest file a ticket message takes.
	maxAttachment int64
	// webhookPolicy checks webhook URLs.
	webhookPolicy data.WebhookPolicy
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
	h = clientAddress(opt.TrustedProxies)(h) // first: everything after reads the client's address
	return h
}

// newRouter registers every route. New wraps it in the middleware that every
// request passes through; tests walk it to compare the routes served with the
// routes the OpenAPI document describes.
func newRouter(log *slog.Logger, db *store.DB, v *auth.Verifier, opt Options) *mux.Router {
	s := &server{log: log, db: db, v: v, now: opt.Now, cursors: cursors{key: opt.CursorKey},
		wake: opt.Wake, accounts: opt.Accounts, webhookPolicy: opt.WebhookPolicy}
	if opt.MaxConcurrentImports <= 0 {
		opt.MaxConcurrentImports = DefaultMaxConcurrentImports
	}
	s.imports = make(chan struct{}, opt.MaxConcurrentImports)
	s.docLimit = documentLimits(opt.DocumentQuota, opt.MaxDocumentSize)
	s.maxAttachment = opt.MaxAttachmentSize
	if s.maxAttachment <= 0 {
		s.maxAttachment = data.DefaultMaxAttachmentSize
	}

	// Routes match the path as sent: no cleaning (mux would answer 301 to the
	// cleaned path before any middleware ran, and a client that follows it
	// would act on another resource) and no decoding (an encoded "/" in an
	// {id} stays part of the id, which is then unknown). Such paths are 404.
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.NotFoundHandler = http.HandlerFunc(s.notFound(r))
	r.MethodNotAllowedHandler = http.HandlerFunc(s.notFound(r))
	r.Use(recordRoute)

	get(r, "/healthz", s.handleHealth())
	get(r, "/openapi.yaml", s.handleOpenAPI())
	get(r, "/readyz", readyGate(log, opt.Ready, s.handleReady()))
	get(r, "/metrics", s.handleMetrics(opt.Metrics))
	get(r, "/v1/admin/backup", authenticateOperator(log, opt.Operator)(s.handleBackup()))

	admin := r.PathPrefix("/v1/customer-portal").Subrouter()
	admin.Use(authenticateStaff(log, v), requirePermission(log))
	get(admin, "/config", s.handleConfigGet())
	admin.Handle("/config", s.handleConfigPatch()).Methods(http.MethodPatch)
	get(admin, "/features", s.handleFeatureList())
	admin.Handle("/features/{featureId}/toggle", s.handleFeatureToggle()).Methods(http.MethodPatch)

	get(admin, "/audit", s.handleAuditList())
	get(admin, "/users", s.handleUserList())
	admin.Handle("/users/invite", s.handleContactInvite()).Methods(http.MethodPost)
	get(admin, "/users/{id}", s.handleUserGet())
	admin.Handle("/users/{id}", s.handleUserDelete()).Methods(http.MethodDelete)
	admin.Handle("/users/{id}/access", s.handleUserRevoke()).Methods(http.MethodDelete)
	get(admin, "/invitations", s.handleInvitationList())
	admin.Handle("/invitations", s.handleInvitationCreate()).Methods(http.MethodPost)
	get(admin, "/invitations/{id}", s.handleInvitationGet())
	admin.Handle("/invitations/{id}", s.handleInvitationCancel()).Methods(http.MethodDelete)
	admin.Handle("/invitations/{id}/resend", s.handleInvitationResend()).Methods(http.MethodPost)
	get(admin, "/stats", s.handleStats())
	get(admin, "/sessions", s.handleSessionList())
	admin.Handle("/sessions/{id}", s.handleSessionEnd()).Methods(http.MethodDelete)
	get(admin, "/tickets", s.handleTicketList())
	get(admin, "/tickets/{id}", s.handleTicketGet())
	admin.Handle("/tickets/{id}", s.handleTicketPatch()).Methods(http.MethodPatch)
	admin.Handle("/tickets/{id}/messages", s.handleTicketMessage()).Methods(http.MethodPost)
	get(admin, "/attachments/{id}", s.handleAttachment(false))
	get(admin, "/documents", s.handleDocumentList())
	admin.Handle("/documents", s.handleDocumentCreate()).Methods(http.MethodPost)
	get(admin, "/documents/{id}", s.handleDocumentGet())
	admin.Handle("/documents/{id}", s.handleDocumentDelete()).Methods(http.MethodDelete)
	get(admin, "/quotes", handleCommerceList(s, "quotes", false, quoteStatusRule, listQuotes))
	get(admin, "/quotes/{externalId}", handleRecordGet(s, quoteByRef))
	admin.Handle("/quotes/{externalId}", handleUpsert(s, convQuote, putQuote, "/v1/customer-portal/quotes/")).Methods(http.MethodPut)
	admin.Handle("/quotes/{externalId}", handleRecordDelete(s, deleteQuote)).Methods(http.MethodDelete)
	get(admin, "/invoices", handleCommerceList(s, "invoices", false, invoiceStatusRule, listInvoices))
	get(admin, "/invoices/{externalId}", handleRecordGet(s, invoiceByRef))
	admin.Handle("/invoices/{externalId}", handleUpsert(s, convInvoice, putInvoice, "/v1/customer-portal/invoices/")).Methods(http.MethodPut)
	admin.Handle("/invoices/{externalId}", handleRecordDelete(s, deleteInvoice)).Methods(http.MethodDelete)
	get(admin, "/orders", handleCommerceList(s, "orders", false, orderStatusRule, listOrders))
	get(admin, "/orders/{externalId}", handleRecordGet(s, orderByRef))
	admin.Handle("/orders/{externalId}", handleUpsert(s, convOrder, putOrder, "/v1/customer-portal/orders/")).Methods(http.MethodPut)
	admin.Handle("/orders/{externalId}", handleRecordDelete(s, deleteOrder)).Methods(http.MethodDelete)
	admin.Handle("/sync", s.handleSync()).Methods(http.MethodPost)
	get(admin, "/webhooks", s.handleWebhookList())
	admin.Handle("/webhooks", s.handleWebhookCreate()).Methods(http.MethodPost)
	get(admin, "/webhooks/{id}", s.handleWebhookGet())
	admin.Handle("/webhooks/{id}", s.handleWebhookPatch()).Methods(http.MethodPatch)
	admin.Handle("/webhooks/{id}", s.handleWebhookDelete()).Methods(http.MethodDelete)
	admin.Handle("/webhooks/{id}/rotate-secret", s.handleWebhookRotate()).Methods(http.MethodPost)
	get(admin, "/webhooks/{id}/deliveries", s.handleWebhookDeliveries())
	admin.Handle("/webhooks/{id}/deliveries/{deliveryId}/retry", s.handleWebhookRetry()).Methods(http.MethodPost)
	get(admin, "/kb/articles", s.handleArticleList())
	admin.Handle("/kb/articles", s.handleArticleCreate()).Methods(http.MethodPost)
	get(admin, "/kb/articles/{id}", s.handleArticleGet())
	admin.Handle("/kb/articles/{id}", s.handleArticlePatch()).Methods(http.MethodPatch)
	admin.Handle("/kb/articles/{id}", s.handleArticleDelete()).Methods(http.MethodDelete)
	admin.Handle("/kb/preview", s.handleArticlePreview()).Methods(http.MethodPost)

	contacts := r.PathPrefix("/v1/contacts").Subrouter()
	contacts.Use(authenticateStaff(log, v), requirePermission(log))
	get(contacts, "", s.handleContactList())
	contacts.Handle("", s.handleContactCreate()).Methods(http.MethodPost)
	contacts.Handle("/import", s.handleContactImport()).Methods(http.MethodPost)
	get(contacts, "/{id}", s.handleContactGet())
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
	get(customer, "/me", s.handleMe())
	get(customer, "/sessions", s.handleMySessions())
	customer.Handle("/sessions/{id}", s.handleMySessionEnd()).Methods(http.MethodDelete)
	tickets := s.requireFeature("tickets")
	get(customer, "/tickets", tickets(s.handleMyTicketList()))
	customer.Handle("/tickets", tickets(s.handleMyTicketCreate())).Methods(http.MethodPost)
	get(customer, "/tickets/{id}", tickets(s.handleMyTicketGet()))
	customer.Handle("/tickets/{id}", tickets(s.handleMyTicketPatch())).Methods(http.MethodPatch)
	customer.Handle("/tickets/{id}/messages", tickets(s.handleMyTicketMessage())).Methods(http.MethodPost)
	get(customer, "/attachments/{id}", tickets(s.handleAttachment(true)))
	documents := s.requireFeature("documents")
	get(customer, "/documents", documents(s.handleMyDocuments()))
	get(customer, "/documents/{id}/content", documents(s.handleMyDocumentContent()))
	quotes := s.requireFeature("quotes")
	get(customer, "/quotes", quotes(handleCommerceList(s, "portal-quotes", true, quoteStatusRule, listQuotes)))
	get(customer, "/quotes/{id}", quotes(handleMyRecord(s, myQuote, asIs)))
	customer.Handle("/quotes/{id}/accept", quotes(s.handleMyQuoteAccept())).Methods(http.MethodPost)
	customer.Handle("/quotes/{id}/decline", quotes(s.handleMyQuoteDecline())).Methods(http.MethodPost)
	invoices := s.requireFeature("invoices")
	get(customer, "/invoices", invoices(handleCommerceList(s, "portal-invoices", true, invoiceStatusRule, listInvoices)))
	get(customer, "/invoices/{id}", invoices(handleMyRecord(s, myInvoice, asIs)))
	get(customer, "/invoices/{id}/pdf", invoices(s.handleMyInvoicePDF()))
	orders := s.requireFeature("orders")
	get(customer, "/orders", orders(handleCommerceList(s, "portal-orders", true, orderStatusRule, listOrders)))
	get(customer, "/orders/{id}", orders(handleMyRecord(s, myOrder, withTimeline)))
	knowledge := s.requireFeature("knowledge_base")
	get(customer, "/kb/articles", knowledge(s.handleMyArticles()))
	get(customer, "/kb/articles/{slug}", knowledge(s.handleMyArticle()))

	if opt.Web != nil {
		r.PathPrefix("/p/").Handler(opt.Web)
		r.PathPrefix("/admin").Handler(opt.Web)
	}

	return r
}

// get registers h for GET and for HEAD, which is served wherever GET is
// (RFC 9110): the same handler answers, and net/http sends its status and
// headers without the body.
func get(r *mux.Router, path string, h http.Handler) {
	r.Handle(path, h).Methods(http.MethodGet, http.MethodHead)
}

// notFound answers a request no route took: 405 with an Allow header when
// the path exists for other methods, else 404. It probes every method itself
// because gorilla/mux loses a method mismatch when sibling routes share a
// subrouter prefix, and then reports 404.
func (s *server) notFound(router *mux.Router) func(http.ResponseWriter, *http.Request) {
	all := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
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
		if s.refuseDiskFull(w, r) {
			return
		}
		encode(w, r, s.log, http.StatusOK, map[string]string{"status": "ready"})
	})
}
