package main

// The benchmarks here build the server's handler in this process, wired as
// serve.go wires it (metrics, running mail sender, accounts, pages), over a
// temporary database seeded with -seed-users users, so that a CPU profile
// shows where each endpoint's time goes without adding pprof to the product:
//
//	go test ./cmd/portal-bench -run '^$' -bench 'Handler/config' -cpuprofile cpu.out
//	go tool pprof -top cpu.out
//
// BenchmarkHandler calls ServeHTTP directly (no network: the product's own
// cost); BenchmarkLoopback goes through a real loopback listener and a
// keep-alive client, as portal-bench does, so net/http's share shows too.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/metrics"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/web"
)

var seedUsers = flag.Int("seed-users", 100000, "users seeded for the benchmarks")

// benchEnv is the in-process server the benchmarks share: seeding 100,000
// users once is cheaper than once per benchmark.
type benchEnv struct {
	dir     string
	db      *store.DB
	h       http.Handler
	tok     string
	ids     []string
	stopBG  func()
	devNull *os.File
}

var (
	envOnce   sync.Once
	sharedEnv *benchEnv
	envErr    error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if sharedEnv != nil {
		sharedEnv.close()
	}
	os.Exit(code)
}

func getEnv(b *testing.B) *benchEnv {
	b.Helper()
	envOnce.Do(func() { sharedEnv, envErr = newBenchEnv(*seedUsers) })
	if envErr != nil {
		b.Fatal(envErr)
	}
	return sharedEnv
}

func newBenchEnv(n int) (*benchEnv, error) {
	dir, err := os.MkdirTemp("", "portal-bench-test-")
	if err != nil {
		return nil, err
	}
	e := &benchEnv{dir: dir, stopBG: func() {}}
	ctx := context.Background()
	dbPath := filepath.Join(dir, "portal.db")
	fx, err := prepare(ctx, dbPath, n, 100, 1000)
	if err != nil {
		e.close()
		return nil, err
	}
	e.ids = fx.ids
	if e.db, err = store.Open(dbPath, time.Now, store.Options{}); err != nil {
		e.close()
		return nil, err
	}
	// The server logs JSON to stdout; here to /dev/null, so the encoding and
	// the write system call of every access line are in the profile too.
	if e.devNull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
		e.close()
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(e.devNull, &slog.HandlerOptions{Level: slog.LevelInfo}))
	secret := []byte("portal-bench-secret-0123456789abcdef")
	v, err := auth.NewVerifier(auth.Config{Secret: secret, CacheSize: 10000})
	if err != nil {
		e.close()
		return nil, err
	}
	if e.tok, err = auth.Mint(secret, auth.Claims{Subject: "portal-bench", Tenant: string(benchTenant),
		Scope: auth.ScopeRead + " " + auth.ScopeWrite, TTL: 2 * time.Hour}, time.Now()); err != nil {
		e.close()
		return nil, err
	}
	cursorKey, err := e.db.Secret("cursor", 32)
	if err != nil {
		e.close()
		return nil, err
	}
	sender := mail.NewSender(e.db, mail.NewLogTransport(log), log, time.Now)
	m, err := metrics.New(log, e.db, sender, metrics.Build{Version: "bench"})
	if err != nil {
		e.close()
		return nil, err
	}
	accounts := account.New(e.db, log, account.Options{OnLoginFailure: m.LoginFailed})
	pages, err := web.New(log, e.db, web.Options{Accounts: accounts, Wake: sender.Wake})
	if err != nil {
		e.close()
		return nil, err
	}
	e.h = handlers.New(log, e.db, v, handlers.Options{CursorKey: cursorKey, Wake: sender.Wake, Accounts: accounts,
		Web: pages, Observe: m.ObserveRequest, Metrics: m.Handler(), Ready: func() error { return nil }})
	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = sender.Run(bg) })
	wg.Go(func() { e.db.RunSweeper(bg, 15*time.Second, func(error) {}) })
	e.stopBG = func() { cancel(); wg.Wait() }
	return e, nil
}

func (e *benchEnv) close() {
	e.stopBG()
	if e.db != nil {
		_ = e.db.Close()
	}
	if e.devNull != nil {
		_ = e.devNull.Close()
	}
	_ = os.RemoveAll(e.dir)
}

// benchTargets are the endpoints of portal-bench as in-process requests,
// but for the mixed load, which is made of the others.
func (e *benchEnv) benchTargets() []target {
	names := slices.DeleteFunc(slices.Clone(endpointNames), func(n string) bool { return n == "mixed" })
	return targets("", e.tok, e.ids, names)
}

