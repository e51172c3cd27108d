package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// TestBrowser_HelpArticles: the admin writes a help article in the console
// (the empty form is refused with its errors, then Markdown with a script
// and a javascript: link is previewed as customers will read it, without
// either) and publishes it; a customer finds it on the Help page by a word
// of another inflection and reads it.
func TestBrowser_HelpArticles(t *testing.T) {
	browser := newBrowser(t)
	shots := screenshotDir(t)
	e := newEnv(t)
	ctx := context.Background()
	base := e.srv.URL
	on := true
	if _, err := e.db.SetFeature(ctx, testTenant, "test", "knowledge_base", &on); err != nil {
		t.Fatal(err)
	}

	admin := openTab(t, browser, "admin", shots)
	admin.do(chromedp.Navigate(base+"/admin/#token="+e.staffToken()), chromedp.WaitVisible(css("#stats .stat")),
		chromedp.Click(css("#tab-articles")), chromedp.WaitVisible(css("#article-new")))
	admin.waitFor(`!document.getElementById('articles-empty').hidden`, "the empty list says so")

	// The console checks the form before sending it: title and slug are
	// required, and the summary links to the fields.
	admin.do(chromedp.Click(css("#article-new")), chromedp.WaitVisible(css("#art-title")),
		chromedp.Click(css("#article-save")), chromedp.WaitVisible(css("#art-title-error")), chromedp.WaitVisible(css("#art-slug-error")))
	if !admin.eval(`document.activeElement.id === 'art-title' && document.querySelectorAll('#article-summary a[href="#art-title"], #article-summary a[href="#art-slug"]').length === 2`) {
		t.Error("the error summary does not link to the title and slug, or the title is not focused")
	}
	admin.shot("kb-01-admin-empty-form")

	// What only the server checks shows at its field, in the server's
	// words: a category pasted with an invisible direction override, then a
	// slug another article holds.
	if err := e.db.CreateArticle(ctx, testTenant, "test", &data.Article{Title: "Other", Slug: "taken", Status: data.ArticleDraft}); err != nil {
		t.Fatal(err)
	}
	admin.do(chromedp.SendKeys(css("#art-title"), "Paying your invoices"), chromedp.SetValue(css("#art-slug"), "taken"),
		chromedp.SetValue(css("#art-category"), "Billing\u202e"), chromedp.SetValue(css("#art-body"), "x"),
		chromedp.Click(css("#article-save")), chromedp.WaitVisible(css("#art-category-error")))
	if got := admin.text("#art-category-error"); !strings.Contains(got, "direction overrides") {
		t.Errorf("got category error %q, want the server's rule", got)
	}
	if admin.eval(`!!document.getElementById('art-title-error') || !!document.getElementById('art-slug-error')`) {
		t.Error("the title or slug error stayed after they were given")
	}
	admin.do(chromedp.SetValue(css("#art-category"), "Billing"), chromedp.Click(css("#article-save")),
		chromedp.WaitVisible(css("#art-slug-error")))
	if got := admin.text("#art-slug-error"); !strings.Contains(got, "taken") {
		t.Errorf("got slug error %q, want the server's conflict", got)
	}
	if !admin.eval(`document.activeElement.id === 'art-slug' && !document.getElementById('art-category-error')`) {
		t.Error("after the conflict the slug is not focused, or the category error stayed")
	}

	md := "# Invoices\n\nYou can download your **invoices** from the *Billing* page.\n\n" +
		"<script>document.title = 'owned'</script>\n\n[x](javascript:alert(1)) and [the billing page](https://example.com/billing)\n"
	admin.do(chromedp.SetValue(css("#art-slug"), "paying-invoices"),
		chromedp.SetValue(css("#art-body"), md), chromedp.Click(css("#article-preview-button")),
		chromedp.WaitVisible(css("#article-preview-body strong")))
	if got := admin.text("#article-preview-body h1"); got != "Invoices" {
		t.Errorf("preview heading: got %q, want Invoices", got)
	}
	if got := admin.text("#article-preview-body strong"); got != "invoices" {
		t.Errorf("preview bold text: got %q, want invoices", got)
	}
	if !admin.eval(`document.querySelectorAll('#article-preview-body script').length === 0`) {
		t.Error("the preview holds a script element")
	}
	if !admin.eval(`Array.from(document.querySelectorAll('#article-preview-body [href], #article-preview-body [src]')).every(function (n) { return !/^\s*javascript:/i.test(n.getAttribute('href') || n.getAttribute('src') || ''); })`) {
		t.Error("the preview holds a javascript: URL")
	}
	if !admin.eval(`!!document.querySelector('#article-preview-body a[href="https://example.com/billing"]')`) {
		t.Error("the preview lost the ordinary link")
	}
	if !admin.eval(`document.title !== 'owned'`) {
		t.Error("the script of the article ran in the console")
	}
	admin.shot("kb-02-admin-preview")
	// Changing the text marks the preview as old.
	admin.do(chromedp.SendKeys(css("#art-body"), "Questions? Open a ticket."), chromedp.WaitVisible(css("#article-preview-stale")))

	// Saved as published, the article is in the list.
	admin.do(chromedp.SetValue(css("#art-status"), "published"), chromedp.Click(css("#article-save")),
		chromedp.WaitVisible(css(`tr[data-article="paying-invoices"] .status-published`)))
	if !admin.eval(`document.getElementById('article-editor').hidden`) {
		t.Error("the editor stayed open after saving")
	}
	if got := admin.text(`tr[data-article="paying-invoices"]`); !strings.Contains(got, "Paying your invoices") || !strings.Contains(got, "Billing") {
		t.Errorf("got row %q, want the title and the category", got)
	}
	// The status filter shows the drafts only.
	admin.do(chromedp.SetValue(css("#articles-status"), "draft"), chromedp.Click(css("#articles-filter button[type=submit]")),
		chromedp.WaitVisible(css(`tr[data-article="taken"]`)))
	admin.waitFor(`!document.querySelector('tr[data-article="paying-invoices"]')`, "the filter hides the published article")
	admin.shot("kb-03-admin-list")
	pub, err := e.db.Articles(ctx, testTenant, store.ArticleFilter{Status: data.ArticlePublished}, "", 10)
	if err != nil || len(pub.Items) != 1 || pub.Items[0].Slug != "paying-invoices" {
		t.Fatalf("published articles: got %+v (err %v), want paying-invoices", pub.Items, err)
	}

	// A customer searches "invoice" and finds the article about invoices.
	_, token := e.invite("kim@customer.test")
	customer := openTab(t, admin.ctx, "customer", shots, chromedp.WithNewBrowserContext())
	customer.do(chromedp.Navigate(base+"/p/"+testSlug+"/accept?token="+token), chromedp.WaitVisible(css("#passwordConfirm")),
		chromedp.SendKeys(css("#password"), testPassword), chromedp.SendKeys(css("#passwordConfirm"), testPassword),
		chromedp.Click(css("main form button[type=submit]")), chromedp.WaitVisible(css(`.site-nav a[href$="/help"]`)),
		chromedp.Click(css(`.site-nav a[href$="/help"]`)), chromedp.WaitVisible(css("#q")),
		chromedp.SendKeys(css("#q"), "invoice"), chromedp.Click(css("main form[role=search] button[type=submit]")),
		chromedp.WaitVisible(css("#results-title")))
	if got := customer.text("#articles"); !strings.Contains(got, "Paying your invoices") {
		t.Errorf("search for invoice: got %q, want the article about invoices", got)
	}
	customer.shot("kb-04-customer-search")
	customer.do(chromedp.Click(css(`#articles a[href$="/help/paying-invoices"]`)), chromedp.WaitVisible(css(".article-body strong")))
	if !customer.eval(`document.querySelectorAll('.article-body script').length === 0 && !document.querySelector('.article-body [href^="javascript:"]')`) {
		t.Error("the customer's article holds a script or a javascript: link")
	}
	customer.shot("kb-05-customer-article")

	// Edit changes the published article; the customer reads the change.
	admin.do(chromedp.SetValue(css("#articles-status"), ""), chromedp.Click(css("#articles-filter button[type=submit]")),
		chromedp.WaitVisible(css(`tr[data-article="paying-invoices"] button`)),
		chromedp.Click(css(`tr[data-article="paying-invoices"] button`)), chromedp.WaitVisible(css("#article-delete")))
	admin.waitFor(`document.getElementById('art-body').value.includes('download your **invoices**') && document.getElementById('art-status').value === 'published'`,
		"the editor holds the saved article")
	admin.do(chromedp.SetValue(css("#art-title"), "Paying and printing your invoices"), chromedp.Click(css("#article-save")))
	admin.waitFor(`document.getElementById('article-editor').hidden && (document.querySelector('tr[data-article="paying-invoices"]')?.textContent ?? '').includes('Paying and printing')`,
		"the list shows the new title")
	customer.do(chromedp.Reload(), chromedp.WaitVisible(css("#page-title")))
	if got := customer.text("#page-title"); got != "Paying and printing your invoices" {
		t.Errorf("after the edit the customer reads %q", got)
	}

	// Delete asks first, then the article leaves the list.
	admin.do(chromedp.WaitVisible(css(`tr[data-article="paying-invoices"] .btn-danger`)),
		chromedp.Click(css(`tr[data-article="paying-invoices"] .btn-danger`)), chromedp.WaitVisible(css("#confirm")))
	if got := admin.text("#confirm-title"); !strings.Contains(got, "Paying and printing your invoices") {
		t.Errorf("got confirmation %q, want one naming the article", got)
	}
	admin.do(chromedp.Click(css("#confirm-ok")))
	admin.waitFor(`!document.querySelector('tr[data-article="paying-invoices"]') && !!document.querySelector('tr[data-article="taken"]')`,
		"the deleted article leaves the list")

	// The list pages by 25: Load more brings the rest.
	for i := range 30 {
		a := &data.Article{Title: fmt.Sprintf("Draft %02d", i), Slug: fmt.Sprintf("draft-%02d", i), Status: data.ArticleDraft}
		if err := e.db.CreateArticle(ctx, testTenant, "test", a); err != nil {
			t.Fatal(err)
		}
	}
	admin.do(chromedp.Click(css(`[data-refresh="articles"]`)), chromedp.WaitVisible(css("#articles-more")))
	admin.waitFor(`document.querySelectorAll('#articles-body tr').length === 25`, "the first page holds 25 articles")
	admin.do(chromedp.Click(css("#articles-more")))
	admin.waitFor(`document.querySelectorAll('#articles-body tr').length === 31 && document.getElementById('articles-more').hidden`,
		"Load more brings the other 6")

	admin.checkClean()
	customer.checkClean()
}
