package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
)

type ctxKey int

const keyAccess ctxKey = 0

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID returns the request's ID, set by withRequestID.
func requestID(r *http.Request) string { return accessOf(r.Context()).id }

// access is what the access log line says about a request: withRequestID
// sets its ID, and handlers deeper in the chain fill in who the caller was.
type access struct {
	id      string
	route   string
	tenant  data.TenantID
	subject string
}

func accessOf(ctx context.Context) *access {
	a, _ := ctx.Value(keyAccess).(*access)
	if a == nil {
		return &access{}
	}
	return a
}

// withRequestID echoes a sane incoming X-Request-Id or makes one.
func withRequestID(ids *data.IDSource, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Request-Id")
			if !requestIDRE.MatchString(id) {
				id = ids.New(now())
			}
			w.Header()["X-Request-Id"] = []string{id}
			ctx := context.WithValue(r.Context(), keyAccess, &access{id: id})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Observer is told about every finished request, for metrics.
type Observer func(route, method string, status int, d time.Duration)

// logRequests writes one access line per request: never tokens, passwords
// or emails, only the route template and who asked.
func logRequests(log *slog.Logger, observe Observer, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			d := now().Sub(start)
			a := accessOf(r.Context())
			route := a.route
			if route == "" {
				route = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			if observe != nil {
				observe(route, r.Method, sw.status, d)
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("requestId", requestID(r)),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", sw.status),
				slog.Int("bytes", sw.bytes),
				slog.Duration("duration", d),
				slog.String("org", string(a.tenant)),
				slog.String("sub", maskSubject(a.subject)),
			)
		})
	}
}

// recordRoute notes the matched route template for the access log and
// metrics (never the raw path, which holds IDs).
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cr := mux.CurrentRoute(r); cr != nil {
			if t, err := cr.GetPathTemplate(); err == nil {
				accessOf(r.Context()).route = t
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a 500 problem without detail.
func recoverPanics(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic", "value", v, "requestId", requestID(r))
					writeProblem(w, r, newProblem(http.StatusInternalServerError, "internal-error", "Internal error", ""))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range everyResponse {
			h[k] = v
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			for k, v := range apiResponse {
				h[k] = v
			}
		}
		next.ServeHTTP(w, r)
	})
}

// everyResponse and apiResponse are securityHeaders' headers, keys in
// canonical form. Every response shares the value slices: net/http only
// reads them, and as each has no spare capacity an Add elsewhere copies.
var (
	everyResponse = http.Header{
		"X-Content-Type-Options": {"nosniff"},
		"Referrer-Policy":        {"no-referrer"},
		"X-Frame-Options":        {"DENY"},
	}
	apiResponse = http.Header{
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
	}
)

// cors allows the configured origins only.
func cors(origins []string) func(http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.TrimRight(o, "/")] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			if origin == "" || !allowed[origin] {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "ETag, X-Request-Id, Retry-After, Location")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match, X-Request-Id")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authenticateStaff verifies the staff JWT of every admin route and puts the
// principal in the context. Portal session tokens are not JWTs and fail here.
func authenticateStaff(log *slog.Logger, v *auth.Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok := bearerToken(r)
			if tok == "" {
				writeError(w, r, log, data.ErrUnauthorized)
				return
			}
			p, err := v.Verify(tok)
			if err != nil {
				log.DebugContext(r.Context(), "token rejected", "requestId", requestID(r), "reason", err)
				writeError(w, r, log, err)
				return
			}
			a := accessOf(r.Context())
			a.tenant, a.subject = p.Tenant, p.Subject
			next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
		})
	}
}

// principal returns the caller set by authenticateStaff.
func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

// readOnlyPost reports whether r matched a staff route that takes a body by
// POST but changes nothing, so that read permission is enough for it.
func readOnlyPost(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	route := mux.CurrentRoute(r)
	if route == nil {
		return false
	}
	tpl, err := route.GetPathTemplate()
	if err != nil {
		return false
	}
	switch tpl {
	case "/v1/customer-portal/kb/preview":
		return true
	}
	return false
}

// requirePermission guards handlers by the caller's permission: every GET
// and each readOnlyPost need read, everything else needs write.
func requirePermission(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			var err error
			if r.Method == http.MethodGet || r.Method == http.MethodHead || readOnlyPost(r) {
				err = p.RequireRead()
			} else {
				err = p.RequireWrite()
			}
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// maskSubject keeps an email-shaped subject out of the logs whole.
func maskSubject(sub string) string {
	at := strings.IndexByte(sub, '@')
	if at < 0 {
		return sub
	}
	if at <= 1 {
		return "*" + sub[at:]
	}
	return sub[:1] + "***" + sub[at:]
}
