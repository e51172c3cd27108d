package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv"
)

// StatusClientClosedRequest is the status the access log and the metrics
// give a request whose client went away before it was answered (nginx's
// 499): it is neither a success nor a server error.
const StatusClientClosedRequest = 499

// problemBase prefixes every problem type URI.
const problemBase = "https://salesos.dev/problems/"

// diskFullRetryAfter is the Retry-After, in seconds, of a write refused for
// a full disk: freeing space takes an operator, not a moment.
const diskFullRetryAfter = 30

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
	Errors    []fieldError `json:"errors,omitempty"`
	// ErrorCount is the number of errors found, set only when it is more
	// than errors lists (at most data.MaxFieldErrors entries).
	ErrorCount int `json:"errorCount,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// writeError is the only map from errors to HTTP answers. Anything it does
// not recognise is a 500 whose cause is logged here, once, and never shown.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client went away and the work stopped for it: not a failure
		// of the service. No one reads the answer; its status marks the
		// request in the access log and the metrics.
		log.DebugContext(r.Context(), "client went away", "requestId", requestID(r), "path", r.URL.Path)
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	p := problemFor(err)
	if p.Status == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "request failed", "err", err, "requestId", requestID(r), "path", r.URL.Path)
	}
	var dfe *store.DiskFullError
	if errors.As(err, &dfe) && dfe.First {
		// Once per episode, not per refused request: the store marks the
		// first write that found the disk full.
		log.ErrorContext(r.Context(), "database disk full: writes are refused until space is freed",
			"err", dfe.Err, "requestId", requestID(r), "path", r.URL.Path)
	}
	switch {
	case p.Status == http.StatusUnauthorized:
		if bearerToken(r) != "" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer`)
		}
	case p.Status == http.StatusTooManyRequests:
		var rl *data.RateLimitError
		secs := 1
		if errors.As(err, &rl) && rl.RetryAfterSeconds > 0 {
			secs = rl.RetryAfterSeconds
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	case p.Status == http.StatusInsufficientStorage && errors.Is(err, store.ErrDiskFull):
		w.Header().Set("Retry-After", strconv.Itoa(diskFullRetryAfter))
	case p.Status == http.StatusServiceUnavailable:
		var be *data.BusyError
		secs := 1
		if errors.As(err, &be) && be.RetryAfterSeconds > 0 {
			secs = be.RetryAfterSeconds
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeProblem(w, r, p)
}

func writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	p.RequestID = requestID(r)
	if p.Instance == "" {
		p.Instance = r.URL.Path
	}
	body, _ := json.Marshal(p) // strings and ints only: cannot fail
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
	_, _ = w.Write([]byte("\n"))
}

func newProblem(status int, kind, title, detail string) problem {
	return problem{Type: problemBase + kind, Title: title, Status: status, Detail: detail}
}

