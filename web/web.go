// Package web serves the portal's two web surfaces from the binary itself:
//
//   - the customer pages under /p/{slug}/: server-rendered html/template
//     forms that work without JavaScript, branded from the portal's
//     configuration, over the same account flows as the JSON API;
//   - the admin console under /admin/: one static page and one small script
//     that call the JSON admin API with a staff token the user pastes (or
//     that `portal token --console` puts in the URL fragment).
//
// Everything is embedded (templates, CSS, script): there is no build step
// and nothing is loaded from another origin except https images (a portal's
// logo). Every response carries a strict Content-Security-Policy with no
// inline script or style.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// Content-Security-Policies. The customer pages run no script at all; the
// console runs its own script file and talks only to its own origin.
const (
	customerCSP = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	adminCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

// maxFormBytes bounds a customer form post; the largest holds a password
// twice and two names.
const maxFormBytes = 64 << 10

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options tune New.
type Options struct {
	// Accounts runs the customer flows. Pass the one the JSON API uses, so
	// that login rate limits count attempts from both (built over db when nil).
	Accounts *account.Service
	// Wake is called after a change that queued email (a reset link).
	Wake func()
	// CSRFKey signs the form tokens. When nil, a key kept in the database
	// is used, so forms survive a restart.
	CSRFKey []byte
	// PublicURL is the service's public base URL. Its host is accepted in
	// Origin and Referer besides the request's own, and when it is https
	// the cookies are Secure even if TLS ends at a proxy.
	PublicURL string
}

// server holds what every page shares.
type server struct {
	log         *slog.Logger
	db          *store.DB
	accounts    *account.Service
	wake        func()
	csrfKey     []byte
	publicHost  string
	publicHTTPS bool
	pages       map[string]*template.Template
	assets      map[string]asset
}

// asset is one embedded static file.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// New returns the handler of the customer pages and the admin console. It
// expects the paths /p/... and /admin... and answers 404 to anything else.
func New(log *slog.Logger, db *store.DB, opt Options) (http.Handler, error) {
	if opt.Accounts == nil {
		opt.Accounts = account.New(db, log, account.Options{})
	}
	if opt.Wake == nil {
		opt.Wake = func() {}
	}
	if opt.CSRFKey == nil {
		key, err := db.Secret("csrf", 32)
		if err != nil {
			return nil, fmt.Errorf("web: csrf key: %w", err)
		}
		opt.CSRFKey = key
	}
	s := &server{log: log, db: db, accounts: opt.Accounts, wake: opt.Wake, csrfKey: opt.CSRFKey}
	if opt.PublicURL != "" {
		u, err := url.Parse(opt.PublicURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("web: public URL %q is not an absolute URL", opt.PublicURL)
		}
		s.publicHost, s.publicHTTPS = u.Host, u.Scheme == "https"
	}
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.assets["/p/_static/portal.css"].etag); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP routes to the customer pages or the console.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on every form post, and the Origin check needs the
	// real one. Other origins still get no Referer (the accept and reset
	// links carry tokens in their query).
	h.Set("Referrer-Policy", "same-origin")
	p := r.URL.Path
	switch {
	case p == "/admin":
		h.Set("Content-Security-Policy", adminCSP)
		http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
	case strings.HasPrefix(p, "/admin/"):
		h.Set("Content-Security-Policy", adminCSP)
		s.serveAdmin(w, r)
	case strings.HasPrefix(p, "/p/"):
		h.Set("Content-Security-Policy", customerCSP)
		s.serveCustomer(w, r)
	default:
		h.Set("Content-Security-Policy", customerCSP)
		s.renderNotFound(w, r)
	}
}

// serveAdmin serves the console: its page and its two files. The page holds
// no data; the script fetches everything with the staff token.
func (s *server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path
	if name == "/admin/" {
		name = "/admin/index.html"
	}
	s.serveAsset(w, r, name)
}

// serveAsset answers with an embedded file, revalidated by ETag.
func (s *server) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := s.assets[name]
	if !ok {
		s.renderNotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, r, http.MethodGet, http.MethodHead)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// loadAssets reads the embedded static files: static/portal.css is served
// at /p/_static/portal.css ("_" cannot start a slug) and static/admin/* at
// /admin/*.
func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(name)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(name, "static/")
		served := "/p/_static/" + rel
		if strings.HasPrefix(rel, "admin/") {
			served = "/" + rel
		}
		sum := sha256.Sum256(body)
		out[served] = asset{body: body, contentType: contentType(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	return out, nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// pageNames are the customer page templates; each defines "content" and is
// rendered inside layout.html.
var pageNames = []string{"accept", "login", "home", "profile", "sessions", "forgot", "reset", "message",
	"tickets", "tickets_new", "tickets_thread", "documents", "quotes", "quote", "invoices", "invoice", "orders", "order",
	"help", "help_article"}

func parsePages(cssVersion string) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"date":       formatDate,
		"device":     deviceName,
		"size":       byteSize,
		"money":      data.FormatMoney,
		"label":      statusLabel,
		"list":       func(s ...string) []string { return s },
		"cssVersion": func() string { return strings.Trim(cssVersion, `"`) },
		"ticketStatus": func(s data.TicketStatus) string {
			if l, ok := ticketStatusLabels[s]; ok {
				return l
			}
			return string(s)
		},
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// formatDate shows a time (or *time.Time) to a customer, in UTC.
func formatDate(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "never"
		}
		t = *x
	default:
		return ""
	}
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// deviceName names the browser and system of a User-Agent, for the
// sessions page ("Chrome on Linux"); the full string is its title.
func deviceName(ua string) string {
	has := func(s string) bool { return strings.Contains(ua, s) }
	browser := ""
	switch {
	case has("Edg/"):
		browser = "Edge"
	case has("OPR/"):
		browser = "Opera"
	case has("Firefox/"):
		browser = "Firefox"
	case has("Chrome/"), has("Chromium/"):
		browser = "Chrome"
	case has("Safari/"):
		browser = "Safari"
	}
	system := ""
	switch {
	case has("Windows"):
		system = "Windows"
	case has("iPhone"), has("iPad"):
		system = "iOS"
	case has("Mac OS X"):
		system = "macOS"
	case has("Android"):
		system = "Android"
	case has("CrOS"):
		system = "ChromeOS"
	case has("Linux"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	case ua == "":
		return "Unknown browser"
	case utf8.RuneCountInString(ua) > 40:
		return string([]rune(ua)[:40]) + "…"
	}
	return ua
}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.renderMessage(w, r, http.StatusMethodNotAllowed, neutralView(), "Not allowed",
		"This address does not accept that kind of request.")
}
