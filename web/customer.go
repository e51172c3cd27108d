package web

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// pageHandler serves one customer page of the portal at slug.
type pageHandler func(s *server, w http.ResponseWriter, r *http.Request, slug string)

// customerRoutes maps the path under /p/{slug}/ and the method to a page.
// HEAD is served as GET.
var customerRoutes = map[string]map[string]pageHandler{
	"":                   {http.MethodGet: (*server).home},
	"login":              {http.MethodGet: (*server).loginForm, http.MethodPost: (*server).login},
	"logout":             {http.MethodPost: (*server).logout},
	"profile":            {http.MethodGet: (*server).profile},
	"sessions":           {http.MethodGet: (*server).sessions},
	"sessions/end":       {http.MethodPost: (*server).endSession},
	"sessions/end-all":   {http.MethodPost: (*server).endAllSessions},
	"accept":             {http.MethodGet: (*server).acceptForm, http.MethodPost: (*server).accept},
	"forgot":             {http.MethodGet: (*server).forgotForm, http.MethodPost: (*server).forgot},
	"reset":              {http.MethodGet: (*server).resetForm, http.MethodPost: (*server).reset},
	"tickets":            {http.MethodGet: (*server).tickets, http.MethodPost: (*server).ticketCreate},
	"tickets/new":        {http.MethodGet: (*server).ticketNewForm},
	"documents":          {http.MethodGet: (*server).documents},
	"documents/download": {http.MethodGet: (*server).downloadDocument},
	"quotes":             {http.MethodGet: (*server).quotes},
	"invoices":           {http.MethodGet: (*server).invoices},
	"orders":             {http.MethodGet: (*server).orders},
	"help":               {http.MethodGet: (*server).help},
}

// admitted are the form posts charged to the client address's budget of
// their account flow.
var admitted = map[string]account.Flow{
	"login": account.FlowLogin, "forgot": account.FlowForgot,
	"accept": account.FlowAccept, "reset": account.FlowReset,
}

