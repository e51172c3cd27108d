package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// commerceLines are two lines of 5997 and 5000 minor units.
func commerceLines() []map[string]any {
	return []map[string]any{
		{"description": "Licence", "quantity": 3, "unitPrice": 1999, "amount": 5997},
		{"description": "Setup", "quantity": 1, "unitPrice": 5000},
	}
}

func commerceBase(account, number string, version int) map[string]any {
	return map[string]any{"accountId": account, "number": number, "currency": "EUR", "lines": commerceLines(),
		"subtotal": 10997, "tax": 2089, "total": 13086, "version": version}
}

// quoteBody is a PUT body of a sent quote valid for 30 days from the test
// clock's start.
func quoteBody(account, number string, version int) map[string]any {
	b := commerceBase(account, number, version)
	b["status"], b["issuedAt"], b["validUntil"] = "sent", "2026-11-26T12:00:00Z", "2026-12-26T12:00:00Z"
	return b
}

func invoiceBody(account, number string, version int) map[string]any {
	b := commerceBase(account, number, version)
	b["status"], b["issuedAt"], b["dueAt"] = "open", "2026-11-26T12:00:00Z", "2026-12-26T12:00:00Z"
	return b
}

func orderBody(account, number string, version int) map[string]any {
	b := commerceBase(account, number, version)
	b["status"], b["placedAt"], b["confirmedAt"], b["shippedAt"] = "shipped", "2026-11-26T12:00:00Z", "2026-11-26T13:00:00Z", "2026-11-27T08:00:00Z"
	b["carrier"], b["trackingNumber"], b["trackingUrl"] = "DHL", "JD0146", "https://track.example/JD0146"
	return b
}

func (e *testEnv) enableFeatures(token string, ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		wantStatus(e.t, e.do(http.MethodPatch, "/v1/customer-portal/features/"+id+"/toggle", token, map[string]any{"enabled": true}), http.StatusOK)
	}
}

func (e *testEnv) auditActions(token, action string) int {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/customer-portal/audit?limit=100", token, nil)
	wantStatus(e.t, r, http.StatusOK)
	n := 0
	for _, a := range r.json(e.t)["data"].([]any) {
		if a.(map[string]any)["action"] == action {
			n++
		}
	}
	return n
}

func TestCommerce_UpsertVersions(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	path := "/v1/customer-portal/quotes/crm-q-1"
	r := e.do(http.MethodPut, path, staff, quoteBody("ACC-1", "Q-1", 2))
	wantStatus(t, r, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != path {
		t.Errorf("got Location %q, want %s", loc, path)
	}
	q := r.json(t)
	if q["externalId"] != "crm-q-1" || q["total"] != float64(13086) || q["lines"].([]any)[1].(map[string]any)["amount"] != float64(5000) {
		t.Errorf("got %v, want the quote with its computed amount", q)
	}
	changed := quoteBody("ACC-1", "Q-changed", 2)
	newer := quoteBody("ACC-1", "Q-3", 3)
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"same body again", quoteBody("ACC-1", "Q-1", 2), http.StatusOK},
		{"same version, other body", changed, http.StatusConflict},
		{"older version", quoteBody("ACC-1", "Q-1", 1), http.StatusConflict},
		{"newer version", newer, http.StatusOK},
		{"newer version again", newer, http.StatusOK},
	}
	for _, tt := range tests {
		r := e.do(http.MethodPut, path, staff, tt.body)
		if r.status != tt.want {
			t.Fatalf("%s: got %d, want %d: %s", tt.name, r.status, tt.want, r.body)
		}
		if tt.want == http.StatusConflict {
			wantProblem(t, r, http.StatusConflict)
		}
	}
	if n := e.auditActions(staff, "quote.create"); n != 1 {
		t.Errorf("got %d quote.create entries, want 1", n)
	}
	if n := e.auditActions(staff, "quote.update"); n != 1 {
		t.Errorf("got %d quote.update entries, want 1 (the same body twice writes nothing)", n)
	}
	got := e.do(http.MethodGet, path, staff, nil)
	wantStatus(t, got, http.StatusOK)
	if m := got.json(t); m["number"] != "Q-3" || m["version"] != float64(3) || m["id"] != q["id"] {
		t.Errorf("got %v, want version 3 numbered Q-3 with the same ID", m)
	}
	list := e.do(http.MethodGet, "/v1/customer-portal/quotes?accountId=ACC-1&status=sent", staff, nil)
	wantStatus(t, list, http.StatusOK)
	if n := len(list.json(t)["data"].([]any)); n != 1 {
		t.Errorf("got %d quotes, want 1", n)
	}
	wantStatus(t, e.do(http.MethodGet, "/v1/customer-portal/quotes?status=won", staff, nil), http.StatusBadRequest)
	wantStatus(t, e.do(http.MethodDelete, path, staff, nil), http.StatusNoContent)
	wantStatus(t, e.do(http.MethodGet, path, staff, nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodDelete, path, staff, nil), http.StatusNotFound)
	// An external ID with characters escaped in the path.
	wantStatus(t, e.do(http.MethodPut, "/v1/customer-portal/invoices/INV%2F7", staff, invoiceBody("ACC-1", "INV/7", 1)), http.StatusCreated)
	if m := e.do(http.MethodGet, "/v1/customer-portal/invoices/INV%2F7", staff, nil).json(t); m["externalId"] != "INV/7" {
		t.Errorf("got %v, want externalId INV/7", m["externalId"])
	}
	wantStatus(t, e.do(http.MethodGet, "/v1/customer-portal/invoices/a%20b", staff, nil), http.StatusNotFound)
}

