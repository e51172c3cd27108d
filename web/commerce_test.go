package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// acceptInvitationAs signs in a new customer of account with role.
func (e *env) acceptInvitationAs(email, account string, role data.Role) *client {
	e.t.Helper()
	inv, err := e.db.CreateInvitation(context.Background(), testTenant, "test", data.InvitationRequest{Email: email, AccountID: account, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := url.Parse(inv.AcceptURL)
	if err != nil {
		e.t.Fatal(err)
	}
	token := u.Query().Get("token")
	c := e.client()
	form := c.get("/p/" + testSlug + "/accept?token=" + token)
	wantStatus(e.t, form, http.StatusOK)
	p := c.post("/p/"+testSlug+"/accept", url.Values{"csrf": {form.csrf(e.t)}, "token": {token},
		"firstName": {"Dana"}, "password": {testPassword}, "passwordConfirm": {testPassword}})
	wantStatus(e.t, p, http.StatusSeeOther)
	return c
}

func (e *env) enable(ids ...string) {
	e.t.Helper()
	e.setConfig(func(c data.Config) data.Config {
		for i := range c.Features {
			for _, id := range ids {
				if c.Features[i].ID == id {
					c.Features[i].Enabled = true
				}
			}
		}
		return c
	})
}

func commerceOf(ext, account, number string) data.Commercial {
	return data.Commercial{ExternalID: ext, AccountID: account, Number: number, Currency: "EUR",
		Lines:    []data.LineItem{{Description: "Licence <pro>", Quantity: 3, UnitPrice: 1999, Amount: 5997}},
		Subtotal: 5997, Tax: 1000, Total: 6997, Version: 1}
}

func TestCommercePages_Nav(t *testing.T) {
	e := newEnv(t)
	c := e.acceptInvitationAs("ada@customer.test", "ACC-1", data.RoleAdmin)
	home := c.get("/p/" + testSlug + "/")
	wantNotContains(t, home, `href="/p/acme/quotes"`, `href="/p/acme/invoices"`, `href="/p/acme/orders"`)
	for _, p := range []string{"quotes", "invoices", "orders"} {
		wantStatus(t, c.get("/p/"+testSlug+"/"+p), http.StatusNotFound)
	}
	e.enable("quotes", "invoices", "orders")
	home = c.get("/p/" + testSlug + "/")
	wantContains(t, home, `href="/p/acme/quotes"`, `href="/p/acme/invoices"`, `href="/p/acme/orders"`)
}

var quoteIDRE = regexp.MustCompile(`href="/p/acme/quotes/([0-9A-Z]{26})"`)

func TestCommercePages_Quote(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enable("quotes")
	admin := e.acceptInvitationAs("ada@customer.test", "ACC-1", data.RoleAdmin)
	member := e.acceptInvitationAs("mo@customer.test", "ACC-1", data.RoleMember)
	other := e.acceptInvitationAs("oz@customer.test", "ACC-2", data.RoleAdmin)
	now := time.Now().UTC().Truncate(time.Second)
	q, _, err := e.db.UpsertQuote(ctx, testTenant, "test", data.Quote{Commercial: commerceOf("q-1", "ACC-1", "Q-2026-7"),
		Status: data.QuoteSent, IssuedAt: now.Add(-time.Hour), ValidUntil: now.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	list := admin.get("/p/" + testSlug + "/quotes")
	wantStatus(t, list, http.StatusOK)
	if m := quoteIDRE.FindStringSubmatch(list.body); m == nil || m[1] != q.ID {
		t.Fatalf("got list %s, want a link to quote %s", list.body, q.ID)
	}
	wantContains(t, list, "Q-2026-7", "69.97 EUR")
	wantNotContains(t, other.get("/p/"+testSlug+"/quotes"), "Q-2026-7")
	wantStatus(t, other.get("/p/"+testSlug+"/quotes/"+q.ID), http.StatusNotFound)

	path := "/p/" + testSlug + "/quotes/" + q.ID
	pg := member.get(path)
	wantStatus(t, pg, http.StatusOK)
	wantContains(t, pg, "Licence &lt;pro&gt;", "19.99 EUR", "An administrator of your account")
	wantNotContains(t, pg, `id="accept-form"`)
	pg = admin.get(path)
	wantContains(t, pg, `id="accept-form"`, `id="decline-form"`)
	// Without the CSRF token nothing is accepted.
	wantStatus(t, admin.post(path+"/accept", url.Values{"signerName": {"Ada"}}), http.StatusForbidden)
	// A member's post is refused by the store, whatever the page showed.
	mp := member.get(path)
	wantStatus(t, member.post(path+"/accept", url.Values{"csrf": {mp.csrf(t)}, "signerName": {"Mo"}}), http.StatusForbidden)
	// An empty name is asked again.
	r := admin.post(path+"/accept", url.Values{"csrf": {pg.csrf(t)}, "signerName": {"  "}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	wantContains(t, r, "Your name is required.")
	// The form carries the hash of the quote shown: when the CRM changes
	// the quote meanwhile, the acceptance is refused.
	hash := regexp.MustCompile(`name="quoteSha256" value="([0-9a-f]{64})"`).FindStringSubmatch(pg.body)
	if hash == nil {
		t.Fatal("the accept form carries no quoteSha256")
	}
	changed := data.Quote{Commercial: commerceOf("q-1", "ACC-1", "Q-2026-7b"), Status: data.QuoteSent,
		IssuedAt: now.Add(-time.Hour), ValidUntil: now.Add(30 * 24 * time.Hour)}
	changed.Version = 2
	if _, _, err := e.db.UpsertQuote(ctx, testTenant, "test", changed); err != nil {
		t.Fatal(err)
	}
	r = admin.post(path+"/accept", url.Values{"csrf": {pg.csrf(t)}, "signerName": {"Ada Lovelace"}, "quoteSha256": {hash[1]}})
	wantStatus(t, r, http.StatusConflict)
	wantContains(t, r, "The quote has changed since it was shown", "Q-2026-7b")
	pg = admin.get(path)
	hash = regexp.MustCompile(`name="quoteSha256" value="([0-9a-f]{64})"`).FindStringSubmatch(pg.body)
	r = admin.post(path+"/accept", url.Values{"csrf": {pg.csrf(t)}, "signerName": {"Ada Lovelace"}, "quoteSha256": {hash[1]}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != path+"?m=quote-accepted" {
		t.Errorf("got Location %q, want the quote page", loc)
	}
	done := admin.get(path + "?m=quote-accepted")
	wantContains(t, done, "You have accepted the quote", "Accepted by Ada Lovelace")
	wantNotContains(t, done, `id="accept-form"`)
	got, err := e.db.Quote(ctx, testTenant, nil, q.ID)
	if err != nil || got.Acceptance == nil || got.Acceptance.SignerName != "Ada Lovelace" || got.Acceptance.UserAgent == "" {
		t.Errorf("got %+v %v, want the acceptance stored with the user agent", got.Acceptance, err)
	}
	// A second acceptance is a conflict, shown on the page.
	r = admin.post(path+"/accept", url.Values{"csrf": {pg.csrf(t)}, "signerName": {"Ada"}})
	wantStatus(t, r, http.StatusConflict)
	wantContains(t, r, "only a sent quote")
}

func TestCommercePages_InvoiceAndOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enable("invoices", "orders")
	c := e.acceptInvitationAs("ada@customer.test", "ACC-1", data.RoleMember)
	now := time.Now().UTC().Truncate(time.Second)
	inv, _, err := e.db.UpsertInvoice(ctx, testTenant, "test", data.Invoice{Commercial: commerceOf("i-1", "ACC-1", "INV-9"),
		Status: data.InvoiceOpen, IssuedAt: now.Add(-48 * time.Hour), DueAt: now.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	list := c.get("/p/" + testSlug + "/invoices?status=overdue")
	wantStatus(t, list, http.StatusOK)
	wantContains(t, list, "INV-9", "Overdue", `/p/acme/invoices/`+inv.ID+`/pdf`)
	wantNotContains(t, c.get("/p/"+testSlug+"/invoices?status=paid"), "INV-9")
	pg := c.get("/p/" + testSlug + "/invoices/" + inv.ID)
	wantContains(t, pg, "Invoice INV-9", "69.97 EUR", `id="invoice-pdf"`)
	a, b := c.get("/p/"+testSlug+"/invoices/"+inv.ID+"/pdf"), c.get("/p/"+testSlug+"/invoices/"+inv.ID+"/pdf")
	wantStatus(t, a, http.StatusOK)
	if a.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(a.body, "%PDF-") || !bytes.Equal([]byte(a.body), []byte(b.body)) {
		t.Errorf("got %q, %d bytes, want the same PDF twice", a.header.Get("Content-Type"), len(a.body))
	}

	shipped, confirmed := now.Add(-time.Hour), now.Add(-2*time.Hour)
	o, _, err := e.db.UpsertOrder(ctx, testTenant, "test", data.Order{Commercial: commerceOf("o-1", "ACC-1", "SO-3"),
		Status: data.OrderShipped, PlacedAt: now.Add(-3 * time.Hour), ConfirmedAt: &confirmed, ShippedAt: &shipped,
		Carrier: "DHL", TrackingNumber: "JD0146", TrackingURL: "https://track.example/JD0146"})
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, c.get("/p/"+testSlug+"/orders"), "SO-3", "Shipped")
	op := c.get("/p/" + testSlug + "/orders/" + o.ID)
	wantStatus(t, op, http.StatusOK)
	wantContains(t, op, `id="order-timeline"`, "DHL", `href="https://track.example/JD0146"`, "Delivered", "not yet")
	wantStatus(t, c.get("/p/"+testSlug+"/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV"), http.StatusNotFound)
	if csp := op.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") && !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("got CSP %q, want no script", csp)
	}
}
