package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// testSecret is the HS256 secret of the servers the tests start.
const testSecret = "test-secret-0123456789abcdef0123456789"

// served is a real `portal serve` run through Run on 127.0.0.1:0.
type served struct {
	t      *testing.T
	url    string
	addr   string
	dbPath string
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

var (
	servingRE     = regexp.MustCompile(`"msg":"serving","addr":"([^"]+)"`)
	servingTextRE = regexp.MustCompile(`msg=serving addr=(\S+)`)
)

// freeAddr returns a loopback address no one listens on just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs serve with the test settings plus env, waits for its
// serving line (which carries the address it bound) and stops it at cleanup.
func startServe(t *testing.T, env map[string]string) *served {
	t.Helper()
	e := serveEnv(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, dbPath: e["PORTAL_DB"], out: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- Run(ctx, []string{"portal", "serve"}, envMap(e), s.out, s.out) }()
	t.Cleanup(func() { _ = s.stop() })
	s.waitServing(e["PORTAL_ADDR"])
	return s
}

// serveEnv is the test settings of a server, a database file in a
// directory of its own among them, plus env.
func serveEnv(t *testing.T, env map[string]string) map[string]string {
	e := map[string]string{
		"PORTAL_ADDR":         "127.0.0.1:0",
		"PORTAL_DB":           filepath.Join(t.TempDir(), "portal.db"),
		"PORTAL_JWT_SECRET":   testSecret,
		"PORTAL_METRICS_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		e[k] = v
	}
	return e
}

// waitServing waits for s's serving line, which carries the address it
// bound, and sets s.addr and s.url from it; a fixed addr (for a log level
// that hides the line) is polled instead.
func (s *served) waitServing(addr string) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(s.out.String()); m != nil {
			s.addr = m[1]
			break
		}
		if m := servingTextRE.FindStringSubmatch(s.out.String()); m != nil {
			s.addr = m[1]
			break
		}
		if !strings.HasSuffix(addr, ":0") {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				s.addr = addr
				break
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("serve returned %v before serving; output:\n%s", err, s.out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start; output:\n%s", s.out.String())
		}
	}
	s.url = "http://" + s.addr
}

// stop cancels serve's context and returns what run returned.
func (s *served) stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.err = errors.New("serve did not stop within 30s")
		}
	})
	return s.err
}