// shortName maps a target to its sub-benchmark name.
var shortName = map[string]string{
	"GET /config": "config", "GET /users/{id}": "user", "GET /users?limit=20": "list",
	"GET /stats": "stats", "POST /invitations": "invite",
}

var benchSeq atomic.Uint64

// BenchmarkHandler measures the handler alone: ServeHTTP with a recorder,
// 32 requests in flight as in portal-bench.
func BenchmarkHandler(b *testing.B) {
	e := getEnv(b)
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for pb.Next() {
				bareHandler(httptest.NewRecorder(), req)
			}
		})
	})
	for _, t := range e.benchTargets() {
		b.Run(shortName[t.name], func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
				for pb.Next() {
					var body io.Reader
					if t.body != nil {
						body = strings.NewReader(string(t.body(benchSeq.Add(1))))
					}
					req := httptest.NewRequest(t.method, t.url(rng), body)
					req.Header.Set("Authorization", "Bearer "+t.token)
					if body != nil {
						req.Header.Set("Content-Type", "application/json")
					}
					w := httptest.NewRecorder()
					e.h.ServeHTTP(w, req)
					if w.Code/100 != 2 {
						b.Fatalf("%s: got %d %s, want 2xx", t.name, w.Code, w.Body.String())
					}
				}
			})
		})
	}
}

// BenchmarkLoopback measures through a loopback listener with a keep-alive
// client, 32 requests in flight: portal-bench's shape inside one process.
func BenchmarkLoopback(b *testing.B) {
	e := getEnv(b)
	run := func(b *testing.B, h http.Handler, t target) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		client := newClient(32)
		defer client.CloseIdleConnections()
		b.ReportAllocs()
		b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
		var failed atomic.Value
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			tt := t
			base := tt.url
			tt.url = func(r *rand.Rand) string { return srv.URL + base(r) }
			for pb.Next() {
				if _, err := once(context.Background(), client, tt, rng, &benchSeq); err != nil {
					failed.CompareAndSwap(nil, err.Error())
				}
			}
		})
		if f := failed.Load(); f != nil {
			b.Fatal(f)
		}
	}
	b.Run("bare", func(b *testing.B) {
		run(b, http.HandlerFunc(bareHandler), target{name: "bare", method: http.MethodGet, url: fixed("/")})
	})
	for _, t := range e.benchTargets() {
		b.Run(shortName[t.name], func(b *testing.B) { run(b, e.h, t) })
	}
}

func TestSeedUsers_CheckHoldsAcrossTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 10,050 crosses the 10,000-user transaction boundary; a second call
	// numbers on without email conflicts.
	if err := db.SeedUsers(ctx, "acme", 10050); err != nil {
		t.Fatalf("SeedUsers: got %v, want nil", err)
	}
	if err := db.SeedUsers(ctx, "acme", 10); err != nil {
		t.Fatalf("SeedUsers again: got %v, want nil", err)
	}
	st, err := db.Stats(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if st.Users.Total != 10060 || st.Users.Invited != 2515 || st.Users.Active != 7545 {
		t.Errorf("got users %+v, want total 10060, invited 2515, active 7545", st.Users)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var b strings.Builder
		_, _ = rep.WriteTo(&b)
		t.Errorf("got breaches after seeding, want none:\n%s", b.String())
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		users   []int
		limit   int64
		wantErr string
	}{
		{name: "defaults", args: nil, users: []int{100000}},
		{name: "memory limit in MiB", args: []string{"--memory-limit", "56MiB"}, users: []int{100000}, limit: 56 << 20},
		{name: "memory limit in bytes", args: []string{"--memory-limit", "60000000"}, users: []int{100000}, limit: 60000000},
		{name: "memory limit too small", args: []string{"--memory-limit", "1MiB"}, wantErr: "memory-limit"},
		{name: "memory limit unreadable", args: []string{"--memory-limit", "60MB"}, wantErr: "memory-limit"},
		{name: "two sizes", args: []string{"--users", "1000,100000"}, users: []int{1000, 100000}},
		{name: "bad size", args: []string{"--users", "1k"}, wantErr: `users: "1k"`},
		{name: "bad endpoint", args: []string{"--endpoints", "config,nope"}, wantErr: `endpoints: "nope"`},
		{name: "zero concurrency", args: []string{"--concurrency", "0"}, wantErr: "concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(append([]string{"portal-bench"}, tt.args...), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if fmt.Sprint(o.users) != fmt.Sprint(tt.users) || o.memoryLimit != tt.limit {
				t.Errorf("got users %v and memory limit %d, want %v and %d", o.users, o.memoryLimit, tt.users, tt.limit)
			}
		})
	}
}

