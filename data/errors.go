// Package data holds the portal's domain types, their validation rules and
// the error kinds shared by every layer. It does no I/O.
package data

import (
	"errors"
	"sort"
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

// ValidationError maps each invalid field to a short reason.
type ValidationError struct{ Fields map[string]string }

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
	return "invalid " + strings.Join(parts, "; ")
}

// fieldErrors collects reasons per field; err returns nil when none were added.
type fieldErrors map[string]string

func (f fieldErrors) add(field, reason string) {
	if _, ok := f[field]; !ok {
		f[field] = reason
	}
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
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
