//go:build etcd

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"

	"github.com/salesos/portal/store/kv/etcdkv/etcdtest"
)

// Built with -tags etcd, these tests run portal processes (serve, in
// process) on one installation of the package's shared three-member etcd
// cluster (etcdtest).

func TestMain(m *testing.M) {
	code := m.Run()
	etcdtest.Stop()
	os.Exit(code)
}

// sink is an SMTP server on loopback that counts deliveries by recipient.
type sink struct {
	addr    string
	mu      sync.Mutex
	changed *sync.Cond
	counts  map[string]int
}

func startSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{counts: map[string]int{}}
	s.changed = sync.NewCond(&s.mu)
	srv := smtpd.NewServer(smtpd.BackendFunc(func(*smtpd.Conn) (smtpd.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	return s
}

// waitRecipients waits until n distinct recipients have mail, or the
// deadline passes (which bounds the wait: the test's assertions are on
// the counts, not on the time).
func (s *sink) waitRecipients(t *testing.T, n int) map[string]int {
	t.Helper()
	timer := time.AfterFunc(60*time.Second, func() {
		s.mu.Lock()
		s.counts["(deadline)"] = 0
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.counts) < n {
		if _, late := s.counts["(deadline)"]; late {
			break
		}
		s.changed.Wait()
	}
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		if k != "(deadline)" {
			out[k] = v
		}
	}
	return out
}

type sinkSession struct {
	s  *sink
	to []string
}

func (x *sinkSession) Mail(string, *smtpd.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(to string, _ *smtpd.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	for _, to := range x.to {
		x.s.counts[to]++
	}
	x.s.changed.Broadcast()
	return nil
}
func (x *sinkSession) Reset()        { x.to = nil }
func (x *sinkSession) Logout() error { return nil }

// TestServe_EtcdTwoNodes: two portal processes on one etcd installation
// share one outbox. Invitations created through both, one process stopped
// half way, are each mailed exactly once, by whichever process leads; the
// other stands by and is ready. The installation then checks clean.
func TestServe_EtcdTwoNodes(t *testing.T) {
	url := etcdtest.URL(t)
	relay := startSink(t)
	env := map[string]string{"PORTAL_STORE": url, "PORTAL_SMTP_URL": "smtp://" + relay.addr}
	a := startServe(t, env)
	b := startServe(t, env)
	a.waitReady()
	b.waitReady()
	tok := a.token("acme", "portal:read portal:write")
	const n = 300
	invite := func(from, to int, nodes ...*served) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := from + w; i < to; i += 4 {
					// A 503 (writers collided too often) is retried, as its
					// Retry-After asks; it stored nothing.
					var err error
					for range 20 {
						_, err = nodes[i%len(nodes)].invite(tok, fmt.Sprintf("u%d@example.com", i))
						var se *statusError
						if !errors.As(err, &se) || se.status != http.StatusServiceUnavailable {
							break
						}
					}
					if err != nil {
						t.Errorf("invite %d: %v", i, err)
					}
				}
			})
		}
		wg.Wait()
	}
	invite(0, n/2, a, b)
	// One of the two leads the background work, the other stands by.
	if la, lb := strings.Contains(a.out.String(), `"lead":true`), strings.Contains(b.out.String(), `"lead":true`); la == lb {
		t.Errorf("a leads: %t, b leads: %t; want exactly one", la, lb)
	}
	if err := a.stop(); err != nil {
		t.Fatalf("stop a: %v", err)
	}
	invite(n/2, n, b)
	got := relay.waitRecipients(t, n)
	if len(got) != n {
		t.Errorf("got mail for %d recipients, want %d", len(got), n)
	}
	for to, c := range got {
		if c != 1 {
			t.Errorf("%s got %d mails, want exactly 1", to, c)
		}
	}
	// b leads now: it led from the start, or took over when a stopped.
	if !strings.Contains(b.out.String(), `"lead":true`) {
		t.Errorf("b does not lead after a stopped")
	}
	if err := b.stop(); err != nil {
		t.Fatalf("stop b: %v", err)
	}
	out, stderr, err := runCmd(t, "check", "--store", url)
	if err != nil {
		t.Fatalf("check --store: %v\n%s%s", err, out, stderr)
	}
}

// TestMigrate_Etcd: portal migrate copies a file into etcd and back; a
// second migrate into the same prefix is refused.
func TestMigrate_Etcd(t *testing.T) {
	src := newDemoDB(t)
	url := etcdtest.URL(t)
	if out, stderr, err := runCmd(t, "migrate", "--from", src, "--to", url); err != nil || !strings.Contains(out, "migrated") {
		t.Fatalf("migrate into etcd: %v\n%s%s", err, out, stderr)
	}
	if _, _, err := runCmd(t, "migrate", "--from", src, "--to", url); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("migrate into a used prefix: got %v, want a refusal", err)
	}
	back := t.TempDir() + "/back.db"
	if out, stderr, err := runCmd(t, "migrate", "--from", url, "--to", "bolt://"+back); err != nil {
		t.Fatalf("migrate out of etcd: %v\n%s%s", err, out, stderr)
	}
	if out, stderr, err := runCmd(t, "check", "--db", back); err != nil {
		t.Fatalf("check of the copy: %v\n%s%s", err, out, stderr)
	}
}

