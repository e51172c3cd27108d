package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

const (
	wantCustomerCSP = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	wantAdminCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

func TestAcceptGET_ShowsFormAndLeavesInvitationPending(t *testing.T) {
	e := newEnv(t)
	inv, token := e.invite("dana@customer.test")
	c := e.client()
	// A mail scanner opens the link, maybe more than once, maybe with HEAD.
	for i := 0; i < 2; i++ {
		p := c.get("/p/" + testSlug + "/accept?token=" + token)
		wantStatus(t, p, http.StatusOK)
		wantContains(t, p, `action="/p/acme/accept"`, `name="token" value="`+token+`"`, "dana@customer.test",
			`name="password"`, testPortal)
	}
	req, _ := http.NewRequest(http.MethodHead, e.srv.URL+"/p/"+testSlug+"/accept?token="+token, nil)
	wantStatus(t, c.do(req), http.StatusOK)
	if got := e.invitationStatus(inv.ID); got != data.InvitationPending {
		t.Fatalf("got invitation status %q after GETs, want %q", got, data.InvitationPending)
	}
}

func TestAcceptPOST_SignsInAndShowsEnabledFeaturesOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	on, off := true, false
	if _, err := e.db.SetFeature(ctx, testTenant, "test", "invoices", &on); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SetFeature(ctx, testTenant, "test", "knowledge_base", &off); err != nil {
		t.Fatal(err)
	}
	inv, token := e.invite("dana@customer.test")
	c := e.client()
	form := c.get("/p/" + testSlug + "/accept?token=" + token)
	p := c.post("/p/"+testSlug+"/accept", url.Values{"csrf": {form.csrf(t)}, "token": {token},
		"firstName": {"Dana"}, "lastName": {"Scully"}, "password": {testPassword}, "passwordConfirm": {testPassword}})
	wantStatus(t, p, http.StatusSeeOther)
	if got, want := p.header.Get("Location"), "/p/acme/?m=welcome"; got != want {
		t.Errorf("got Location %q, want %q", got, want)
	}
	cookie := ""
	for _, v := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "portal_session=") {
			cookie = v
		}
	}
	for _, attr := range []string{"Path=/p/acme/", "HttpOnly", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie %q is Secure on a plain http request", cookie)
	}
	if got := e.invitationStatus(inv.ID); got != data.InvitationAccepted {
		t.Errorf("got invitation status %q, want %q", got, data.InvitationAccepted)
	}

	home := c.follow(p)
	wantStatus(t, home, http.StatusOK)
	wantContains(t, home, "Welcome, Dana", "Your account is ready", "Hello from Acme.", "Support tickets", "Invoices")
	wantNotContains(t, home, "Knowledge base", "Documents", "Quotes", "Orders", "Chat with")
	if got := home.header.Get("Content-Security-Policy"); got != wantCustomerCSP {
		t.Errorf("got CSP %q, want %q", got, wantCustomerCSP)
	}
	if got := home.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("got Cache-Control %q, want no-store", got)
	}

	// The link is spent: opening it again explains that, and a second POST too.
	again := c.get("/p/" + testSlug + "/accept?token=" + token)
	wantStatus(t, again, http.StatusGone)
	wantContains(t, again, "can no longer be used")
}

func TestAcceptPOST_PasswordRulesShownOnForm(t *testing.T) {
	e := newEnv(t)
	inv, token := e.invite("dana@customer.test")
	c := e.client()
	form := c.get("/p/" + testSlug + "/accept?token=" + token)
	tests := []struct {
		name, password, confirm, want string
	}{
		{"too short", "short", "short", "Password must be at least 12 characters."},
		{"mismatch", testPassword, testPassword + "x", "The two passwords do not match."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.post("/p/"+testSlug+"/accept", url.Values{"csrf": {form.csrf(t)}, "token": {token},
				"password": {tt.password}, "passwordConfirm": {tt.confirm}})
			wantStatus(t, p, http.StatusUnprocessableEntity)
			wantContains(t, p, tt.want, `aria-invalid="true"`)
		})
	}
	if got := e.invitationStatus(inv.ID); got != data.InvitationPending {
		t.Fatalf("got invitation status %q, want %q", got, data.InvitationPending)
	}
}

