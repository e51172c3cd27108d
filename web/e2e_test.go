package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// chromiumPath is Debian's chromium. Without it the browser tests skip on a
// developer's machine and fail where PORTAL_REQUIRE_BROWSER=1 (set by
// .ci/run) or CI=true says they must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("PORTAL_REQUIRE_BROWSER") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("%s is required here (PORTAL_REQUIRE_BROWSER=1 or CI=true; apt-get install chromium): %v", path, err)
		}
		t.Skipf("%s not found: install the Debian package chromium to run the browser tests", path)
	}
	return path
}

// screenshotDir is $PORTAL_SCREENSHOTS (CI points it at its artifacts), or
// a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PORTAL_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts headless Chromium; it stops with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	return alloc
}

// tab is one browser tab with its own cookies, driven step by step; every
// step has its own deadline, and script errors and CSP violations of the
// tab are collected.
type tab struct {
	t     *testing.T
	name  string
	ctx   context.Context
	shots string

	mu       sync.Mutex
	problems []string
}

func openTab(t *testing.T, parent context.Context, name, shots string, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	b := &tab{t: t, name: name, ctx: ctx, shots: shots}
	err := chromedp.Listen(ctx, func(ev any) {
		var problem string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problem = "script exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				problem += " " + ev.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") || strings.Contains(ev.Entry.Text, "Content-Security-Policy") {
				problem = "CSP violation: " + ev.Entry.Text
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				problem = "console error"
			}
		}
		if problem != "" {
			b.mu.Lock()
			b.problems = append(b.problems, problem)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("%s: start browser: %v", name, err)
	}
	return b
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + b.name)
		b.t.Fatalf("%s: %v", b.name, err)
	}
}

func (b *tab) eval(expr string) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// waitFor polls a script condition from the test side (chromedp.Poll
// compiles it with new Function, which the console's CSP rightly refuses).
func (b *tab) waitFor(expr, what string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !b.eval(expr) {
		if time.Now().After(deadline) {
			b.shot("failed-" + b.name)
			b.t.Fatalf("%s: timed out waiting until %s", b.name, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("%s: text of %s: %v", b.name, sel, err)
	}
	return s
}

func (b *tab) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("%s: location: %v", b.name, err)
	}
	return loc
}

// shot writes a full-page PNG screenshot.
func (b *tab) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("%s: screenshot %s: %v", b.name, name, err)
		return
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("%s: %v", b.name, err)
		return
	}
	b.t.Logf("screenshot %s", path)
}

