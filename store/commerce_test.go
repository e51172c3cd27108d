package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// sampleQuote is a valid quote of account, sent at storeT0 and valid for
// a week.
func sampleQuote(ext, account string, version int64) data.Quote {
	return data.Quote{
		Commercial: data.Commercial{ExternalID: ext, AccountID: account, Number: "Q-" + ext, Currency: "EUR",
			Lines: []data.LineItem{{Description: "Licence", Quantity: 3, UnitPrice: 1999, Amount: 5997},
				{Description: "Setup", Quantity: 1, UnitPrice: 5000, Amount: 5000}},
			Subtotal: 10997, Tax: 2089, Total: 13086, Version: version},
		Status: data.QuoteSent, IssuedAt: storeT0, ValidUntil: storeT0.Add(7 * 24 * time.Hour),
	}
}

func sampleInvoice(ext, account string) data.Invoice {
	return data.Invoice{
		Commercial: data.Commercial{ExternalID: ext, AccountID: account, Number: "INV-" + ext, Currency: "JPY",
			Lines:    []data.LineItem{{Description: "Support", Quantity: 2, UnitPrice: 15000, Amount: 30000}},
			Subtotal: 30000, Tax: 3000, Total: 33000, Version: 1},
		Status: data.InvoiceOpen, IssuedAt: storeT0, DueAt: storeT0.Add(30 * 24 * time.Hour),
	}
}

func sampleOrder(ext, account string) data.Order {
	return data.Order{
		Commercial: data.Commercial{ExternalID: ext, AccountID: account, Number: "SO-" + ext, Currency: "USD",
			Lines:    []data.LineItem{{Description: "Router", Quantity: 1, UnitPrice: 19900, Amount: 19900}},
			Subtotal: 19900, Total: 19900, Version: 1},
		Status: data.OrderPlaced, PlacedAt: storeT0,
	}
}

