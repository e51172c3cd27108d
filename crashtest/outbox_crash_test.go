package crashtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/store"
)

// Outbox crash test settings.
const (
	outboxBacklog = 3000
	outboxKills   = 5
	// outboxDupBound bounds the messages one kill may send twice: those
	// delivered but not yet committed as sent. The sender commits what has
	// arrived while the previous commit ran, at most 512 outcomes, and
	// queues at most 512 more meanwhile; each of its 4 connections may have
	// one more at the server.
	outboxDupBound = 512 + 512 + mail.DefaultConnections
	// outboxChildEnv makes the test binary the child: a sender draining
	// the database named by the variable.
	outboxChildEnv  = "CRASHTEST_OUTBOX_DB"
	outboxRelayEnv  = "CRASHTEST_OUTBOX_RELAY"
	outboxChildTest = "^TestCrash_OutboxKillNine$"
)

// TestCrash_OutboxKillNine queues a backlog of mail, then kills the sender
// with SIGKILL in the middle of its batches, five times, at a random number
// of messages into each run, and finally lets it finish. Every message
// reaches the relay (a go-smtp sink on loopback) at least once; a kill sends
// again at most the messages it caught delivered and not yet committed; and
// check finds the file whole after every kill.
func TestCrash_OutboxKillNine(t *testing.T) {
	if path := os.Getenv(outboxChildEnv); path != "" {
		runOutboxChild(t, path, os.Getenv(outboxRelayEnv))
		return
	}
	if testing.Short() {
		t.Skip("runs a sender in a child process and kills it: skipped with -short")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 17))
	t.Logf("seed %d", seed)

	dbPath := filepath.Join(t.TempDir(), "portal.db")
	fillBacklog(t, dbPath, outboxBacklog)
	relay := startRelay(t)

	for cycle := 1; cycle <= outboxKills+1; cycle++ {
		before := relay.total()
		cmd := exec.Command(os.Args[0], "-test.run", outboxChildTest, "-test.count=1")
		cmd.Env = append(os.Environ(), outboxChildEnv+"="+dbPath, outboxRelayEnv+"="+relay.addr)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{}) // closed once the child has exited, with waitErr set
		var waitErr error
		go func() {
			waitErr = cmd.Wait()
			close(done)
		}()
		if cycle <= outboxKills {
			// Kill once this run has delivered a random part of what is left.
			left := outboxBacklog - len(relay.recipients())
			at := before + 1 + rng.IntN(max(left/(outboxKills+2-cycle), 1))
			if !relay.waitTotal(at, done) {
				t.Fatalf("cycle %d: the sender exited before it was killed:\n%s", cycle, out)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-done
			t.Logf("cycle %d: killed after %d deliveries", cycle, relay.total()-before)
		} else if <-done; waitErr != nil {
			t.Fatalf("last run: %v\n%s", waitErr, out)
		}
		r, err := store.Check(dbPath)
		if err != nil || !r.OK() {
			t.Fatalf("cycle %d: check after the kill: %v, %v", cycle, err, r.Breaches)
		}
	}

	got := relay.recipients()
	dups := 0
	for i := range outboxBacklog {
		switch n := got[recipient(i)]; {
		case n == 0:
			t.Errorf("%s: never delivered", recipient(i))
		case n > 1:
			dups += n - 1
		}
	}
	if len(got) != outboxBacklog {
		t.Errorf("got %d recipients at the relay, want %d", len(got), outboxBacklog)
	}
	if dups > outboxKills*outboxDupBound {
		t.Errorf("got %d messages sent again after %d kills, want at most %d a kill", dups, outboxKills, outboxDupBound)
	}
	t.Logf("%d messages, %d kills: none lost, %d sent twice", outboxBacklog, outboxKills, dups)
}

func recipient(i int) string { return fmt.Sprintf("user%05d@example.com", i) }

// fillBacklog queues n messages of three organizations, as if the relay had
// been down while they were made.
func fillBacklog(t *testing.T, path string, n int) {
	t.Helper()
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				m := data.OutboxMessage{Tenant: data.TenantID(fmt.Sprintf("org-%d", i%3)), Kind: data.MailInvitation,
					To: recipient(i), Data: data.MailData{PortalName: "Crash Portal", FirstName: "Ada",
						Link: "https://portal.example.com/invitations/accept?token=tok", ExpiresAt: time.Now().Add(time.Hour)}}
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
		t.Fatal(err)
	}
}

// runOutboxChild is the child: it drains the outbox to the relay and
// returns once the outbox is empty, unless it is killed first.
func runOutboxChild(t *testing.T, path, relay string) {
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tr, err := mail.NewSMTP("smtp://"+relay, "Crash Portal <portal@crash.example>")
	if err != nil {
		t.Fatal(err)
	}
	s := mail.NewSender(db, tr, nil, nil)
	s.PollInterval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		n, err := db.OutboxDepth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// relay is a go-smtp sink on loopback that counts deliveries by recipient.
type relay struct {
	addr    string
	mu      sync.Mutex
	changed *sync.Cond
	counts  map[string]int
	n       int
}

func startRelay(t *testing.T) *relay {
	t.Helper()
	r := &relay{counts: map[string]int{}}
	r.changed = sync.NewCond(&r.mu)
	srv := smtpd.NewServer(smtpd.BackendFunc(func(*smtpd.Conn) (smtpd.Session, error) {
		return &relaySession{r: r}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close()
		<-served
	})
	return r
}

func (r *relay) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *relay) recipients() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// waitTotal waits until the relay has taken n messages in all, and reports
// false if the child exits first.
func (r *relay) waitTotal(n int, exited <-chan struct{}) bool {
	stop := make(chan struct{})
	defer close(stop)
	gone := false
	go func() {
		select {
		case <-exited:
			r.mu.Lock()
			gone = true
			r.changed.Broadcast()
			r.mu.Unlock()
		case <-stop:
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !gone && r.n < n {
		r.changed.Wait()
	}
	return r.n >= n
}

type relaySession struct {
	r  *relay
	to []string
}

func (s *relaySession) Mail(string, *smtpd.MailOptions) error { return nil }

func (s *relaySession) Rcpt(to string, _ *smtpd.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	for _, to := range s.to {
		s.r.counts[to]++
	}
	s.r.n++
	s.r.changed.Broadcast()
	return nil
}

func (s *relaySession) Reset()        { s.to = nil }
func (s *relaySession) Logout() error { return nil }

// syncBuffer collects a child's output.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