func TestPost_WithoutCSRFIsForbidden(t *testing.T) {
	e := newEnv(t)
	inv, token := e.invite("dana@customer.test")
	c := e.client()
	login := c.get("/p/" + testSlug + "/login")
	good := login.csrf(t)
	tests := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
	}{
		{"login without token", "/login", url.Values{"email": {"dana@customer.test"}, "password": {testPassword}}, nil},
		{"login with a forged token", "/login", url.Values{"csrf": {"forged"}, "email": {"x@y.test"}, "password": {"x"}}, nil},
		{"login from another site", "/login", url.Values{"csrf": {good}, "email": {"x@y.test"}, "password": {"x"}},
			[]string{"Origin", "https://evil.test"}},
		{"login from an opaque origin", "/login", url.Values{"csrf": {good}, "email": {"x@y.test"}, "password": {"x"}},
			[]string{"Origin", "null"}},
		{"login with a foreign referer", "/login", url.Values{"csrf": {good}, "email": {"x@y.test"}, "password": {"x"}},
			[]string{"Referer", "https://evil.test/page"}},
		{"accept without token", "/accept", url.Values{"token": {token}, "password": {testPassword}, "passwordConfirm": {testPassword}}, nil},
		{"forgot without token", "/forgot", url.Values{"email": {"dana@customer.test"}}, nil},
		{"logout without token", "/logout", url.Values{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.post("/p/"+testSlug+tt.path, tt.form, tt.headers...)
			wantStatus(t, p, http.StatusForbidden)
			wantContains(t, p, "This form has expired")
		})
	}
	if got := e.invitationStatus(inv.ID); got != data.InvitationPending {
		t.Fatalf("got invitation status %q after refused posts, want %q", got, data.InvitationPending)
	}
	// The same token from this site passes.
	p := c.post("/p/"+testSlug+"/login", url.Values{"csrf": {good}, "email": {"x@y.test"}, "password": {"wrong password"}},
		"Origin", e.srv.URL)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "The email or password is incorrect.")
}

func TestSignedInForms_TokenIsBoundToTheSession(t *testing.T) {
	e := newEnv(t)
	c := e.acceptInvitation("dana@customer.test")
	sessions := c.get("/p/" + testSlug + "/sessions")
	wantStatus(t, sessions, http.StatusOK)
	other := e.acceptInvitation("eve@customer.test")
	// Eve's page token does not work with Dana's cookie.
	evePage := other.get("/p/" + testSlug + "/sessions")
	p := c.post("/p/"+testSlug+"/logout", url.Values{"csrf": {evePage.csrf(t)}})
	wantStatus(t, p, http.StatusForbidden)
	p = c.post("/p/"+testSlug+"/logout", url.Values{"csrf": {sessions.csrf(t)}})
	wantStatus(t, p, http.StatusSeeOther)
	login := c.follow(p)
	wantContains(t, login, "You have signed out.")
	wantStatus(t, c.follow(c.get("/p/"+testSlug+"/")), http.StatusOK)
	if got := c.get("/p/" + testSlug + "/"); got.status != http.StatusSeeOther || !strings.HasSuffix(got.header.Get("Location"), "/login") {
		t.Fatalf("home after logout: got %d to %q, want 303 to the login page", got.status, got.header.Get("Location"))
	}
}

func TestDisabledPortal_IsNotShown(t *testing.T) {
	e := newEnv(t)
	c := e.acceptInvitation("dana@customer.test")
	_, token := e.invite("eve@customer.test")
	e.setConfig(func(cfg data.Config) data.Config { cfg.Enabled = false; return cfg })

	unknown := c.get("/p/no-such-portal/login")
	wantStatus(t, unknown, http.StatusNotFound)
	for _, path := range []string{"/", "/login", "/forgot", "/profile", "/accept?token=" + token} {
		p := c.get("/p/" + testSlug + path)
		wantStatus(t, p, http.StatusNotFound)
		wantContains(t, p, "This page is not available")
		wantNotContains(t, p, testPortal, "Support tickets", "help@acme.test", "/p/acme/theme.css")
		if p.body != unknown.body {
			t.Errorf("%s: a disabled portal's page differs from an unknown portal's", path)
		}
	}
	e.setConfig(func(cfg data.Config) data.Config { cfg.Enabled = true; return cfg })
	wantStatus(t, c.get("/p/"+testSlug+"/"), http.StatusOK)
}