func TestCommerce_UpsertValidation(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	with := func(b map[string]any, k string, v any) map[string]any {
		b[k] = v
		return b
	}
	tests := []struct {
		name, kind string
		body       map[string]any
		field      string
	}{
		{"total mismatch", "quotes", with(quoteBody("A", "Q", 1), "total", 13000), "total"},
		{"subtotal mismatch", "quotes", with(quoteBody("A", "Q", 1), "subtotal", 1), "subtotal"},
		{"line amount mismatch", "quotes", with(quoteBody("A", "Q", 1), "lines", []map[string]any{
			{"description": "x", "quantity": 2, "unitPrice": 5, "amount": 11}}), "lines[0].amount"},
		{"overflow", "quotes", with(quoteBody("A", "Q", 1), "lines", []map[string]any{
			{"description": "x", "quantity": 1000000000, "unitPrice": int64(1000000000000000000)}}), "lines[0].amount"},
		{"unknown currency", "quotes", with(quoteBody("A", "Q", 1), "currency", "ABC"), "currency"},
		{"bad time", "quotes", with(quoteBody("A", "Q", 1), "validUntil", "tomorrow"), "validUntil"},
		{"unknown member", "quotes", with(quoteBody("A", "Q", 1), "discount", 5), "discount"},
		{"missing accountId", "invoices", with(invoiceBody("A", "I", 1), "accountId", ""), "accountId"},
		{"paid without paidAt", "invoices", with(invoiceBody("A", "I", 1), "status", "paid"), "paidAt"},
		{"shipped without time", "orders", with(orderBody("A", "O", 1), "shippedAt", nil), "shippedAt"},
		{"bad status", "orders", with(orderBody("A", "O", 1), "status", "lost"), "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPut, "/v1/customer-portal/"+tt.kind+"/x-1", staff, tt.body)
			p := wantProblem(t, r, http.StatusUnprocessableEntity)
			if f := fieldErrors(t, p); f[tt.field] == "" {
				t.Errorf("got errors %v, want one on %s", f, tt.field)
			}
		})
	}
	many := quoteBody("A", "Q", 1)
	lines := make([]map[string]any, data.MaxLineItems+1)
	for i := range lines {
		lines[i] = map[string]any{"description": "x", "quantity": 1, "unitPrice": 1}
	}
	many["lines"], many["subtotal"], many["tax"], many["total"] = lines, len(lines), 0, len(lines)
	p := wantProblem(t, e.do(http.MethodPut, "/v1/customer-portal/quotes/x-2", staff, many), http.StatusUnprocessableEntity)
	if f := fieldErrors(t, p); f["lines"] == "" {
		t.Errorf("got errors %v, want one on lines", f)
	}
}

