// Command portal-bench measures the portal server under load. For each
// number of users it seeds a temporary database through the store, starts
// the real portal binary on loopback over it, drives each endpoint at a fixed
// concurrency for a fixed time with a keep-alive Go HTTP client, and prints
// req/s, p50, p99 and errors, each also as a ratio to a bare net/http JSON
// handler measured in the same run. It also prints the server's private
// memory (RssAnon, sampled through the run), its peak RSS, the database size
// per user, and bbolt's sequential durable commit rate on
// the same disk, the yardstick of POST /invitations.
//
//	go run ./cmd/portal-bench --users 100000
//	go run ./cmd/portal-bench --users 1000,100000 --duration 10s
//	go run -tags etcd ./cmd/portal-bench --users 10000 --store bbolt,etcd
//
// With --store etcd the server runs on a three-member etcd cluster on
// loopback instead (started in this process, in a portal-bench built with
// -tags etcd), over the same seeded data copied into it; with
// --store bbolt,etcd each size runs on both and the report gives etcd's
// req/s as a ratio to bbolt's.
//
// No external load tool is needed. The load generator shares the machine's
// cores with the server, so read the figures as ratios.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// enterCgroupEnv, when set, makes portal-bench a launcher: it writes its
// own pid to the cgroup.procs file the variable names, then executes its
// arguments. The server so starts inside the cgroup, and every page it
// touches is charged there (a process moved in later would leave what it
// touched before charged outside).
const enterCgroupEnv = "PORTAL_BENCH_ENTER_CGROUP"

func main() {
	if procs := os.Getenv(enterCgroupEnv); procs != "" {
		err := launch(procs, os.Args[1:]) // returns only on failure
		fmt.Fprintln(os.Stderr, "portal-bench:", err)
		os.Exit(1)
	}
	if err := run(context.Background(), os.Args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "portal-bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	users       []int
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	commitTime  time.Duration
	binary      string
	dir         string
	invitations int
	contacts    int
	logLevel    string
	serverLog   string
	keep        bool
	endpoints   []string
	stores      []string // storeBolt, storeEtcd: each size runs on each
	memoryLimit int64    // bytes; 0 for none
	constrained bool     // each size twice: unconstrained, then under memoryLimit
	// goMemoryLimit is the server's PORTAL_MEMORY_LIMIT (its GOMEMLIMIT) in
	// a run under memoryLimit: bytes, 0 for the default (goLimitFor), -1
	// for none.
	goMemoryLimit int64
}

// defaultConstrainedLimit is --memory-limit's default with --constrained:
// issue 17's 64 MiB.
const defaultConstrainedLimit = 64 << 20

// goLimitFor is the Go runtime's soft limit given to a server under a
// memory limit: an eighth below it, and at least the 16 MiB serve takes.
// The Go limit counts only the runtime's own memory (heap, stacks, its
// metadata), while the hard limit also charges the page cache of the
// database and binary, page tables and socket buffers; the eighth leaves
// room for those, so the collector works harder before the kernel has
// nothing left to reclaim but the server.
func goLimitFor(limit int64) int64 {
	return min(limit, max(limit-limit/8, 16<<20))
}

// serverGoLimit is the PORTAL_MEMORY_LIMIT for a server run under limit
// (0 for none): 0 when there is no limit or the option says none.
func (o options) serverGoLimit(limit int64) int64 {
	switch {
	case limit == 0 || o.goMemoryLimit < 0:
		return 0
	case o.goMemoryLimit > 0:
		return o.goMemoryLimit
	}
	return goLimitFor(limit)
}

// endpointNames are the measured endpoints, in the order they run: reads
// first, the loads that write last, so reads see exactly the seeded users.
var endpointNames = []string{"config", "user", "list", "stats", "mixed", "invite"}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.String("users", "100000", "comma-separated numbers of seeded users; each gets a fresh database and server")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent client connections (and requests in flight) per endpoint")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each endpoint is measured")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load on each endpoint before its measurement")
	fs.DurationVar(&o.commitTime, "commit-duration", 2*time.Second, "how long bbolt's sequential durable commit rate is measured")
	fs.StringVar(&o.binary, "binary", "", "portal binary to start (default: go build of github.com/salesos/portal into the work directory)")
	fs.StringVar(&o.dir, "dir", "", "directory for the work directory with the databases (default: the system temp dir); it decides the disk measured")
	fs.IntVar(&o.invitations, "invitations", 100, "pending invitations seeded through the store's CreateInvitation before the server starts")
	fs.IntVar(&o.contacts, "contacts", 1000, "contacts seeded through the store's ImportContacts before the server starts")
	fs.StringVar(&o.logLevel, "server-log-level", "info", "PORTAL_LOG_LEVEL of the server; at info, as in production, every request writes an access line")
	fs.StringVar(&o.serverLog, "server-log", "", "file for the server's log (default: discarded)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (databases, built binary) and print its path")
	limit := fs.String("memory-limit", "", "run the server under this memory limit (bytes, or with KiB, MiB, GiB): in a memory cgroup, as systemd's MemoryMax= does (cgroup v1 or v2, Linux, needs a writable memory controller), else with the soft Go limit alone; default 64MiB with --constrained")
	fs.BoolVar(&o.constrained, "constrained", false, "run each size twice, on fresh databases: without a limit, then under --memory-limit, and compare the throughput (mixed load under the limit ≥ 0.8× without) and report OOM kills")
	goLimit := fs.String("go-memory-limit", os.Getenv("PORTAL_MEMORY_LIMIT"), "PORTAL_MEMORY_LIMIT (GOMEMLIMIT) of the server in a run under --memory-limit: a size, or off; default this environment's PORTAL_MEMORY_LIMIT, else an eighth below --memory-limit")
	stores := fs.String("store", storeBolt, "stores the server runs on, each size on each: bbolt (a file), etcd (a three-member etcd cluster on loopback, fsync on, data under --dir; needs -tags etcd), or bbolt,etcd to compare them")
	eps := fs.String("endpoints", strings.Join(endpointNames, ","), "endpoints to measure: "+strings.Join(endpointNames, ", "))
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: %s [flags]