func problemFor(err error) problem {
	var (
		ve  *data.ValidationError
		me  *malformedError
		tl  *tooLargeError
		ut  *unsupportedTypeError
		ue  *unsupportedEncodingError
		pe  *paramError
		rle *data.RateLimitError
		be  *data.BusyError
		fte *store.BlobTooLargeError
		sqe *data.StorageQuotaError
	)
	switch {
	case errors.As(err, &ve):
		p := newProblem(http.StatusUnprocessableEntity, "validation-error", "Validation failed",
			"One or more fields are invalid; see errors.")
		keys := make([]string, 0, len(ve.Fields))
		for k := range ve.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		// A ValidationError built by hand may list more than the cap; the
		// document never does.
		for _, k := range keys[:min(len(keys), data.MaxFieldErrors)] {
			p.Errors = append(p.Errors, fieldError{Field: k, Message: ve.Fields[k]})
		}
		if n := ve.Count(); n > len(p.Errors) {
			p.ErrorCount = n
			p.Detail = "One or more fields are invalid; errors lists the first " + strconv.Itoa(len(p.Errors)) +
				" of " + strconv.Itoa(n) + "."
		}
		return p
	case errors.As(err, &me):
		return newProblem(http.StatusBadRequest, "malformed-request", "Malformed request", me.msg)
	case errors.As(err, &pe):
		return newProblem(http.StatusBadRequest, "invalid-parameter", "Invalid query parameter", pe.Error())
	case errors.As(err, &tl):
		return newProblem(http.StatusRequestEntityTooLarge, "payload-too-large", "Request body too large", tl.Error())
	case errors.As(err, &ut):
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", ut.Error())
	case errors.As(err, &ue):
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", ue.Error())
	case errors.As(err, &rle):
		return newProblem(http.StatusTooManyRequests, "rate-limited", "Too many requests", "Slow down and retry after the time in Retry-After.")
	case errors.As(err, &fte):
		return newProblem(http.StatusRequestEntityTooLarge, "file-too-large", "File too large",
			fmt.Sprintf("The file is larger than the limit of %d bytes (%s); nothing of it was stored.", fte.Max, byteSize(fte.Max)))
	case errors.As(err, &sqe):
		return newProblem(http.StatusInsufficientStorage, "quota-exceeded", "Storage quota exceeded",
			fmt.Sprintf("The organization's files use %d of its %d bytes (%s); this file does not fit in what is left, and nothing of it was stored. Delete files to make room.",
				sqe.Used, sqe.Quota, byteSize(sqe.Quota)))
	case errors.Is(err, store.ErrDiskFull):
		return newProblem(http.StatusInsufficientStorage, "insufficient-storage", "Insufficient storage",
			"The server's disk is full: nothing of this request was stored. Retry after the time in Retry-After.")
	case errors.As(err, &be):
		return newProblem(http.StatusServiceUnavailable, "busy", "Service busy", "The service is at capacity; retry after the time in Retry-After.")
	case errors.Is(err, kv.ErrTooLarge):
		// Only a store with bounded transactions (etcd) says so, of a
		// request that must be written at once (a sync batch).
		return newProblem(http.StatusRequestEntityTooLarge, "too-large-for-store", "Too large for one transaction",
			"The request writes more records than the database takes in one transaction; nothing was stored. Send fewer records at once.")
	case errors.Is(err, kv.ErrUnavailable), errors.Is(err, kv.ErrConflict):
		// The database cluster is out of reach or electing a leader, or
		// writers kept colliding: nothing was stored unless the answer was
		// lost on its way back, which a retry of an idempotent request
		// absorbs.
		return newProblem(http.StatusServiceUnavailable, "storage-unavailable", "Storage unavailable",
			"The database is unavailable for a moment; retry after the time in Retry-After.")
	case errors.Is(err, data.ErrNotFound):
		return newProblem(http.StatusNotFound, "not-found", "Not found", "The resource does not exist.")
	case errors.Is(err, data.ErrConflict):
		return newProblem(http.StatusConflict, "conflict", "Conflict", conflictDetail(err))
	case errors.Is(err, account.ErrLoginRefused):
		return newProblem(http.StatusUnauthorized, "unauthorized", "Login refused", "The portal, email or password is incorrect.")
	case errors.Is(err, data.ErrUnauthorized):
		return newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", "A valid bearer token is required.")
	case errors.Is(err, data.ErrForbidden):
		return newProblem(http.StatusForbidden, "forbidden", "Forbidden", "The token lacks the permission for this action.")
	case errors.Is(err, data.ErrPreconditionFailed):
		return newProblem(http.StatusPreconditionFailed, "precondition-failed", "Precondition failed",
			"If-Match does not match the current ETag; fetch the resource and retry.")
	case errors.Is(err, store.ErrUploadExpired):
		return newProblem(http.StatusGone, "gone", "Gone",
			"The upload stalled for too long and was discarded; nothing of it was stored. Send it again.")
	case errors.Is(err, data.ErrGone):
		return newProblem(http.StatusGone, "gone", "Gone", "The token is used, expired or unknown.")
	}
	return newProblem(http.StatusInternalServerError, "internal-error", "Internal error", "")
}

// conflictDetail gives the client the reason of a conflict, which is its
// own data (the slug or email it sent), never internal text.
func conflictDetail(err error) string {
	var ce *data.ConflictError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return "The request conflicts with the current state."
}

// byteSize shows n bytes in the largest binary unit that divides it, or in
// MiB with a decimal: "1 GiB", "100 MiB", "1.5 MiB".
func byteSize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + " " + u.name
		}
	}
	if n >= 1<<20 {
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
