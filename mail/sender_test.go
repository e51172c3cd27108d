package mail_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/store"
)

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newTestDB(t *testing.T) *store.DB {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "portal.db"))
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// enqueue stores an invitation message for to whose link ends in token.
func enqueue(t *testing.T, db *store.DB, to, token string) data.OutboxMessage {
	t.Helper()
	m := invitationMessage()
	m.ID, m.To, m.Tenant = "", to, "org_test"
	m.Data.Link = "https://portal.example.com/invitations/accept?token=" + token
	stored, err := db.Enqueue(context.Background(), m)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if stored.ID == "" {
		t.Fatal("Enqueue: got no ID")
	}
	return stored
}

// newSender returns a Sender with test timings: it polls often and backs
// off for milliseconds.
func newSender(db *store.DB, tr mail.Transport, log *slog.Logger) *mail.Sender {
	s := mail.NewSender(db, tr, log, nil)
	s.PollInterval = 20 * time.Millisecond
	s.BackoffBase = 10 * time.Millisecond
	s.BackoffMax = 40 * time.Millisecond
	s.SendTimeout = 5 * time.Second
	return s
}

// start runs s until the returned stop is called (or the test ends), and
// checks that Run returns nil promptly.
func start(t *testing.T, s *mail.Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, "the sender to start", s.Running)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: got %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return after cancellation")
			}
			if s.Running() {
				t.Errorf("Running after Run returned")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func depth(t *testing.T, db *store.DB) int {
	t.Helper()
	n, err := db.OutboxDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func smtpTransport(t *testing.T, srv *testServer) *mail.SMTP {
	t.Helper()
	tr, err := mail.NewSMTP("smtp://"+srv.addr, "Acme Portal <portal@acme.example>")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestSender_DeliversOnce(t *testing.T) {
	db := newTestDB(t)
	srv := startServer(t, serverOptions{})
	s := newSender(db, smtpTransport(t, srv), nil)
	s.PollInterval = time.Hour // only Wake can make it look
	stop := start(t, s)

	m := enqueue(t, db, "ada@example.com", "tok-ada-0123456789")
	s.Wake()
	// The counters move once the delivery is recorded, after the outbox
	// empties; once Run has returned, nothing more can be delivered.
	waitFor(t, "the delivery to be recorded", func() bool { return s.Stats().Sent == 1 })
	stop()
	if n := depth(t, db); n != 0 {
		t.Errorf("outbox depth: got %d, want 0", n)
	}

	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	p := parse(t, msgs[0].raw)
	if want := "You're invited to Acme Portal"; p.subject != want {
		t.Errorf("subject: got %q, want %q", p.subject, want)
	}
	if !strings.Contains(p.to, "ada@example.com") {
		t.Errorf("To: got %q, want ada@example.com", p.to)
	}
	link := m.Data.Link
	if !strings.Contains(p.text, link) {
		t.Errorf("text part: got %q, want it to contain %q", p.text, link)
	}
	if !strings.Contains(html.UnescapeString(p.html), `href="`+link+`"`) {
		t.Errorf("html part: want a link to %q; got\n%s", link, p.html)
	}
	if got, want := s.Stats(), (mail.SenderStats{Sent: 1}); got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
}

func TestSender_RetriesUntilAccepted(t *testing.T) {
	for _, code := range []int{451, 554} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			db := newTestDB(t)
			srv := startServer(t, serverOptions{failFirst: 2, failCode: code})
			s := newSender(db, smtpTransport(t, srv), nil)
			enqueue(t, db, "ada@example.com", "tok-retry")
			stop := start(t, s)

			waitFor(t, "the delivery to be recorded", func() bool { return s.Stats().Sent == 1 })
			stop()
			if n := depth(t, db); n != 0 {
				t.Errorf("outbox depth: got %d, want 0", n)
			}
			if n := len(srv.messages()); n != 1 {
				t.Errorf("got %d messages, want 1", n)
			}
			if n := srv.tries(); n != 3 {
				t.Errorf("got %d attempts, want 3", n)
			}
			if got, want := s.Stats(), (mail.SenderStats{Sent: 1, Failed: 2}); got != want {
				t.Errorf("stats: got %+v, want %+v", got, want)
			}
		})
	}
}

func TestSender_GivesUp(t *testing.T) {
	db := newTestDB(t)
	srv := startServer(t, serverOptions{failFirst: 1000})
	s := newSender(db, smtpTransport(t, srv), nil)
	s.MaxAttempts = 3
	enqueue(t, db, "ada@example.com", "tok-never")
	start(t, s)

	waitFor(t, "the sender to give up", func() bool { return s.Stats().GivenUp == 1 })
	if n := depth(t, db); n != 0 {
		t.Errorf("outbox depth: got %d, want 0", n)
	}
	if n := srv.tries(); n != 3 {
		t.Errorf("got %d attempts, want 3", n)
	}
	if got, want := s.Stats(), (mail.SenderStats{Failed: 3, GivenUp: 1}); got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
}

