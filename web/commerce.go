package web

// The Quotes, Invoices and Orders pages of the customer portal, each shown
// only while its feature is on (404 otherwise, like an unknown page):
//
//	GET  /p/{slug}/quotes                the account's quotes
//	GET  /p/{slug}/quotes/{id}           a quote with its lines, and the accept and decline forms
//	POST /p/{slug}/quotes/{id}/accept    accept it (signerName)
//	POST /p/{slug}/quotes/{id}/decline   decline it (reason, optional)
//	GET  /p/{slug}/invoices              the account's invoices
//	GET  /p/{slug}/invoices/{id}         an invoice, with its PDF link
//	GET  /p/{slug}/invoices/{id}/pdf     the PDF
//	GET  /p/{slug}/orders                the account's orders
//	GET  /p/{slug}/orders/{id}           an order with its timeline
//
// They call the same store methods as the customer API, with the signed-in
// user as the viewer.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/store"
)

// commercePerPage is the length of a page of the three lists.
const commercePerPage = 25

// commerceRoutes are the pages under quotes/{id}/, invoices/{id}/ and
// orders/{id}/, by kind and action; the ID is read by recordID.
var commerceRoutes = map[string]map[string]map[string]pageHandler{
	"quotes": {
		"":        {http.MethodGet: (*server).quotePage},
		"accept":  {http.MethodPost: (*server).quoteAccept},
		"decline": {http.MethodPost: (*server).quoteDecline},
	},
	"invoices": {
		"":    {http.MethodGet: (*server).invoicePage},
		"pdf": {http.MethodGet: (*server).invoicePDF},
	},
	"orders": {
		"": {http.MethodGet: (*server).orderPage},
	},
}

// commerceRoute returns the methods of a page of one record
// ({kind}/{id}[/action]).
func commerceRoute(page string) (map[string]pageHandler, bool) {
	kind, rest, ok := strings.Cut(page, "/")
	routes, known := commerceRoutes[kind]
	if !ok || !known {
		return nil, false
	}
	id, action, _ := strings.Cut(rest, "/")
	if !data.ValidID(id) {
		return nil, false
	}
	m, ok := routes[action]
	return m, ok
}