Seeds a temporary database with N users through the store, starts the real
portal binary on 127.0.0.1 over it (PORTAL_JWT_SECRET set, so the bench mints
its staff token), and measures at --concurrency for --duration each:

  config  GET  /v1/customer-portal/config
  user    GET  /v1/customer-portal/users/{id}     (random seeded ids)
  list    GET  /v1/customer-portal/users?limit=20
  stats   GET  /v1/customer-portal/stats
  mixed   config, user, list, stats and invite together, one drawn at
          random for each request: 2 in 10 config, 4 user, 1 list,
          1 stats, 2 invite (80%% reads)
  invite  POST /v1/customer-portal/invitations    (unique emails)

plus a bare net/http JSON handler in this process, before and after the
reads (before the loads that write, whose emails keep the server busy
afterwards), as the base of every ratio. Prints req/s, p50, p99, errors
(non-2xx or transport), ratio to bare, the server's private memory
(RssAnon from /proc/PID/status, sampled every 50 ms through every phase:
the memory goal) and its peak RSS (VmHWM, which counts the database's
mapped pages: information only), the database size per user, and bbolt's
sequential durable commit rate (one put per Update, fsync each) on the
same disk.

With --store etcd (a portal-bench built with -tags etcd) it starts three
etcd members on loopback in this process, fsync on, their data under
--dir, copies each seeded file into a fresh prefix with store.CopyTree (as
portal migrate does), builds the portal binary with -tags etcd and starts
it with PORTAL_STORE naming the cluster; it also measures the cluster
alone (3-put transactions/s, linearizable gets/s). With --store bbolt,etcd
each size runs on both, with one binary, and the report gives etcd's req/s
as ratios to bbolt's, against issue 16's goals.