func (b *tab) checkClean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("%s: %s", b.name, p)
	}
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// TestBrowser_InviteAcceptRevoke drives the whole story in Chromium: an
// admin (console, token in the URL fragment) invites a customer; the
// customer opens the emailed link, sets a password and lands on the home
// page; the admin sees the session and revokes access; the customer's next
// page load is the login page.
func TestBrowser_InviteAcceptRevoke(t *testing.T) {
	browser := newBrowser(t)
	shots := screenshotDir(t)
	e := newEnv(t)
	ctx := context.Background()
	base := e.srv.URL
	const email = "dana@customer.test"
	if err := e.db.CreateContact(ctx, testTenant, "test", &data.Contact{Email: "lee@customer.test",
		FirstName: "Lee", LastName: "Adama", Company: "Galactica Freight"}); err != nil {
		t.Fatal(err)
	}

	admin := openTab(t, browser, "admin", shots)
	// The customer gets a browser context of its own: its own cookies.
	customer := openTab(t, admin.ctx, "customer", shots, chromedp.WithNewBrowserContext())

	// The admin opens the link `portal token --console` prints.
	admin.do(chromedp.Navigate(base+"/admin/#token="+e.staffToken()), chromedp.WaitVisible(css("#stats .stat")))
	if loc := admin.location(); strings.Contains(loc, "token") {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}
	admin.shot("01-admin-overview")

	// Tabs work from the keyboard: an arrow key moves to the next one.
	admin.do(chromedp.Focus(css("#tab-overview")), chromedp.KeyEvent(kb.ArrowRight))
	admin.waitFor(`document.activeElement.id === 'tab-config' && document.getElementById('tab-config').getAttribute('aria-selected') === 'true'`,
		"the right arrow selects the Configuration tab")
	admin.do(chromedp.WaitVisible(css("#cfg-portalName")))
	admin.waitFor(`document.getElementById('cfg-portalName').value === 'Acme Support'`, "the configuration is loaded")

	// The server's 422 errors[] show next to their fields.
	admin.do(chromedp.SetValue(css("#cfg-sessionTtl"), "1"), chromedp.SetValue(css("#cfg-primaryColor"), "purple"),
		chromedp.Click(css("#config-form button[type=submit]")), chromedp.WaitVisible(css("#cfg-sessionTtl-error")))
	if got := admin.text("#cfg-sessionTtl-error"); !strings.Contains(got, "must be 5 to 43200") {
		t.Errorf("got session lifetime error %q, want the server's range message", got)
	}
	if got := admin.text("#cfg-primaryColor-error"); !strings.Contains(got, "#rrggbb") {
		t.Errorf("got primary colour error %q, want the server's format message", got)
	}
	admin.shot("02-admin-config-validation")
	admin.do(chromedp.Click(css(`[data-refresh="config"]`)))
	admin.waitFor(`!document.querySelector('#config-form .field-error') && document.getElementById('cfg-sessionTtl').value === '1440'`,
		"reload clears the errors")

	// Features: show invoices, hide the knowledge base.
	admin.do(chromedp.Click(css("#tab-features")), chromedp.WaitVisible(css("#feat-invoices")), chromedp.Click(css("#feat-invoices")))
	admin.waitFor(`document.getElementById('toast').textContent.includes('Invoices is now shown')`, "invoices is enabled")
	admin.do(chromedp.Click(css("#feat-knowledge_base")))
	admin.waitFor(`document.getElementById('toast').textContent.includes('Knowledge base is now hidden')`, "the knowledge base is disabled")
	admin.shot("03-admin-features")

	// Invite by email, and a contact picked from the directory.
	admin.do(chromedp.Click(css("#tab-invite")), chromedp.WaitVisible(css("#inv-email")),
		chromedp.SendKeys(css("#inv-email"), email), chromedp.SendKeys(css("#inv-first"), "Dana"),
		chromedp.SendKeys(css("#inv-message"), "Welcome aboard! Your quotes are waiting."),
		chromedp.Click(css("#invite-form button[type=submit]")), chromedp.WaitVisible(css("#invite-link")))
	admin.do(chromedp.SendKeys(css("#contact-q"), "adama"), chromedp.Click(css("#contact-search button[type=submit]")),
		chromedp.WaitVisible(css("#contact-results .contact button")), chromedp.Click(css("#contact-results .contact button")))
	admin.waitFor(`document.getElementById('toast').textContent.includes('lee@customer.test')`, "the contact is invited")
	admin.shot("04-admin-invite")

	// The customer opens the link from the email. Opening it spends nothing.
	link := e.mail.waitLink(t, email)
	customer.do(chromedp.Navigate(link), chromedp.WaitVisible(css("#passwordConfirm")))
	customer.shot("05-customer-accept")
	pending, err := e.db.Invitations(ctx, testTenant, store.InvitationFilter{Status: data.InvitationPending, Q: email}, "", 10)
	if err != nil || len(pending.Items) != 1 {
		t.Fatalf("after opening the link: got %d pending invitations for %s (err %v), want 1", len(pending.Items), email, err)
	}

	customer.do(chromedp.SendKeys(css("#lastName"), "Scully"), chromedp.SendKeys(css("#password"), testPassword),
		chromedp.SendKeys(css("#passwordConfirm"), testPassword), chromedp.Click(css("main form button[type=submit]")),
		chromedp.WaitVisible(css("#features-title")))
	if loc := customer.location(); !strings.HasSuffix(loc, "/p/acme/?m=welcome") {
		t.Errorf("after accepting: at %s, want the home page", loc)
	}
	if !customer.eval(`!!document.getElementById('feature-invoices') && !!document.getElementById('feature-tickets') && !document.getElementById('feature-knowledge_base')`) {
		t.Error("the home page does not show exactly the enabled features")
	}
	if !customer.eval(`document.cookie === ''`) {
		t.Error("the session cookie is readable by script, want HttpOnly")
	}
	customer.shot("06-customer-home")
	customer.do(chromedp.Click(css(`.site-nav a[href$="/profile"]`)), chromedp.WaitVisible(css(".details")))
	customer.shot("07-customer-profile")
	customer.do(chromedp.Click(css(`.site-nav a[href$="/sessions"]`)), chromedp.WaitVisible(css(".table .badge")))
	customer.shot("08-customer-sessions")

	// The admin sees the session, then revokes access.
	admin.do(chromedp.Click(css("#tab-sessions")), chromedp.WaitVisible(css(`tr[data-session="`+email+`"]`)))
	admin.shot("09-admin-sessions")
	admin.do(chromedp.Click(css("#tab-users")), chromedp.WaitVisible(css(`tr[data-user="`+email+`"] .btn-danger`)),
		chromedp.Click(css(`tr[data-user="`+email+`"] .btn-danger`)), chromedp.WaitVisible(css("#confirm")))
	if got := admin.text("#confirm-title"); !strings.Contains(got, "Revoke access") {
		t.Errorf("got confirmation %q, want one for revoking access", got)
	}
	admin.shot("10-admin-revoke-confirm")
	admin.do(chromedp.Click(css("#confirm-ok")), chromedp.WaitVisible(css(`tr[data-user="`+email+`"] .status-revoked`)))
	admin.shot("11-admin-users-revoked")

	// The customer's next page load returns to the login page.
	customer.do(chromedp.Reload(), chromedp.WaitVisible(css(`form[action="/p/acme/login"] #email`)))
	if loc := customer.location(); !strings.HasSuffix(loc, "/p/acme/login?m=expired") {
		t.Errorf("after revoke: at %s, want the login page", loc)
	}
	if got := customer.text(".notice-ok"); !strings.Contains(got, "Your session has ended") {
		t.Errorf("got notice %q on the login page", got)
	}
	customer.shot("12-customer-login-after-revoke")

	admin.do(chromedp.Click(css("#tab-overview")), chromedp.WaitVisible(css("#chart-funnel rect.bar-accepted")))
	admin.waitFor(`document.getElementById('funnel-desc').textContent.includes('Accepted: 1')`, "the funnel counts the acceptance")
	admin.shot("13-admin-overview-after")
	admin.do(chromedp.Click(css("#tab-audit")), chromedp.WaitVisible(css("#audit-body tr")))
	admin.shot("14-admin-audit")

	// An unknown portal (like a disabled one) is a neutral page.
	customer.do(chromedp.Navigate(base+"/p/no-such-portal/"), chromedp.WaitVisible(css("#page-title")))
	if got := customer.text("#page-title"); got != "This page is not available" {
		t.Errorf("unknown portal: got heading %q", got)
	}
	customer.shot("15-customer-not-available")

	admin.checkClean()
	customer.checkClean()
}

