package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv"
)

// TestWriteError_ClientGone checks that work stopped because the client went
// away is logged below ERROR and marked 499 in the access log and the
// metrics, never a 500; a cancellation the client did not cause (its
// request still live) stays a 500.
func TestWriteError_ClientGone(t *testing.T) {
	tests := []struct {
		name       string
		clientGone bool
		err        error
		wantStatus int
		wantError  bool // an ERROR line in the log
	}{
		{"client went away", true, fmt.Errorf("list contacts: %w", context.Canceled), StatusClientClosedRequest, false},
		{"client deadline", true, context.DeadlineExceeded, StatusClientClosedRequest, false},
		{"cancelled, client still there", false, context.Canceled, http.StatusInternalServerError, true},
		{"other failure, client gone", true, errors.New("disk on fire"), http.StatusInternalServerError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var observed []int
			observe := func(_, _ string, status int, _ time.Duration) { observed = append(observed, status) }
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, r, log, tt.err) })
			chain := withRequestID(data.NewIDSource(nil), time.Now)(logRequests(log, observe, time.Now)(h))
			ctx, cancel := context.WithCancel(context.Background())
			if tt.clientGone {
				cancel()
			} else {
				defer cancel()
			}
			rec := httptest.NewRecorder()
			chain.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/contacts?q=x", nil).WithContext(ctx))
			if rec.Code != tt.wantStatus {
				t.Errorf("got status %d, want %d", rec.Code, tt.wantStatus)
			}
			if len(observed) != 1 || observed[0] != tt.wantStatus {
				t.Errorf("got observed %v, want [%d]", observed, tt.wantStatus)
			}
			if got := strings.Contains(logBuf.String(), "level=ERROR"); got != tt.wantError {
				t.Errorf("got ERROR logged %t, want %t:\n%s", got, tt.wantError, logBuf.String())
			}
			if want := fmt.Sprintf("status=%d", tt.wantStatus); !strings.Contains(logBuf.String(), want) {
				t.Errorf("got access log %q, want %s", logBuf.String(), want)
			}
		})
	}
}

// TestProblemFor_Files checks the problems of file uploads: the size limit
// (413 naming it), the quota (507 without Retry-After, unlike a full disk)
// and an upload collected while it stalled (410 that says so, not a token's
// wording).
func TestProblemFor_Files(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		kind, says string
		retryAfter bool
	}{
		{fmt.Errorf("upload: %w", &store.BlobTooLargeError{Max: 100 << 20}), http.StatusRequestEntityTooLarge, "file-too-large", "104857600 bytes (100 MiB)", false},
		{&data.StorageQuotaError{Quota: 1 << 30, Used: 1<<30 - 5}, http.StatusInsufficientStorage, "quota-exceeded", "1073741819 of its 1073741824 bytes (1 GiB)", false},
		{&store.DiskFullError{Err: errors.New("no space")}, http.StatusInsufficientStorage, "insufficient-storage", "disk is full", true},
		{fmt.Errorf("put: %w", store.ErrUploadExpired), http.StatusGone, "gone", "upload stalled", false},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		writeError(rec, httptest.NewRequest(http.MethodPost, "/v1/customer-portal/documents", nil), log, tt.err)
		body := rec.Body.String()
		if rec.Code != tt.status || !strings.Contains(body, "/problems/"+tt.kind+`"`) || !strings.Contains(body, tt.says) {
			t.Errorf("%v: got %d %s, want %d %s saying %q", tt.err, rec.Code, body, tt.status, tt.kind, tt.says)
		}
		if got := rec.Header().Get("Retry-After") != ""; got != tt.retryAfter {
			t.Errorf("%v: got Retry-After %q, want one: %t", tt.err, rec.Header().Get("Retry-After"), tt.retryAfter)
		}
	}
}

// TestWriteError_StorageUnavailable: an engine out of reach (an etcd
// cluster electing a leader) or writers that kept colliding is a 503 with
// Retry-After, never a 500, and logs no ERROR.
func TestWriteError_StorageUnavailable(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("create invitation: %w", kv.ErrUnavailable),
		fmt.Errorf("update config: %w", kv.ErrConflict),
	} {
		var logBuf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logBuf, nil))
		rec := httptest.NewRecorder()
		writeError(rec, httptest.NewRequest(http.MethodPost, "/v1/customer-portal/invitations", nil), log, err)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%v: got %d with Retry-After %q, want 503 with one", err, rec.Code, rec.Header().Get("Retry-After"))
		}
		if !strings.Contains(rec.Body.String(), "storage-unavailable") {
			t.Errorf("%v: got body %s, want the storage-unavailable problem", err, rec.Body.String())
		}
		if strings.Contains(logBuf.String(), "level=ERROR") {
			t.Errorf("%v: logged an ERROR:\n%s", err, logBuf.String())
		}
	}
}

// TestWriteError_TooLargeForStore: a write bigger than the store's
// transactions take (etcd's max-txn-ops) is 413, not a 500.
func TestWriteError_TooLargeForStore(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodPost, "/v1/customer-portal/sync", nil), slog.New(slog.DiscardHandler),
		fmt.Errorf("sync: %w", kv.ErrTooLarge))
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "too-large-for-store") {
		t.Errorf("got %d %s, want 413 too-large-for-store", rec.Code, rec.Body.String())
	}
}
