package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CommerceKind names one of the CRM's records the portal shows customers.
type CommerceKind string

// Commerce kinds. Each is also the ID of the feature that shows it, in
// the plural.
const (
	KindQuote   CommerceKind = "quote"
	KindInvoice CommerceKind = "invoice"
	KindOrder   CommerceKind = "order"
)

// Valid reports whether k is a known kind.
func (k CommerceKind) Valid() bool { return k == KindQuote || k == KindInvoice || k == KindOrder }

// Feature is the ID of the feature that shows records of kind k.
func (k CommerceKind) Feature() string { return string(k) + "s" }

// Commerce limits.
const (
	// MaxLineItems bounds the lines of one record, so that a record, its
	// page and its PDF stay bounded.
	MaxLineItems       = 500
	MaxLineDescription = 500
	MaxCommerceNumber  = 100
	// MaxQuantity and MaxUnitPrice bound a line's numbers; their product
	// may still overflow, which the totals check reports.
	MaxQuantity  int64 = 1_000_000_000
	MaxUnitPrice int64 = 1_000_000_000_000_000
	// MaxSyncBatch is how many records one sync request upserts.
	MaxSyncBatch     = 500
	MaxCommerceList  = 100
	MaxSignerName    = 200
	MaxDeclineReason = 2000
	MaxCarrier       = 100
	MaxTracking      = 100
)

// LineItem is one line of a quote, invoice or order. Prices are integers in
// the currency's minor units (cents for EUR); Amount is Quantity times
// UnitPrice, which the portal checks.
type LineItem struct {
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitPrice   int64  `json:"unitPrice"`
	Amount      int64  `json:"amount"`
}

