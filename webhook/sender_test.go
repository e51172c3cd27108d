package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/webhook"
)

// The Standard Webhooks reference implementation's signing vector.
func TestSign_StandardWebhooksVector(t *testing.T) {
	got, err := webhook.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	two, err := webhook.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_" + base64.StdEncoding.EncodeToString([]byte("other"))},
		"msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(two, " "); len(parts) != 2 || parts[0] != got {
		t.Errorf("got %s, want the first secret's signature then the second's", two)
	}
	if _, err := webhook.Sign([]string{"whsec_%%%"}, "id", time.Unix(1, 0), nil); err == nil {
		t.Error("a secret that is not base64 signed; want an error")
	}
}

// verify checks a request as a receiver would, with its own HMAC: some
// v1 signature of the header must be the base64 HMAC-SHA256 of
// "id.timestamp.body" keyed with the secret's decoded bytes.
func verify(secret string, h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("a webhook header is missing")
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return errors.New("webhook-timestamp is not unix seconds")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// loopback lets webhooks reach the tests' receivers: plain http to
// loopback.
var loopback = data.WebhookPolicy{HTTPHosts: []string{"*"}, AllowPrivate: true}

type env struct {
	t     *testing.T
	path  string
	db    *store.DB
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "portal.db"), clock: &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}}
	e.open()
	t.Cleanup(func() { _ = e.db.Close() })
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := store.Open(e.path, e.clock.Now, store.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
}

// hook registers a webhook of org for portal.config_updated.
func (e *env) hook(org, url string) (data.Webhook, string) {
	e.t.Helper()
	w, secret, err := e.db.CreateWebhook(context.Background(), data.TenantID(org), "staff",
		data.Webhook{URL: url, EventTypes: []string{data.EventPortalConfigUpdated}, Enabled: true}, loopback)
	if err != nil {
		e.t.Fatal(err)
	}
	return w, secret
}

