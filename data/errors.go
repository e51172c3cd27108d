// Package data holds the portal's domain types, their validation rules and
// the error kinds shared by every layer. It does no I/O.
package data

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Error kinds. Wrap them with %w and test with errors.Is.
var (
	// ErrNotFound reports a record that does not exist for the caller's
	// organization (records of other organizations are reported the same way).
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a state conflict such as a duplicate email or slug.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized reports missing or invalid credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden reports valid credentials without the needed permission.
	ErrForbidden = errors.New("forbidden")
	// ErrPreconditionFailed reports an If-Match that does not match the
	// current version.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrGone reports a token that was valid once and is no longer usable.
	ErrGone = errors.New("gone")
	// ErrRateLimited reports a caller over a rate limit.
	ErrRateLimited = errors.New("rate limited")
)

// MaxFieldErrors caps the fields one ValidationError lists: a body with a
// million unknown members must not become a problem document (and a map)
// a thousand times its size. Errors past the cap are only counted.
const MaxFieldErrors = 100

// ValidationError maps each invalid field to a short reason. Fields holds at
// most MaxFieldErrors entries when built by FieldErrors; Omitted counts the
// further errors that were found but not listed.
type ValidationError struct {
	Fields  map[string]string
	Omitted int
}

// Count is the number of errors found, listed or not.
func (e *ValidationError) Count() int { return len(e.Fields) + e.Omitted }

// Error lists the invalid fields in a stable order.
func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	msg := "invalid " + strings.Join(parts, "; ")
	if e.Omitted > 0 {
		msg += "; and " + strconv.Itoa(e.Omitted) + " more"
	}
	return msg
}

// FieldErrors collects reasons per field, the first reason of a field
// winning, up to MaxFieldErrors fields; past the cap it only counts. The
// zero value is ready to use.
type FieldErrors struct {
	fields  map[string]string
	omitted int
}

// Add records reason for field unless field already has one. Past the cap
// every call counts, as remembering the names it drops would cost what the
// cap saves.
func (f *FieldErrors) Add(field, reason string) {
	if _, ok := f.fields[field]; ok {
		return
	}
	if len(f.fields) >= MaxFieldErrors {
		f.omitted++
		return
	}
	if f.fields == nil {
		f.fields = make(map[string]string)
	}
	f.fields[field] = reason
}

// AddErr records every field of err, a *ValidationError, with prefix before
// each name; its omitted count carries over. Other errors are ignored.
func (f *FieldErrors) AddErr(prefix string, err error) {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return
	}
	keys := make([]string, 0, len(ve.Fields))
	for k := range ve.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the cap keeps the same entries on every run
	for _, k := range keys {
		f.Add(prefix+k, ve.Fields[k])
	}
	f.omitted += ve.Omitted
}

// Has reports whether field has a reason.
func (f *FieldErrors) Has(field string) bool {
	_, ok := f.fields[field]
	return ok
}

// Len is the number of errors recorded, omitted ones included.
func (f *FieldErrors) Len() int { return len(f.fields) + f.omitted }

// Err returns the collected errors as a *ValidationError, or nil if none.
func (f *FieldErrors) Err() error {
	if f.Len() == 0 {
		return nil
	}
	return &ValidationError{Fields: f.fields, Omitted: f.omitted}
}

// Invalid returns a ValidationError for one field.
func Invalid(field, reason string) error {
	return &ValidationError{Fields: map[string]string{field: reason}}
}

// RateLimitError reports a caller over a limit and when it may try again.
type RateLimitError struct {
	RetryAfterSeconds int
}

// Error says how long to wait.
func (e *RateLimitError) Error() string { return "rate limited" }

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// ConflictError is a conflict with a reason fit to show the client.
type ConflictError struct{ Reason string }

// Error returns the reason.
func (e *ConflictError) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Conflict returns a ConflictError with reason.
func Conflict(reason string) error { return &ConflictError{Reason: reason} }

// ErrBusy reports work turned away because the service is at capacity;
// the same request may succeed later.
var ErrBusy = errors.New("busy")

// BusyError reports work turned away at capacity and when to try again.
type BusyError struct {
	RetryAfterSeconds int
}

// Error says the service is busy.
func (e *BusyError) Error() string { return "busy" }

// Unwrap makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Unwrap() error { return ErrBusy }