func TestSender_RenderErrorIsFinal(t *testing.T) {
	db := newTestDB(t)
	srv := startServer(t, serverOptions{})
	s := newSender(db, smtpTransport(t, srv), nil)
	m := invitationMessage()
	m.ID, m.Kind, m.Tenant = "", "newsletter", "org_test"
	if _, err := db.Enqueue(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	start(t, s)

	waitFor(t, "the sender to give up", func() bool { return s.Stats().GivenUp == 1 })
	if n := depth(t, db); n != 0 {
		t.Errorf("outbox depth: got %d, want 0", n)
	}
	if n := srv.tries(); n != 0 {
		t.Errorf("got %d attempts at the server, want 0", n)
	}
}

func TestSender_RestartLosesNothing(t *testing.T) {
	const total = 20
	path := filepath.Join(t.TempDir(), "portal.db")
	srv := startServer(t, serverOptions{})

	db := openDB(t, path)
	for i := range total {
		enqueue(t, db, fmt.Sprintf("user%02d@example.com", i), fmt.Sprintf("tok-%02d", i))
	}
	stop := start(t, newSender(db, smtpTransport(t, srv), nil))
	waitFor(t, "a few messages", func() bool { return len(srv.messages()) >= 3 })
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	first := len(srv.messages())
	t.Logf("the first sender delivered %d of %d", first, total)

	db = openDB(t, path)
	t.Cleanup(func() { _ = db.Close() })
	if got := depth(t, db); got != total-first {
		t.Errorf("after restart: outbox depth %d, want %d (%d of %d delivered)", got, total-first, first, total)
	}
	second := newSender(db, smtpTransport(t, srv), nil)
	stop = start(t, second)
	waitFor(t, "the rest to be recorded", func() bool { return second.Stats().Sent == uint64(total-first) })
	stop()
	if n := depth(t, db); n != 0 {
		t.Errorf("outbox depth: got %d, want 0", n)
	}

	seen := map[string]int{}
	for _, m := range srv.messages() {
		for _, to := range m.to {
			seen[to]++
		}
	}
	for i := range total {
		to := fmt.Sprintf("user%02d@example.com", i)
		if seen[to] != 1 {
			t.Errorf("%s: got %d messages, want 1", to, seen[to])
		}
	}
	if n := len(srv.messages()); n != total {
		t.Errorf("got %d messages in total, want %d", n, total)
	}
}

// syncBuffer is a bytes.Buffer that a logger and a test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLogTransport_WritesLink(t *testing.T) {
	db := newTestDB(t)
	var logged syncBuffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	s := newSender(db, mail.NewLogTransport(log), nil)
	m := enqueue(t, db, "ada@example.com", "tok-log-0123456789")
	start(t, s)

	waitFor(t, "the message", func() bool { return s.Stats().Sent == 1 })
	out := logged.String()
	for _, want := range []string{m.Data.Link, "ada@example.com", "level=INFO", "You're invited to Acme Portal"} {
		if !strings.Contains(out, want) {
			t.Errorf("log: got %q, want it to contain %q", out, want)
		}
	}
	if n := depth(t, db); n != 0 {
		t.Errorf("outbox depth: got %d, want 0", n)
	}
}

