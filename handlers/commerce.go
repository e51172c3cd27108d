package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// MaxSyncBodyBytes is the largest body POST /v1/customer-portal/sync takes:
// a batch of up to 500 records is more than the 1 MiB of other requests.
const MaxSyncBodyBytes = 32 << 20

// timeField is a timestamp member of a CRM record: an RFC 3339 string,
// or null (or absent) for none. It is parsed by the conversion, so that a
// bad time is a validation error naming its field.
type timeField struct {
	set bool
	s   string
}

// UnmarshalJSON takes a string or null.
func (f *timeField) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = timeField{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*f = timeField{set: true, s: s}
	return nil
}

// MarshalJSON writes the time as it was given.
func (f timeField) MarshalJSON() ([]byte, error) {
	if !f.set {
		return []byte("null"), nil
	}
	return json.Marshal(f.s)
}

// parse reads the time into bad's care: nil when absent, a problem when
// required and absent or not RFC 3339.
func (f timeField) parse(bad *data.FieldErrors, name string, required bool) *time.Time {
	if !f.set {
		if required {
			bad.Add(name, "is required")
		}
		return nil
	}
	t, err := time.Parse(time.RFC3339, f.s)
	if err != nil {
		bad.Add(name, "must be an RFC 3339 time such as 2026-11-26T19:15:49Z")
		return nil
	}
	t = t.UTC()
	return &t
}

func (f timeField) value(bad *data.FieldErrors, name string) time.Time {
	if t := f.parse(bad, name, true); t != nil {
		return *t
	}
	return time.Time{}
}

// lineRequest is a line of a CRM record. Amount may be left out: it is then
// quantity × unitPrice; given, it must be that.
type lineRequest struct {
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitPrice   int64  `json:"unitPrice"`
	Amount      *int64 `json:"amount,omitempty"`
}