func TestRevokedUser_NextPageLoadGoesToLogin(t *testing.T) {
	e := newEnv(t)
	c := e.acceptInvitation("dana@customer.test")
	wantStatus(t, c.get("/p/"+testSlug+"/profile"), http.StatusOK)
	users, err := e.db.Users(context.Background(), testTenant, store.UserFilter{Q: "dana@customer.test"}, "", 10)
	if err != nil || len(users.Items) != 1 {
		t.Fatalf("got %d users, err %v; want the one", len(users.Items), err)
	}
	if _, err := e.db.RevokeUser(context.Background(), testTenant, "test", users.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	p := c.get("/p/" + testSlug + "/profile")
	wantStatus(t, p, http.StatusSeeOther)
	if got, want := p.header.Get("Location"), "/p/acme/login?m=expired"; got != want {
		t.Fatalf("got Location %q, want %q", got, want)
	}
	if sc := strings.Join(p.header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "portal_session=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("dead session cookie not cleared: %q", sc)
	}
	login := c.follow(p)
	wantStatus(t, login, http.StatusOK)
	wantContains(t, login, "Your session has ended. Please sign in again.", `action="/p/acme/login"`)
	// And the password no longer opens a session.
	refused := c.post("/p/"+testSlug+"/login", url.Values{"csrf": {login.csrf(t)}, "email": {"dana@customer.test"}, "password": {testPassword}})
	wantStatus(t, refused, http.StatusUnprocessableEntity)
}

func TestLogin_SessionsAndSignOutOfEach(t *testing.T) {
	e := newEnv(t)
	first := e.acceptInvitation("dana@customer.test")
	second := e.client()
	form := second.get("/p/" + testSlug + "/login")
	p := second.post("/p/"+testSlug+"/login", url.Values{"csrf": {form.csrf(t)}, "email": {"DANA@customer.test"}, "password": {testPassword}})
	wantStatus(t, p, http.StatusSeeOther)
	wantStatus(t, second.follow(p), http.StatusOK)

	list := first.get("/p/" + testSlug + "/sessions")
	wantStatus(t, list, http.StatusOK)
	ids := regexp.MustCompile(`name="id" value="([0-9A-Z]{26})"`).FindAllStringSubmatch(list.body, -1)
	if len(ids) != 2 {
		t.Fatalf("got %d sessions listed, want 2:\n%s", len(ids), list.body)
	}
	wantContains(t, list, "This browser")
	// Newest first: the second browser's session is the first row.
	p = first.post("/p/"+testSlug+"/sessions/end", url.Values{"csrf": {list.csrf(t)}, "id": {ids[0][1]}})
	wantStatus(t, p, http.StatusSeeOther)
	wantContains(t, first.follow(p), "The session was signed out.")
	if got := second.get("/p/" + testSlug + "/"); got.status != http.StatusSeeOther {
		t.Fatalf("ended session: got %d, want 303 to login", got.status)
	}
	list = first.get("/p/" + testSlug + "/sessions")
	p = first.post("/p/"+testSlug+"/sessions/end-all", url.Values{"csrf": {list.csrf(t)}})
	wantStatus(t, p, http.StatusSeeOther)
	wantContains(t, first.follow(p), "You have signed out of every session.")
}

func TestLogin_RateLimitedWithFriendlyMessage(t *testing.T) {
	e := newEnv(t)
	e.acceptInvitation("dana@customer.test")
	c := e.client()
	form := c.get("/p/" + testSlug + "/login")
	var p page
	for i := 0; i < 8 && p.status != http.StatusTooManyRequests; i++ {
		p = c.post("/p/"+testSlug+"/login", url.Values{"csrf": {form.csrf(t)}, "email": {"dana@customer.test"}, "password": {"not the password"}})
	}
	wantStatus(t, p, http.StatusTooManyRequests)
	if p.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantContains(t, p, "Too many attempts. Please wait", `action="/p/acme/login"`)
}

func TestForgotAndReset(t *testing.T) {
	e := newEnv(t)
	dana := e.acceptInvitation("dana@customer.test")
	c := e.client()
	form := c.get("/p/" + testSlug + "/forgot")
	wantStatus(t, form, http.StatusOK)
	for _, email := range []string{"nobody@customer.test", "dana@customer.test"} {
		p := c.post("/p/"+testSlug+"/forgot", url.Values{"csrf": {form.csrf(t)}, "email": {email}})
		wantStatus(t, p, http.StatusOK)
		wantContains(t, p, "If an account exists for that email address")
	}
	link := e.mail.waitLink(t, "dana@customer.test")
	u, _ := url.Parse(link)
	resetForm := c.get(u.RequestURI())
	wantStatus(t, resetForm, http.StatusOK)
	wantStatus(t, c.get(u.RequestURI()), http.StatusOK) // GET does not spend the link
	const newPassword = "a brand new passphrase"
	p := c.post("/p/"+testSlug+"/reset", url.Values{"csrf": {resetForm.csrf(t)}, "token": {u.Query().Get("token")},
		"password": {newPassword}, "passwordConfirm": {newPassword}})
	wantStatus(t, p, http.StatusSeeOther)
	login := c.follow(p)
	wantContains(t, login, "Your password has been changed.")
	// Dana's other session ended with the reset; the new password works.
	if got := dana.get("/p/" + testSlug + "/"); got.status != http.StatusSeeOther {
		t.Errorf("old session after reset: got %d, want 303", got.status)
	}
	p = c.post("/p/"+testSlug+"/login", url.Values{"csrf": {login.csrf(t)}, "email": {"dana@customer.test"}, "password": {newPassword}})
	wantStatus(t, p, http.StatusSeeOther)
	wantStatus(t, c.get(u.RequestURI()), http.StatusGone)
}

func TestPages_StrictCSPAndNoInlineCode(t *testing.T) {
	e := newEnv(t)
	c := e.acceptInvitation("dana@customer.test")
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	for _, path := range []string{"/p/acme/", "/p/acme/profile", "/p/acme/sessions", "/p/acme/login", "/p/acme/forgot",
		"/p/acme/reset?token=x", "/p/nope/", "/admin/"} {
		p := c.get(path)
		csp := p.header.Get("Content-Security-Policy")
		want := wantCustomerCSP
		if strings.HasPrefix(path, "/admin/") {
			want = wantAdminCSP
		}
		if csp != want {
			t.Errorf("%s: got CSP %q, want %q", path, csp, want)
		}
		if m := inline.FindString(p.body); m != "" {
			t.Errorf("%s: inline code or style %q", path, m)
		}
		if got := p.header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: got X-Frame-Options %q, want DENY", path, got)
		}
	}
}

func TestAdminConsole_Served(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	p := c.get("/admin")
	wantStatus(t, p, http.StatusMovedPermanently)
	tests := []struct{ path, contentType, contains string }{
		{"/admin/", "text/html; charset=utf-8", `<script src="/admin/console.js" defer></script>`},
		{"/admin/console.js", "text/javascript; charset=utf-8", "sessionStorage"},
		{"/admin/console.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/p/_static/portal.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/p/acme/theme.css", "text/css; charset=utf-8", "--primary: #5b2a86;"},
	}
	for _, tt := range tests {
		p := c.get(tt.path)
		wantStatus(t, p, http.StatusOK)
		if got := p.header.Get("Content-Type"); got != tt.contentType {
			t.Errorf("%s: got Content-Type %q, want %q", tt.path, got, tt.contentType)
		}
		wantContains(t, p, tt.contains)
	}
	wantStatus(t, c.get("/admin/nope.js"), http.StatusNotFound)
	wantStatus(t, c.post("/admin/", url.Values{}), http.StatusMethodNotAllowed)
	// The JSON API is untouched by the mount.
	api := c.get("/v1/customer-portal/config")
	wantStatus(t, api, http.StatusUnauthorized)
}
