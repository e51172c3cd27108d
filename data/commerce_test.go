package data

import (
	"math"
	"testing"
	"time"
)

var commerceT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func validQuote() Quote {
	return Quote{
		Commercial: Commercial{ExternalID: "crm-1", AccountID: "ACC-1", Number: "Q-1", Currency: "EUR",
			Lines: []LineItem{{Description: "Licence", Quantity: 3, UnitPrice: 1999, Amount: 5997},
				{Description: "Discount", Quantity: 1, UnitPrice: -997, Amount: -997}},
			Subtotal: 5000, Tax: 950, Total: 5950, Version: 1},
		Status: QuoteSent, IssuedAt: commerceT0, ValidUntil: commerceT0.Add(time.Hour),
	}
}

func TestQuote_Validate(t *testing.T) {
	many := make([]LineItem, MaxLineItems+1)
	for i := range many {
		many[i] = LineItem{Description: "x", Quantity: 1, UnitPrice: 1, Amount: 1}
	}
	tests := []struct {
		name  string
		edit  func(q *Quote)
		field string // "" for valid
	}{
		{"valid", func(q *Quote) {}, ""},
		{"no lines", func(q *Quote) { q.Lines, q.Subtotal, q.Tax, q.Total = nil, 0, 0, 0 }, ""},
		{"zero-decimal currency", func(q *Quote) { q.Currency = "JPY" }, ""},
		{"unknown currency", func(q *Quote) { q.Currency = "EUX" }, "currency"},
		{"lower-case currency", func(q *Quote) { q.Currency = "eur" }, "currency"},
		{"metal is not a currency", func(q *Quote) { q.Currency = "XAU" }, "currency"},
		{"no external ID", func(q *Quote) { q.ExternalID = "" }, "externalId"},
		{"external ID with a space", func(q *Quote) { q.ExternalID = "a b" }, "externalId"},
		{"no account", func(q *Quote) { q.AccountID = "" }, "accountId"},
		{"no number", func(q *Quote) { q.Number = " " }, "number"},
		{"version 0", func(q *Quote) { q.Version = 0 }, "version"},
		{"bad status", func(q *Quote) { q.Status = "won" }, "status"},
		{"no validUntil", func(q *Quote) { q.ValidUntil = time.Time{} }, "validUntil"},
		{"validUntil before issue", func(q *Quote) { q.ValidUntil = commerceT0.Add(-time.Hour) }, "validUntil"},
		{"line amount wrong", func(q *Quote) { q.Lines[0].Amount = 6000 }, "lines[0].amount"},
		{"quantity 0", func(q *Quote) { q.Lines[0].Quantity, q.Lines[0].Amount = 0, 0 }, "lines[0].quantity"},
		{"no description", func(q *Quote) { q.Lines[1].Description = "" }, "lines[1].description"},
		{"description with a line break", func(q *Quote) { q.Lines[1].Description = "a\nb" }, "lines[1].description"},
		{"unit price too large", func(q *Quote) { q.Lines[0].UnitPrice = MaxUnitPrice + 1 }, "lines[0].unitPrice"},
		{"subtotal wrong", func(q *Quote) { q.Subtotal = 4999 }, "subtotal"},
		{"total wrong", func(q *Quote) { q.Total = 5000 }, "total"},
		{"negative tax", func(q *Quote) { q.Tax, q.Total = -1, 4999 }, "tax"},
		{"too many lines", func(q *Quote) { q.Lines = many }, "lines"},
		{"product overflows", func(q *Quote) {
			q.Lines[0] = LineItem{Description: "x", Quantity: MaxQuantity, UnitPrice: MaxUnitPrice}
		}, "lines[0].amount"},
		{"sum overflows", func(q *Quote) {
			q.Lines = nil
			for range 10 {
				q.Lines = append(q.Lines, LineItem{Description: "x", Quantity: 1000, UnitPrice: MaxUnitPrice, Amount: 1000 * MaxUnitPrice})
			}
		}, "subtotal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := validQuote()
			q.Lines = append([]LineItem(nil), q.Lines...)
			tt.edit(&q)
			err := q.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			ve, ok := err.(*ValidationError)
			if !ok || ve.Fields[tt.field] == "" {
				t.Fatalf("got %v, want an error on %s", err, tt.field)
			}
		})
	}
}