// TestCommerce_ConcurrentUpserts sends the same upsert 100 times at once:
// one record, one audit entry.
func TestCommerce_ConcurrentUpserts(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	var wg sync.WaitGroup
	statuses := make(chan int, 100)
	for range 100 {
		wg.Go(func() {
			statuses <- e.do(http.MethodPut, "/v1/customer-portal/orders/o-1", staff, orderBody("ACC-1", "SO-1", 1)).status
		})
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("got %d, want 200 or 201", s)
		}
	}
	if created != 1 {
		t.Errorf("got %d created, want 1", created)
	}
	if n := len(e.do(http.MethodGet, "/v1/customer-portal/orders", staff, nil).json(t)["data"].([]any)); n != 1 {
		t.Errorf("got %d orders, want 1", n)
	}
	if n := e.auditActions(staff, "order.create"); n != 1 {
		t.Errorf("got %d audit entries, want 1", n)
	}
}

func TestCommerce_AcceptHash(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	e.enableFeatures(staff, "quotes")
	admin, _ := e.customerOf(staff, "ada@example.com", "ACC-1", "admin")
	id := e.do(http.MethodPut, "/v1/customer-portal/quotes/q-1", staff, quoteBody("ACC-1", "Q-1", 1)).json(t)["id"].(string)
	shown := e.do(http.MethodGet, "/v1/portal/quotes/"+id, admin, nil)
	wantStatus(t, shown, http.StatusOK)
	var q data.Quote
	if err := json.Unmarshal(shown.body, &q); err != nil {
		t.Fatal(err)
	}
	// The CRM sends a new version after the customer saw the quote: the
	// acceptance of what was shown is refused.
	newer := quoteBody("ACC-1", "Q-1b", 2)
	wantStatus(t, e.do(http.MethodPut, "/v1/customer-portal/quotes/q-1", staff, newer), http.StatusOK)
	stale := e.do(http.MethodPost, "/v1/portal/quotes/"+id+"/accept", admin, map[string]any{"signerName": "Ada", "quoteSha256": data.QuoteHash(q)})
	wantProblem(t, stale, http.StatusConflict)
	wantStatus(t, e.do(http.MethodPost, "/v1/portal/quotes/"+id+"/accept", admin, map[string]any{"signerName": "Ada", "quoteSha256": "XYZ"}), http.StatusUnprocessableEntity)
	shown = e.do(http.MethodGet, "/v1/portal/quotes/"+id, admin, nil)
	q = data.Quote{}
	if err := json.Unmarshal(shown.body, &q); err != nil {
		t.Fatal(err)
	}
	r := e.do(http.MethodPost, "/v1/portal/quotes/"+id+"/accept", admin, map[string]any{"signerName": "Ada", "quoteSha256": data.QuoteHash(q)})
	wantStatus(t, r, http.StatusOK)
	var accepted data.Quote
	r.decode(t, &accepted)
	if accepted.Acceptance == nil || accepted.Acceptance.QuoteSHA256 != data.QuoteHash(q) {
		t.Errorf("got acceptance %+v, want the hash of the quote as shown, %s", accepted.Acceptance, data.QuoteHash(q))
	}
	// Expired quotes are refused.
	old := quoteBody("ACC-1", "Q-2", 1)
	old["issuedAt"], old["validUntil"] = "2026-10-01T00:00:00Z", e.clock.Now().Add(-time.Second).Format(time.RFC3339)
	id2 := e.do(http.MethodPut, "/v1/customer-portal/quotes/q-2", staff, old).json(t)["id"].(string)
	wantProblem(t, e.do(http.MethodPost, "/v1/portal/quotes/"+id2+"/accept", admin, map[string]any{"signerName": "Ada"}), http.StatusConflict)
	if s := e.do(http.MethodGet, "/v1/portal/quotes/"+id2, admin, nil).json(t)["status"]; s != "expired" {
		t.Errorf("got status %v, want expired", s)
	}
	wantStatus(t, e.do(http.MethodPost, "/v1/portal/quotes/"+id2+"/accept", admin, map[string]any{}), http.StatusUnprocessableEntity)
}