// serveCustomer routes /p/{slug}/{page}. Every POST is a form post that
// must pass the CSRF check before any handler runs.
func (s *server) serveCustomer(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/p/")
	slug, page, slash := strings.Cut(rest, "/")
	if slug == "_static" {
		s.serveAsset(w, r, r.URL.Path)
		return
	}
	if !data.ValidSlug(slug) {
		s.renderNotFound(w, r)
		return
	}
	if !slash {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, portalPath(slug), http.StatusMovedPermanently)
			return
		}
		s.renderNotFound(w, r)
		return
	}
	if page == "theme.css" {
		s.serveTheme(w, r, slug)
		return
	}
	methods, ok := routeOf(page)
	if !ok {
		s.renderNotFound(w, r)
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	h, ok := methods[method]
	if !ok {
		var allow []string
		for m := range methods {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		sort.Strings(allow)
		s.methodNotAllowed(w, r, allow...)
		return
	}
	if method == http.MethodPost {
		if flow, ok := admitted[page]; ok {
			// Before the body is read: a flood from one address costs
			// neither memory nor hashing.
			if err := s.accounts.Admit(flow, clientOf(r)); err != nil {
				s.renderError(w, r, err)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, formLimit(page))
		if err := r.ParseForm(); err != nil {
			s.renderMessage(w, r, http.StatusBadRequest, neutralView(), "The form could not be read",
				"Go back, reload the page and try again.")
			return
		}
		if !s.checkCSRF(r) {
			s.renderForbidden(w, r, slug, page)
			return
		}
	}
	h(s, w, r, slug)
}

// portal is an organization's portal as the pages see it.
type portal struct {
	tenant data.TenantID
	cfg    data.Config
}

// portal returns the enabled portal at slug; false for an unknown or a
// disabled one, which the pages do not tell apart.
func (s *server) portal(r *http.Request, slug string) (portal, bool, error) {
	tenant, err := s.db.TenantBySlug(r.Context(), slug)
	if errors.Is(err, data.ErrNotFound) {
		return portal{}, false, nil
	}
	if err != nil {
		return portal{}, false, err
	}
	cfg, err := s.db.Config(r.Context(), tenant)
	if err != nil {
		return portal{}, false, err
	}
	if !cfg.Enabled || cfg.Slug != slug {
		return portal{}, false, nil
	}
	return portal{tenant: tenant, cfg: cfg}, true, nil
}

// mustPortal is portal for a page: it answers 404 (or 500) itself when false.
func (s *server) mustPortal(w http.ResponseWriter, r *http.Request, slug string) (portal, bool) {
	p, ok, err := s.portal(r, slug)
	if err != nil {
		s.renderError(w, r, err)
		return p, false
	}
	if !ok {
		s.renderNotFound(w, r)
		return p, false
	}
	return p, true
}

// session returns the live session of the request's cookie on portal p.
// A token of another portal is no session here.
func (s *server) session(r *http.Request, p portal) (store.Auth, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return store.Auth{}, false, nil
	}
	a, err := s.accounts.Session(r.Context(), c.Value)
	if errors.Is(err, data.ErrUnauthorized) {
		return store.Auth{}, false, nil
	}
	if err != nil {
		return store.Auth{}, false, err
	}
	if a.Tenant != p.tenant {
		return store.Auth{}, false, nil
	}
	a.Token = c.Value
	return a, true, nil
}

// requireSession is for the signed-in pages: without a live session (never
// signed in, signed out elsewhere, ended by an admin, revoked, idle) the
// browser goes to the login page, and a dead cookie is removed.
func (s *server) requireSession(w http.ResponseWriter, r *http.Request, slug string) (portal, store.Auth, bool) {
	p, ok := s.mustPortal(w, r, slug)
	if !ok {
		return p, store.Auth{}, false
	}
	a, ok, err := s.session(r, p)
	if err != nil {
		s.renderError(w, r, err)
		return p, a, false
	}
	if !ok {
		target := portalPath(slug) + "login"
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			s.clearSession(w, r, slug)
			target += "?m=expired"
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return p, a, false
	}
	return p, a, true
}

// clientOf is who sent r: the peer address and the User-Agent.
func clientOf(r *http.Request) store.Client {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return store.Client{IP: host, UserAgent: r.UserAgent()}
}

// portalView is the branding every page of a portal shows.
type portalView struct {
	Name, Slug, LogoURL, FaviconURL, Welcome, SupportEmail string
	Version                                                int64
}

// link is a call to action on a message page.
type link struct{ Href, Text string }

// view is what layout.html and the pages are rendered from.
type view struct {
	Title   string
	Neutral bool // an unbranded page: unknown or disabled portal, errors
	Portal  portalView
	User    *data.User
	CSRF    string
	Nav     string
	// Features are the portal's enabled features, by id, for the menu.
	Features map[string]bool
	Flash    string
	Error    string
	Errors   map[string]string // per form field
	Form     map[string]string // values to fill in again (never passwords)
	Data     any

	// The message page.
	Heading string
	Body    []string
	Link    *link
}

func neutralView() view { return view{Neutral: true} }

func brandedView(cfg data.Config, title string) view {
	return view{Title: title, Portal: portalView{Name: cfg.PortalName, Slug: cfg.Slug, LogoURL: cfg.Branding.LogoURL,
		FaviconURL: cfg.Branding.FaviconURL, Welcome: cfg.WelcomeMessage, SupportEmail: cfg.SupportEmail, Version: cfg.Version},
		Errors: map[string]string{}, Form: map[string]string{}}
}

// anonView is a branded page with forms that do not need a sign-in
// (login, accept, forgot, reset). Its form token is bound to the session
// when the browser has a live one (the CSRF check takes no other then); a
// dead session cookie is removed, and the pre-sign-in cookie is the base.
func (s *server) anonView(w http.ResponseWriter, r *http.Request, cfg data.Config, title string) view {
	v := brandedView(cfg, title)
	v.Flash = flashFor(r)
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if _, err := s.accounts.Session(r.Context(), c.Value); err == nil {
			v.CSRF = s.csrfToken(labelSession, c.Value)
			return v
		}
		s.clearSession(w, r, cfg.Slug)
	}
	v.CSRF = s.anonToken(w, r, cfg.Slug)
	return v
}

// userView is a branded page for a signed-in customer.
func (s *server) userView(r *http.Request, p portal, a store.Auth, title, nav string) view {
	v := brandedView(p.cfg, title)
	u := a.User
	v.User, v.Nav = &u, nav
	v.Features = map[string]bool{}
	for _, f := range p.cfg.Features {
		v.Features[f.ID] = f.Enabled
	}
	v.CSRF = s.csrfToken(labelSession, a.Token)
	v.Flash = flashFor(r)
	return v
}

