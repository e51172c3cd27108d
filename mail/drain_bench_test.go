//go:build unix

package mail_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/store"
)

// BenchmarkSender_DrainBacklog is the outbox after a relay outage: a
// backlog of messages (100,000, or PORTAL_BENCH_BACKLOG) of 20
// organizations is queued while no relay answers, then the relay (a go-smtp
// sink on loopback) is back and the sender drains it over
// DefaultConnections. It reports the drain rate, the heap before and at its
// peak during the drain, and fails if any message is not delivered exactly
// once. Run it alone:
//
//	go test ./mail -run '^$' -bench DrainBacklog -benchtime 1x
func BenchmarkSender_DrainBacklog(b *testing.B) {
	backlog := 100_000
	if v := os.Getenv("PORTAL_BENCH_BACKLOG"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("PORTAL_BENCH_BACKLOG=%q: want a positive number", v)
		}
		backlog = n
	}
	const orgs = 20
	for range b.N {
		b.StopTimer()
		db, err := store.Open(filepath.Join(b.TempDir(), "portal.db"), time.Now, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		fillOutbox(b, db, orgs, backlog)
		srv := startServer(b, serverOptions{countOnly: true})
		tr, err := mail.NewSMTP("smtp://"+srv.addr, "Acme Portal <portal@acme.example>")
		if err != nil {
			b.Fatal(err)
		}
		s := mail.NewSender(db, tr, nil, nil)
		s.PollInterval = time.Hour // the drain is one Wake's work
		if v := os.Getenv("PORTAL_BENCH_CONNECTIONS"); v != "" {
			s.Connections, _ = strconv.Atoi(v)
		}

		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.HeapInuse
		peak := before
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		cpu0 := cpuTime(b)
		b.StartTimer()
		t0 := time.Now()
		go func() { done <- s.Run(ctx) }()
		tick := time.NewTicker(100 * time.Millisecond)
		for s.Stats().Sent+s.Stats().GivenUp < uint64(backlog) {
			select {
			case <-tick.C:
			case err := <-done:
				b.Fatalf("Run returned early: %v", err)
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		elapsed := time.Since(t0)
		cpu := cpuTime(b) - cpu0
		b.StopTimer()
		tick.Stop()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}

		st := s.Stats()
		if st.Sent != uint64(backlog) || st.Failed != 0 {
			b.Errorf("stats: got %+v, want %d sent and no failure", st, backlog)
		}
		got := srv.delivered()
		if len(got) != backlog {
			b.Errorf("got %d recipients at the relay, want %d", len(got), backlog)
		}
		for to, n := range got {
			if n != 1 {
				b.Errorf("%s: got %d messages, want 1", to, n)
			}
		}
		if n, err := db.OutboxDepth(context.Background()); err != nil || n != 0 {
			b.Errorf("outbox depth: got %d, %v, want 0", n, err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(backlog)/elapsed.Seconds(), "msgs/s")
		// CPU per message, the relay's included: on a shared machine the
		// rate depends on what the neighbours run, this does not.
		b.ReportMetric(float64(cpu.Microseconds())/float64(backlog), "cpu-µs/msg")
		b.ReportMetric(float64(before)/(1<<20), "heap-before-MiB")
		b.ReportMetric(float64(peak)/(1<<20), "heap-peak-MiB")
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