// TestCommerce_AcceptRace has 50 concurrent acceptances of one quote:
// exactly one succeeds, the others are 409.
func TestCommerce_AcceptRace(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	e.enableFeatures(staff, "quotes")
	admin, _ := e.customerOf(staff, "ada@example.com", "ACC-1", "admin")
	id := e.do(http.MethodPut, "/v1/customer-portal/quotes/q-1", staff, quoteBody("ACC-1", "Q-1", 1)).json(t)["id"].(string)
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for i := range 50 {
		wg.Go(func() {
			statuses <- e.do(http.MethodPost, "/v1/portal/quotes/"+id+"/accept", admin, map[string]any{"signerName": fmt.Sprintf("Signer %d", i)}).status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusConflict] != 49 {
		t.Errorf("got %v, want one 200 and 49 409", count)
	}
	if n := e.auditActions(staff, "quote.accept"); n != 1 {
		t.Errorf("got %d quote.accept entries, want 1", n)
	}
}

func TestCommerce_Sync(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	wantStatus(t, e.do(http.MethodPut, "/v1/customer-portal/quotes/q-1", staff, quoteBody("ACC-1", "Q-1", 5)), http.StatusCreated)
	item := func(kind, ext string, rec map[string]any) map[string]any {
		return map[string]any{"kind": kind, "externalId": ext, "record": rec}
	}
	// A stale item fails the batch: nothing of it is stored.
	r := e.do(http.MethodPost, "/v1/customer-portal/sync", staff, map[string]any{"items": []any{
		item("invoice", "i-1", invoiceBody("ACC-1", "I-1", 1)), item("order", "o-1", orderBody("ACC-1", "O-1", 1)),
		item("quote", "q-1", quoteBody("ACC-1", "Q-1", 4))}})
	p := wantProblem(t, r, http.StatusConflict)
	if d, _ := p["detail"].(string); !strings.Contains(d, "items[2]") {
		t.Errorf("got detail %q, want it to name items[2]", d)
	}
	if n := len(e.do(http.MethodGet, "/v1/customer-portal/invoices", staff, nil).json(t)["data"].([]any)); n != 0 {
		t.Errorf("got %d invoices after a failed batch, want 0", n)
	}
	// Invalid items are listed at once, with their index.
	bad := invoiceBody("ACC-1", "I-2", 1)
	bad["total"] = 1
	r = e.do(http.MethodPost, "/v1/customer-portal/sync", staff, map[string]any{"items": []any{
		item("invoice", "i-1", invoiceBody("ACC-1", "I-1", 1)), item("invoice", "i-2", bad), item("memo", "m-1", bad),
		item("order", "o-1", map[string]any{"nope": true}), item("quote", "q-9", nil), map[string]any{"kind": "quote", "externalId": "q-8", "record": 5}}})
	f := fieldErrors(t, wantProblem(t, r, http.StatusUnprocessableEntity))
	for _, want := range []string{"items[1].total", "items[2].kind", "items[3].accountId", "items[4].record", "items[5].record"} {
		if f[want] == "" {
			t.Errorf("got errors %v, want one on %s", f, want)
		}
	}
	// Errors are capped.
	var many []any
	for i := range 150 {
		many = append(many, item("invoice", fmt.Sprintf("i-%d", i), bad))
	}
	p = wantProblem(t, e.do(http.MethodPost, "/v1/customer-portal/sync", staff, map[string]any{"items": many}), http.StatusUnprocessableEntity)
	if n := len(p["errors"].([]any)); n != data.MaxFieldErrors || p["errorCount"] != float64(150) {
		t.Errorf("got %d errors listed of %v, want %d of 150", n, p["errorCount"], data.MaxFieldErrors)
	}
	// Too many items.
	var tooMany []any
	for i := range data.MaxSyncBatch + 1 {
		tooMany = append(tooMany, item("invoice", fmt.Sprintf("i-%d", i), invoiceBody("ACC-1", "I", 1)))
	}
	wantProblem(t, e.do(http.MethodPost, "/v1/customer-portal/sync", staff, map[string]any{"items": tooMany}), http.StatusUnprocessableEntity)
	// A good batch.
	r = e.do(http.MethodPost, "/v1/customer-portal/sync", staff, map[string]any{"items": []any{
		item("invoice", "i-1", invoiceBody("ACC-1", "I-1", 1)), item("order", "o-1", orderBody("ACC-1", "O-1", 1)),
		item("quote", "q-1", quoteBody("ACC-1", "Q-1", 5))}})
	wantStatus(t, r, http.StatusOK)
	if m := r.json(t); m["created"] != float64(2) || m["unchanged"] != float64(1) || len(m["items"].([]any)) != 3 {
		t.Errorf("got %v, want 2 created and 1 unchanged", m)
	}
}

func TestCommerce_InvoicePDF(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	e.enableFeatures(staff, "invoices")
	e.patchConfig(staff, map[string]any{"portalName": "Acme Portal", "branding": map[string]any{"primaryColor": "#123456"}})
	ann, _ := e.customerOf(staff, "ann@example.com", "ACC-1", "member")
	inv := invoiceBody("ACC-1", "INV-42", 1)
	inv["issuedAt"], inv["dueAt"] = "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"
	id := e.do(http.MethodPut, "/v1/customer-portal/invoices/i-1", staff, inv).json(t)["id"].(string)
	a := e.do(http.MethodGet, "/v1/portal/invoices/"+id+"/pdf", ann, nil)
	wantStatus(t, a, http.StatusOK)
	if ct, cd := a.header.Get("Content-Type"), a.header.Get("Content-Disposition"); ct != "application/pdf" || !strings.Contains(cd, "invoice-INV-42.pdf") {
		t.Errorf("got %q and %q, want application/pdf named invoice-INV-42.pdf", ct, cd)
	}
	if !bytes.HasPrefix(a.body, []byte("%PDF-")) {
		t.Errorf("got a body starting %q, want %%PDF-", a.body[:min(8, len(a.body))])
	}
	b := e.do(http.MethodGet, "/v1/portal/invoices/"+id+"/pdf", ann, nil)
	if !bytes.Equal(a.body, b.body) || a.header.Get("ETag") != b.header.Get("ETag") {
		t.Error("got two different renders of the same invoice, want identical bytes and ETag")
	}
	wantStatus(t, e.do(http.MethodGet, "/v1/portal/invoices/"+id+"/pdf", ann, nil, "If-None-Match", a.header.Get("ETag")), http.StatusNotModified)
	// Customers filter by the status they see: open, past due, is overdue.
	r := e.do(http.MethodGet, "/v1/portal/invoices?status=overdue", ann, nil)
	wantStatus(t, r, http.StatusOK)
	if n := len(r.json(t)["data"].([]any)); n != 1 {
		t.Errorf("got %d overdue invoices, want 1", n)
	}
}

func TestCommerce_OrderTimeline(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	e.enableFeatures(staff, "orders")
	ann, _ := e.customerOf(staff, "ann@example.com", "ACC-1", "member")
	id := e.do(http.MethodPut, "/v1/customer-portal/orders/o-1", staff, orderBody("ACC-1", "SO-1", 1)).json(t)["id"].(string)
	r := e.do(http.MethodGet, "/v1/portal/orders/"+id, ann, nil)
	wantStatus(t, r, http.StatusOK)
	var o struct {
		Timeline []data.OrderEvent `json:"timeline"`
	}
	r.decode(t, &o)
	if len(o.Timeline) != 4 || !o.Timeline[2].Reached || o.Timeline[2].TrackingNumber != "JD0146" || o.Timeline[3].Reached {
		t.Errorf("got timeline %+v, want shipped with its tracking and not delivered", o.Timeline)
	}
}

func TestCommerce_FeatureDisabled(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	ann, _ := e.customerOf(staff, "ann@example.com", "ACC-1", "admin")
	id := e.do(http.MethodPut, "/v1/customer-portal/quotes/q-1", staff, quoteBody("ACC-1", "Q-1", 1)).json(t)["id"].(string)
	for _, p := range []string{"/v1/portal/quotes", "/v1/portal/quotes/" + id, "/v1/portal/invoices", "/v1/portal/orders"} {
		pr := wantProblem(t, e.do(http.MethodGet, p, ann, nil), http.StatusNotFound)
		if !strings.HasSuffix(pr["type"].(string), "/feature-disabled") {
			t.Errorf("GET %s: got type %v, want feature-disabled", p, pr["type"])
		}
	}
	wantProblem(t, e.do(http.MethodPost, "/v1/portal/quotes/"+id+"/accept", ann, map[string]any{"signerName": "A"}), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodGet, "/v1/customer-portal/quotes/q-1", staff, nil), http.StatusOK)
}

// A null where the document takes no null is refused, in a list's
// elements too (found by the contract test): null is not "left out".
func TestCommerce_NullInLines(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.admin("acme")
	body := quoteBody("ACC-1", "Q-1", 1)
	lines := body["lines"].([]map[string]any)
	lines[0]["amount"] = nil
	r := e.do(http.MethodPut, "/v1/customer-portal/quotes/q-1", staff, body)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(string(r.body), `"lines[0].amount"`) || !strings.Contains(string(r.body), "must not be null") {
		t.Errorf("got %s, want lines[0].amount named as not nullable", r.body)
	}
}
