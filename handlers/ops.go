package handlers

import (
	"fmt"
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

// handleBackup streams a consistent snapshot of the whole database file,
// every organization's records and the generated secrets, to a caller with
// the portal:operator scope. The snapshot is one read transaction, so writes
// go on while it streams. Content-Length is set, so a client sees a broken
// stream as a short body.
func (s *server) handleBackup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		if !p.IsOperator() {
			writeError(w, r, s.log, fmt.Errorf("scope %s: %w", auth.ScopeOperator, data.ErrForbidden))
			return
		}
		started := false
		name := "portal-" + s.now().UTC().Format("20060102T150405Z") + ".db"
		dw := &deadlineWriter{w: w, rc: http.NewResponseController(w)}
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
		if err != nil {
			// The status is sent; the short body tells the client.
			s.log.WarnContext(r.Context(), "backup stream broken", "requestId", requestID(r), "bytes", n, "err", err)
			return
		}
		s.log.InfoContext(r.Context(), "backup streamed", "requestId", requestID(r), "bytes", n, "sub", p.Subject)
	})
}

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