// Commercial is what quotes, invoices and orders share: the CRM's record of
// a sale to one customer account. ExternalID is the CRM's ID, the key of its
// upserts; ID is the portal's. Subtotal is the sum of the lines' amounts and
// Total is Subtotal plus Tax, both checked by the portal. Version grows with
// every change the CRM sends.
type Commercial struct {
	ID         string     `json:"id"`
	ExternalID string     `json:"externalId"`
	AccountID  string     `json:"accountId"`
	Number     string     `json:"number"`
	Currency   string     `json:"currency"`
	Lines      []LineItem `json:"lines"`
	Subtotal   int64      `json:"subtotal"`
	Tax        int64      `json:"tax"`
	Total      int64      `json:"total"`
	Version    int64      `json:"version"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

// Base returns the shared part of the record.
func (c *Commercial) Base() *Commercial { return c }

// CommerceRecord is a quote, an invoice or an order: the store keeps the
// three alike.
type CommerceRecord interface {
	Base() *Commercial
	Kind() CommerceKind
	Validate() error
	// CRMContent is the record as the CRM sent it, without what the
	// portal adds (IDs, times, a customer's decision): two upserts with the
	// same content change nothing.
	CRMContent() any
}

// MulAmount returns q times p, and false when the product overflows.
func MulAmount(q, p int64) (int64, bool) {
	if q == 0 || p == 0 {
		return 0, true
	}
	r := q * p
	if r/p != q || (q == -1 && p == math.MinInt64) || (p == -1 && q == math.MinInt64) {
		return 0, false
	}
	return r, true
}

// AddAmount returns a plus b, and false when the sum overflows.
func AddAmount(a, b int64) (int64, bool) {
	r := a + b
	if (b > 0 && r < a) || (b < 0 && r > a) {
		return 0, false
	}
	return r, true
}

// Totals recomputes what the lines and tax add up to, reporting each line
// whose amount is not quantity times unit price and any overflow. The
// sums are of the computed amounts, so one wrong line is reported once.
func Totals(bad *FieldErrors, lines []LineItem, tax int64) (subtotal, total int64, ok bool) {
	ok = true
	for i, l := range lines {
		f := "lines[" + strconv.Itoa(i) + "]."
		amount, fits := MulAmount(l.Quantity, l.UnitPrice)
		if !fits {
			bad.Add(f+"amount", "quantity × unitPrice does not fit in 64 bits")
			ok = false
			continue
		}
		if amount != l.Amount {
			bad.Add(f+"amount", "must be quantity × unitPrice = "+strconv.FormatInt(amount, 10))
		}
		if subtotal, fits = AddAmount(subtotal, amount); !fits {
			bad.Add("subtotal", "the sum of the lines does not fit in 64 bits")
			return 0, 0, false
		}
	}
	if total, ok = AddAmount(subtotal, tax); !ok {
		bad.Add("total", "subtotal + tax does not fit in 64 bits")
	}
	return subtotal, total, ok
}

// validate reports every invalid shared field at once into bad.
func (c Commercial) validate(bad *FieldErrors) {
	checkRequiredRef(bad, "externalId", c.ExternalID)
	checkRequiredRef(bad, "accountId", c.AccountID)
	if strings.TrimSpace(c.Number) == "" {
		bad.Add("number", "is required")
	}
	checkText(bad, "number", c.Number, MaxCommerceNumber, false)
	if _, ok := CurrencyExponent(c.Currency); !ok {
		bad.Add("currency", "must be an ISO 4217 currency code in upper case, such as EUR")
	}
	if c.Version < 1 {
		bad.Add("version", "must be at least 1")
	}
	if len(c.Lines) > MaxLineItems {
		bad.Add("lines", "must be at most "+strconv.Itoa(MaxLineItems)+" lines")
		return
	}
	for i, l := range c.Lines {
		f := "lines[" + strconv.Itoa(i) + "]."
		if strings.TrimSpace(l.Description) == "" {
			bad.Add(f+"description", "is required")
		}
		checkText(bad, f+"description", l.Description, MaxLineDescription, false)
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			bad.Add(f+"quantity", "must be from 1 to "+strconv.FormatInt(MaxQuantity, 10))
		}
		if l.UnitPrice < -MaxUnitPrice || l.UnitPrice > MaxUnitPrice {
			bad.Add(f+"unitPrice", "must be within ±"+strconv.FormatInt(MaxUnitPrice, 10)+" minor units")
		}
	}
	if c.Tax < 0 || c.Tax > MaxUnitPrice {
		bad.Add("tax", "must be from 0 to "+strconv.FormatInt(MaxUnitPrice, 10)+" minor units")
	}
	subtotal, total, ok := Totals(bad, c.Lines, c.Tax)
	if !ok {
		return
	}
	if subtotal != c.Subtotal {
		bad.Add("subtotal", "must be the sum of the lines' amounts, "+strconv.FormatInt(subtotal, 10))
	}
	if total != c.Total {
		bad.Add("total", "must be subtotal + tax, "+strconv.FormatInt(total, 10))
	}
}

func checkRequiredRef(bad *FieldErrors, field, s string) {
	if s == "" {
		bad.Add(field, "is required")
		return
	}
	if p := refProblem(s); p != "" {
		bad.Add(field, p)
	}
}

// crm is the shared part as the CRM sent it.
func (c Commercial) crm() Commercial {
	c.ID, c.CreatedAt, c.UpdatedAt = "", time.Time{}, time.Time{}
	if c.Lines == nil {
		c.Lines = []LineItem{}
	}
	return c
}

// QuoteStatus is where a quote is: the CRM drafts and sends it, the customer
// accepts or declines it, or it expires.
type QuoteStatus string

// Quote statuses.
const (
	QuoteDraft    QuoteStatus = "draft"
	QuoteSent     QuoteStatus = "sent"
	QuoteAccepted QuoteStatus = "accepted"
	QuoteDeclined QuoteStatus = "declined"
	QuoteExpired  QuoteStatus = "expired"
)

// QuoteStatuses lists every status.
var QuoteStatuses = []QuoteStatus{QuoteDraft, QuoteSent, QuoteAccepted, QuoteDeclined, QuoteExpired}

// Valid reports whether s is a known status.
func (s QuoteStatus) Valid() bool {
	return s == QuoteDraft || s == QuoteSent || s == QuoteAccepted || s == QuoteDeclined || s == QuoteExpired
}

// QuoteAcceptance is the record of a customer's acceptance: who signed,
// when, from where, and the SHA-256 (hex) of the quote as it was shown
// (QuoteHash).
type QuoteAcceptance struct {
	SignerName  string    `json:"signerName"`
	UserID      string    `json:"userId"`
	AcceptedAt  time.Time `json:"acceptedAt"`
	IP          string    `json:"ip"`
	UserAgent   string    `json:"userAgent"`
	QuoteSHA256 string    `json:"quoteSha256"`
}

// QuoteDecline is the record of a customer's refusal.
type QuoteDecline struct {
	UserID     string    `json:"userId"`
	Reason     string    `json:"reason"`
	DeclinedAt time.Time `json:"declinedAt"`
}

// Quote is an offer to a customer account, which a customer can accept once
// while it is sent and before ValidUntil.
type Quote struct {
	Commercial
	Status     QuoteStatus      `json:"status"`
	IssuedAt   time.Time        `json:"issuedAt"`
	ValidUntil time.Time        `json:"validUntil"`
	Acceptance *QuoteAcceptance `json:"acceptance"`
	Decline    *QuoteDecline    `json:"decline"`
}

// Kind is KindQuote.
func (Quote) Kind() CommerceKind { return KindQuote }

// Validate reports every invalid field at once.
func (q Quote) Validate() error {
	bad := &FieldErrors{}
	q.validate(bad)
	if !q.Status.Valid() {
		bad.Add("status", "must be draft, sent, accepted, declined or expired")
	}
	if q.IssuedAt.IsZero() {
		bad.Add("issuedAt", "is required")
	}
	if q.ValidUntil.IsZero() {
		bad.Add("validUntil", "is required")
	} else if q.ValidUntil.Before(q.IssuedAt) {
		bad.Add("validUntil", "must not be before issuedAt")
	}
	return bad.Err()
}

// CRMContent is the quote without the portal's fields and decision.
func (q Quote) CRMContent() any {
	q.Commercial = q.crm()
	q.Acceptance, q.Decline = nil, nil
	return q
}

// Decided reports whether a customer accepted or declined q in the portal.
func (q Quote) Decided() bool { return q.Acceptance != nil || q.Decline != nil }

// SameTerms reports whether a and b offer the same: account, number,
// currency, lines, amounts and validity. A quote a customer has decided on
// keeps its terms.
func SameTerms(a, b Quote) bool {
	if a.AccountID != b.AccountID || a.Number != b.Number || a.Currency != b.Currency ||
		a.Subtotal != b.Subtotal || a.Tax != b.Tax || a.Total != b.Total ||
		!a.ValidUntil.Equal(b.ValidUntil) || !a.IssuedAt.Equal(b.IssuedAt) || len(a.Lines) != len(b.Lines) {
		return false
	}
	for i := range a.Lines {
		if a.Lines[i] != b.Lines[i] {
			return false
		}
	}
	return true
}

// CustomerView is the quote as a customer sees it at now: a sent quote
// past its validUntil shows as expired.
func (q Quote) CustomerView(now time.Time) Quote {
	if q.Status == QuoteSent && !now.Before(q.ValidUntil) {
		q.Status = QuoteExpired
	}
	if q.Lines == nil {
		q.Lines = []LineItem{}
	}
	return q
}

// VisibleToAccount reports whether a customer of account sees q: a quote
// of that account that is no longer a draft.
func (q Quote) VisibleToAccount(account string) bool {
	return account != "" && q.AccountID == account && q.Status != QuoteDraft
}

// QuoteHash is the hex SHA-256 of the canonical JSON of q as a customer
// sees it (CustomerView): its fields in schema order, without whitespace,
// amounts as integers and times in RFC 3339. The acceptance records the
// hash of the quote before it was accepted.
func QuoteHash(q Quote) string {
	raw, _ := json.Marshal(q) // a Quote of strings, integers and times always encodes
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// QuoteAccept is a customer's acceptance of a quote. ShownSHA256, when
// set, is the QuoteHash of the quote as the customer's page or client
// showed it: the acceptance is refused when the quote has changed since.
type QuoteAccept struct {
	SignerName  string
	IP          string
	UserAgent   string
	ShownSHA256 string
}

// Validate reports every invalid field at once.
func (a QuoteAccept) Validate() error {
	bad := &FieldErrors{}
	if strings.TrimSpace(a.SignerName) == "" {
		bad.Add("signerName", "is required")
	}
	checkText(bad, "signerName", a.SignerName, MaxSignerName, false)
	if a.ShownSHA256 != "" && !isHexHash(a.ShownSHA256) {
		bad.Add("quoteSha256", "must be 64 lower-case hexadecimal characters")
	}
	return bad.Err()
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

// CheckDeclineReason reports the problem of a decline's reason, optional
// text of at most MaxDeclineReason characters.
func CheckDeclineReason(reason string) error {
	bad := &FieldErrors{}
	checkText(bad, "reason", reason, MaxDeclineReason, true)
	return bad.Err()
}

// InvoiceStatus is where an invoice is.
type InvoiceStatus string

// Invoice statuses.
const (
	InvoiceOpen    InvoiceStatus = "open"
	InvoicePaid    InvoiceStatus = "paid"
	InvoiceOverdue InvoiceStatus = "overdue"
	InvoiceVoid    InvoiceStatus = "void"
)

// InvoiceStatuses lists every status.
var InvoiceStatuses = []InvoiceStatus{InvoiceOpen, InvoicePaid, InvoiceOverdue, InvoiceVoid}

// Valid reports whether s is a known status.
func (s InvoiceStatus) Valid() bool {
	return s == InvoiceOpen || s == InvoicePaid || s == InvoiceOverdue || s == InvoiceVoid
}

// Invoice is a bill to a customer account.
type Invoice struct {
	Commercial
	Status   InvoiceStatus `json:"status"`
	IssuedAt time.Time     `json:"issuedAt"`
	DueAt    time.Time     `json:"dueAt"`
	PaidAt   *time.Time    `json:"paidAt"`
}

// Kind is KindInvoice.
func (Invoice) Kind() CommerceKind { return KindInvoice }

// Validate reports every invalid field at once.
func (v Invoice) Validate() error {
	bad := &FieldErrors{}
	v.validate(bad)
	if !v.Status.Valid() {
		bad.Add("status", "must be open, paid, overdue or void")
	}
	if v.IssuedAt.IsZero() {
		bad.Add("issuedAt", "is required")
	}
	if v.DueAt.IsZero() {
		bad.Add("dueAt", "is required")
	} else if v.DueAt.Before(v.IssuedAt) {
		bad.Add("dueAt", "must not be before issuedAt")
	}
	switch {
	case v.Status == InvoicePaid && v.PaidAt == nil:
		bad.Add("paidAt", "is required for a paid invoice")
	case v.Status != InvoicePaid && v.PaidAt != nil:
		bad.Add("paidAt", "must be null unless the invoice is paid")
	case v.PaidAt != nil && v.PaidAt.Before(v.IssuedAt):
		bad.Add("paidAt", "must not be before issuedAt")
	}
	return bad.Err()
}

// CRMContent is the invoice without the portal's fields.
func (v Invoice) CRMContent() any {
	v.Commercial = v.crm()
	return v
}

// CustomerView is the invoice as a customer sees it at now: an open
// invoice past its due date shows as overdue.
func (v Invoice) CustomerView(now time.Time) Invoice {
	if v.Status == InvoiceOpen && now.After(v.DueAt) {
		v.Status = InvoiceOverdue
	}
	if v.Lines == nil {
		v.Lines = []LineItem{}
	}
	return v
}

// OrderStatus is where an order is on its way to the customer.
type OrderStatus string

// Order statuses, in the order an order passes them (cancelled ends it).
const (
	OrderPlaced    OrderStatus = "placed"
	OrderConfirmed OrderStatus = "confirmed"
	OrderShipped   OrderStatus = "shipped"
	OrderDelivered OrderStatus = "delivered"
	OrderCancelled OrderStatus = "cancelled"
)

// OrderStatuses lists every status.
var OrderStatuses = []OrderStatus{OrderPlaced, OrderConfirmed, OrderShipped, OrderDelivered, OrderCancelled}

// Valid reports whether s is a known status.
func (s OrderStatus) Valid() bool {
	return s == OrderPlaced || s == OrderConfirmed || s == OrderShipped || s == OrderDelivered || s == OrderCancelled
}

// Order is a customer account's order and how far it has come.
type Order struct {
	Commercial
	Status         OrderStatus `json:"status"`
	PlacedAt       time.Time   `json:"placedAt"`
	ConfirmedAt    *time.Time  `json:"confirmedAt"`
	ShippedAt      *time.Time  `json:"shippedAt"`
	DeliveredAt    *time.Time  `json:"deliveredAt"`
	CancelledAt    *time.Time  `json:"cancelledAt"`
	Carrier        string      `json:"carrier"`
	TrackingNumber string      `json:"trackingNumber"`
	TrackingURL    string      `json:"trackingUrl"`
}

// Kind is KindOrder.
func (Order) Kind() CommerceKind { return KindOrder }

// Validate reports every invalid field at once: each step the status has
// reached has its time, in order, and no step beyond it has one.
func (o Order) Validate() error {
	bad := &FieldErrors{}
	o.validate(bad)
	if !o.Status.Valid() {
		bad.Add("status", "must be placed, confirmed, shipped, delivered or cancelled")
	}
	if o.PlacedAt.IsZero() {
		bad.Add("placedAt", "is required")
	}
	rank := map[OrderStatus]int{OrderPlaced: 0, OrderConfirmed: 1, OrderShipped: 2, OrderDelivered: 3}
	reached, cancelled := rank[o.Status], o.Status == OrderCancelled
	prev := o.PlacedAt
	for i, step := range []struct {
		name string
		at   *time.Time
	}{{"confirmedAt", o.ConfirmedAt}, {"shippedAt", o.ShippedAt}, {"deliveredAt", o.DeliveredAt}} {
		switch {
		case step.at == nil && !cancelled && i+1 <= reached:
			bad.Add(step.name, "is required for an order "+string(o.Status))
		case step.at != nil && !cancelled && i+1 > reached:
			bad.Add(step.name, "must be null for an order "+string(o.Status))
		case step.at != nil && step.at.Before(prev):
			bad.Add(step.name, "must not be before the step before it")
		}
		if step.at != nil {
			prev = *step.at
		}
	}
	switch {
	case cancelled && o.CancelledAt == nil:
		bad.Add("cancelledAt", "is required for a cancelled order")
	case !cancelled && o.CancelledAt != nil:
		bad.Add("cancelledAt", "must be null unless the order is cancelled")
	case o.CancelledAt != nil && o.CancelledAt.Before(o.PlacedAt):
		bad.Add("cancelledAt", "must not be before placedAt")
	}
	checkText(bad, "carrier", o.Carrier, MaxCarrier, false)
	checkText(bad, "trackingNumber", o.TrackingNumber, MaxTracking, false)
	if o.TrackingURL != "" {
		if u, err := url.Parse(o.TrackingURL); err != nil || u.Scheme != "https" || u.Host == "" || len(o.TrackingURL) > MaxURL {
			bad.Add("trackingUrl", "must be an https URL of at most 2048 characters")
		}
	}
	return bad.Err()
}

// CRMContent is the order without the portal's fields.
func (o Order) CRMContent() any {
	o.Commercial = o.crm()
	return o
}

// CustomerView is the order as a customer sees it.
func (o Order) CustomerView() Order {
	if o.Lines == nil {
		o.Lines = []LineItem{}
	}
	return o
}

// OrderEvent is one step of an order's timeline. A step not yet reached
// has no time.
type OrderEvent struct {
	Status  OrderStatus `json:"status"`
	Reached bool        `json:"reached"`
	At      *time.Time  `json:"at"`
	// Carrier, TrackingNumber and TrackingURL are set on the shipped step.
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"trackingNumber,omitempty"`
	TrackingURL    string `json:"trackingUrl,omitempty"`
}

// Timeline is the order's steps: placed, confirmed, shipped (with its
// tracking) and delivered, and cancelled when it was.
func (o Order) Timeline() []OrderEvent {
	placed := o.PlacedAt
	ev := []OrderEvent{
		{Status: OrderPlaced, Reached: true, At: &placed},
		{Status: OrderConfirmed, Reached: o.ConfirmedAt != nil, At: o.ConfirmedAt},
		{Status: OrderShipped, Reached: o.ShippedAt != nil, At: o.ShippedAt,
			Carrier: o.Carrier, TrackingNumber: o.TrackingNumber, TrackingURL: o.TrackingURL},
		{Status: OrderDelivered, Reached: o.DeliveredAt != nil, At: o.DeliveredAt},
	}
	if o.Status == OrderCancelled {
		ev = append(ev, OrderEvent{Status: OrderCancelled, Reached: true, At: o.CancelledAt})
	}
	return ev
}
