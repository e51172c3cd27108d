package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckCSRF feeds hostile form posts to checkCSRF, the gate of every
// customer form: arbitrary Host, Origin, Referer, cookies and form token.
// It never panics, and it lets a post through only when the token is the
// HMAC of the session cookie, or, without one, of a pre-sign-in cookie
// this server issued, and the browser's Origin (or Referer) names this
// site.
func FuzzCheckCSRF(f *testing.F) {
	s := &server{csrfKey: []byte("fuzz-csrf-key-0123456789abcdef01"), publicHost: "portal.example"}
	raw := strings.Repeat("a", anonRawLen)
	anon := raw + "." + s.csrfToken(labelCookie, raw)
	f.Add("portal.example", "https://portal.example", "", "sess-token", anon, s.csrfToken(labelSession, "sess-token"))
	f.Add("portal.example", "", "https://portal.example/p/x/login", "", anon, s.csrfToken(labelAnon, anon))
	f.Add("127.0.0.1:8080", "null", "", "", anon, s.csrfToken(labelAnon, anon))
	f.Add("evil.example", "https://evil.example", "", "", anon, s.csrfToken(labelAnon, anon))
	f.Add("portal.example", "javascript:alert(1)", "", "x", "short", "")
	f.Add("portal.example", "https://portal.example:443", "", "", anon, s.csrfToken(labelSession, anon))
	f.Add("portal.example", "", "", "", raw, s.csrfToken(labelAnon, raw))
	f.Add("portal.example", "", "", "sess-token", anon, s.csrfToken(labelAnon, anon))
	f.Fuzz(func(t *testing.T, host, origin, referer, session, anonCookie, token string) {
		form := url.Values{csrfField: {token}}
		r := httptest.NewRequest(http.MethodPost, "http://portal.example/p/acme/login", strings.NewReader(form.Encode()))
		r.Host = host
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", origin)
		r.Header.Set("Referer", referer)
		if session != "" {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
		}
		if anonCookie != "" {
			r.AddCookie(&http.Cookie{Name: csrfCookie, Value: anonCookie})
		}
		if !s.checkCSRF(r) {
			return
		}
		got := r.PostFormValue(csrfField)
		okSession, okAnon := false, false
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			okSession = got == s.csrfToken(labelSession, c.Value)
		} else if c, err := r.Cookie(csrfCookie); err == nil {
			part, mac, _ := strings.Cut(c.Value, ".")
			okAnon = len(part) == anonRawLen && mac == s.csrfToken(labelCookie, part) && got == s.csrfToken(labelAnon, c.Value)
		}
		if !okSession && !okAnon {
			t.Fatalf("checkCSRF passed a token %q that is not its base's HMAC", got)
		}
		claimed := r.Header.Get("Origin")
		if claimed == "" {
			claimed = r.Header.Get("Referer")
		}
		if claimed != "" {
			u, err := url.Parse(claimed)
			if err != nil || (!strings.EqualFold(u.Host, r.Host) && !strings.EqualFold(u.Host, s.publicHost)) {
				t.Fatalf("checkCSRF passed a post from %q to host %q", claimed, r.Host)
			}
		}
	})
}
