package metrics_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/metrics"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/webhook"
)

func newMetrics(t *testing.T) (*metrics.Metrics, *store.DB) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	log := slog.New(slog.DiscardHandler)
	m, err := metrics.New(log, db, mail.NewSender(db, mail.NewLogTransport(log), log, nil), metrics.Build{Version: "v1.2.3", GoVersion: "go1.25.0"})
	if err != nil {
		t.Fatal(err)
	}
	return m, db
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200: %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m, db := newMetrics(t)
	if _, err := db.CreateInvitation(context.Background(), "tenant-x", "t", data.InvitationRequest{Email: "p@example.com"}); err != nil {
		t.Fatal(err)
	}
	m.ObserveRequest("/v1/contacts/{id}", http.MethodGet, 200, 30*time.Millisecond)
	m.ObserveRequest("/v1/contacts/{id}", http.MethodGet, 404, time.Millisecond)
	m.ObserveRequest("unmatched", "PROPFIND", 405, time.Millisecond)
	m.LoginFailed()
	m.LoginFailed()
	out := scrape(t, m)
	for _, want := range []string{
		`portal_http_requests_total{method="GET",route="/v1/contacts/{id}",status="200"} 1`,
		`portal_http_requests_total{method="GET",route="/v1/contacts/{id}",status="404"} 1`,
		`portal_http_requests_total{method="OTHER",route="unmatched",status="405"} 1`,
		`portal_http_request_duration_seconds_bucket{method="GET",route="/v1/contacts/{id}",le="0.05"} 2`,
		`portal_http_request_duration_seconds_count{method="GET",route="/v1/contacts/{id}"} 2`,
		"portal_login_failures_total 2",
		"portal_outbox_depth 1",
		"portal_sessions_active 0",
		"portal_mail_sent_total 0",
		"portal_mail_sender_running 0",
		`portal_build_info{goversion="go1.25.0",revision="",version="v1.2.3"} 1`,
		"# TYPE portal_db_read_tx_total counter",
		"# TYPE portal_db_size_bytes gauge",
		"portal_db_page_writes_total",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, "tenant-x") || strings.Contains(out, "example.com") {
		t.Error("scrape contains tenant data")
	}
}

// TestMetrics_OwnRegistry: two servers in one process keep separate
// counts, and nothing is registered in the default registry.
func TestMetrics_OwnRegistry(t *testing.T) {
	t.Parallel()
	a, _ := newMetrics(t)
	b, _ := newMetrics(t)
	a.LoginFailed()
	if out := scrape(t, b); !strings.Contains(out, "portal_login_failures_total 0") {
		t.Error("a login failure of one server shows in the other's metrics")
	}
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "portal_") {
			t.Errorf("got %s in the default registry, want none", f.GetName())
		}
	}
}

// TestMetrics_CancelledScrape: a scrape whose database reads fail still
// answers with the other series.
func TestMetrics_CancelledScrape(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil).WithContext(ctx))
	if !strings.Contains(rec.Body.String(), "portal_login_failures_total") {
		t.Errorf("got %d %q, want the other series served", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "portal_outbox_depth ") {
		t.Error("got an outbox depth from a cancelled scrape, want it left out")
	}
}

// TestMetrics_DiskFull: a write refused for a full disk shows in the gauge
// and the counter; the gauge drops once a write succeeds.
func TestMetrics_DiskFull(t *testing.T) {
	t.Parallel()
	var full atomic.Bool
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), time.Now, store.Options{CommitFault: func() error {
		if full.Load() {
			return &fs.PathError{Op: "write", Path: "portal.db", Err: syscall.ENOSPC}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := metrics.New(slog.New(slog.DiscardHandler), db, nil, metrics.Build{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(email string) error {
		return db.CreateContact(context.Background(), "acme", "t", &data.Contact{Email: email, FirstName: "A"})
	}
	out := scrape(t, m)
	for _, want := range []string{"portal_store_disk_full 0", "portal_store_writes_refused_total 0", "# TYPE portal_store_writes_refused_total counter"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape before: lacks %q", want)
		}
	}
	full.Store(true)
	for _, email := range []string{"a@example.com", "b@example.com"} {
		if err := create(email); !errors.Is(err, store.ErrDiskFull) {
			t.Fatalf("got %v, want store.ErrDiskFull", err)
		}
	}
	out = scrape(t, m)
	for _, want := range []string{"portal_store_disk_full 1", "portal_store_writes_refused_total 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape while full: lacks %q", want)
		}
	}
	full.Store(false)
	if err := create("c@example.com"); err != nil {
		t.Fatal(err)
	}
	out = scrape(t, m)
	for _, want := range []string{"portal_store_disk_full 0", "portal_store_writes_refused_total 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape after: lacks %q", want)
		}
	}
}

func TestMetrics_Webhooks(t *testing.T) {
	t.Parallel()
	m, db := newMetrics(t)
	if err := m.Webhooks(webhook.NewSender(db, nil, nil, data.WebhookPolicy{})); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	for _, want := range []string{"portal_webhook_succeeded_total 0", "portal_webhook_failed_total 0",
		"portal_webhook_given_up_total 0", "portal_webhook_sender_running 0"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape holds no %q", want)
		}
	}
}