// event changes org's config, which queues portal.config_updated.
func (e *env) event(org, name string) {
	e.t.Helper()
	_, err := e.db.UpdateConfig(context.Background(), data.TenantID(org), "staff", func(c data.Config) (data.Config, error) {
		c.PortalName = name
		return c, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// run starts s until the test ends; it returns the channel of recorded
// attempts.
func (e *env) run(s *webhook.Sender) <-chan data.WebhookDelivery {
	e.t.Helper()
	got := make(chan data.WebhookDelivery, 100)
	s.Observe = func(_ store.WebhookAttempt, d data.WebhookDelivery) { got <- d }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	return got
}

func next[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

type received struct {
	header http.Header
	body   []byte
}

// receiver serves status codes in turn (the last one from then on) and
// reports every request.
func receiver(t *testing.T, codes ...int) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 100)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		code := codes[min(n, len(codes)-1)]
		n++
		mu.Unlock()
		got <- received{r.Header.Clone(), body}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestSender_DeliversSignedEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, got := receiver(t, http.StatusNoContent)
	w, secret := e.hook("acme", srv.URL+"/hooks")
	e.event("acme", "Acme Portal")
	done := e.run(webhook.NewSender(e.db, nil, e.clock.Now, loopback))
	r := next(t, got)
	if err := verify(secret, r.header, r.body); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if ts := r.header.Get("webhook-timestamp"); ts != strconv.FormatInt(e.clock.Now().Unix(), 10) {
		t.Errorf("got webhook-timestamp %s, want %d", ts, e.clock.Now().Unix())
	}
	var ev struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			Config data.Config `json:"config"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != data.EventPortalConfigUpdated || ev.Data.Config.PortalName != "Acme Portal" {
		t.Errorf("got %s, want portal.config_updated with the new name", r.body)
	}
	d := next(t, done)
	if d.Status != data.WebhookSucceeded || d.Attempts != 1 || d.LastResponseCode != 204 || d.NextAttemptAt != nil ||
		d.EventID != r.header.Get("webhook-id") || d.WebhookID != w.ID {
		t.Errorf("got %+v, want succeeded after one attempt with 204 and the id sent", d)
	}
	// A secret from another webhook does not verify.
	other, _ := store.NewWebhookSecret()
	if verify(other, r.header, r.body) == nil {
		t.Error("another secret verified the request")
	}
}

func TestSender_RetriesWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, got := receiver(t, http.StatusInternalServerError, http.StatusOK)
	w, _ := e.hook("acme", srv.URL)
	e.event("acme", "Acme Portal")
	s := webhook.NewSender(e.db, nil, e.clock.Now, loopback)
	var attempts []int
	s.Backoff = func(attempt int) time.Duration {
		attempts = append(attempts, attempt)
		return time.Hour
	}
	done := e.run(s)
	first := next(t, got)
	d := next(t, done)
	failedAt := e.clock.Now()
	if d.Status != data.WebhookPending || d.Attempts != 1 || d.LastResponseCode != 500 || d.NextAttemptAt == nil ||
		!d.NextAttemptAt.Equal(failedAt.Add(time.Hour)) || !strings.Contains(d.LastError, "500") {
		t.Fatalf("after the 500: got %+v, want pending, next attempt an hour on", d)
	}
	p, err := e.db.WebhookDeliveries(context.Background(), "acme", w.ID, "", 10)
	if err != nil || len(p.Items) != 1 || p.Items[0].Status != data.WebhookPending {
		t.Fatalf("deliveries: got %+v, %v, want the pending one", p.Items, err)
	}
	e.clock.Advance(time.Hour)
	s.Wake()
	second := next(t, got)
	d = next(t, done)
	if d.Status != data.WebhookSucceeded || d.Attempts != 2 || d.LastResponseCode != 200 {
		t.Errorf("after the 200: got %+v, want succeeded after two attempts", d)
	}
	if a, b := first.header.Get("webhook-id"), second.header.Get("webhook-id"); a != b || a == "" {
		t.Errorf("got webhook-id %q then %q, want the same id on a retry", a, b)
	}
	if len(attempts) != 1 || attempts[0] != 1 {
		t.Errorf("backoff asked for %v, want [1]", attempts)
	}
}

func TestSender_GivesUpAfterRetryWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, _ := receiver(t, http.StatusServiceUnavailable)
	e.hook("acme", srv.URL)
	e.event("acme", "Acme Portal")
	s := webhook.NewSender(e.db, nil, e.clock.Now, loopback)
	s.Backoff = func(int) time.Duration { return store.WebhookRetryWindow + time.Second }
	d := next(t, e.run(s))
	if d.Status != data.WebhookFailed || d.NextAttemptAt != nil || d.LastResponseCode != 503 {
		t.Errorf("got %+v, want failed: the next attempt falls past the retry window", d)
	}
}

func TestSender_DoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	target, hits := receiver(t, http.StatusOK)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	e.hook("acme", redirect.URL)
	e.event("acme", "Acme Portal")
	s := webhook.NewSender(e.db, nil, e.clock.Now, loopback)
	s.Backoff = func(int) time.Duration { return time.Hour }
	d := next(t, e.run(s))
	if d.Status != data.WebhookPending || d.LastResponseCode != http.StatusTemporaryRedirect || !strings.Contains(d.LastError, "redirect") {
		t.Errorf("got %+v, want a failed attempt answered 307", d)
	}
	select {
	case r := <-hits:
		t.Errorf("the redirect was followed: the target got %s", r.body)
	default:
	}
}

// A webhook made while the operator allowed loopback is refused at connect
// time once the sender's policy does not: the host name localhost resolves
// to loopback, the dialer's Control hook refuses the address, and no
// request reaches the server.
func TestSender_RefusesNonPublicAddressAtConnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, got := receiver(t, http.StatusOK)
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	e.hook("acme", url)
	e.event("acme", "Acme Portal")
	s := webhook.NewSender(e.db, nil, e.clock.Now, data.WebhookPolicy{HTTPHosts: []string{"*"}})
	s.Backoff = func(int) time.Duration { return time.Hour }
	d := next(t, e.run(s))
	if d.Status != data.WebhookPending || d.LastResponseCode != 0 || !strings.Contains(d.LastError, "not public") {
		t.Errorf("got %+v, want an attempt refused before connecting", d)
	}
	select {
	case r := <-got:
		t.Errorf("the server got a request: %s", r.body)
	default:
	}
}

func TestControl_RefusesNonPublicAddresses(t *testing.T) {
	t.Parallel()
	control := webhook.Control(data.WebhookPolicy{})
	for _, addr := range []string{"127.0.0.1:443", "[::1]:443", "169.254.169.254:80", "10.1.2.3:443", "192.168.0.1:443",
		"0.0.0.0:443", "[fe80::1]:443", "[::ffff:127.0.0.1]:443", "100.64.0.1:443", "224.0.0.1:443", "[fd00::1]:443"} {
		if err := control("tcp", addr, nil); !errors.Is(err, webhook.ErrRefusedAddress) {
			t.Errorf("%s: got %v, want refused", addr, err)
		}
	}
	for _, addr := range []string{"93.184.215.14:443", "[2606:4700::6810:85e5]:443"} {
		if err := control("tcp", addr, nil); err != nil {
			t.Errorf("%s: got %v, want allowed", addr, err)
		}
	}
	allowNet := webhook.Control(data.WebhookPolicy{AllowedNets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	if err := allowNet("tcp", "10.1.2.3:443", nil); err != nil {
		t.Errorf("allowed network: got %v, want allowed", err)
	}
	if err := allowNet("tcp", "10.2.0.1:443", nil); err == nil {
		t.Error("10.2.0.1 outside the allowed network was allowed")
	}
}

// One endpoint that never answers does not hold back another: the second
// receives its event while the first is still waiting.
func TestSender_SlowEndpointDoesNotBlockAnother(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	slowGot := make(chan struct{}, 10)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowGot <- struct{}{}
		<-release
	}))
	fast, got := receiver(t, http.StatusOK)
	e.hook("acme", slow.URL)
	e.hook("acme", fast.URL)
	e.event("acme", "Acme Portal")
	s := webhook.NewSender(e.db, nil, e.clock.Now, loopback)
	s.Backoff = func(int) time.Duration { return time.Hour }
	done := e.run(s)
	t.Cleanup(func() { close(release); slow.Close() }) // runs before the sender stops
	next(t, slowGot)
	next(t, got)
	if d := next(t, done); d.Status != data.WebhookSucceeded {
		t.Errorf("got %+v, want the fast endpoint's delivery to succeed", d)
	}
}

// An event is committed with its change: a store closed before any sender
// ran (as after a crash) still holds it, and a sender started on the
// reopened file delivers it.
func TestSender_DeliversAfterReopen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, got := receiver(t, http.StatusOK)
	_, secret := e.hook("acme", srv.URL)
	e.event("acme", "Before the crash")
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.open()
	e.run(webhook.NewSender(e.db, nil, e.clock.Now, loopback))
	r := next(t, got)
	if err := verify(secret, r.header, r.body); err != nil || !strings.Contains(string(r.body), "Before the crash") {
		t.Errorf("got %s (%v), want the event queued before the close, signed", r.body, err)
	}
}

// stubResolver answers every A query with addr and every other query with
// no record, over DNS's TCP framing on an in-memory pipe: no query leaves
// the process.
func stubResolver(addr netip.Addr) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		go serveStubDNS(server, addr)
		return client, nil
	}}
}

func serveStubDNS(c net.Conn, addr netip.Addr) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, int(n[0])<<8|int(n[1]))
		if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
			return
		}
		end := 12
		for end < len(q) && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5 // the root label, QTYPE and QCLASS
		if end > len(q) {
			return
		}
		qtype := int(q[end-4])<<8 | int(q[end-3])
		resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:end]...)
		if qtype == 1 && addr.Is4() {
			resp[7] = 1
			ip := addr.As4()
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			resp = append(resp, ip[:]...)
		}
		if _, err := c.Write(append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...)); err != nil {
			return
		}
	}
}

// A host name is checked at connect time against the address it resolves
// to: a stub resolver points hooks.example at loopback or at the cloud
// metadata address, and the dialer's Control hook refuses both before any
// connection is made, while the same name is delivered to once the operator
// allows private addresses.
func TestSender_RefusesHostNameResolvingToNonPublic(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		addr    string
		allowed bool
	}{
		{"loopback", "127.0.0.1", false},
		{"metadata", "169.254.169.254", false},
		{"private", "10.1.2.3", false},
		{"loopback allowed", "127.0.0.1", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			srv, got := receiver(t, http.StatusOK)
			port := srv.URL[strings.LastIndex(srv.URL, ":"):]
			e.hook("acme", "http://hooks.example"+port+"/in")
			e.event("acme", "Acme Portal")
			policy := data.WebhookPolicy{HTTPHosts: []string{"*"}, AllowPrivate: tt.allowed}
			s := webhook.NewSender(e.db, nil, e.clock.Now, policy)
			s.Client = webhook.NewClient(policy, stubResolver(netip.MustParseAddr(tt.addr)))
			s.Backoff = func(int) time.Duration { return time.Hour }
			d := next(t, e.run(s))
			if tt.allowed {
				if d.Status != data.WebhookSucceeded {
					t.Fatalf("got %+v, want delivered through the stub's answer", d)
				}
				next(t, got)
				return
			}
			if d.Status != data.WebhookPending || d.LastResponseCode != 0 || !strings.Contains(d.LastError, "not public") {
				t.Errorf("got %+v, want an attempt refused before connecting", d)
			}
			select {
			case r := <-got:
				t.Errorf("the server got a request: %s", r.body)
			default:
			}
		})
	}
}
