package handlers

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// TestRecoverPanics: a panicking handler answers a 500 problem that says
// nothing of the panic, and the panic is logged once.
func TestRecoverPanics(t *testing.T) {
	t.Parallel()
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internal state: db password hunter2")
	})
	h := withRequestID(data.NewIDSource(nil), time.Now)(recoverPanics(log)(boom))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/anything", nil))

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("got status %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("got Content-Type %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
	}
	if p["type"] != "https://salesos.dev/problems/internal-error" || p["status"] != float64(500) {
		t.Errorf("got problem %v, want internal-error 500", p)
	}
	if d, _ := p["detail"].(string); d != "" {
		t.Errorf("got detail %q, want none", d)
	}
	if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "secret internal") {
		t.Errorf("got body %s, want nothing of the panic value", rec.Body)
	}
	if p["requestId"] == "" || p["requestId"] != rec.Header().Get("X-Request-Id") {
		t.Errorf("got requestId %v, header %q, want them equal and set", p["requestId"], rec.Header().Get("X-Request-Id"))
	}
	if n := strings.Count(logged.String(), "msg=panic"); n != 1 {
		t.Errorf("got %d panic log lines, want 1:\n%s", n, logged.String())
	}
}

// TestRecoverPanics_Abort: http.ErrAbortHandler is passed on, so the
// server aborts the response as it means to.
func TestRecoverPanics_Abort(t *testing.T) {
	t.Parallel()
	h := recoverPanics(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("got %v, want http.ErrAbortHandler re-panicked", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestReadyGate(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	tests := []struct {
		name  string
		ready func() error
		want  int
	}{
		{"no check", nil, http.StatusOK},
		{"ready", func() error { return nil }, http.StatusOK},
		{"not ready", func() error { return errors.New("mail sender not running") }, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			readyGate(slog.New(slog.DiscardHandler), tt.ready, next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.want {
				t.Errorf("got %d, want %d", rec.Code, tt.want)
			}
			if tt.want != http.StatusOK && strings.Contains(rec.Body.String(), "sender") {
				t.Errorf("got body %s, want the reason kept out of the unauthenticated answer", rec.Body)
			}
		})
	}
}

func TestHandleMetrics(t *testing.T) {
	t.Parallel()
	s := &server{log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	s.handleMetrics(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without a metrics handler: got %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.handleMetrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("up 1\n"))
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "up 1\n" {
		t.Errorf("with a metrics handler: got %d %q, want its answer", rec.Code, rec.Body)
	}
}