// commercial builds the shared part of a record from the request's fields.
func commercial(externalID, account, number, currency string, lines []lineRequest, subtotal, tax, total, version int64) data.Commercial {
	c := data.Commercial{ExternalID: externalID, AccountID: account, Number: number, Currency: currency,
		Lines: make([]data.LineItem, len(lines)), Subtotal: subtotal, Tax: tax, Total: total, Version: version}
	for i, l := range lines {
		c.Lines[i] = data.LineItem{Description: l.Description, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
		if l.Amount != nil {
			c.Lines[i].Amount = *l.Amount
		} else if a, ok := data.MulAmount(l.Quantity, l.UnitPrice); ok {
			c.Lines[i].Amount = a
		}
	}
	return c
}

var commonRequired = []string{"accountId", "number", "currency", "lines", "subtotal", "total", "version", "status"}

// quoteRequest is the body of PUT /v1/customer-portal/quotes/{externalId}.
type quoteRequest struct {
	AccountID  string           `json:"accountId"`
	Number     string           `json:"number"`
	Currency   string           `json:"currency"`
	Lines      []lineRequest    `json:"lines"`
	Subtotal   int64            `json:"subtotal"`
	Tax        int64            `json:"tax"`
	Total      int64            `json:"total"`
	Version    int64            `json:"version"`
	Status     data.QuoteStatus `json:"status"`
	IssuedAt   timeField        `json:"issuedAt"`
	ValidUntil timeField        `json:"validUntil"`
}

func (quoteRequest) requiredMembers() []string {
	return append(commonRequired[:len(commonRequired):len(commonRequired)], "issuedAt", "validUntil")
}

// quote is the request as a quote with externalID; bad holds the times
// that do not parse.
func (q quoteRequest) quote(bad *data.FieldErrors, externalID string) data.Quote {
	return data.Quote{
		Commercial: commercial(externalID, q.AccountID, q.Number, q.Currency, q.Lines, q.Subtotal, q.Tax, q.Total, q.Version),
		Status:     q.Status, IssuedAt: q.IssuedAt.value(bad, "issuedAt"), ValidUntil: q.ValidUntil.value(bad, "validUntil"),
	}
}

// invoiceRequest is the body of PUT /v1/customer-portal/invoices/{externalId}.
type invoiceRequest struct {
	AccountID string             `json:"accountId"`
	Number    string             `json:"number"`
	Currency  string             `json:"currency"`
	Lines     []lineRequest      `json:"lines"`
	Subtotal  int64              `json:"subtotal"`
	Tax       int64              `json:"tax"`
	Total     int64              `json:"total"`
	Version   int64              `json:"version"`
	Status    data.InvoiceStatus `json:"status"`
	IssuedAt  timeField          `json:"issuedAt"`
	DueAt     timeField          `json:"dueAt"`
	PaidAt    timeField          `json:"paidAt"`
}

func (invoiceRequest) requiredMembers() []string {
	return append(commonRequired[:len(commonRequired):len(commonRequired)], "issuedAt", "dueAt")
}

func (v invoiceRequest) invoice(bad *data.FieldErrors, externalID string) data.Invoice {
	return data.Invoice{
		Commercial: commercial(externalID, v.AccountID, v.Number, v.Currency, v.Lines, v.Subtotal, v.Tax, v.Total, v.Version),
		Status:     v.Status, IssuedAt: v.IssuedAt.value(bad, "issuedAt"), DueAt: v.DueAt.value(bad, "dueAt"),
		PaidAt: v.PaidAt.parse(bad, "paidAt", false),
	}
}

// orderRequest is the body of PUT /v1/customer-portal/orders/{externalId}.
type orderRequest struct {
	AccountID      string           `json:"accountId"`
	Number         string           `json:"number"`
	Currency       string           `json:"currency"`
	Lines          []lineRequest    `json:"lines"`
	Subtotal       int64            `json:"subtotal"`
	Tax            int64            `json:"tax"`
	Total          int64            `json:"total"`
	Version        int64            `json:"version"`
	Status         data.OrderStatus `json:"status"`
	PlacedAt       timeField        `json:"placedAt"`
	ConfirmedAt    timeField        `json:"confirmedAt"`
	ShippedAt      timeField        `json:"shippedAt"`
	DeliveredAt    timeField        `json:"deliveredAt"`
	CancelledAt    timeField        `json:"cancelledAt"`
	Carrier        string           `json:"carrier"`
	TrackingNumber string           `json:"trackingNumber"`
	TrackingURL    string           `json:"trackingUrl"`
}

func (orderRequest) requiredMembers() []string {
	return append(commonRequired[:len(commonRequired):len(commonRequired)], "placedAt")
}

func (o orderRequest) order(bad *data.FieldErrors, externalID string) data.Order {
	return data.Order{
		Commercial: commercial(externalID, o.AccountID, o.Number, o.Currency, o.Lines, o.Subtotal, o.Tax, o.Total, o.Version),
		Status:     o.Status, PlacedAt: o.PlacedAt.value(bad, "placedAt"),
		ConfirmedAt: o.ConfirmedAt.parse(bad, "confirmedAt", false), ShippedAt: o.ShippedAt.parse(bad, "shippedAt", false),
		DeliveredAt: o.DeliveredAt.parse(bad, "deliveredAt", false), CancelledAt: o.CancelledAt.parse(bad, "cancelledAt", false),
		Carrier: o.Carrier, TrackingNumber: o.TrackingNumber, TrackingURL: o.TrackingURL,
	}
}

// externalIDOf reads the CRM's ID from the path: decoded, it must be a
// reference as records hold them, else nothing has it (404).
func externalIDOf(r *http.Request) (string, error) {
	id, err := url.PathUnescape(mux.Vars(r)["externalId"])
	if err != nil || id == "" || !data.ValidRef(id) {
		return "", data.ErrNotFound
	}
	return id, nil
}

// decodeRecord reads a CRM record of type T from body and converts it with
// the external ID; errors name the fields with prefix.
func decodeRecord[T any, R any](body []byte, externalID string, conv func(T, *data.FieldErrors, string) R) (R, error) {
	var zero R
	req, err := decodeBytes[T](body)
	if err != nil {
		return zero, err
	}
	bad := &data.FieldErrors{}
	rec := conv(req, bad, externalID)
	return rec, bad.Err()
}

func convQuote(q quoteRequest, bad *data.FieldErrors, ext string) data.Quote {
	return q.quote(bad, ext)
}
func convInvoice(v invoiceRequest, bad *data.FieldErrors, ext string) data.Invoice {
	return v.invoice(bad, ext)
}
func convOrder(o orderRequest, bad *data.FieldErrors, ext string) data.Order {
	return o.order(bad, ext)
}

// handleUpsert serves PUT of a CRM record: 201 when created, else 200.
func handleUpsert[T any, R any](s *server, conv func(T, *data.FieldErrors, string) R,
	put func(*server, *http.Request, data.TenantID, string, R) (R, store.UpsertResult, error), path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		ext, err := externalIDOf(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		rec, err := decodeRecord(body, ext, conv)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		out, res, err := put(s, r, p.Tenant, p.Subject, rec)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		status := http.StatusOK
		if res == store.UpsertCreated {
			status = http.StatusCreated
			w.Header().Set("Location", path+url.PathEscape(ext))
		}
		encode(w, r, s.log, status, out)
	})
}

