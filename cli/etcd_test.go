//go:build etcd

package cli

import (
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
	// b leads now (a resigned): its log says so; a's said so before, or b
	// led from the start.
	if !strings.Contains(b.out.String(), `"lead":true`) && !strings.Contains(a.out.String(), `"lead":true`) {
		t.Errorf("no process logged that it leads the background work")
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
