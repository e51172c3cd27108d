package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

func TestCheck_Commerce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := data.Quote{Commercial: data.Commercial{ExternalID: "q-1", AccountID: "A", Number: "Q1", Currency: "EUR",
		Lines: []data.LineItem{{Description: "x", Quantity: 2, UnitPrice: 5, Amount: 10}}, Subtotal: 10, Total: 10, Version: 1},
		Status: data.QuoteSent, IssuedAt: checkT0, ValidUntil: checkT0.Add(time.Hour)}
	if _, _, err := db.UpsertQuote(ctx, "acme", "t", q); err != nil {
		t.Fatal(err)
	}
	o := data.Order{Commercial: q.Commercial, Status: data.OrderPlaced, PlacedAt: checkT0}
	o.ExternalID = "o-1"
	if _, _, err := db.UpsertOrder(ctx, "acme", "t", o); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Check(path)
	if err != nil || !r.OK() || r.Records["quotes"] != 1 || r.Records["orders"] != 1 {
		t.Fatalf("got %v %+v, want OK with a quote and an order", err, r)
	}

	// A stray index entry and a record whose totals were altered.
	db, err = Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, "acme")
		if err != nil {
			return err
		}
		if err := b.Bucket(bQuoteRefs).Put([]byte("ghost"), []byte("01ARZ3NDEKTSV4RRFFQ69G5FAV")); err != nil {
			return err
		}
		orders := b.Bucket(bOrders)
		k, v := orders.Cursor().First()
		return orders.Put(k, []byte(strings.Replace(string(v), `"total":10`, `"total":11`, 1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = Check(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range r.Breaches {
		got = append(got, b.Bucket+" "+b.Kind)
	}
	if s := strings.Join(got, ","); !strings.Contains(s, "quote_refs index") || !strings.Contains(s, "orders record") {
		t.Errorf("got breaches %s, want quote_refs index and orders record", s)
	}
}