// recordID is the {id} of a record page's path, checked by commerceRoute.
func recordID(r *http.Request) string {
	_, page, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/p/"), "/")
	_, rest, _ := strings.Cut(page, "/")
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// requireFeature is requireSession for the pages of feature id: it also
// answers 404 while the feature is off.
func (s *server) requireFeature(w http.ResponseWriter, r *http.Request, slug, id string) (portal, store.Auth, bool) {
	p, a, ok := s.requireSession(w, r, slug)
	if !ok {
		return p, a, false
	}
	if !featureOn(p.cfg, id) {
		s.renderNotFound(w, r)
		return p, a, false
	}
	return p, a, true
}

// listAfter reads the ?after= of a list page: an ID, or "".
func listAfter(r *http.Request) string {
	if after := r.URL.Query().Get("after"); data.ValidID(after) {
		return after
	}
	return ""
}

// commerceList is a list page.
type commerceList[T any] struct {
	Items  []T
	Status string // the filter shown, "" for every status
	Next   string // the ID to continue after, "" on the last page
}

// commercePage renders the list page of one kind of CRM record (feature,
// title and template are its name), the user's own account's, filtered by
// a valid status (another is no filter) and paged.
func commercePage[T any, S interface {
	~string
	Valid() bool
}](s *server, w http.ResponseWriter, r *http.Request, slug, name, title string, status S,
	list func(context.Context, data.TenantID, *data.User, store.CommerceFilter, string, int) (store.Page[T], error)) {
	p, a, ok := s.requireFeature(w, r, slug, name)
	if !ok {
		return
	}
	if !status.Valid() {
		status = ""
	}
	u := a.User
	pg, err := list(r.Context(), p.tenant, &u, store.CommerceFilter{Status: string(status)}, listAfter(r), commercePerPage)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := s.userView(r, p, a, title, name)
	v.Data = commerceList[T]{Items: pg.Items, Status: string(status), Next: pg.Next}
	s.render(w, r, http.StatusOK, name, v)
}

func (s *server) quotes(w http.ResponseWriter, r *http.Request, slug string) {
	commercePage(s, w, r, slug, "quotes", "Quotes", data.QuoteStatus(r.URL.Query().Get("status")), s.db.Quotes)
}

// quoteData is the quote page.
type quoteData struct {
	Quote data.Quote
	// Hash is the QuoteHash of the quote shown, sent back with the accept
	// form so that a quote changed meanwhile is not accepted unseen.
	Hash string
	// CanDecide is set while the quote is open to a decision and the user
	// may take it; MayDecide says only the latter.
	CanDecide, MayDecide bool
}

func (s *server) quotePage(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireFeature(w, r, slug, "quotes")
	if !ok {
		return
	}
	s.renderQuote(w, r, p, a, http.StatusOK, nil)
}

// renderQuote shows quote recordID(r) to a, with errs on the forms when a
// decision was refused; one a may not see is the not-found page.
func (s *server) renderQuote(w http.ResponseWriter, r *http.Request, p portal, a store.Auth, status int, errs map[string]string) {
	u := a.User
	q, err := s.db.Quote(r.Context(), p.tenant, &u, recordID(r))
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := s.userView(r, p, a, "Quote "+q.Number, "quotes")
	if errs != nil {
		v.Errors = errs
		v.Form["signerName"], v.Form["reason"] = r.PostFormValue("signerName"), r.PostFormValue("reason")
	}
	may := u.Role == data.RoleAdmin || p.cfg.QuotesMemberAccept
	v.Data = quoteData{Quote: q, Hash: data.QuoteHash(q), MayDecide: may, CanDecide: may && q.Status == data.QuoteSent}
	s.render(w, r, status, "quote", v)
}

// decisionErrors is what a customer reads about a refused decision, on the
// quote page, or false for an error the page does not show.
func decisionErrors(err error) (int, map[string]string, bool) {
	var ve *data.ValidationError
	switch {
	case errors.As(err, &ve):
		out := map[string]string{}
		for k, msg := range ve.Fields {
			switch k {
			case "signerName":
				out[k] = "Your name " + msg + "."
			case "reason":
				out[k] = "The reason " + msg + "."
			default:
				out["form"] = "This value " + msg + "."
			}
		}
		return http.StatusUnprocessableEntity, out, true
	case errors.Is(err, data.ErrConflict):
		return http.StatusConflict, map[string]string{"form": conflictText(err)}, true
	case errors.Is(err, data.ErrForbidden):
		return http.StatusForbidden, map[string]string{"form": "Only an administrator of your account can accept or decline quotes."}, true
	}
	return 0, nil, false
}

func (s *server) quoteAccept(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireFeature(w, r, slug, "quotes")
	if !ok {
		return
	}
	c := clientOf(r)
	_, err := s.db.AcceptQuote(r.Context(), p.tenant, a.User, recordID(r),
		data.QuoteAccept{SignerName: strings.TrimSpace(r.PostFormValue("signerName")), IP: c.IP, UserAgent: c.UserAgent,
			ShownSHA256: r.PostFormValue("quoteSha256")})
	s.afterDecision(w, r, p, a, slug, err, "quote-accepted")
}

func (s *server) quoteDecline(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireFeature(w, r, slug, "quotes")
	if !ok {
		return
	}
	_, err := s.db.DeclineQuote(r.Context(), p.tenant, a.User, recordID(r), normalizeNewlines(r.PostFormValue("reason")))
	s.afterDecision(w, r, p, a, slug, err, "quote-declined")
}

// afterDecision answers a decision form: back to the quote with flash, or
// the quote page with what was refused.
func (s *server) afterDecision(w http.ResponseWriter, r *http.Request, p portal, a store.Auth, slug string, err error, flash string) {
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return
	}
	if status, errs, ok := decisionErrors(err); ok {
		s.renderQuote(w, r, p, a, status, errs)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.wake() // the quote.accepted or quote.declined webhook event
	http.Redirect(w, r, portalPath(slug)+"quotes/"+recordID(r)+"?m="+flash, http.StatusSeeOther)
}

func (s *server) invoices(w http.ResponseWriter, r *http.Request, slug string) {
	commercePage(s, w, r, slug, "invoices", "Invoices", data.InvoiceStatus(r.URL.Query().Get("status")), s.db.Invoices)
}

// invoiceOf reads invoice recordID(r) as a's, rendering the not-found or
// error page when it cannot.
func (s *server) invoiceOf(w http.ResponseWriter, r *http.Request, p portal, a store.Auth) (data.Invoice, bool) {
	u := a.User
	inv, err := s.db.Invoice(r.Context(), p.tenant, &u, recordID(r))
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return inv, false
	}
	if err != nil {
		s.renderError(w, r, err)
		return inv, false
	}
	return inv, true
}

func (s *server) invoicePage(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireFeature(w, r, slug, "invoices")
	if !ok {
		return
	}
	inv, ok := s.invoiceOf(w, r, p, a)
	if !ok {
		return
	}
	v := s.userView(r, p, a, "Invoice "+inv.Number, "invoices")
	v.Data = inv
	s.render(w, r, http.StatusOK, "invoice", v)
}

func (s *server) invoicePDF(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireFeature(w, r, slug, "invoices")
	if !ok {
		return
	}
	inv, ok := s.invoiceOf(w, r, p, a)
	if !ok {
		return
	}
	if err := handlers.ServeInvoicePDF(w, r, inv, p.cfg); err != nil {
		s.renderError(w, r, err)
	}
}

func (s *server) orders(w http.ResponseWriter, r *http.Request, slug string) {
	commercePage(s, w, r, slug, "orders", "Orders", data.OrderStatus(r.URL.Query().Get("status")), s.db.Orders)
}

// orderData is the order page.
type orderData struct {
	Order    data.Order
	Timeline []data.OrderEvent
}

func (s *server) orderPage(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireFeature(w, r, slug, "orders")
	if !ok {
		return
	}
	u := a.User
	o, err := s.db.Order(r.Context(), p.tenant, &u, recordID(r))
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := s.userView(r, p, a, "Order "+o.Number, "orders")
	v.Data = orderData{Order: o, Timeline: o.Timeline()}
	s.render(w, r, http.StatusOK, "order", v)
}

// statusLabel names a status of a quote, an invoice or an order to a
// customer: its first letter in upper case.
func statusLabel(s string) string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
