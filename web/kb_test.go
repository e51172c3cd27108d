package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

// writeArticle stores an article of tenant.
func (e *env) writeArticle(tenant data.TenantID, a data.Article) data.Article {
	e.t.Helper()
	if err := e.db.CreateArticle(context.Background(), tenant, "test", &a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func TestHelpPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeArticle(testTenant, data.Article{Title: "Paying invoices", Slug: "paying-invoices", Category: "Billing",
		Status: data.ArticlePublished,
		Body:   "Download your **invoices** here.\n\n<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))"})
	e.writeArticle(testTenant, data.Article{Title: "Secret draft", Slug: "secret-draft", Status: data.ArticleDraft,
		Body: "Invoices in the making."})
	e.writeArticle("org-globex", data.Article{Title: "Globex guide", Slug: "globex-guide", Status: data.ArticlePublished,
		Body: "Globex invoices."})
	c := e.acceptInvitation("dana@customer.test")
	help := "/p/" + testSlug + "/help"

	home := c.get("/p/" + testSlug + "/")
	wantContains(t, home, `href="/p/acme/help"`)

	list := c.get(help)
	wantStatus(t, list, http.StatusOK)
	wantContains(t, list, "Paying invoices", `href="/p/acme/help/paying-invoices"`, "Billing", `role="search"`)
	wantNotContains(t, list, "Secret draft", "Globex", "<script")

	found := c.get(help + "?q=invoice")
	wantStatus(t, found, http.StatusOK)
	wantContains(t, found, "Paying invoices", "<mark>invoices</mark>", `value="invoice"`)
	wantNotContains(t, found, "Secret draft", "Globex", "<script", "onerror")

	none := c.get(help + "?q=" + "%3Cscript%3Erefund")
	wantStatus(t, none, http.StatusOK)
	wantContains(t, none, "No articles match", "&lt;script&gt;refund")
	wantNotContains(t, none, "<script>refund")

	art := c.get(help + "/paying-invoices")
	wantStatus(t, art, http.StatusOK)
	wantContains(t, art, "<h1 id=\"page-title\">Paying invoices</h1>", "<strong>invoices</strong>")
	wantNotContains(t, art, "<script", "onerror", "javascript:")
	if csp := art.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") && !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("got CSP %q, want one that runs no script", csp)
	}

	for _, slug := range []string{"secret-draft", "globex-guide", "missing", "Not-A-Slug"} {
		p := c.get(help + "/" + slug)
		wantStatus(t, p, http.StatusNotFound)
		wantNotContains(t, p, "Secret draft", "Globex guide")
	}

	off := false
	if _, err := e.db.SetFeature(context.Background(), testTenant, "test", "knowledge_base", &off); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{help, help + "?q=invoice", help + "/paying-invoices"} {
		p := c.get(path)
		wantStatus(t, p, http.StatusNotFound)
		wantNotContains(t, p, "Paying invoices")
	}
	wantNotContains(t, c.get("/p/"+testSlug+"/"), `href="/p/acme/help"`)
}