// token mints a staff token for org with scope.
func (s *served) token(org, scope string) string {
	s.t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{Subject: "staff-1", Tenant: org, Scope: scope, TTL: time.Hour}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// operatorToken runs portal token --operator on the server's database, as
// an operator would while it runs.
func (s *served) operatorToken() string {
	s.t.Helper()
	var stdout, stderr bytes.Buffer
	if err := Run(context.Background(), []string{"portal", "token", "--operator", "--db", s.dbPath}, envMap(nil), &stdout, &stderr); err != nil {
		s.t.Fatalf("token --operator: %v (%s)", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// do sends a request and returns the status and body.
func (s *served) do(method, path, token, body string) (int, []byte) {
	s.t.Helper()
	status, raw, err := s.try(method, path, token, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, raw
}

func (s *served) try(method, path, token, body string) (int, []byte, error) {
	return send(http.DefaultClient, method, s.url+path, token, body)
}

// send makes a request with an optional bearer token and JSON body, and
// returns the status and the whole body.
func send(c *http.Client, method, url, token, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// waitReady asks /readyz until it answers 200: readiness is the server's
// state, which it tells only there. It fails at once if serve returns.
func (s *served) waitReady() {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		status, _, err := s.try(http.MethodGet, "/readyz", "", "")
		if err == nil && status == http.StatusOK {
			return
		}
		select {
		case err := <-s.done:
			s.t.Fatalf("serve returned %v before it was ready", err)
		case <-deadline:
			s.t.Fatalf("readyz: got %d, %v, want 200", status, err)
		case <-tick.C:
		}
	}
}

func TestServe_HealthAndReady(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	if status, body := s.do(http.MethodGet, "/healthz", "", ""); status != http.StatusOK {
		t.Errorf("healthz: got %d %s, want 200", status, body)
	}
	s.waitReady()
	status, body := s.do(http.MethodGet, "/readyz", "", "")
	if status != http.StatusOK || !strings.Contains(string(body), `"ready"`) {
		t.Errorf("readyz: got %d %s, want 200 ready", status, body)
	}
	if err := s.stop(); err != nil {
		t.Errorf("stop: got %v, want nil (exit 0)", err)
	}
}

// TestServe_SlowHeaders: a client that sends its headers a byte a second
// is cut off after the read header timeout (1s here, 5s by default).
func TestServe_SlowHeaders(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"PORTAL_READ_HEADER_TIMEOUT": "1s"})
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	go func() {
		// The client's pace, not a wait for the server: a byte a second.
		pace := time.NewTicker(time.Second)
		defer pace.Stop()
		for _, b := range []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n\r\n") {
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
			<-pace.C
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("got no disconnect within 10s (read %q), want the server to cut the slow client off", got)
	}
	if elapsed > 4*time.Second {
		t.Errorf("got cut off after %v, want about 1s", elapsed)
	}
	if bytes.Contains(got, []byte("200 OK")) {
		t.Errorf("got a response %q, want none", got)
	}
	// The server itself still serves others.
	if status, _ := s.do(http.MethodGet, "/healthz", "", ""); status != http.StatusOK {
		t.Errorf("healthz after the slow client: got %d, want 200", status)
	}
}

// TestParseServeConfig_Durations covers the duration settings: default,
// environment, flag over environment, and the bounds of each.
func TestParseServeConfig_Durations(t *testing.T) {
	t.Parallel()
	readHeader := func(c config) time.Duration { return c.ReadHeaderTimeout }
	logFlush := func(c config) time.Duration { return c.LogFlushInterval }
	tests := []struct {
		name    string
		setting string // the flag, named in any error
		get     func(config) time.Duration
		args    []string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{"default", "read-header-timeout", readHeader, nil, nil, 5 * time.Second, false},
		{"environment", "read-header-timeout", readHeader, nil, map[string]string{"PORTAL_READ_HEADER_TIMEOUT": "1s"}, time.Second, false},
		{"flag beats environment", "read-header-timeout", readHeader, []string{"--read-header-timeout", "2s"}, map[string]string{"PORTAL_READ_HEADER_TIMEOUT": "1s"}, 2 * time.Second, false},
		{"zero", "read-header-timeout", readHeader, []string{"--read-header-timeout", "0s"}, nil, 0, true},
		{"over a minute", "read-header-timeout", readHeader, []string{"--read-header-timeout", "2m"}, nil, 0, true},
		{"garbage", "read-header-timeout", readHeader, nil, map[string]string{"PORTAL_READ_HEADER_TIMEOUT": "soon"}, 0, true},
		{"default", "log-flush-interval", logFlush, nil, nil, 100 * time.Millisecond, false},
		{"environment", "log-flush-interval", logFlush, nil, map[string]string{"PORTAL_LOG_FLUSH_INTERVAL": "1s"}, time.Second, false},
		{"off", "log-flush-interval", logFlush, []string{"--log-flush-interval", "0"}, nil, 0, false},
		{"negative", "log-flush-interval", logFlush, []string{"--log-flush-interval", "-1s"}, nil, 0, true},
		{"too long", "log-flush-interval", logFlush, []string{"--log-flush-interval", "1m"}, nil, 0, true},
		{"garbage", "log-flush-interval", logFlush, nil, map[string]string{"PORTAL_LOG_FLUSH_INTERVAL": "often"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.setting+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseServeConfig(append([]string{"portal serve"}, tt.args...), envMap(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.setting) {
					t.Errorf("got %v, want an error naming %s", err, tt.setting)
				}
				return
			}
			if err != nil || tt.get(c) != tt.want {
				t.Errorf("got %v, %v, want %v", tt.get(c), err, tt.want)
			}
		})
	}
}

// statusError is an answer other than the one wanted.
type statusError struct {
	status int
	body   []byte
}

func (e *statusError) Error() string { return fmt.Sprintf("got %d %s", e.status, e.body) }

// invite creates an invitation through the API and returns its ID. An
// error that is not a *statusError means no answer came: the write was not
// acknowledged.
func (s *served) invite(token, email string) (string, error) {
	status, body, err := s.try(http.MethodPost, "/v1/customer-portal/invitations", token, fmt.Sprintf(`{"email":%q}`, email))
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", &statusError{status, body}
	}
	var inv struct{ ID string }
	if err := json.Unmarshal(body, &inv); err != nil {
		return "", err
	}
	return inv.ID, nil
}

// TestServe_ShutdownUnderLoad: cancelling serve while writes are in flight
// finishes them; every write the server acknowledged is in the database.
func TestServe_ShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	tok := s.token("acme", "portal:read portal:write")
	var mu sync.Mutex
	var acked []string
	// The stop comes once the load is under way: some writes acknowledged,
	// more in flight.
	underWay := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				id, err := s.invite(tok, fmt.Sprintf("w%d-%d@example.com", w, i))
				var se *statusError
				if errors.As(err, &se) {
					t.Errorf("invite during shutdown: %v, want 201 or no answer", err)
					return
				}
				if err != nil {
					return // the server has stopped listening: not acknowledged
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) == 50 {
					once.Do(func() { close(underWay) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-underWay:
	case <-time.After(60 * time.Second):
		t.Fatal("no 50 writes acknowledged within a minute")
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop under load: got %v, want nil (exit 0)", err)
	}
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("got no acknowledged write before shutdown")
	}
	r, err := store.Check(s.dbPath)
	if err != nil || !r.OK() {
		t.Fatalf("check after shutdown: got %v, %v, want OK", err, r.Breaches)
	}
	db, err := store.Open(s.dbPath, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range acked {
		if _, err := db.Invitation(context.Background(), "acme", id); err != nil {
			t.Errorf("acknowledged invitation %s: got %v, want it stored", id, err)
		}
	}
	if !strings.Contains(s.out.String(), `"msg":"shutting down"`) {
		t.Errorf("got no shutting down line in the log")
	}
}

func TestServe_Metrics(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	s.waitReady()
	tok := s.token("acme-secret-org", "portal:read portal:write")
	if _, err := s.invite(tok, "someone.private@example.com"); err != nil {
		t.Fatal(err)
	}
	s.do(http.MethodGet, "/v1/customer-portal/invitations?limit=5", tok, "")
	s.do(http.MethodGet, "/no/such/path/01JDQ2X3Y4Z5A6B7C8D9E0F1G2", "", "")
	if status, _ := s.do(http.MethodPost, "/v1/portal/login", "", `{"portal":"acme-secret-org","email":"nobody@example.com","password":"wrong-password-123"}`); status != http.StatusUnauthorized {
		t.Errorf("failed login: got %d, want 401", status)
	}
	req, _ := http.NewRequest("BREW", s.url+"/healthz", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	// Not on the public listener: its totals are not for everyone.
	if status, _ := s.do(http.MethodGet, "/metrics", "", ""); status != http.StatusNotFound {
		t.Errorf("public /metrics: got %d, want 404", status)
	}
	line, ok := logLine(s.out.String(), "serving")
	metricsAddr, _ := line["metricsAddr"].(string)
	if !ok || !strings.HasPrefix(metricsAddr, "127.0.0.1:") || strings.HasSuffix(metricsAddr, ":0") {
		t.Fatalf("serving line %v: want the bound metrics address", line)
	}
	status, body, err := send(http.DefaultClient, http.MethodGet, "http://"+metricsAddr+"/metrics", "", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("metrics listener: got %d, %v, want 200", status, err)
	}
	text := string(body)
	for _, want := range []string{
		`portal_http_requests_total{method="POST",route="/v1/customer-portal/invitations",status="201"} 1`,
		`portal_http_requests_total{method="GET",route="/v1/customer-portal/invitations",status="200"} 1`,
		`portal_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`portal_http_requests_total{method="OTHER",`,
		`portal_http_request_duration_seconds_bucket{method="POST",route="/v1/portal/login",le="+Inf"} 1`,
		"portal_login_failures_total 1",
		"portal_db_size_bytes ",
		"portal_db_read_tx_total ",
		"portal_db_open_read_tx ",
		"portal_db_free_pages ",
		"portal_db_pending_pages ",
		"portal_db_page_writes_total ",
		"portal_outbox_depth ",
		"portal_mail_sent_total ",
		"portal_mail_failed_total 0",
		"portal_mail_given_up_total 0",
		"portal_mail_sender_running 1",
		"portal_sessions_active 0",
		"portal_build_info{",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, leak := range []string{"acme-secret-org", "someone.private", "example.com", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", "/no/such"} {
		if strings.Contains(text, leak) {
			t.Errorf("metrics contain tenant data or a raw path: %q", leak)
		}
	}
}

// accessLines returns the log lines of requests (msg "request").
func accessLines(out string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `"msg":"request"`) || strings.Contains(l, "msg=request") {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestServe_Logs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, level string
		wantAccess          bool
	}{
		{"json info", "json", "info", true},
		{"text debug", "text", "debug", true},
		{"json warn hides access lines", "json", "warn", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, map[string]string{"PORTAL_LOG_FORMAT": tt.format, "PORTAL_LOG_LEVEL": tt.level,
				// At warn the serving line is not logged: listen where told.
				"PORTAL_ADDR": freeAddr(t),
				// With an SMTP server configured the log transport, which
				// logs whole messages by design, is not in play.
				"PORTAL_SMTP_URL": "smtp://127.0.0.1:1"})
			tok := s.token("acme", "portal:read portal:write")
			const email, password = "leaky.person@example.com", "Sup3r-Secret-Passw0rd!"
			id, err := s.invite(tok, email)
			if err != nil {
				t.Fatal(err)
			}
			s.do(http.MethodGet, "/v1/customer-portal/invitations/"+id, tok, "")
			s.do(http.MethodPost, "/v1/portal/login", "", fmt.Sprintf(`{"portal":"acme","email":%q,"password":%q}`, email, password))
			s.do(http.MethodPost, "/v1/portal/invitations/accept", "", fmt.Sprintf(`{"token":"accept-token-secret-value","password":%q}`, password))
			s.do(http.MethodGet, "/v1/portal/me?token=query-token-secret-value", "portal-session-secret-value", "")
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			out := s.out.String()
			lines := accessLines(out)
			if tt.wantAccess && len(lines) < 5 {
				t.Errorf("got %d access lines, want one per request (5):\n%s", len(lines), out)
			}
			if !tt.wantAccess && len(lines) > 0 {
				t.Errorf("got access lines at level %s, want none:\n%s", tt.level, strings.Join(lines, "\n"))
			}
			for _, leak := range []string{tok, password, email, "leaky.person", "accept-token-secret-value",
				"query-token-secret-value", "portal-session-secret-value"} {
				if strings.Contains(out, leak) {
					t.Errorf("the log contains %q:\n%s", leak, out)
				}
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if tt.format == "json" && !json.Valid([]byte(l)) {
					t.Errorf("got a log line that is not JSON: %q", l)
				}
				if tt.format == "text" && !strings.HasPrefix(l, "time=") {
					t.Errorf("got a log line that is not slog text: %q", l)
				}
			}
			if tt.wantAccess {
				want := `"route":"/v1/customer-portal/invitations/{id}"`
				if tt.format == "text" {
					want = "route=/v1/customer-portal/invitations/{id}"
				}
				if !strings.Contains(out, want) {
					t.Errorf("got no access line with the route template %s", want)
				}
				for _, l := range lines {
					if strings.Contains(l, id) {
						t.Errorf("an access line contains the raw path's ID %s: %s", id, l)
					}
				}
			}
		})
	}
}

// TestServe_MetricsOff: with the metrics listener off, serve says so and
// /metrics is nowhere.
func TestServe_MetricsOff(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"PORTAL_METRICS_ADDR": "off"})
	if line, _ := logLine(s.out.String(), "serving"); line["metricsAddr"] != "off" {
		t.Errorf("serving line %v: got metricsAddr %v, want off", line, line["metricsAddr"])
	}
	if status, _ := s.do(http.MethodGet, "/metrics", "", ""); status != http.StatusNotFound {
		t.Errorf("public /metrics: got %d, want 404", status)
	}
}

// TestServe_MetricsAddrTaken: a metrics address another process holds
// stops serve at start with an error that names it.
func TestServe_MetricsAddrTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var out syncBuffer
	env := envMap(map[string]string{"PORTAL_ADDR": "127.0.0.1:0", "PORTAL_DB": filepath.Join(t.TempDir(), "portal.db"),
		"PORTAL_METRICS_ADDR": taken.Addr().String()})
	err = Run(context.Background(), []string{"portal", "serve"}, env, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "metrics") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("got %v, want an error naming the metrics address", err)
	}
}

// TestServe_SIGTERM sends the process SIGTERM while serve runs; serve
// finishes and returns nil (exit 0). It is not parallel: the signal reaches
// every serve running in the process.
func TestServe_SIGTERM(t *testing.T) {
	s := startServe(t, nil)
	s.waitReady()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("got %v after SIGTERM, want nil", err)
		}
		s.once.Do(func() {}) // already stopped
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// TestRun_BackupUnderLoad: a backup taken through the running server while
// writers keep creating invitations restores to a database that passes
// check and holds every invitation acknowledged before the backup began.
func TestRun_BackupUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Some bulk first, so that the snapshot takes a while to stream.
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	seed, err := store.Open(dbPath, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]data.Contact, 1000)
	for i := range rows {
		rows[i] = data.Contact{Email: fmt.Sprintf("bulk%d@example.com", i), FirstName: "Bulk", Company: strings.Repeat("c", 150)}
	}
	if _, _, err := seed.ImportContacts(ctx, "acme", "test", rows); err != nil {
		t.Fatal(err)
	}
	if err := seed.Close(); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, map[string]string{"PORTAL_DB": dbPath})
	writer := s.token("acme", "portal:read portal:write")

	var mu sync.Mutex
	var acked []string
	stopWriters := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopWriters:
					return
				default:
				}
				id, err := s.invite(writer, fmt.Sprintf("load%d-%d@example.com", w, i))
				if err != nil {
					t.Errorf("invite under load: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()

	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	var stdout, stderr bytes.Buffer
	err = Run(ctx, []string{"portal", "backup", "--url", s.url, "--token", s.operatorToken(), "--out", backup},
		envMap(nil), &stdout, &stderr)
	close(stopWriters)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: got %v (%s), want nil", err, stderr.String())
	}
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	t.Logf("%d invitations acknowledged before the backup, %d in all", len(before), total)

	restored := filepath.Join(dir, "restored.db")
	stdout.Reset()
	if err := Run(ctx, []string{"portal", "restore", "--from", backup, "--db", restored}, envMap(nil), &stdout, &stderr); err != nil {
		t.Fatalf("restore: got %v (%s), want nil", err, stderr.String())
	}
	stdout.Reset()
	if err := Run(ctx, []string{"portal", "check", "--db", restored}, envMap(nil), &stdout, &stderr); err != nil {
		t.Fatalf("check of the restored database: got %v\n%s", err, stdout.String())
	}
	db, err := store.Open(restored, time.Now, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range before {
		if _, err := db.Invitation(ctx, "acme", id); err != nil {
			t.Errorf("invitation %s acknowledged before the backup: got %v, want it in the backup", id, err)
		}
	}
	stats, err := db.Stats(ctx, data.TenantID("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if got := stats.Invitations.Pending; got < int64(len(before)) || got > int64(total) {
		t.Errorf("got %d pending invitations in the backup, want between %d and %d", got, len(before), total)
	}
}