func TestSender_LogsNoLinkForSMTP(t *testing.T) {
	db := newTestDB(t)
	srv := startServer(t, serverOptions{failFirst: 1})
	var logged syncBuffer
	s := newSender(db, smtpTransport(t, srv), slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	enqueue(t, db, "ada@example.com", "tok-secret-0123456789")
	start(t, s)

	waitFor(t, "the message", func() bool { return s.Stats().Sent == 1 })
	if out := logged.String(); strings.Contains(out, "tok-secret") {
		t.Errorf("log reveals the token: %s", out)
	}
}

func TestSender_RunTwice(t *testing.T) {
	db := newTestDB(t)
	s := newSender(db, mail.NewLogTransport(slog.New(slog.DiscardHandler)), nil)
	start(t, s)
	if err := s.Run(context.Background()); err == nil {
		t.Error("second Run: got nil, want an error")
	}
}

// enqueueFor stores n invitation messages of tenant, to distinct recipients.
func enqueueFor(t *testing.T, db *store.DB, tenant data.TenantID, n int) {
	t.Helper()
	for i := range n {
		m := invitationMessage()
		m.ID, m.Tenant, m.To = "", tenant, fmt.Sprintf("%s-%03d@example.com", tenant, i)
		if _, err := db.Enqueue(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// recipients counts the messages the server accepted, by recipient.
func recipients(srv *testServer) map[string]int {
	seen := map[string]int{}
	for _, m := range srv.messages() {
		for _, to := range m.to {
			seen[to]++
		}
	}
	return seen
}

func TestSender_ReusesConnections(t *testing.T) {
	tests := []struct {
		name       string
		maxPerConn int
		conns      int
	}{
		{"one connection each", 0, 2},
		// The server turns a connection away after 7 messages: the message
		// it refused goes out at once on a fresh connection, not after a
		// backoff.
		{"server limits messages per connection", 7, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const total = 40
			db := newTestDB(t)
			srv := startServer(t, serverOptions{maxPerConn: tt.maxPerConn})
			s := newSender(db, smtpTransport(t, srv), nil)
			s.Connections = tt.conns
			s.PollInterval = time.Hour
			enqueueFor(t, db, "org_test", total)
			stop := start(t, s)
			waitFor(t, "every delivery to be recorded", func() bool { return s.Stats().Sent == total })
			stop()

			if got, want := s.Stats(), (mail.SenderStats{Sent: total}); got != want {
				t.Errorf("stats: got %+v, want %+v", got, want)
			}
			seen := recipients(srv)
			for i := range total {
				if to := fmt.Sprintf("org_test-%03d@example.com", i); seen[to] != 1 {
					t.Errorf("%s: got %d messages, want 1", to, seen[to])
				}
			}
			want := tt.conns
			if tt.maxPerConn > 0 {
				want = (total + tt.maxPerConn - 1) / tt.maxPerConn
			}
			if got := srv.connections(); got != want {
				t.Errorf("got %d connections for %d messages, want %d", got, total, want)
			}
		})
	}
}

// gateTransport holds the messages to one organization's recipients until
// the test opens the gate, like a relay that is slow for that domain.
type gateTransport struct {
	slow string // recipients with this prefix wait
	gate chan struct{}

	mu      sync.Mutex
	waiting int
	sent    map[string]int
}

func (g *gateTransport) Send(ctx context.Context, to, _, _, _ string) error {
	if strings.HasPrefix(to, g.slow) {
		g.mu.Lock()
		g.waiting++
		g.mu.Unlock()
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent[to]++
	return nil
}

func (g *gateTransport) count(prefix string) (sent, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for to, n := range g.sent {
		if strings.HasPrefix(to, prefix) {
			sent += n
		}
	}
	return sent, g.waiting
}

// TestSender_SlowOrganizationDoesNotStarveOthers: one organization's
// backlog, every message of which hangs at the relay, holds all but one of
// the connections; another organization's mail goes out through the last.
func TestSender_SlowOrganizationDoesNotStarveOthers(t *testing.T) {
	db := newTestDB(t)
	tr := &gateTransport{slow: "slow-", gate: make(chan struct{}), sent: map[string]int{}}
	s := newSender(db, tr, nil)
	s.Connections = 3
	s.PollInterval = time.Hour
	enqueueFor(t, db, "slow", 30)
	enqueueFor(t, db, "fast", 10)
	stop := start(t, s)

	waitFor(t, "the other organization's mail", func() bool { sent, _ := tr.count("fast-"); return sent == 10 })
	// Once the other organization's mail is out, the last connection may
	// go to the slow organization too: no one else is waiting for it.
	if sent, waiting := tr.count("slow-"); sent != 0 || waiting < 2 || waiting > 3 {
		t.Errorf("slow organization: got %d sent and %d waiting at the relay, want 0 and 2 or 3", sent, waiting)
	}
	close(tr.gate)
	waitFor(t, "every delivery to be recorded", func() bool { return s.Stats().Sent == 40 })
	stop()
	for to, n := range tr.sent {
		if n != 1 {
			t.Errorf("%s: got %d messages, want 1", to, n)
		}
	}
	if len(tr.sent) != 40 {
		t.Errorf("got %d recipients, want 40", len(tr.sent))
	}
}

// countTransport accepts everything at once and counts it by recipient.
type countTransport struct {
	mu   sync.Mutex
	sent map[string]int
}

func (c *countTransport) Send(_ context.Context, to, _, _, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent[to]++
	return nil
}

// TestSender_LargeBacklogDeliveredOnce drains a backlog many fetches and
// commits long, fast enough that fetches overlap the commits recording
// what earlier fetches read: none of it is read as due again.
func TestSender_LargeBacklogDeliveredOnce(t *testing.T) {
	const total = 5000
	db := newTestDB(t)
	tr := &countTransport{sent: map[string]int{}}
	s := newSender(db, tr, nil)
	s.PollInterval = time.Hour
	fillOutbox(t, db, 3, total)
	stop := start(t, s)
	waitFor(t, "every delivery to be recorded", func() bool { return s.Stats().Sent >= total })
	stop()
	if got := s.Stats(); got.Sent != total {
		t.Errorf("stats: got %+v, want %d sent", got, total)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.sent) != total {
		t.Errorf("got %d recipients, want %d", len(tr.sent), total)
	}
	for to, n := range tr.sent {
		if n != 1 {
			t.Errorf("%s: got %d messages, want 1", to, n)
		}
	}
}

// fillOutbox queues n invitation messages spread over orgs organizations,
// from concurrent writers so that the store commits them in groups.
func fillOutbox(tb testing.TB, db *store.DB, orgs, n int) {
	tb.Helper()
	const writers = 64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				m := invitationMessage()
				m.ID, m.Tenant, m.To = "", data.TenantID(fmt.Sprintf("org-%02d", i%orgs)), fmt.Sprintf("user%06d@example.com", i)
				if _, err := db.Enqueue(context.Background(), m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}