func putQuote(s *server, r *http.Request, t data.TenantID, actor string, q data.Quote) (data.Quote, store.UpsertResult, error) {
	return s.db.UpsertQuote(r.Context(), t, actor, q)
}

func putInvoice(s *server, r *http.Request, t data.TenantID, actor string, v data.Invoice) (data.Invoice, store.UpsertResult, error) {
	return s.db.UpsertInvoice(r.Context(), t, actor, v)
}

func putOrder(s *server, r *http.Request, t data.TenantID, actor string, o data.Order) (data.Order, store.UpsertResult, error) {
	return s.db.UpsertOrder(r.Context(), t, actor, o)
}

// listFn lists records of one kind for a viewer (nil for staff).
type listFn[T any] func(s *server, r *http.Request, t data.TenantID, viewer *data.User, f store.CommerceFilter, after string, limit int) (store.Page[T], error)

func listQuotes(s *server, r *http.Request, t data.TenantID, v *data.User, f store.CommerceFilter, after string, limit int) (store.Page[data.Quote], error) {
	return s.db.Quotes(r.Context(), t, v, f, after, limit)
}

func listInvoices(s *server, r *http.Request, t data.TenantID, v *data.User, f store.CommerceFilter, after string, limit int) (store.Page[data.Invoice], error) {
	return s.db.Invoices(r.Context(), t, v, f, after, limit)
}

func listOrders(s *server, r *http.Request, t data.TenantID, v *data.User, f store.CommerceFilter, after string, limit int) (store.Page[data.Order], error) {
	return s.db.Orders(r.Context(), t, v, f, after, limit)
}

// statusRule checks a status filter of a kind.
type statusRule struct {
	valid func(string) bool
	msg   string
}

var (
	quoteStatusRule = statusRule{func(s string) bool { return data.QuoteStatus(s).Valid() },
		"must be draft, sent, accepted, declined or expired"}
	invoiceStatusRule = statusRule{func(s string) bool { return data.InvoiceStatus(s).Valid() },
		"must be open, paid, overdue or void"}
	orderStatusRule = statusRule{func(s string) bool { return data.OrderStatus(s).Valid() },
		"must be placed, confirmed, shipped, delivered or cancelled"}
)

// handleCommerceList serves a list of one kind: to staff with the
// accountId and status filters, or to a customer (their account's records,
// filtered by status).
func handleCommerceList[T any](s *server, list string, customer bool, rule statusRule, fn listFn[T]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed := []string{"status", "accountId"}
		if customer {
			allowed = allowed[:1]
		}
		lp, err := s.cursors.parseList(r, list, allowed...)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		var f store.CommerceFilter
		if f.Status, err = statusFilter(r, "", rule.valid, rule.msg); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		var viewer *data.User
		tenant := principal(r).Tenant
		if customer {
			viewer, tenant = viewerOf(r), portalAuth(r).Tenant
		} else if f.AccountID, err = accountFilter(r); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		p, err := fn(s, r, tenant, viewer, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode(r, list, p.Next)))
	})
}

// handleRecordGet serves one record to staff by the CRM's ID.
func handleRecordGet[T any](s *server, get func(*server, *http.Request, data.TenantID, string) (T, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ext, err := externalIDOf(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		rec, err := get(s, r, principal(r).Tenant, ext)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, rec)
	})
}

