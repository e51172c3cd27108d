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

// anonGoal is issue 17's memory goal: the server's private memory
// (RssAnon, sampled through every phase) below 32 MiB at 100,000 users.
// VmHWM is not the goal: it counts bbolt's mapping of the database, which
// grows with the file and which the kernel can drop at any time.
const anonGoal = 32 << 20

// memoryGoal is the target line for the server's private memory.
func memoryGoal(p memoryPeaks) string {
	return fmt.Sprintf("%s (want < %s, %d samples): %s", mb(p.anon), mb(anonGoal), p.samples, verdict(p.samples > 0 && p.anon < anonGoal))
}

func (r sizeRun) print(w io.Writer, opt options) {
	under := ""
	if r.store == storeEtcd || len(opt.stores) > 1 {
		under = " on " + r.store
	}
	if r.limit.limit > 0 {
		under += fmt.Sprintf(" under a memory limit of %s (%s)", mb(r.limit.limit), r.limit.mechanism)
	}
	fmt.Fprintf(w, "\n== %d users%s: concurrency %d, %v per endpoint after %v warm-up; %s, %d CPUs, load average at the end %s\n\n",
		r.fx.users, under, opt.concurrency, opt.duration, opt.warmup, runtime.Version(), runtime.NumCPU(), loadAverage())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\treq/s\tp50\tp99\terrors\t× bare\tRssAnon peak\tVmHWM\t")
	base := r.bareRate()
	// In the order measured: the second bare before the first load that
	// writes, if any.
	var rows []result
	rows = append(rows, r.bare[0])
	again := false
	for _, e := range r.endpoints {
		if e.writer && !again {
			rows, again = append(rows, r.bare[1:]...), true
		}
		rows = append(rows, e)
	}
	if !again {
		rows = append(rows, r.bare[1:]...)
	}
	for _, e := range rows {
		anon, hwm := "-", "-"
		if e.peaks.samples > 0 {
			anon = mb(e.peaks.anon)
		}
		if e.mem.peak > 0 {
			hwm = mb(e.mem.peak)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%.2f\t%s\t%s\t\n", e.name, e.rate(), ms(e.p50), ms(e.p99), e.errors, e.rate()/base, anon, hwm)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nratios are to the mean of the two bare measurements, %.0f req/s\n", base)
	fmt.Fprintf(w, "bbolt sequential durable commits (one put per Update, fsync each), same disk, before and after the server ran: %s tx/s, mean %.0f",
		joinRates(r.commits), r.commitRate())
	if inv, ok := r.endpoint("POST /invitations"); ok && r.commitRate() > 0 {
		fmt.Fprintf(w, "; POST /invitations = %.2f× the mean", inv.rate()/r.commitRate())
	}
	fmt.Fprintln(w)
	if r.etcd != nil {
		r.etcd.print(w, opt.concurrency)
	}
	if r.peaks.samples > 0 {
		fmt.Fprintf(w, "server memory, /proc/<pid>/status sampled every 50 ms through every phase (%d samples): peak RssAnon %s (private: heap, stacks, runtime), peak RssFile %s (bbolt's mmap of the database, the binary)\n",
			r.peaks.samples, mb(r.peaks.anon), mb(r.peaks.file))
	}
	if r.memErr != nil {
		fmt.Fprintf(w, "server memory at the end: unavailable: %v\n", r.memErr)
	} else {
		fmt.Fprintf(w, "server memory at the end: RSS %s = RssAnon %s + RssFile %s; peak RSS (VmHWM), for information only: %s, it counts the database's mapped pages, which grow with the file and which the kernel may drop at any time\n",
			mb(r.final.rss), mb(r.final.anon), mb(r.final.file), mb(r.final.peak))
		if r.store == storeEtcd {
			fmt.Fprintln(w, "  (on etcd the server maps no database: the members' memory is the bench process's, not counted here)")
		}
	}
	r.printLimit(w)
	n := int64(r.fx.users)
	if r.store == storeEtcd {
		fmt.Fprint(w, "seeded file, before its copy into etcd: ")
	}
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
	if r.store == storeBolt {
		r.printTargets(w) // on etcd the targets are to bbolt: see printStores
	}
}

// printTargets checks the run against issue 6's targets (meant for 100,000
// users), issue 17's memory goal, and the ratios PocketBase's figures imply
// (bare ~70,000 req/s).
func (r sizeRun) printTargets(w io.Writer) {
	base := r.bareRate()
	fmt.Fprintln(w, "\ntargets (issues 6 and 17, at 100,000 users):")
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
	if r.memErr == nil || r.peaks.samples > 0 { // samples taken before a server's early exit count
		fmt.Fprintf(w, "  %-22s %s\n", "server RssAnon peak", memoryGoal(r.peaks))
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
// most users within 1.2× of that at the fewest. on names the store when
// the run had several ("" otherwise).
func printComparison(w io.Writer, runs []sizeRun, on string) {
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
	if on != "" {
		on = " on " + on
	}
	fmt.Fprintf(w, "\nGET /stats%s: p50 %s at %d users, %s at %d users = %.2f× (want ≤ 1.20): %s; p99 %s vs %s\n",
		on, ms(b.p50), hi.fx.users, ms(a.p50), lo.fx.users, ratio, verdict(ratio <= 1.2), ms(b.p99), ms(a.p99))
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

// printLimit says how the server's memory was limited, what the limit cost,
// and whether the server survived the run.
func (r sizeRun) printLimit(w io.Writer) {
	if r.limit.limit > 0 {
		fmt.Fprintln(w, r.limit.describe())
		switch {
		case r.limitErr != nil:
			fmt.Fprintf(w, "  usage unavailable: %v\n", r.limitErr)
		case r.limit.mechanism != mechanismSoft:
			fmt.Fprintf(w, "  peak charge %s, the limit reached %d times (the kernel reclaimed page cache), OOM kills %d, %s\n",
				mb(r.usage.peak), r.usage.hits, r.usage.oomKills, faults(r.majorFaults))
		default:
			fmt.Fprintf(w, "  %s\n", faults(r.majorFaults))
		}
	}
	if r.exited {
		fmt.Fprintf(w, "SERVER EXITED before the run ended: %s\n", exitText(r.exitErr))
	}
	if r.stopErr != nil {
		fmt.Fprintf(w, "SERVER STOP FAILED: %v\n", r.stopErr)
	}
}

func faults(n int64) string {
	if n < 0 {
		return "major faults unknown (the server had exited)"
	}
	return fmt.Sprintf("%d major faults (pages read back from disk)", n)
}

// exitText describes how a server exited; SIGKILL is what the OOM killer
// sends.
func exitText(err error) string {
	switch {
	case err == nil:
		return "exit status 0"
	case strings.Contains(err.Error(), "signal: killed"):
		return err.Error() + " (SIGKILL, as the OOM killer sends it)"
	}
	return err.Error()
}

// constrainedRatio is the lowest throughput under the memory limit, as a
// share of the unconstrained run's, that issue 17 accepts.
const constrainedRatio = 0.8

// constrainedGoal checks the mixed load under the limit against the same
// load without it: at least 0.8× the throughput, no OOM kill, no error,
// the server still running at the end.
func constrainedGoal(free, limited sizeRun) string {
	a, okA := free.endpoint(mixedName)
	b, okB := limited.endpoint(mixedName)
	if !okA || !okB || a.rate() == 0 {
		return "not measured (the mixed load was not among --endpoints): NOT MET"
	}
	ratio := b.rate() / a.rate()
	var why []string
	if ratio < constrainedRatio {
		why = append(why, fmt.Sprintf("under %.2f×", constrainedRatio))
	}
	if limited.usage.oomKills > 0 {
		why = append(why, fmt.Sprintf("%d OOM kills", limited.usage.oomKills))
	}
	if limited.exited {
		why = append(why, "the server exited: "+exitText(limited.exitErr))
	}
	if b.errors > 0 {
		why = append(why, fmt.Sprintf("%d errors", b.errors))
	}
	if limited.limitErr != nil {
		why = append(why, "the limit's usage unreadable, OOM kills unknown")
	}
	line := fmt.Sprintf("%.0f req/s under %s (%s) against %.0f without = %.2f× (want ≥ %.2f, no OOM kill, no error): ",
		b.rate(), mb(limited.limit.limit), limited.limit.mechanism, a.rate(), ratio, constrainedRatio)
	if len(why) > 0 {
		return line + "NOT MET (" + strings.Join(why, "; ") + ")"
	}
	if limited.limit.mechanism == mechanismSoft {
		return line + "met, but with the soft Go limit only, no hard cap: nothing enforced " + mb(limited.limit.limit)
	}
	return line + "met"
}

// printConstrained compares each endpoint of a run under the memory limit
// with the same endpoint of the run without it.
func printConstrained(w io.Writer, free, limited sizeRun) {
	fmt.Fprintf(w, "\n== %d users under %s (%s) against no limit\n\n", free.fx.users, mb(limited.limit.limit), limited.limit.mechanism)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\treq/s without\treq/s under\tunder/without\t× bare without\t× bare under\tRssAnon peak under\t")
	for _, e := range free.endpoints {
		l, ok := limited.endpoint(e.name)
		if !ok || e.rate() == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t\n", e.name, e.rate(), l.rate(), l.rate()/e.rate(),
			e.rate()/free.bareRate(), l.rate()/limited.bareRate(), mb(l.peaks.anon))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "bare handler %.0f req/s in the run without, %.0f under: a gap is the machine's other load changing\n",
		free.bareRate(), limited.bareRate())
	fmt.Fprintf(w, "both runs started with the database and binary dropped from the page cache; the server's %s without, %s under\n",
		faults(free.majorFaults), faults(limited.majorFaults))
	if line := normalizedRatios(free, limited); line != "" {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\ntarget (issue 17, at 100,000 users):\n  %-22s %s\n", "mixed load under limit", constrainedGoal(free, limited))
}

// normalizedRatios is the mixed load's under/without ratio once more, each
// run's req/s divided first by its own bare handler's rate (the CPU the
// machine gave it) and by its own sequential durable commit rate (the disk
// it got): the two runs are minutes apart on a shared machine, and the
// mixed load needs both. The goal is the plain ratio; these say how much of
// it the machine's changing load may explain.
func normalizedRatios(free, limited sizeRun) string {
	a, okA := free.endpoint(mixedName)
	b, okB := limited.endpoint(mixedName)
	if !okA || !okB || a.rate() == 0 || free.bareRate() == 0 || limited.bareRate() == 0 ||
		free.commitRate() == 0 || limited.commitRate() == 0 {
		return ""
	}
	byBare := (b.rate() / limited.bareRate()) / (a.rate() / free.bareRate())
	byCommit := (b.rate() / limited.commitRate()) / (a.rate() / free.commitRate())
	return fmt.Sprintf("mixed load under/without, each run's req/s divided by its own bare rate: %.2f×; by its own sequential commit rate (%.0f and %.0f tx/s): %.2f×",
		byBare, free.commitRate(), limited.commitRate(), byCommit)
}
