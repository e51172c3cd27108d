package handlers

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/data"
)

// problemBase prefixes every problem type URI.
const problemBase = "https://salesos.dev/problems/"

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
	Errors    []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// writeError is the only map from errors to HTTP answers. Anything it does
// not recognise is a 500 whose cause is logged here, once, and never shown.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := problemFor(err)
	if p.Status == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "request failed", "err", err, "requestId", requestID(r), "path", r.URL.Path)
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
		pe  *paramError
		rle *data.RateLimitError
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
		for _, k := range keys {
			p.Errors = append(p.Errors, fieldError{Field: k, Message: ve.Fields[k]})
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
	case errors.As(err, &rle):
		return newProblem(http.StatusTooManyRequests, "rate-limited", "Too many requests", "Slow down and retry after the time in Retry-After.")
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