func auditCount(t *testing.T, db *store.DB, tenant data.TenantID, action string) int {
	t.Helper()
	p, err := db.AuditTrail(t.Context(), tenant, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range p.Items {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestDB_UpsertQuote_Versions(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	q, res, err := db.UpsertQuote(ctx, tenantA, "staff-1", sampleQuote("crm-1", "ACC-1", 2))
	if err != nil || res != store.UpsertCreated || q.ID == "" {
		t.Fatalf("got %v %v %q, want created with an ID", res, err, q.ID)
	}
	changed := sampleQuote("crm-1", "ACC-1", 2)
	changed.Number = "Q-other"
	older := sampleQuote("crm-1", "ACC-1", 1)
	newer := sampleQuote("crm-1", "ACC-1", 3)
	newer.Number = "Q-3"
	tests := []struct {
		name string
		in   data.Quote
		want store.UpsertResult
		err  error
	}{
		{"same version same body", sampleQuote("crm-1", "ACC-1", 2), store.UpsertUnchanged, nil},
		{"same version other body", changed, "", data.ErrConflict},
		{"older version", older, "", data.ErrConflict},
		{"newer version", newer, store.UpsertUpdated, nil},
		{"newer version again", newer, store.UpsertUnchanged, nil},
	}
	for _, tt := range tests {
		got, res, err := db.UpsertQuote(ctx, tenantA, "staff-1", tt.in)
		if !errors.Is(err, tt.err) || res != tt.want {
			t.Fatalf("%s: got %v %v, want %v %v", tt.name, res, err, tt.want, tt.err)
		}
		if err == nil && got.ID != q.ID {
			t.Errorf("%s: got ID %s, want %s", tt.name, got.ID, q.ID)
		}
	}
	if n := auditCount(t, db, tenantA, "quote.create"); n != 1 {
		t.Errorf("got %d create entries, want 1", n)
	}
	if n := auditCount(t, db, tenantA, "quote.update"); n != 1 {
		t.Errorf("got %d update entries, want 1", n)
	}
	got, err := db.QuoteByRef(ctx, tenantA, "crm-1")
	if err != nil || got.Number != "Q-3" || got.Version != 3 {
		t.Errorf("got %+v %v, want version 3 numbered Q-3", got, err)
	}
	if _, err := db.QuoteByRef(ctx, tenantB, "crm-1"); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("other organization: got %v, want not found", err)
	}
	if err := db.DeleteQuote(ctx, tenantA, "staff-1", "crm-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Quote(ctx, tenantA, nil, q.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("after delete: got %v, want not found", err)
	}
}

// TestDB_UpsertQuote_Concurrent sends the same upsert 100 times at once:
// one record, one audit entry.
func TestDB_UpsertQuote_Concurrent(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	var wg sync.WaitGroup
	results := make(chan store.UpsertResult, 100)
	for range 100 {
		wg.Go(func() {
			_, res, err := db.UpsertQuote(t.Context(), tenantA, "staff-1", sampleQuote("crm-1", "ACC-1", 1))
			if err != nil {
				t.Error(err)
			}
			results <- res
		})
	}
	wg.Wait()
	close(results)
	created := 0
	for r := range results {
		if r == store.UpsertCreated {
			created++
		}
	}
	if created != 1 {
		t.Errorf("got %d created, want 1", created)
	}
	p, err := db.Quotes(t.Context(), tenantA, nil, store.CommerceFilter{}, "", 100)
	if err != nil || len(p.Items) != 1 {
		t.Errorf("got %d quotes (%v), want 1", len(p.Items), err)
	}
	if n := auditCount(t, db, tenantA, "quote.create"); n != 1 {
		t.Errorf("got %d audit entries, want 1", n)
	}
}

func TestDB_AcceptQuote_Race(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	admin := mustActivateAs(t, db, tenantA, "ann@example.com", "ACC-1", data.RoleAdmin)
	q, _, err := db.UpsertQuote(t.Context(), tenantA, "staff-1", sampleQuote("crm-1", "ACC-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := db.AcceptQuote(t.Context(), tenantA, admin, q.ID, data.QuoteAccept{SignerName: "Ann Lee", IP: "192.0.2.1", UserAgent: "test"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok, conflicts := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, data.ErrConflict):
			conflicts++
		default:
			t.Errorf("got %v, want nil or a conflict", err)
		}
	}
	if ok != 1 || conflicts != 49 {
		t.Errorf("got %d accepted and %d conflicts, want 1 and 49", ok, conflicts)
	}
	got, err := db.Quote(t.Context(), tenantA, nil, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	shown := q.CustomerView(storeT0)
	if a := got.Acceptance; got.Status != data.QuoteAccepted || a == nil || a.SignerName != "Ann Lee" || a.IP != "192.0.2.1" ||
		a.UserID != admin.ID || !a.AcceptedAt.Equal(storeT0) || a.QuoteSHA256 != data.QuoteHash(shown) {
		t.Errorf("got %+v %+v, want accepted by Ann Lee with the hash of the quote shown", got.Status, got.Acceptance)
	}
}

func TestDB_AcceptQuote_Rules(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	admin := mustActivateAs(t, db, tenantA, "ann@example.com", "ACC-1", data.RoleAdmin)
	member := mustActivateAs(t, db, tenantA, "bob@example.com", "ACC-1", data.RoleMember)
	other := mustActivateAs(t, db, tenantA, "eve@example.com", "ACC-2", data.RoleAdmin)
	draft := sampleQuote("draft", "ACC-1", 1)
	draft.Status = data.QuoteDraft
	ids := map[string]string{}
	for _, in := range []data.Quote{sampleQuote("a", "ACC-1", 1), sampleQuote("b", "ACC-1", 1), draft, sampleQuote("late", "ACC-1", 1)} {
		q, _, err := db.UpsertQuote(ctx, tenantA, "staff-1", in)
		if err != nil {
			t.Fatal(err)
		}
		ids[in.ExternalID] = q.ID
	}
	sign := data.QuoteAccept{SignerName: "Signer"}
	if _, err := db.AcceptQuote(ctx, tenantA, other, ids["a"], sign); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("other account: got %v, want not found", err)
	}
	if _, err := db.AcceptQuote(ctx, tenantA, admin, ids["draft"], sign); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("draft: got %v, want not found", err)
	}
	if _, err := db.AcceptQuote(ctx, tenantA, member, ids["a"], sign); !errors.Is(err, data.ErrForbidden) {
		t.Errorf("member: got %v, want forbidden", err)
	}
	if _, err := db.AcceptQuote(ctx, tenantA, admin, ids["a"], data.QuoteAccept{}); err == nil {
		t.Error("no signer: got nil, want a validation error")
	}
	if _, err := db.UpdateConfig(ctx, tenantA, "staff-1", func(c data.Config) (data.Config, error) {
		c.QuotesMemberAccept = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AcceptQuote(ctx, tenantA, member, ids["a"], sign); err != nil {
		t.Errorf("member allowed by config: got %v, want nil", err)
	}
	if _, err := db.DeclineQuote(ctx, tenantA, admin, ids["a"], ""); !errors.Is(err, data.ErrConflict) {
		t.Errorf("decline an accepted quote: got %v, want conflict", err)
	}
	q, err := db.DeclineQuote(ctx, tenantA, admin, ids["b"], "Too dear")
	if err != nil || q.Status != data.QuoteDeclined || q.Decline == nil || q.Decline.Reason != "Too dear" {
		t.Errorf("decline: got %+v %v, want declined with the reason", q.Decline, err)
	}
	// The CRM may confirm a decision, not undo it.
	undo := sampleQuote("b", "ACC-1", 2)
	if _, _, err := db.UpsertQuote(ctx, tenantA, "staff-1", undo); !errors.Is(err, data.ErrConflict) {
		t.Errorf("CRM resets a declined quote: got %v, want conflict", err)
	}
	confirm := sampleQuote("b", "ACC-1", 2)
	confirm.Status = data.QuoteDeclined
	if got, _, err := db.UpsertQuote(ctx, tenantA, "staff-1", confirm); err != nil || got.Decline == nil {
		t.Errorf("CRM confirms: got %+v %v, want the decline kept", got.Decline, err)
	}
	clk.Advance(7 * 24 * time.Hour)
	if _, err := db.AcceptQuote(ctx, tenantA, admin, ids["late"], sign); !errors.Is(err, data.ErrConflict) {
		t.Errorf("expired: got %v, want conflict", err)
	}
	if got, err := db.Quote(ctx, tenantA, &admin, ids["late"]); err != nil || got.Status != data.QuoteExpired {
		t.Errorf("expired quote shown: got %v %v, want expired", got.Status, err)
	}
}

func TestDB_Sync_AllOrNothing(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	if _, _, err := db.UpsertQuote(ctx, tenantA, "staff-1", sampleQuote("q-1", "ACC-1", 5)); err != nil {
		t.Fatal(err)
	}
	inv, ord := sampleInvoice("i-1", "ACC-1"), sampleOrder("o-1", "ACC-1")
	stale := sampleQuote("q-1", "ACC-1", 4)
	_, err := db.Sync(ctx, tenantA, "staff-1", []store.SyncItem{{Invoice: &inv}, {Order: &ord}, {Quote: &stale}})
	if !errors.Is(err, data.ErrConflict) {
		t.Fatalf("stale item: got %v, want conflict", err)
	}
	if p, _ := db.Invoices(ctx, tenantA, nil, store.CommerceFilter{}, "", 10); len(p.Items) != 0 {
		t.Errorf("got %d invoices after a failed batch, want 0", len(p.Items))
	}
	bad := sampleOrder("o-2", "ACC-1")
	bad.Total = 1
	dup := sampleInvoice("i-1", "ACC-2")
	_, err = db.Sync(ctx, tenantA, "staff-1", []store.SyncItem{{Invoice: &inv}, {Order: &bad}, {Invoice: &dup}})
	var ve *data.ValidationError
	if !errors.As(err, &ve) || ve.Fields["items[1].total"] == "" || ve.Fields["items[2].externalId"] == "" {
		t.Fatalf("invalid items: got %v, want items[1].total and items[2].externalId", err)
	}
	fresh := sampleQuote("q-1", "ACC-1", 6)
	res, err := db.Sync(ctx, tenantA, "staff-1", []store.SyncItem{{Invoice: &inv}, {Order: &ord}, {Quote: &fresh}})
	if err != nil || len(res) != 3 || res[0].Result != store.UpsertCreated || res[2].Result != store.UpsertUpdated {
		t.Fatalf("got %+v %v, want created, created, updated", res, err)
	}
	if p, _ := db.Orders(ctx, tenantA, nil, store.CommerceFilter{Status: "placed"}, "", 10); len(p.Items) != 1 {
		t.Errorf("got %d orders, want 1", len(p.Items))
	}
}

func TestDB_Invoices_CustomerView(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	ann := mustActivateAs(t, db, tenantA, "ann@example.com", "ACC-1", data.RoleMember)
	for _, in := range []data.Invoice{sampleInvoice("i-1", "ACC-1"), sampleInvoice("i-2", "ACC-2")} {
		if _, _, err := db.UpsertInvoice(ctx, tenantA, "staff-1", in); err != nil {
			t.Fatal(err)
		}
	}
	p, err := db.Invoices(ctx, tenantA, &ann, store.CommerceFilter{}, "", 10)
	if err != nil || len(p.Items) != 1 || p.Items[0].ExternalID != "i-1" {
		t.Fatalf("got %+v %v, want i-1 alone", p.Items, err)
	}
	clk.Advance(31 * 24 * time.Hour)
	p, err = db.Invoices(ctx, tenantA, &ann, store.CommerceFilter{Status: "overdue"}, "", 10)
	if err != nil || len(p.Items) != 1 || p.Items[0].Status != data.InvoiceOverdue {
		t.Errorf("got %+v %v, want i-1 overdue", p.Items, err)
	}
	if p, _ := db.Invoices(ctx, tenantA, nil, store.CommerceFilter{Status: "overdue"}, "", 10); len(p.Items) != 0 {
		t.Errorf("staff see the stored status: got %d overdue, want 0", len(p.Items))
	}
}

// BenchmarkDB_Sync500 is an initial load: a batch of 500 quotes of ten
// lines, all new, in one transaction.
func BenchmarkDB_Sync500(b *testing.B) {
	db, _ := openStoreDB(b)
	items := make([]store.SyncItem, data.MaxSyncBatch)
	run := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		run++
		for i := range items {
			q := sampleQuote(fmt.Sprintf("crm-%d-%d", run, i), "ACC-1", 1)
			items[i] = store.SyncItem{Quote: &q}
		}
		b.StartTimer()
		if _, err := db.Sync(b.Context(), tenantA, "staff-1", items); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDB_UpsertQuote_Unchanged is the CRM resending a record it sent
// before: a read and a hash, no write.
func BenchmarkDB_UpsertQuote_Unchanged(b *testing.B) {
	db, _ := openStoreDB(b)
	q := sampleQuote("crm-1", "ACC-1", 1)
	if _, _, err := db.UpsertQuote(b.Context(), tenantA, "staff-1", q); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, res, err := db.UpsertQuote(b.Context(), tenantA, "staff-1", q); err != nil || res != store.UpsertUnchanged {
			b.Fatalf("got %v %v, want unchanged", res, err)
		}
	}
}