// flashes are the fixed notices a redirect can ask for with ?m=; the page
// never shows text taken from the URL.
var flashes = map[string]string{
	"welcome":          "Your account is ready. Welcome!",
	"signed-out":       "You have signed out.",
	"signed-out-all":   "You have signed out of every session.",
	"expired":          "Your session has ended. Please sign in again.",
	"password-reset":   "Your password has been changed. Sign in with your new password.",
	"password-changed": "Your password has been changed. Your other sessions were signed out.",
	"session-ended":    "The session was signed out.",
	"session-gone":     "That session had already ended.",
	"ticket-created":   "Your ticket has been sent. We will reply here and by email.",
	"reply-sent":       "Your message has been sent.",
	"ticket-solved":    "The ticket is marked as solved.",
	"ticket-reopened":  "The ticket is open again.",
	"quote-accepted":   "You have accepted the quote. Thank you.",
	"quote-declined":   "You have declined the quote.",
}

func flashFor(r *http.Request) string { return flashes[r.URL.Query().Get("m")] }

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len())) // complete once flushed, whatever the handler does next
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *server) renderMessage(w http.ResponseWriter, r *http.Request, status int, v view, heading string, body ...string) {
	if v.Title == "" {
		v.Title = heading
	}
	v.Heading, v.Body = heading, body
	s.render(w, r, status, "message", v)
}

// renderNotFound is the one page for an unknown address, an unknown portal
// and a disabled one: it names no portal.
func (s *server) renderNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderMessage(w, r, http.StatusNotFound, neutralView(), "This page is not available",
		"The portal you are looking for does not exist or is not available right now.",
		"Check the address, or contact the company that gave you the link.")
}

func (s *server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var rl *data.RateLimitError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds))
		s.renderMessage(w, r, http.StatusTooManyRequests, neutralView(), "Too many attempts", rateLimitText(rl.RetryAfterSeconds))
		return
	}
	var be *data.BusyError
	if errors.As(err, &be) {
		w.Header().Set("Retry-After", strconv.Itoa(be.RetryAfterSeconds))
		s.renderMessage(w, r, http.StatusServiceUnavailable, neutralView(), "Busy right now",
			"Too many people are signing in at this moment. Please wait a second and try again.")
		return
	}
	s.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
	s.renderMessage(w, r, http.StatusInternalServerError, neutralView(), "Something went wrong",
		"The page could not be shown. Please try again in a moment.")
}

// renderForbidden answers a form post whose CSRF token or origin is wrong:
// most often a form left open across a sign-out or a restart.
func (s *server) renderForbidden(w http.ResponseWriter, r *http.Request, slug, page string) {
	back := portalPath(slug) + page
	if tok := r.PostFormValue("token"); (page == "accept" || page == "reset") && tok != "" && len(tok) <= account.MaxTokenLen {
		back += "?token=" + url.QueryEscape(tok)
	}
	if page == "logout" || strings.HasPrefix(page, "sessions/") {
		back = portalPath(slug)
	}
	if strings.HasPrefix(page, "tickets/") {
		back = portalPath(slug) + "tickets"
	}
	if strings.HasPrefix(page, "quotes/") {
		back = portalPath(slug) + "quotes/" + recordID(r)
	}
	v := neutralView()
	v.Link = &link{Href: back, Text: "Reload the form"}
	s.renderMessage(w, r, http.StatusForbidden, v, "This form has expired",
		"For your security, the form could not be accepted: it was open for too long, or it was sent from another site.",
		"Reload the form and try again.")
}

// rateLimitText tells a customer how long to wait.
func rateLimitText(secs int) string {
	switch {
	case secs <= 1:
		return "Too many attempts. Please wait a moment and try again."
	case secs < 90:
		return "Too many attempts. Please wait " + strconv.Itoa(secs) + " seconds and try again."
	default:
		return "Too many attempts. Please wait about " + strconv.Itoa((secs+59)/60) + " minutes and try again."
	}
}

// fieldLabels name the form fields in error messages.
var fieldLabels = map[string]string{
	"password": "Password", "passwordConfirm": "Password confirmation",
	"firstName": "First name", "lastName": "Last name", "email": "Email",
}

// fieldErrors turns a validation error of the account flows into messages
// per form field; false when err is not one.
func fieldErrors(err error) (map[string]string, bool) {
	var ve *data.ValidationError
	if !errors.As(err, &ve) {
		return nil, false
	}
	out := map[string]string{}
	for k, msg := range ve.Fields {
		label, ok := fieldLabels[k]
		if !ok {
			label, k = "This value", "form"
		}
		out[k] = label + " " + msg + "."
	}
	return out, true
}

