package handlers

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
)

// readyGate answers 503 while ready (when set) reports an error, such as a
// mail sender that is not running, and otherwise defers to next, which
// checks the database. The reason is logged at debug level, not answered:
// the endpoint has no authentication.
func readyGate(log *slog.Logger, ready func() error, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				log.DebugContext(r.Context(), "not ready", "requestId", requestID(r), "reason", err)
				writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "unavailable", "Not ready",
					"The service is starting or stopping."))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuseDiskFull answers /readyz with 503 while the database's disk is
// full, so that writes go elsewhere, and reports whether it did. The store
// probes with a write of its own meanwhile, so readiness comes back once
// space is freed even though no traffic arrives to write.
func (s *server) refuseDiskFull(w http.ResponseWriter, r *http.Request) bool {
	if !s.db.ProbeDiskFull(r.Context()) {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(diskFullRetryAfter))
	writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "unavailable", "Not ready",
		"The database's disk is full: writes are refused until space is freed."))
	return true
}

// handleMetrics serves metrics, a handler built by the caller over its own
// registry; without one the endpoint does not exist.
func (s *server) handleMetrics(metrics http.Handler) http.Handler {
	if metrics == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found", "No such resource."))
		})
	}
	return metrics
}

// backupWriteWindow is how long one write of a backup stream may take. The
// server's WriteTimeout bounds a whole response, which a large database
// file can outlast, so the deadline moves forward while bytes flow.
const backupWriteWindow = 60 * time.Second

// authenticateOperator lets through only the installation's operator token:
// a backup holds every organization and the secrets staff tokens are signed
// with, so no organization's staff token opens it, whatever its scopes.
func authenticateOperator(log *slog.Logger, op *auth.Operator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !op.Check(bearerToken(r)) {
				writeError(w, r, log, fmt.Errorf("operator token: %w", data.ErrUnauthorized))
				return
			}
			accessOf(r.Context()).subject = "operator"
			next.ServeHTTP(w, r)
		})
	}
}

// handleBackup streams a consistent snapshot of the whole database file,
// every organization's records and the generated secrets, to the operator.
// The snapshot is one read transaction, so writes go on while it streams.
// Content-Length is set, so a client sees a broken stream as a short body.
func (s *server) handleBackup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := false
		name := "portal-" + s.now().UTC().Format("20060102T150405Z") + ".db"
		var dw io.Writer = &deadlineWriter{w: w, rc: http.NewResponseController(w)}
		if r.Method == http.MethodHead {
			dw = headOnly{} // the headers say it all: do not read the whole file for nothing
		}
		n, err := s.db.Backup(r.Context(), dw, func(size int64) {
			h := w.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
			h.Set("Content-Length", strconv.FormatInt(size, 10))
			w.WriteHeader(http.StatusOK)
			started = true
		})
		if err != nil && !started {
			writeError(w, r, s.log, err)
			return
		}
		if started && r.Method == http.MethodHead {
			return // headOnly ended the stream on purpose
		}
		if err != nil {
			// The status is sent; the short body tells the client.
			s.log.WarnContext(r.Context(), "backup stream broken", "requestId", requestID(r), "bytes", n, "err", err)
			return
		}
		s.log.InfoContext(r.Context(), "backup streamed", "requestId", requestID(r), "bytes", n, "sub", "operator")
	})
}

// headOnly refuses the first byte of a body, ending the stream of a HEAD
// request once its headers are sent.
type headOnly struct{}

func (headOnly) Write([]byte) (int, error) { return 0, errors.New("head request: no body") }

// deadlineWriter pushes the connection's write deadline forward as a long
// response makes progress, at most once a second.
type deadlineWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	moved time.Time
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	if now := time.Now(); now.Sub(d.moved) >= time.Second {
		// ErrNotSupported (a writer without deadlines) leaves the server's timeout in force.
		_ = d.rc.SetWriteDeadline(now.Add(backupWriteWindow))
		d.moved = now
	}
	return d.w.Write(b)
}