// handleRecordDelete deletes a record by the CRM's ID: 204.
func handleRecordDelete(s *server, del func(*server, *http.Request, data.TenantID, string, string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		ext, err := externalIDOf(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := del(s, r, p.Tenant, p.Subject, ext); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// syncItemRequest is one record of a sync batch: its kind, the CRM's ID
// and the record as PUT takes it.
type syncItemRequest struct {
	Kind       data.CommerceKind `json:"kind"`
	ExternalID string            `json:"externalId"`
	Record     json.RawMessage   `json:"record"`
}

func (syncItemRequest) requiredMembers() []string { return []string{"kind", "externalId", "record"} }

// syncRequest is the body of POST /v1/customer-portal/sync.
type syncRequest struct {
	Items []syncItemRequest `json:"items"`
}

func (syncRequest) requiredMembers() []string { return []string{"items"} }

// syncResponse is what a sync did, item by item in the order sent.
type syncResponse struct {
	Created   int                `json:"created"`
	Updated   int                `json:"updated"`
	Unchanged int                `json:"unchanged"`
	Items     []store.SyncResult `json:"items"`
}

// decodeSync reads a sync batch into the store's items. Every invalid item
// is reported at once, its fields named items[i].<field>, capped as every
// validation error is.
func decodeSync(body []byte) ([]store.SyncItem, error) {
	req, err := decodeBytes[syncRequest](body)
	if err != nil {
		return nil, err
	}
	if len(req.Items) > data.MaxSyncBatch {
		return nil, data.Invalid("items", "must be at most "+strconv.Itoa(data.MaxSyncBatch)+" items")
	}
	bad := &data.FieldErrors{}
	items := make([]store.SyncItem, len(req.Items))
	for i, it := range req.Items {
		prefix := "items[" + strconv.Itoa(i) + "]."
		if it.ExternalID == "" || !data.ValidRef(it.ExternalID) {
			bad.Add(prefix+"externalId", "must be 1 to 100 printable ASCII characters without spaces")
			continue
		}
		if len(it.Record) == 0 {
			bad.Add(prefix+"record", "is required")
			continue
		}
		var err error
		switch it.Kind {
		case data.KindQuote:
			var q data.Quote
			q, err = decodeRecord(it.Record, it.ExternalID, convQuote)
			items[i].Quote = &q
		case data.KindInvoice:
			var v data.Invoice
			v, err = decodeRecord(it.Record, it.ExternalID, convInvoice)
			items[i].Invoice = &v
		case data.KindOrder:
			var o data.Order
			o, err = decodeRecord(it.Record, it.ExternalID, convOrder)
			items[i].Order = &o
		default:
			bad.Add(prefix+"kind", "must be quote, invoice or order")
			continue
		}
		if err == nil {
			// Validated here too, so that one answer lists every item's
			// problems, not those of decoding first and of the rules later.
			err = recordErrOf(items[i])
		}
		if err != nil {
			addItemErr(bad, prefix, err)
		}
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

// recordErrOf validates the item's record.
func recordErrOf(it store.SyncItem) error {
	switch {
	case it.Quote != nil:
		return it.Quote.Validate()
	case it.Invoice != nil:
		return it.Invoice.Validate()
	case it.Order != nil:
		return it.Order.Validate()
	}
	return nil
}

// addItemErr records err, the problem of a batch item's record, under
// prefix: a field of the record as items[i].<field>, the record as a whole
// (malformed, not an object) as items[i].record.
func addItemErr(bad *data.FieldErrors, prefix string, err error) {
	var ve *data.ValidationError
	if !errors.As(err, &ve) {
		bad.Add(prefix+"record", err.Error()) // malformed: the decoder's own message, no internals
		return
	}
	whole := &data.FieldErrors{}
	rest := &data.ValidationError{Fields: map[string]string{}, Omitted: ve.Omitted}
	for k, msg := range ve.Fields {
		if k == "" {
			whole.Add(prefix+"record", msg)
			continue
		}
		rest.Fields[k] = msg
	}
	bad.AddErr("", whole.Err())
	bad.AddErr(prefix, rest)
}

func (s *server) handleSync() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		body, err := readBodyMax(w, r, MaxSyncBodyBytes)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		items, err := decodeSync(body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		res, err := s.db.Sync(r.Context(), p.Tenant, p.Subject, items)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		out := syncResponse{Items: res}
		if out.Items == nil {
			out.Items = []store.SyncResult{}
		}
		for _, it := range res {
			switch it.Result {
			case store.UpsertCreated:
				out.Created++
			case store.UpsertUpdated:
				out.Updated++
			default:
				out.Unchanged++
			}
		}
		encode(w, r, s.log, http.StatusOK, out)
	})
}

// handleMyRecord serves one record of the customer's account by its portal
// ID, wrapped by view.
func handleMyRecord[T any](s *server, get func(*server, *http.Request, data.TenantID, *data.User, string) (T, error), view func(T) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		rec, err := get(s, r, portalAuth(r).Tenant, viewerOf(r), id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, view(rec))
	})
}

func asIs[T any](v T) any { return v }

// orderDetail is an order with its timeline.
type orderDetail struct {
	data.Order
	Timeline []data.OrderEvent `json:"timeline"`
}

func withTimeline(o data.Order) any { return orderDetail{Order: o, Timeline: o.Timeline()} }

// acceptQuoteRequest is the body of POST /v1/portal/quotes/{id}/accept.
type acceptQuoteRequest struct {
	SignerName string `json:"signerName"`
	// QuoteSHA256 is optional: the hash of the quote the customer was
	// shown, so that a quote changed since is not accepted unseen.
	QuoteSHA256 string `json:"quoteSha256,omitempty"`
}

func (acceptQuoteRequest) requiredMembers() []string { return []string{"signerName"} }

// declineQuoteRequest is the body of POST /v1/portal/quotes/{id}/decline.
type declineQuoteRequest struct {
	Reason string `json:"reason"`
}

func (s *server) handleMyQuoteAccept() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		req, err := decode[acceptQuoteRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a, c := portalAuth(r), clientOf(r)
		q, err := s.db.AcceptQuote(r.Context(), a.Tenant, a.User, id,
			data.QuoteAccept{SignerName: req.SignerName, IP: c.IP, UserAgent: c.UserAgent, ShownSHA256: req.QuoteSHA256})
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake() // the quote.accepted or quote.declined event
		encode(w, r, s.log, http.StatusOK, q)
	})
}

