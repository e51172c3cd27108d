package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/salesos/portal/store"
)

// Cookie names. Both are scoped to one portal's path, HttpOnly and
// SameSite=Strict, and Secure when the request came over https.
const (
	// sessionCookie holds the customer's session token (the account flows'
	// opaque token, stored by the server only as a hash).
	sessionCookie = "portal_session"
	// csrfCookie holds a value this server issued for forms shown before
	// sign-in (login, accept, forgot, reset): the double-submit cookie. It
	// is dropped at sign-in.
	csrfCookie = "portal_csrf"
	// csrfField is the hidden form field every POST form carries.
	csrfField = "csrf"
)

// CSRF token labels keep a token made for one base from passing for the other.
const (
	labelSession = "session"
	labelAnon    = "anon"
	// labelCookie signs the pre-sign-in cookie's value itself.
	labelCookie = "anon-cookie"
)

// anonRawLen is the length of the random part of a pre-sign-in cookie
// (32 bytes, base64url).
const anonRawLen = 43

// csrfToken is the form token for base: an HMAC, so a value planted in a
// cookie (by a sibling subdomain, say) cannot be paired with a matching
// field without the key.
func (s *server) csrfToken(label, base string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(base))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a form post carries the token of its base and
// comes from this site when the browser says where it comes from. With a
// session cookie the base is the session: the token is bound to it (and so
// changes at every sign-in), and a token made before sign-in no longer
// passes. Without one, the base is the pre-sign-in cookie, which must be
// one this server issued, not a value planted by someone else.
func (s *server) checkCSRF(r *http.Request) bool {
	if !s.sameOrigin(r) {
		return false
	}
	got := r.PostFormValue(csrfField)
	if got == "" {
		return false
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		return hmac.Equal([]byte(got), []byte(s.csrfToken(labelSession, c.Value)))
	}
	if c, err := r.Cookie(csrfCookie); err == nil && s.issuedAnon(c.Value) {
		return hmac.Equal([]byte(got), []byte(s.csrfToken(labelAnon, c.Value)))
	}
	return false
}

// issuedAnon reports whether v is a pre-sign-in cookie value this server
// made: random bytes, a dot, and their MAC.
func (s *server) issuedAnon(v string) bool {
	raw, mac, ok := strings.Cut(v, ".")
	return ok && len(raw) == anonRawLen && hmac.Equal([]byte(mac), []byte(s.csrfToken(labelCookie, raw)))
}

// sameOrigin checks Origin, else Referer, when the browser sent one: its
// host must be the request's own or the public URL's. "Origin: null" (an
// opaque origin: a sandboxed frame, a data: URL) is refused.
func (s *server) sameOrigin(r *http.Request) bool {
	raw := r.Header.Get("Origin")
	if raw == "" {
		raw = r.Header.Get("Referer")
	}
	if raw == "" {
		return true // not every client sends them; the token still has to match
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || (s.publicHost != "" && strings.EqualFold(u.Host, s.publicHost))
}

// anonToken returns the form token for a visitor without a session,
// issuing the pre-sign-in cookie when the request has none of this
// server's.
func (s *server) anonToken(w http.ResponseWriter, r *http.Request, slug string) string {
	if c, err := r.Cookie(csrfCookie); err == nil && s.issuedAnon(c.Value) {
		return s.csrfToken(labelAnon, c.Value)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms; a form
		// without a usable token is refused on post, which is safe.
		return ""
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	v := raw + "." + s.csrfToken(labelCookie, raw)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: portalPath(slug),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	return s.csrfToken(labelAnon, v)
}

// secure reports whether cookies must be Secure: the request came over
// TLS, or the public URL is https (TLS ended at a proxy).
func (s *server) secure(r *http.Request) bool { return r.TLS != nil || s.publicHTTPS }

// setSession stores a new session's token in the browser, for as long as
// the session may live, and drops the pre-sign-in cookie: from now on the
// form tokens are bound to the new session.
func (s *server) setSession(w http.ResponseWriter, r *http.Request, slug string, a store.Auth) {
	maxAge := int(a.Session.ExpiresAt.Sub(s.db.Now()) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: a.Token, Path: portalPath(slug), MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: "", Path: portalPath(slug), MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

// clearSession removes the session cookie.
func (s *server) clearSession(w http.ResponseWriter, r *http.Request, slug string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: portalPath(slug), MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

// portalPath is the path every page and cookie of a portal lives under.
func portalPath(slug string) string { return "/p/" + slug + "/" }