// TestServe_EtcdLeaderStop: under a write load through two portal
// processes, the etcd leader stops. Every request is answered 201 or 503
// with Retry-After (never another status); every acknowledged invitation
// is there afterwards; writes succeed again by themselves after the
// election; the installation checks clean.
func TestServe_EtcdLeaderStop(t *testing.T) {
	cluster := etcdtest.Shared(t)
	url := etcdtest.URL(t)
	env := map[string]string{"PORTAL_STORE": url + "?request_timeout=2s"}
	nodes := []*served{startServe(t, env), startServe(t, env)}
	for _, n := range nodes {
		n.waitReady()
	}
	tok := nodes[0].token("acme", "portal:read portal:write")

	var mu sync.Mutex
	var acked []string
	var unavailable int
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				node := nodes[(w+i)%2]
				req, _ := http.NewRequest(http.MethodPost, node.url+"/v1/customer-portal/invitations",
					strings.NewReader(fmt.Sprintf(`{"email":"w%d-%d@example.com"}`, w, i)))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("invite: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusCreated:
					var inv struct{ ID string }
					_ = json.Unmarshal(body, &inv)
					mu.Lock()
					acked = append(acked, inv.ID)
					mu.Unlock()
					select {
					case progress <- struct{}{}:
					default:
					}
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					mu.Lock()
					unavailable++
					mu.Unlock()
				default:
					t.Errorf("invite during the election: got %d %s, want 201 or 503 with Retry-After", resp.StatusCode, body)
					return
				}
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitAcks := func(n int, what string) {
		deadline := time.After(60 * time.Second)
		for count() < n {
			select {
			case <-progress:
			case <-deadline:
				t.Fatalf("%s: %d acknowledged writes, want %d", what, count(), n)
			}
		}
	}
	waitAcks(20, "before the stop")
	stopped := cluster.StopLeader(t) // returns once another member leads
	elected := time.Now()
	before := count()
	waitAcks(before+1, "after the election")
	recovered := time.Since(elected)
	waitAcks(before+20, "after the election")
	close(stop)
	wg.Wait()
	cluster.Restart(t, stopped)
	mu.Lock()
	t.Logf("%d acknowledged, %d answered 503; the first write acknowledged %v after the new leader", len(acked), unavailable, recovered)
	ids := append([]string(nil), acked...)
	mu.Unlock()

	for _, id := range ids {
		if status, body := nodes[1].do(http.MethodGet, "/v1/customer-portal/invitations/"+id, tok, ""); status != http.StatusOK {
			t.Errorf("acknowledged invitation %s: got %d %s, want it stored", id, status, body)
		}
	}
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	if out, stderr, err := runCmd(t, "check", "--store", url); err != nil {
		t.Fatalf("check --store: %v\n%s%s", err, out, stderr)
	}
}

// TestServe_EtcdAcceptRace: one invitation accepted 20 times at once,
// through two portal processes: exactly one acceptance succeeds; the
// others are told the link is used (or to slow down), and one user is
// active.
func TestServe_EtcdAcceptRace(t *testing.T) {
	env := map[string]string{"PORTAL_STORE": etcdtest.URL(t)}
	nodes := []*served{startServe(t, env), startServe(t, env)}
	tok := nodes[0].token("acme", "portal:read portal:write")
	status, body := nodes[0].do(http.MethodPost, "/v1/customer-portal/invitations", tok, `{"email":"race@example.com"}`)
	if status != http.StatusCreated {
		t.Fatalf("invite: %d %s", status, body)
	}
	var inv struct{ AcceptURL string }
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatal(err)
	}
	_, query, _ := strings.Cut(inv.AcceptURL, "token=")
	accept := fmt.Sprintf(`{"token":%q,"password":"a long passphrase for the race"}`, query)
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, _, err := nodes[i%2].try(http.MethodPost, "/v1/portal/invitations/accept", "", accept)
			if err != nil {
				t.Errorf("accept: %v", err)
			}
			statuses[i] = s
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK, http.StatusCreated:
			ok++
		case http.StatusGone, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Errorf("accept: got %d, want success, 410, 429 or 503", s)
		}
	}
	if ok != 1 {
		t.Errorf("got %d successful acceptances of one invitation (%v), want exactly 1", ok, statuses)
	}
	status, body = nodes[1].do(http.MethodGet, "/v1/customer-portal/users?status=active", tok, "")
	if status != http.StatusOK || strings.Count(string(body), "race@example.com") != 1 {
		t.Errorf("active users: got %d %s, want the one user", status, body)
	}
}