func TestLoad_AgainstBare(t *testing.T) {
	t.Parallel()
	bare, err := startBare()
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	client := newClient(4)
	defer client.CloseIdleConnections()
	var seq atomic.Uint64
	r, err := measure(context.Background(), client, target{name: "bare", method: http.MethodGet, url: fixed(bare.URL + "/")},
		4, 0, 200*time.Millisecond, &seq)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests == 0 || r.errors != 0 || r.p50 <= 0 || r.p99 < r.p50 {
		t.Errorf("got %d requests, %d errors, p50 %v, p99 %v; want some requests, no errors, 0 < p50 <= p99",
			r.requests, r.errors, r.p50, r.p99)
	}
}

func TestReadMemory_Self(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.peak <= 0 || m.rss <= 0 || m.rss > m.peak {
		t.Errorf("got %+v, want 0 < rss <= peak", m)
	}
}

// BenchmarkGroupCommit compares, on a bare bbolt file with the store's
// options, bbolt's Batch (MaxBatchDelay 1 ms, MaxBatchSize 256, as
// store.Open sets them) with a leader-based commit queue, where a group
// closes when the previous commit ends instead of when a timer fires. The
// write is shaped like CreateInvitation: records of 60 to 900 bytes into
// eight buckets. writes/commit is the mean group size.
func BenchmarkGroupCommit(b *testing.B) {
	for _, mode := range []string{"batch", "queue"} {
		b.Run(mode, func(b *testing.B) {
			db, err := bbolt.Open(filepath.Join(b.TempDir(), "gc.db"), 0o600, store.BoltOptions(false))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.MaxBatchDelay, db.MaxBatchSize = time.Millisecond, 256
			names := []string{"users", "user_emails", "invitations", "invitation_tokens", "invitation_expiry", "outbox", "audit", "counters"}
			sizes := []int{400, 60, 700, 60, 30, 900, 250, 8}
			err = db.Update(func(tx *bbolt.Tx) error {
				for _, n := range names {
					if _, err := tx.CreateBucketIfNotExists([]byte(n)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			q := &commitQueue{db: db}
			var txIDs sync.Map
			var ops atomic.Int64
			write := func(tx *bbolt.Tx) error {
				txIDs.Store(tx.ID(), true)
				id := []byte(fmt.Sprintf("%020d", benchSeq.Add(1)))
				for i, n := range names {
					key := id
					if n == "counters" {
						key = []byte("users.invited")
					}
					if err := tx.Bucket([]byte(n)).Put(key, make([]byte, sizes[i])); err != nil {
						return err
					}
				}
				return nil
			}
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var err error
					if mode == "batch" {
						err = db.Batch(write)
					} else {
						err = q.update(write)
					}
					if err != nil {
						b.Error(err)
						return
					}
					ops.Add(1)
				}
			})
			b.StopTimer()
			commits := 0
			txIDs.Range(func(any, any) bool { commits++; return true })
			b.ReportMetric(float64(ops.Load())/float64(max(1, commits)), "writes/commit")
		})
	}
}

// commitQueue is a prototype of leader-based group commit: the first
// writer to find the queue idle starts a loop that commits everything queued
// in one transaction, then everything that queued meanwhile, until the queue
// is empty. Unlike Batch there is no timer: an idle server commits at once,
// and a busy one groups every write that arrived during the last fsync.
// (A product version would also retry a group without a failing call, as
// Batch does.)
type commitQueue struct {
	db      *bbolt.DB
	mu      sync.Mutex
	pending []queuedCall
	busy    bool
}

type queuedCall struct {
	fn   func(*bbolt.Tx) error
	done chan error
}

func (q *commitQueue) update(fn func(*bbolt.Tx) error) error {
	c := queuedCall{fn: fn, done: make(chan error, 1)}
	q.mu.Lock()
	q.pending = append(q.pending, c)
	if !q.busy {
		q.busy = true
		go q.loop()
	}
	q.mu.Unlock()
	return <-c.done
}

func (q *commitQueue) loop() {
	for {
		q.mu.Lock()
		calls := q.pending
		if len(calls) == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		if len(calls) > 256 {
			calls, q.pending = calls[:256], calls[256:]
		} else {
			q.pending = nil
		}
		q.mu.Unlock()
		err := q.db.Update(func(tx *bbolt.Tx) error {
			for _, c := range calls {
				if err := c.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		for _, c := range calls {
			c.done <- err
		}
	}
}