func TestMulAddAmount(t *testing.T) {
	tests := []struct {
		a, b  int64
		mul   int64
		mulOK bool
		add   int64
		addOK bool
	}{
		{3, 4, 12, true, 7, true},
		{-3, 4, -12, true, 1, true},
		{math.MaxInt64, 1, math.MaxInt64, true, 0, false},
		{math.MaxInt64, 2, 0, false, 0, false},
		{math.MinInt64, -1, 0, false, 0, false},
		{-1, math.MinInt64, 0, false, 0, false},
		{math.MinInt64, 1, math.MinInt64, true, math.MinInt64 + 1, true},
		{1 << 32, 1 << 31, 0, false, 1<<32 + 1<<31, true},
	}
	for _, tt := range tests {
		if got, ok := MulAmount(tt.a, tt.b); ok != tt.mulOK || (ok && got != tt.mul) {
			t.Errorf("MulAmount(%d, %d): got %d %v, want %d %v", tt.a, tt.b, got, ok, tt.mul, tt.mulOK)
		}
		if got, ok := AddAmount(tt.a, tt.b); ok != tt.addOK || (ok && got != tt.add) {
			t.Errorf("AddAmount(%d, %d): got %d %v, want %d %v", tt.a, tt.b, got, ok, tt.add, tt.addOK)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{123456, "EUR", "1,234.56 EUR"},
		{5, "EUR", "0.05 EUR"},
		{-5, "USD", "-0.05 USD"},
		{33000, "JPY", "33,000 JPY"},
		{1234, "KWD", "1.234 KWD"},
		{1, "CLF", "0.0001 CLF"},
		{math.MinInt64, "EUR", "-92,233,720,368,547,758.08 EUR"},
	}
	for _, tt := range tests {
		if got := FormatMoney(tt.amount, tt.currency); got != tt.want {
			t.Errorf("FormatMoney(%d, %s): got %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}

func TestInvoice_Validate(t *testing.T) {
	paid := commerceT0.Add(time.Hour)
	base := Invoice{Commercial: validQuote().Commercial, Status: InvoiceOpen, IssuedAt: commerceT0, DueAt: commerceT0.Add(24 * time.Hour)}
	tests := []struct {
		name  string
		edit  func(v *Invoice)
		field string
	}{
		{"open", func(v *Invoice) {}, ""},
		{"paid", func(v *Invoice) { v.Status, v.PaidAt = InvoicePaid, &paid }, ""},
		{"paid without paidAt", func(v *Invoice) { v.Status = InvoicePaid }, "paidAt"},
		{"open with paidAt", func(v *Invoice) { v.PaidAt = &paid }, "paidAt"},
		{"due before issue", func(v *Invoice) { v.DueAt = commerceT0.Add(-time.Hour) }, "dueAt"},
		{"draft is no status", func(v *Invoice) { v.Status = "draft" }, "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base
			tt.edit(&v)
			err := v.Validate()
			if ve, ok := err.(*ValidationError); (tt.field == "" && err != nil) || (tt.field != "" && (!ok || ve.Fields[tt.field] == "")) {
				t.Errorf("got %v, want an error on %q", err, tt.field)
			}
		})
	}
	if got := base.CustomerView(commerceT0.Add(48 * time.Hour)).Status; got != InvoiceOverdue {
		t.Errorf("open past due: got %s, want overdue", got)
	}
}

func TestOrder_ValidateAndTimeline(t *testing.T) {
	at := func(h int) *time.Time { v := commerceT0.Add(time.Duration(h) * time.Hour); return &v }
	base := Order{Commercial: validQuote().Commercial, Status: OrderPlaced, PlacedAt: commerceT0}
	tests := []struct {
		name  string
		edit  func(o *Order)
		field string
	}{
		{"placed", func(o *Order) {}, ""},
		{"shipped", func(o *Order) {
			o.Status, o.ConfirmedAt, o.ShippedAt, o.Carrier, o.TrackingNumber = OrderShipped, at(1), at(2), "DHL", "JD01"
			o.TrackingURL = "https://track.example/JD01"
		}, ""},
		{"shipped without time", func(o *Order) { o.Status, o.ConfirmedAt = OrderShipped, at(1) }, "shippedAt"},
		{"placed with a delivery", func(o *Order) { o.DeliveredAt = at(3) }, "deliveredAt"},
		{"steps out of order", func(o *Order) { o.Status, o.ConfirmedAt, o.ShippedAt = OrderShipped, at(3), at(2) }, "shippedAt"},
		{"cancelled without time", func(o *Order) { o.Status = OrderCancelled }, "cancelledAt"},
		{"cancelled after confirmation", func(o *Order) { o.Status, o.ConfirmedAt, o.CancelledAt = OrderCancelled, at(1), at(2) }, ""},
		{"http tracking", func(o *Order) { o.TrackingURL = "http://track.example/1" }, "trackingUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			err := o.Validate()
			if ve, ok := err.(*ValidationError); (tt.field == "" && err != nil) || (tt.field != "" && (!ok || ve.Fields[tt.field] == "")) {
				t.Errorf("got %v, want an error on %q", err, tt.field)
			}
		})
	}
	o := base
	o.Status, o.ConfirmedAt, o.ShippedAt, o.Carrier, o.TrackingNumber = OrderShipped, at(1), at(2), "DHL", "JD01"
	tl := o.Timeline()
	if len(tl) != 4 || !tl[2].Reached || tl[2].TrackingNumber != "JD01" || tl[3].Reached || tl[3].At != nil {
		t.Errorf("got timeline %+v, want shipped with tracking, not delivered", tl)
	}
}

func TestQuoteHash_Stable(t *testing.T) {
	q := validQuote()
	a, b := QuoteHash(q), QuoteHash(q)
	q.Lines[0].Description = "Licences"
	if a != b || len(a) != 64 || QuoteHash(q) == a {
		t.Errorf("got %s, %s and %s, want two equal hashes and a third that differs", a, b, QuoteHash(q))
	}
}

func FuzzQuote_Validate(f *testing.F) {
	f.Add("EUR", int64(3), int64(1999), int64(5997), int64(0), int64(5997))
	f.Add("JPY", int64(math.MaxInt64), int64(2), int64(0), int64(0), int64(0))
	f.Add("", int64(-1), int64(math.MinInt64), int64(1), int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, currency string, qty, price, amount, tax, total int64) {
		q := validQuote()
		q.Currency = currency
		q.Lines = []LineItem{{Description: "x", Quantity: qty, UnitPrice: price, Amount: amount}}
		q.Subtotal, q.Tax, q.Total = amount, tax, total
		if q.Validate() == nil {
			// Valid means the arithmetic holds without overflow.
			if p, ok := MulAmount(qty, price); !ok || p != amount || amount+tax != total || tax < 0 {
				t.Fatalf("accepted %+v", q.Lines)
			}
		}
	})
}
