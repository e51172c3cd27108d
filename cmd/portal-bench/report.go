package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// bareRate is the base of the ratios: the mean of the bare handler's
// measurements before and after the reads, so drift in the machine's
// other load during the run shows as a gap between the two and is halved.
func (r sizeRun) bareRate() float64 {
	var sum float64
	for _, b := range r.bare {
		sum += b.rate()
	}
	if len(r.bare) == 0 {
		return 0
	}
	return sum / float64(len(r.bare))
}

// commitRate is the mean of the sequential durable commit measurements.
func (r sizeRun) commitRate() float64 {
	var sum float64
	for _, c := range r.commits {
		sum += c
	}
	if len(r.commits) == 0 {
		return 0
	}
	return sum / float64(len(r.commits))
}

func joinRates(rates []float64) string {
	parts := make([]string, len(rates))
	for i, r := range rates {
		parts[i] = fmt.Sprintf("%.0f", r)
	}
	return strings.Join(parts, " and ")
}

func (r sizeRun) endpoint(name string) (result, bool) {
	for _, e := range r.endpoints {
		if e.name == name {
			return e, true
		}
	}
	return result{}, false
}

// peak is the server's VmHWM at the end of the run.
func (r sizeRun) peak() int64 { return r.final.peak }

func (r sizeRun) print(w io.Writer, opt options) {
	fmt.Fprintf(w, "\n== %d users: concurrency %d, %v per endpoint after %v warm-up; %s, %d CPUs, load average at the end %s\n\n",
		r.fx.users, opt.concurrency, opt.duration, opt.warmup, runtime.Version(), runtime.NumCPU(), loadAverage())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\treq/s\tp50\tp99\terrors\t× bare\tserver VmHWM\t")
	base := r.bareRate()
	// In the order measured: the second bare before the POST, if any.
	var rows []result
	rows = append(rows, r.bare[0])
	for _, e := range r.endpoints {
		if e.name == "POST /invitations" {
			rows = append(rows, r.bare[1:]...)
		}
		rows = append(rows, e)
	}
	if _, ok := r.endpoint("POST /invitations"); !ok {
		rows = append(rows, r.bare[1:]...)
	}
	for _, e := range rows {
		hwm := "-"
		if e.mem.peak > 0 {
			hwm = mb(e.mem.peak)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%.2f\t%s\t\n", e.name, e.rate(), ms(e.p50), ms(e.p99), e.errors, e.rate()/base, hwm)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nratios are to the mean of the two bare measurements, %.0f req/s\n", base)
	fmt.Fprintf(w, "bbolt sequential durable commits (one put per Update, fsync each), same disk, before and after the server ran: %s tx/s, mean %.0f",
		joinRates(r.commits), r.commitRate())
	if inv, ok := r.endpoint("POST /invitations"); ok && r.commitRate() > 0 {
		fmt.Fprintf(w, "; POST /invitations = %.2f× the mean", inv.rate()/r.commitRate())
	}
	fmt.Fprintln(w)
	if r.memErr != nil {
		fmt.Fprintf(w, "server memory: unavailable: %v\n", r.memErr)
	} else {
		fmt.Fprintf(w, "server peak RSS (VmHWM): %s; sampled every 50 ms, peak anonymous %s (heap, stacks), peak file-backed %s (bbolt's mmap of the database, the binary); at the end RSS %s = %s + %s\n",
			mb(r.final.peak), mb(r.peakAnon), mb(r.peakFile), mb(r.final.rss), mb(r.final.anon), mb(r.final.file))
	}
	switch {
	case r.limit > 0 && r.limitErr != nil:
		fmt.Fprintf(w, "memory limit %s: usage unavailable: %v\n", mb(r.limit), r.limitErr)
	case r.limit > 0:
		fmt.Fprintf(w, "memory limit %s (a cgroup, as systemd's MemoryMax=): peak charge %s, the limit reached %d times (the kernel reclaimed page cache), %d major faults (pages read back from disk)\n",
			mb(r.limit), mb(r.cgPeak), r.cgHits, r.majorFaults)
	}
	n := int64(r.fx.users)
	fmt.Fprintf(w, "database: %d users seeded in %v (%.0f users/s); file %s = %d B/user; bbolt high-water mark %s = %d B/user, of which %s free pages\n",
		r.fx.users, r.fx.seedTime.Round(time.Millisecond), float64(n)/r.fx.seedTime.Seconds(),
		mb(r.fx.fileSize), r.fx.fileSize/n, mb(r.fx.dataSize), r.fx.dataSize/n, mb(r.fx.freeSize))
	fmt.Fprint(w, "  largest buckets:")
	for i, b := range r.fx.buckets {
		if i == 4 || b.alloc == 0 {
			break
		}
		fmt.Fprintf(w, " %s %s (%d keys, leaf pages %.0f%% full);", b.path, mb(b.alloc), b.keys, 100*b.leafFill)
	}
	fmt.Fprintln(w)
	if r.fileAfter > 0 {
		fmt.Fprintf(w, "database after the run: file %s, with %d more invitations (and their users, outbox messages, audit entries)\n",
			mb(r.fileAfter), r.invitations)
	}
	for _, e := range r.endpoints {
		if e.sample != "" {
			fmt.Fprintf(w, "first error of %s: %s\n", e.name, e.sample)
		}
	}
	r.printTargets(w)
}

// printTargets checks the run against issue 6's targets (meant for 100,000
// users) and the ratios PocketBase's figures imply (bare ~70,000 req/s).
func (r sizeRun) printTargets(w io.Writer) {
	base := r.bareRate()
	fmt.Fprintln(w, "\ntargets (issue 6, at 100,000 users):")
	check := func(name string, ratio float64) {
		e, ok := r.endpoint(name)
		if !ok {
			return
		}
		got := e.rate() / base
		fmt.Fprintf(w, "  %-22s %.2f× bare (want ≥ %.2f), p99 %s (want < 20ms): %s\n",
			name, got, ratio, ms(e.p99), verdict(got >= ratio && e.p99 < 20*time.Millisecond && e.errors == 0))
	}
	check("GET /config", 0.45)
	check("GET /users/{id}", 0.40)
	check("GET /users?limit=20", 0.30)
	if inv, ok := r.endpoint("POST /invitations"); ok && r.commitRate() > 0 {
		got := inv.rate() / r.commitRate()
		fmt.Fprintf(w, "  %-22s %.2f× sequential durable commits (want ≥ 1.50): %s\n", "POST /invitations", got,
			verdict(got >= 1.5 && inv.errors == 0))
	}
	if r.memErr == nil {
		within := ""
		if r.limit > 0 {
			within = ", in a memory limit of " + mb(r.limit)
		}
		fmt.Fprintf(w, "  %-22s %s%s (want < 60 MB = 57.2 MiB): %s\n", "server peak RSS", mb(r.peak()), within, verdict(r.peak() < 60e6))
	}
	pb := []struct {
		name string
		rate float64
	}{{"GET /users/{id}", 10300}, {"GET /users?limit=20", 2200}, {"POST /invitations", 6300}}
	var parts []string
	for _, p := range pb {
		if e, ok := r.endpoint(p.name); ok {
			want := p.rate / 70000
			parts = append(parts, fmt.Sprintf("%s %.2f× vs %.3f× %s", p.name, e.rate()/base, want, verdict(e.rate()/base > want)))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  ahead of PocketBase's implied ratios: %s\n", strings.Join(parts, "; "))
	}
}

// printComparison compares GET /stats across the sizes: its latency at the
// most users within 1.2× of that at the fewest.
func printComparison(w io.Writer, runs []sizeRun) {
	if len(runs) < 2 {
		return
	}
	lo, hi := runs[0], runs[0]
	for _, r := range runs {
		if r.fx.users < lo.fx.users {
			lo = r
		}
		if r.fx.users > hi.fx.users {
			hi = r
		}
	}
	a, okA := lo.endpoint("GET /stats")
	b, okB := hi.endpoint("GET /stats")
	if !okA || !okB || a.p50 == 0 {
		return
	}
	ratio := float64(b.p50) / float64(a.p50)
	fmt.Fprintf(w, "\nGET /stats: p50 %s at %d users, %s at %d users = %.2f× (want ≤ 1.20): %s; p99 %s vs %s\n",
		ms(b.p50), hi.fx.users, ms(a.p50), lo.fx.users, ratio, verdict(ratio <= 1.2), ms(b.p99), ms(a.p99))
	fmt.Fprintf(w, "  (latency at c=32 includes queueing behind the other requests; req/s %.0f vs %.0f, bare %.0f vs %.0f)\n",
		b.rate(), a.rate(), hi.bareRate(), lo.bareRate())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func mb(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// loadAverage is the first three fields of /proc/loadavg, or "n/a".
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}