Flags:
`, filepath.Base(args[0]))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	var err error
	for _, s := range strings.Split(*users, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 10_000_000 {
			errs = append(errs, fmt.Errorf("users: %q must be whole numbers from 1 to 10000000", s))
			continue
		}
		o.users = append(o.users, n)
	}
	for _, s := range strings.Split(*eps, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(endpointNames, s) {
			errs = append(errs, fmt.Errorf("endpoints: %q is not one of %s", s, strings.Join(endpointNames, ", ")))
			continue
		}
		o.endpoints = append(o.endpoints, s)
	}
	if o.stores, err = parseStores(*stores); err != nil {
		errs = append(errs, err)
	}
	if *limit != "" {
		n, err := parseBytes(*limit)
		if err != nil || n < 16<<20 {
			errs = append(errs, fmt.Errorf("memory-limit: %q must be a size of at least 16MiB, such as 60MiB", *limit))
		}
		o.memoryLimit = n
	}
	if o.constrained && o.memoryLimit == 0 && *limit == "" {
		o.memoryLimit = defaultConstrainedLimit
	}
	switch *goLimit {
	case "":
	case "off":
		o.goMemoryLimit = -1
	default:
		n, err := parseBytes(*goLimit)
		if err != nil || n < 16<<20 {
			errs = append(errs, fmt.Errorf("go-memory-limit: %q must be off or a size of at least 16MiB, such as 56MiB", *goLimit))
		}
		o.goMemoryLimit = n
	}
	if o.concurrency < 1 || o.concurrency > 4096 {
		errs = append(errs, errors.New("concurrency: must be from 1 to 4096"))
	}
	if o.duration < 100*time.Millisecond {
		errs = append(errs, errors.New("duration: must be at least 100ms"))
	}
	if o.warmup < 0 {
		errs = append(errs, errors.New("warmup: must not be negative"))
	}
	if o.commitTime < 100*time.Millisecond {
		errs = append(errs, errors.New("commit-duration: must be at least 100ms"))
	}
	if o.invitations < 0 || o.contacts < 0 || o.contacts > 10000 {
		errs = append(errs, errors.New("invitations and contacts: must not be negative; contacts at most 10000"))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opt, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(opt.dir, "portal-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if opt.keep {
			fmt.Fprintln(stdout, "work directory kept:", work)
			return
		}
		err = errors.Join(err, os.RemoveAll(work))
	}()
	bin := opt.binary
	if bin == "" {
		bin = filepath.Join(work, "portal")
		fmt.Fprintln(stderr, "building the portal binary...")
		if err := buildServer(ctx, bin, slices.Contains(opt.stores, storeEtcd), stderr); err != nil {
			return err
		}
	}
	var cl cluster
	if slices.Contains(opt.stores, storeEtcd) {
		fmt.Fprintln(stderr, "starting a three-member etcd cluster on loopback...")
		if cl, err = startCluster(ctx, filepath.Join(work, "etcd")); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, cl.close()) }()
	}
	bare, err := startBare()
	if err != nil {
		return err
	}
	defer bare.Close()

	var runs []sizeRun
	for _, n := range opt.users {
		var bySize []sizeRun
		for _, st := range opt.stores {
			on := cl
			dir := filepath.Join(work, fmt.Sprintf("users-%d", n))
			if st == storeBolt {
				on = nil
			} else {
				dir += "-" + st
			}
			free := opt
			if opt.constrained {
				free.memoryLimit = 0
			}
			r, err := benchSize(ctx, free, bin, on, dir, n, bare.URL, stderr)
			if err != nil {
				return fmt.Errorf("%d users on %s: %w", n, st, err)
			}
			r.print(stdout, free)
			runs = append(runs, r)
			bySize = append(bySize, r)
			if !opt.constrained {
				continue
			}
			// A fresh database, as the first run's writes grew its own.
			l, err := benchSize(ctx, opt, bin, on, dir+"-limited", n, bare.URL, stderr)
			if err != nil {
				return fmt.Errorf("%d users on %s under %s: %w", n, st, mb(opt.memoryLimit), err)
			}
			l.print(stdout, opt)
			printConstrained(stdout, r, l)
		}
		bolt, etcd := runsOn(bySize, storeBolt), runsOn(bySize, storeEtcd)
		if len(bolt) == 1 && len(etcd) == 1 {
			printStores(stdout, bolt[0], etcd[0])
		}
	}
	for _, st := range opt.stores {
		on := ""
		if len(opt.stores) > 1 {
			on = st
		}
		printComparison(stdout, runsOn(runs, st), on)
	}
	return nil
}

// parseBytes reads a size: a whole number of bytes, or one followed by KiB,
// MiB or GiB.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = rest, m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("size %q", s)
	}
	return n * mult, nil
}