func (s *server) handleMyQuoteDecline() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		var req declineQuoteRequest
		// The body is optional: no body declines without a reason.
		if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
			if req, err = decode[declineQuoteRequest](w, r); err != nil {
				writeError(w, r, s.log, err)
				return
			}
		}
		a := portalAuth(r)
		q, err := s.db.DeclineQuote(r.Context(), a.Tenant, a.User, id, req.Reason)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake() // the quote.accepted or quote.declined event
		encode(w, r, s.log, http.StatusOK, q)
	})
}

func quoteByRef(s *server, r *http.Request, t data.TenantID, ext string) (data.Quote, error) {
	return s.db.QuoteByRef(r.Context(), t, ext)
}

func invoiceByRef(s *server, r *http.Request, t data.TenantID, ext string) (data.Invoice, error) {
	return s.db.InvoiceByRef(r.Context(), t, ext)
}

func orderByRef(s *server, r *http.Request, t data.TenantID, ext string) (data.Order, error) {
	return s.db.OrderByRef(r.Context(), t, ext)
}

func deleteQuote(s *server, r *http.Request, t data.TenantID, actor, ext string) error {
	return s.db.DeleteQuote(r.Context(), t, actor, ext)
}

func deleteInvoice(s *server, r *http.Request, t data.TenantID, actor, ext string) error {
	return s.db.DeleteInvoice(r.Context(), t, actor, ext)
}

func deleteOrder(s *server, r *http.Request, t data.TenantID, actor, ext string) error {
	return s.db.DeleteOrder(r.Context(), t, actor, ext)
}

func myQuote(s *server, r *http.Request, t data.TenantID, v *data.User, id string) (data.Quote, error) {
	return s.db.Quote(r.Context(), t, v, id)
}

func myInvoice(s *server, r *http.Request, t data.TenantID, v *data.User, id string) (data.Invoice, error) {
	return s.db.Invoice(r.Context(), t, v, id)
}

func myOrder(s *server, r *http.Request, t data.TenantID, v *data.User, id string) (data.Order, error) {
	return s.db.Order(r.Context(), t, v, id)
}
