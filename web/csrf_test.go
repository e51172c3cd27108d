package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCSRF_PlantedCookieRefused: a pre-sign-in cookie value chosen by
// someone else (planted from a sibling subdomain, say) is no base for a
// form token, even with the token the server showed that someone for it.
func TestCSRF_PlantedCookieRefused(t *testing.T) {
	e := newEnv(t)
	base, _ := url.Parse(e.srv.URL + "/p/" + testSlug + "/")
	planted := []*http.Cookie{{Name: "portal_csrf", Value: strings.Repeat("x", 43), Path: "/p/" + testSlug + "/"}}
	attacker := e.client()
	attacker.hc.Jar.SetCookies(base, planted)
	token := attacker.get("/p/" + testSlug + "/login").csrf(t)

	victim := e.client()
	victim.hc.Jar.SetCookies(base, planted)
	p := victim.post("/p/"+testSlug+"/login", url.Values{"csrf": {token}, "email": {"x@y.test"}, "password": {"wrong password"}})
	wantStatus(t, p, http.StatusForbidden)
	wantContains(t, p, "This form has expired")
}

// TestCSRF_AnonymousTokenDiesAtSignIn: a form token made before sign-in
// does not pass once the browser has a session, and the token of one
// session does not pass for the next.
func TestCSRF_AnonymousTokenDiesAtSignIn(t *testing.T) {
	e := newEnv(t)
	_, token := e.invite("dana@customer.test")
	c := e.client()
	forgot := c.get("/p/" + testSlug + "/forgot")
	anon := forgot.csrf(t)
	form := c.get("/p/" + testSlug + "/accept?token=" + token)
	p := c.post("/p/"+testSlug+"/accept", url.Values{"csrf": {form.csrf(t)}, "token": {token},
		"password": {testPassword}, "passwordConfirm": {testPassword}})
	wantStatus(t, p, http.StatusSeeOther)
	for _, ck := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(ck, "portal_csrf=") && !strings.Contains(ck, "Max-Age=0") {
			t.Errorf("got Set-Cookie %q at sign-in, want the pre-sign-in cookie dropped", ck)
		}
	}
	p = c.post("/p/"+testSlug+"/forgot", url.Values{"csrf": {anon}, "email": {"dana@customer.test"}})
	wantStatus(t, p, http.StatusForbidden)

	// Signed in, the forms that need no sign-in carry the session's token.
	first := c.get("/p/" + testSlug + "/sessions").csrf(t)
	if got := c.get("/p/" + testSlug + "/forgot").csrf(t); got != first {
		t.Errorf("forgot form while signed in: got token %q, want the session's %q", got, first)
	}
	wantStatus(t, c.post("/p/"+testSlug+"/logout", url.Values{"csrf": {first}}), http.StatusSeeOther)
	login := c.get("/p/" + testSlug + "/login")
	p = c.post("/p/"+testSlug+"/login", url.Values{"csrf": {login.csrf(t)}, "email": {"dana@customer.test"}, "password": {testPassword}})
	wantStatus(t, p, http.StatusSeeOther)
	// The first session's token is dead with it; the new session's passes.
	wantStatus(t, c.post("/p/"+testSlug+"/logout", url.Values{"csrf": {first}}), http.StatusForbidden)
	second := c.get("/p/" + testSlug + "/sessions").csrf(t)
	if second == first {
		t.Fatal("got the same form token for two sessions, want a new one at sign-in")
	}
	wantStatus(t, c.post("/p/"+testSlug+"/logout", url.Values{"csrf": {second}}), http.StatusSeeOther)
}

// TestForms_AddressLimitBeforeBody: the sign-in forms are charged to the
// client address before the form is read: over the limit, 429 at once.
func TestForms_AddressLimitBeforeBody(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	var limited page
	for i := 0; i <= 10; i++ {
		// No CSRF token: refused (403) after the limit is charged.
		limited = c.post("/p/"+testSlug+"/reset", url.Values{"token": {"x"}})
		if limited.status == http.StatusTooManyRequests {
			break
		}
		wantStatus(t, limited, http.StatusForbidden)
	}
	wantStatus(t, limited, http.StatusTooManyRequests)
	if limited.header.Get("Retry-After") == "" {
		t.Error("got no Retry-After on 429")
	}
	wantContains(t, limited, "Too many attempts")
}