// --- pages -----------------------------------------------------------------

// homeData is the home page: the portal's enabled features only.
type homeData struct{ Features []data.Feature }

func (s *server) home(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireSession(w, r, slug)
	if !ok {
		return
	}
	v := s.userView(r, p, a, "Home", "home")
	var d homeData
	for _, f := range p.cfg.Features {
		if f.Enabled {
			d.Features = append(d.Features, f)
		}
	}
	v.Data = d
	s.render(w, r, http.StatusOK, "home", v)
}

func (s *server) profile(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireSession(w, r, slug)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "profile", s.userView(r, p, a, "Your profile", "profile"))
}

// sessionsData is the "my sessions" page.
type sessionsData struct{ Sessions []data.Session }

func (s *server) sessions(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireSession(w, r, slug)
	if !ok {
		return
	}
	list, err := s.db.UserSessions(r.Context(), p.tenant, a.User.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for i := range list {
		list[i].Current = list[i].ID == a.Session.ID
	}
	v := s.userView(r, p, a, "Your sessions", "sessions")
	v.Data = sessionsData{Sessions: list}
	s.render(w, r, http.StatusOK, "sessions", v)
}

func (s *server) endSession(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireSession(w, r, slug)
	if !ok {
		return
	}
	id := r.PostFormValue("id")
	back := portalPath(slug) + "sessions?m="
	if !data.ValidID(id) {
		http.Redirect(w, r, back+"session-gone", http.StatusSeeOther)
		return
	}
	err := s.db.EndSession(r.Context(), p.tenant, "", id, a.User.ID)
	switch {
	case errors.Is(err, data.ErrNotFound):
		http.Redirect(w, r, back+"session-gone", http.StatusSeeOther)
	case err != nil:
		s.renderError(w, r, err)
	case id == a.Session.ID:
		s.clearSession(w, r, slug)
		http.Redirect(w, r, portalPath(slug)+"login?m=signed-out", http.StatusSeeOther)
	default:
		http.Redirect(w, r, back+"session-ended", http.StatusSeeOther)
	}
}

func (s *server) endAllSessions(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireSession(w, r, slug)
	if !ok {
		return
	}
	list, err := s.db.UserSessions(r.Context(), p.tenant, a.User.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, sess := range list {
		if err := s.db.EndSession(r.Context(), p.tenant, "", sess.ID, a.User.ID); err != nil && !errors.Is(err, data.ErrNotFound) {
			s.renderError(w, r, err)
			return
		}
	}
	s.clearSession(w, r, slug)
	http.Redirect(w, r, portalPath(slug)+"login?m=signed-out-all", http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request, slug string) {
	s.clearSession(w, r, slug)
	p, ok, err := s.portal(r, slug)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if ok {
		a, signedIn, err := s.session(r, p)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		if signedIn {
			if err := s.db.EndSession(r.Context(), p.tenant, "", a.Session.ID, a.User.ID); err != nil && !errors.Is(err, data.ErrNotFound) {
				s.renderError(w, r, err)
				return
			}
		}
	}
	http.Redirect(w, r, portalPath(slug)+"login?m=signed-out", http.StatusSeeOther)
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request, slug string) {
	p, ok := s.mustPortal(w, r, slug)
	if !ok {
		return
	}
	if _, signedIn, err := s.session(r, p); err == nil && signedIn {
		http.Redirect(w, r, portalPath(slug), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", s.anonView(w, r, p.cfg, "Sign in"))
}

func (s *server) login(w http.ResponseWriter, r *http.Request, slug string) {
	p, ok := s.mustPortal(w, r, slug)
	if !ok {
		return
	}
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	v := s.anonView(w, r, p.cfg, "Sign in")
	v.Flash = ""
	v.Form["email"] = email
	if email == "" {
		v.Errors["email"] = "Enter your email address."
	}
	if password == "" {
		v.Errors["password"] = "Enter your password."
	}
	if len(v.Errors) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	}
	a, err := s.accounts.Login(r.Context(), slug, email, password, clientOf(r))
	var rl *data.RateLimitError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds))
		v.Error = rateLimitText(rl.RetryAfterSeconds)
		s.render(w, r, http.StatusTooManyRequests, "login", v)
		return
	case errors.Is(err, account.ErrLoginRefused), errors.Is(err, data.ErrUnauthorized):
		v.Error = "The email or password is incorrect."
		s.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	case err != nil:
		s.renderError(w, r, err)
		return
	}
	s.setSession(w, r, slug, a)
	http.Redirect(w, r, portalPath(slug), http.StatusSeeOther)
}

// renderLinkGone answers a dead invitation or reset link: explained on the
// portal's own page when the portal is up, else the neutral 404.
func (s *server) renderLinkGone(w http.ResponseWriter, r *http.Request, slug, kind string) {
	p, ok, err := s.portal(r, slug)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if !ok {
		s.renderNotFound(w, r)
		return
	}
	v := brandedView(p.cfg, "Link no longer valid")
	if kind == "invitation" {
		v.Link = &link{Href: portalPath(slug) + "login", Text: "Go to sign in"}
		s.renderMessage(w, r, http.StatusGone, v, "This invitation link can no longer be used",
			"It has been used already, has expired, or was replaced by a newer invitation.",
			"If you have already set your password, sign in. Otherwise ask the person who invited you to send a new invitation.")
		return
	}
	v.Link = &link{Href: portalPath(slug) + "forgot", Text: "Ask for a new link"}
	s.renderMessage(w, r, http.StatusGone, v, "This password reset link can no longer be used",
		"It has been used already, has expired, or a newer link was sent.")
}

// acceptData is the accept form.
type acceptData struct {
	Token     string
	Email     string
	MinLength int
}

// acceptForm shows the form for an invitation link. It never spends the
// token: mail scanners and link previews open links with GET.
func (s *server) acceptForm(w http.ResponseWriter, r *http.Request, slug string) {
	token := r.URL.Query().Get("token")
	inv, cfg, err := s.accounts.Invitation(r.Context(), token)
	if s.linkDead(w, r, err, slug, "invitation") {
		return
	}
	if cfg.Slug != slug { // the portal moved since the email was sent
		http.Redirect(w, r, portalPath(cfg.Slug)+"accept?token="+url.QueryEscape(token), http.StatusSeeOther)
		return
	}
	v := s.anonView(w, r, cfg, "Accept your invitation")
	v.Data = acceptData{Token: token, Email: inv.Email, MinLength: cfg.Auth.PasswordMinLength}
	s.render(w, r, http.StatusOK, "accept", v)
}

// accept spends the invitation token (account.Accept) and signs in.
func (s *server) accept(w http.ResponseWriter, r *http.Request, slug string) {
	token := r.PostFormValue("token")
	inv, cfg, err := s.accounts.Invitation(r.Context(), token)
	if s.linkDead(w, r, err, slug, "invitation") {
		return
	}
	first, last := strings.TrimSpace(r.PostFormValue("firstName")), strings.TrimSpace(r.PostFormValue("lastName"))
	password, confirm := r.PostFormValue("password"), r.PostFormValue("passwordConfirm")
	v := s.anonView(w, r, cfg, "Accept your invitation")
	v.Flash = ""
	v.Data = acceptData{Token: token, Email: inv.Email, MinLength: cfg.Auth.PasswordMinLength}
	v.Form["firstName"], v.Form["lastName"] = first, last
	if password != confirm {
		v.Errors["passwordConfirm"] = "The two passwords do not match."
		s.render(w, r, http.StatusUnprocessableEntity, "accept", v)
		return
	}
	a, err := s.accounts.Accept(r.Context(), account.AcceptRequest{Token: token, Password: password,
		FirstName: first, LastName: last}, clientOf(r))
	if s.tokenFormFailed(w, r, err, v, "accept", slug, "invitation") {
		return
	}
	s.setSession(w, r, cfg.Slug, a)
	http.Redirect(w, r, portalPath(cfg.Slug)+"?m=welcome", http.StatusSeeOther)
}

func (s *server) forgotForm(w http.ResponseWriter, r *http.Request, slug string) {
	p, ok := s.mustPortal(w, r, slug)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "forgot", s.anonView(w, r, p.cfg, "Reset your password"))
}

