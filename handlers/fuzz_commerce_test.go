package handlers

import (
	"encoding/json"
	"testing"

	"github.com/salesos/portal/data"
)

var commerceSeeds = []string{
	`{"accountId":"ACC-1","number":"Q-1","currency":"EUR","lines":[{"description":"x","quantity":3,"unitPrice":1999,"amount":5997}],"subtotal":5997,"tax":0,"total":5997,"version":1,"status":"sent","issuedAt":"2026-11-26T12:00:00Z","validUntil":"2026-12-26T12:00:00Z"}`,
	`{"accountId":"ACC-1","number":"I-1","currency":"JPY","lines":[],"subtotal":0,"total":0,"version":1,"status":"paid","issuedAt":"2026-11-26T12:00:00Z","dueAt":"2026-12-26T12:00:00Z","paidAt":null}`,
	`{"accountId":"A","number":"O","currency":"USD","lines":[{"description":"r","quantity":1,"unitPrice":-9223372036854775808}],"subtotal":0,"total":0,"version":1,"status":"placed","placedAt":"2026-11-26T12:00:00Z","shippedAt":"x"}`,
	`{"lines":[{"quantity":9223372036854775807,"unitPrice":2}]}`,
	`{"issuedAt":5}`, `{"lines":null}`, `null`, `[]`, `{}`, `{"a":`,
}

// FuzzDecodeCommerceRecord feeds the decoders of the CRM's upserts. Errors
// are fine; a panic fails, and so does a record that decodes and validates
// but whose totals do not hold.
func FuzzDecodeCommerceRecord(f *testing.F) {
	for _, s := range commerceSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if q, err := decodeRecord(body, "ext-1", convQuote); err == nil && q.Validate() == nil {
			checkTotals(t, q.Commercial)
		}
		if v, err := decodeRecord(body, "ext-1", convInvoice); err == nil && v.Validate() == nil {
			checkTotals(t, v.Commercial)
		}
		if o, err := decodeRecord(body, "ext-1", convOrder); err == nil && o.Validate() == nil {
			checkTotals(t, o.Commercial)
			if _, err := json.Marshal(withTimeline(o)); err != nil {
				t.Fatalf("order %+v does not encode: %v", o, err)
			}
		}
	})
}

func checkTotals(t *testing.T, c data.Commercial) {
	t.Helper()
	var sum int64
	for _, l := range c.Lines {
		if l.Quantity*l.UnitPrice != l.Amount {
			t.Fatalf("accepted line %+v", l)
		}
		sum += l.Amount
	}
	if sum != c.Subtotal || c.Subtotal+c.Tax != c.Total {
		t.Fatalf("accepted totals %d + %d = %d for lines summing to %d", c.Subtotal, c.Tax, c.Total, sum)
	}
	if _, err := json.Marshal(c); err != nil {
		t.Fatalf("record does not encode: %v", err)
	}
}

// FuzzDecodeSync feeds the sync batch decoder: a panic fails, and so does
// a batch that decodes with an item that is not valid.
func FuzzDecodeSync(f *testing.F) {
	for _, s := range commerceSeeds {
		f.Add([]byte(`{"items":[{"kind":"quote","externalId":"q-1","record":` + s + `}]}`))
	}
	f.Add([]byte(`{"items":[]}`))
	f.Add([]byte(`{"items":[{"kind":"memo","externalId":"m","record":{}},{"kind":"order","externalId":"","record":null}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := decodeSync(body)
		if err != nil {
			return
		}
		if len(items) > data.MaxSyncBatch {
			t.Fatalf("accepted %d items", len(items))
		}
		for i, it := range items {
			if err := recordErrOf(it); err != nil || (it.Quote == nil && it.Invoice == nil && it.Order == nil) {
				t.Fatalf("item %d decoded but is not valid: %v", i, err)
			}
		}
	})
}