// TestBrowser_Documents: the admin uploads a file in the console; a
// customer of that account finds it on the Documents page (reached from the
// menu) and downloads it byte for byte; a customer of another account does
// not see it.
func TestBrowser_Documents(t *testing.T) {
	browser := newBrowser(t)
	shots := screenshotDir(t)
	e := newEnv(t)
	ctx := context.Background()
	base := e.srv.URL
	on := true
	if _, err := e.db.SetFeature(ctx, testTenant, "test", "documents", &on); err != nil {
		t.Fatal(err)
	}
	content := "Terms of service, version 7.\n"
	file := filepath.Join(t.TempDir(), "terms-v7.txt")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	admin := openTab(t, browser, "admin", shots)
	admin.do(chromedp.Navigate(base+"/admin/#token="+e.staffToken()), chromedp.WaitVisible(css("#stats .stat")),
		chromedp.Click(css("#tab-documents")), chromedp.WaitVisible(css("#doc-title")))
	// The console checks the form before sending it.
	admin.do(chromedp.Click(css("#document-upload")), chromedp.WaitVisible(css("#doc-title-error")))
	admin.do(chromedp.SendKeys(css("#doc-title"), "Terms of service"), chromedp.SendKeys(css("#doc-account"), "acc-7"),
		chromedp.SetUploadFiles(css("#doc-file"), []string{file}), chromedp.Click(css("#document-upload")),
		chromedp.WaitVisible(css(`tr[data-document="Terms of service"]`)))
	if got := admin.text(`tr[data-document="Terms of service"]`); !strings.Contains(got, "terms-v7.txt") || !strings.Contains(got, "acc-7") {
		t.Errorf("got row %q, want the file name and the account", got)
	}
	admin.shot("documents-01-admin-upload")

	// A customer of acc-7 signs in and opens Documents from the menu.
	inv, err := e.db.CreateInvitation(ctx, testTenant, "test", data.InvitationRequest{Email: "kim@customer.test", AccountID: "acc-7"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(inv.AcceptURL)
	customer := openTab(t, admin.ctx, "customer", shots, chromedp.WithNewBrowserContext())
	customer.do(chromedp.Navigate(base+"/p/"+testSlug+"/accept?token="+url.QueryEscape(u.Query().Get("token"))),
		chromedp.WaitVisible(css("#passwordConfirm")), chromedp.SendKeys(css("#password"), testPassword),
		chromedp.SendKeys(css("#passwordConfirm"), testPassword), chromedp.Click(css("main form button[type=submit]")),
		chromedp.WaitVisible(css(`.site-nav a[href$="/documents"]`)), chromedp.Click(css(`.site-nav a[href$="/documents"]`)),
		chromedp.WaitVisible(css("#documents")))
	if got := customer.text("#documents tbody"); !strings.Contains(got, "Terms of service") || !strings.Contains(got, "terms-v7.txt") {
		t.Errorf("got %q on the Documents page, want the uploaded document", got)
	}
	customer.shot("documents-02-customer-list")
	// The download link serves the file to the browser's session (the page's
	// CSP lets no script fetch it, so the test asks with the tab's cookies).
	href, err := chromedp.Run(customer.ctx, chromedp.Evaluate[string](`document.querySelector('#documents a[download]').href`))
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := chromedp.Run(customer.ctx, chromedp.Action[network.GetCookiesResult](
		func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
			return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{href}})
		}))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, href, nil)
	for _, c := range cookies.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != content ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: got %d %q (%s), want the file as an attachment", res.StatusCode, body, res.Header.Get("Content-Disposition"))
	}

	// A customer of another account sees nothing.
	other := e.acceptInvitation("lou@customer.test")
	r := other.get("/p/" + testSlug + "/documents")
	if r.status != 200 || strings.Contains(r.body, "Terms of service") || !strings.Contains(r.body, "no-documents") {
		t.Errorf("another account's customer: got %d, want the empty Documents page", r.status)
	}

	admin.checkClean()
	customer.checkClean()
}