// forgot asks for a reset link. The answer is the same whether or not the
// email has an account, so the page tells nobody who is a customer.
func (s *server) forgot(w http.ResponseWriter, r *http.Request, slug string) {
	p, ok := s.mustPortal(w, r, slug)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	v := s.anonView(w, r, p.cfg, "Reset your password")
	v.Form["email"] = email
	if email == "" {
		v.Errors["email"] = "Enter your email address."
		s.render(w, r, http.StatusUnprocessableEntity, "forgot", v)
		return
	}
	// The page goes out before the work, on a connection that is not
	// reused, so that neither its timing nor the next request's tells a
	// known email from an unknown one.
	w.Header().Set("Connection", "close")
	done := brandedView(p.cfg, "Check your email")
	done.Link = &link{Href: portalPath(slug) + "login", Text: "Back to sign in"}
	s.renderMessage(w, r, http.StatusOK, done, "Check your email",
		"If an account exists for that email address, we have sent it a link to reset the password.",
		"The link works for one hour. If nothing arrives, check your spam folder or ask again.")
	_ = http.NewResponseController(w).Flush()
	ctx := context.WithoutCancel(r.Context()) // the browser may hang up once answered
	if err := s.accounts.Forgot(ctx, slug, email); err != nil {
		s.log.ErrorContext(ctx, "password reset request failed", "path", r.URL.Path, "err", err)
	}
	s.wake()
}

// resetData is the reset form.
type resetData struct {
	Token     string
	MinLength int
}

// resetForm shows the form for a reset link; like the accept form, it
// never spends the token.
func (s *server) resetForm(w http.ResponseWriter, r *http.Request, slug string) {
	token := r.URL.Query().Get("token")
	cfg, err := s.accounts.ResetPolicy(r.Context(), token)
	if s.linkDead(w, r, err, slug, "reset") {
		return
	}
	if cfg.Slug != slug {
		http.Redirect(w, r, portalPath(cfg.Slug)+"reset?token="+url.QueryEscape(token), http.StatusSeeOther)
		return
	}
	v := s.anonView(w, r, cfg, "Choose a new password")
	v.Data = resetData{Token: token, MinLength: cfg.Auth.PasswordMinLength}
	s.render(w, r, http.StatusOK, "reset", v)
}

// reset sets the new password (account.Reset). Every other session of the
// user ends; a customer signed in on this browser stays signed in.
func (s *server) reset(w http.ResponseWriter, r *http.Request, slug string) {
	token := r.PostFormValue("token")
	cfg, err := s.accounts.ResetPolicy(r.Context(), token)
	if s.linkDead(w, r, err, slug, "reset") {
		return
	}
	password, confirm := r.PostFormValue("password"), r.PostFormValue("passwordConfirm")
	v := s.anonView(w, r, cfg, "Choose a new password")
	v.Flash = ""
	v.Data = resetData{Token: token, MinLength: cfg.Auth.PasswordMinLength}
	if password != confirm {
		v.Errors["passwordConfirm"] = "The two passwords do not match."
		s.render(w, r, http.StatusUnprocessableEntity, "reset", v)
		return
	}
	keep := ""
	if p, ok, err := s.portal(r, cfg.Slug); err == nil && ok {
		if a, signedIn, err := s.session(r, p); err == nil && signedIn {
			keep = a.Session.ID
		}
	}
	err = s.accounts.Reset(r.Context(), token, password, keep)
	if s.tokenFormFailed(w, r, err, v, "reset", slug, "reset") {
		return
	}
	if keep != "" {
		http.Redirect(w, r, portalPath(cfg.Slug)+"?m=password-changed", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, portalPath(cfg.Slug)+"login?m=password-reset", http.StatusSeeOther)
}

// tokenFormFailed answers a failed POST of a form that spends a link's token
// (accept, reset): the form again with its field errors, the page for a dead
// link, or the error page. It reports whether it answered.
func (s *server) tokenFormFailed(w http.ResponseWriter, r *http.Request, err error, v view, tmpl, slug, kind string) bool {
	if fe, ok := fieldErrors(err); ok {
		v.Errors = fe
		s.render(w, r, http.StatusUnprocessableEntity, tmpl, v)
		return true
	}
	return s.linkDead(w, r, err, slug, kind)
}

// linkDead answers a failed use of a link's token (accept, reset): the page
// for a dead link, or the error page. It reports whether it answered.
func (s *server) linkDead(w http.ResponseWriter, r *http.Request, err error, slug, kind string) bool {
	if errors.Is(err, data.ErrGone) {
		s.renderLinkGone(w, r, slug, kind)
		return true
	}
	if err != nil {
		s.renderError(w, r, err)
		return true
	}
	return false
}
