package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildServer builds the portal binary (the module's root package) to bin,
// with the etcd build tag if etcd is set.
func buildServer(ctx context.Context, bin string, etcd bool, stderr io.Writer) error {
	args := []string{"build", "-o", bin}
	if etcd {
		args = append(args, "-tags", "etcd")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "github.com/salesos/portal")...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s (run inside the module, or pass --binary): %w", strings.Join(cmd.Args, " "), err)
	}
	return nil
}

// server is a running portal process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	done   chan error
	log    *os.File
	cgroup *memoryCgroup // with --memory-limit, where a cgroup could be made
	// limit is how the server's memory is limited, with --memory-limit.
	limit limitInfo

	// The sampler reads /proc/<pid>/status every 50 ms, from the start to
	// the stop, and keeps the peaks of the anonymous (RssAnon) and
	// file-backed (RssFile) parts, which VmHWM does not separate: over the
	// whole run, and over the current phase (see startPhase).
	mu           sync.Mutex
	whole, phase memoryPeaks
	stopSampler  chan struct{}
	samplerDone  chan struct{}
}

// memoryPeaks are the highest of a run of /proc samples.
type memoryPeaks struct {
	anon, file int64 // RssAnon and RssFile, bytes
	samples    int
}

func (p *memoryPeaks) add(m memory) {
	p.anon, p.file = max(p.anon, m.anon), max(p.file, m.file)
	p.samples++
}

func (s *server) sample() {
	defer close(s.samplerDone)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		s.sampleOnce()
		select {
		case <-s.stopSampler:
			return
		case <-t.C:
		}
	}
}

// sampleOnce reads the server's memory once into the peaks.
func (s *server) sampleOnce() {
	m, err := readMemory(s.cmd.Process.Pid)
	if err != nil {
		return // the process is gone, or has no RssAnon: no sample
	}
	s.mu.Lock()
	s.whole.add(m)
	s.phase.add(m)
	s.mu.Unlock()
}

// startPhase starts the peaks of a new phase (one measurement).
func (s *server) startPhase() {
	s.mu.Lock()
	s.phase = memoryPeaks{}
	s.mu.Unlock()
}

// phasePeaks returns the peaks since startPhase, with one more sample
// taken now, so a phase shorter than the sampler's period has one.
func (s *server) phasePeaks() memoryPeaks {
	s.sampleOnce()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase
}

// peaks returns the peaks since the server started.
func (s *server) peaks() memoryPeaks {
	s.sampleOnce()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.whole
}

// startServer starts bin serving dbPath (or, if storeURL is set, the store
// it names, with dbPath the file it was seeded from) on a free loopback
// port with the HS256 secret, and waits until /healthz answers.
func startServer(ctx context.Context, bin, dbPath, storeURL string, secret []byte, opt options) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://" + addr, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd := exec.Command(bin, "serve")
	// The caller's PORTAL_* settings (SMTP, JWKS...) must not leak into the
	// measured server; everything else (PATH, HOME, GO*) may.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	storeEnv := "PORTAL_DB=" + dbPath
	if storeURL != "" {
		storeEnv = "PORTAL_STORE=" + storeURL
	}
	cmd.Env = append(cmd.Env, "PORTAL_ADDR="+addr, storeEnv, "PORTAL_JWT_SECRET="+string(secret),
		"PORTAL_LOG_LEVEL="+opt.logLevel, "PORTAL_PUBLIC_URL="+s.url, "PORTAL_METRICS_ADDR=off")
	if opt.memoryLimit > 0 {
		s.limit = limitInfo{limit: opt.memoryLimit, goLimit: opt.serverGoLimit(opt.memoryLimit)}
		if s.limit.goLimit > 0 {
			cmd.Env = append(cmd.Env, "PORTAL_MEMORY_LIMIT="+strconv.FormatInt(s.limit.goLimit, 10))
		}
	}
	cmd.Stderr = s.stderr
	if opt.serverLog != "" {
		f, err := os.OpenFile(opt.serverLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		s.log, cmd.Stdout = f, f
	} // else stdout is /dev/null: the server still encodes and writes every line
	if opt.memoryLimit > 0 || opt.constrained {
		// Pages already cached were charged to whoever read or wrote them
		// (the build, the seeding): drop them, so that the server reads them
		// again under its own limit. With --constrained the run without a
		// limit drops them too, so both runs start from a cold cache and
		// differ only by the limit.
		if err := dropCache(bin, dbPath); err != nil {
			return nil, err
		}
	}
	if opt.memoryLimit > 0 {
		c, err := newMemoryCgroup(opt.memoryLimit)
		if err != nil {
			// No cgroup to be had: the soft Go limit is all there is, and
			// the report says so.
			if s.limit.goLimit == 0 {
				return nil, fmt.Errorf("%w; and --go-memory-limit is off, so nothing would limit the server", err)
			}
			s.limit.mechanism, s.limit.why = mechanismSoft, err.Error()
		} else {
			s.cgroup, s.limit.mechanism = c, c.mechanism()
		}
	}
	start := cmd.Start
	if s.cgroup != nil {
		start = func() error { return s.cgroup.start(cmd) }
	}
	if err := start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start %s: %w", bin, err), s.removeCgroup())
	}
	s.cmd = cmd
	go func() { s.done <- cmd.Wait() }()
	s.stopSampler, s.samplerDone = make(chan struct{}), make(chan struct{})
	go s.sample()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("server exited before it was ready: %v: %s", err, s.stderr.String())
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), s.stop())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(errors.New("server not ready after 15s: "+s.stderr.String()), s.stop())
		}
	}
}

// exited reports whether the server has already exited, and how.
func (s *server) exited() (error, bool) {
	select {
	case err := <-s.done:
		s.done <- err
		return err, true
	default:
		return nil, false
	}
}

// stop asks the server to shut down gracefully (SIGTERM) and kills it after
// 15 seconds. A server that had already exited is not an error here: the
// run reports it (see exited).
func (s *server) stop() error {
	close(s.stopSampler)
	<-s.samplerDone
	defer func() {
		if s.log != nil {
			_ = s.log.Close()
		}
	}()
	if _, gone := s.exited(); gone {
		return s.removeCgroup()
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			return errors.Join(fmt.Errorf("server: %w: %s", err, s.stderr.String()), s.removeCgroup())
		}
		return s.removeCgroup()
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.Join(errors.New("server did not stop within 15s of SIGTERM; killed"), s.removeCgroup())
	}
}

// limited reports the cgroup's usage, if the server has one.
func (s *server) limited() (u cgroupUsage, err error) {
	if s.cgroup == nil {
		return u, nil
	}
	return s.cgroup.usage()
}

// faults is how many pages the server has read back from disk on a fault,
// or -1 if that is unknown (the server exited, or this is not Linux).
func (s *server) faults() int64 {
	if _, gone := s.exited(); gone {
		return -1
	}
	n, err := majorFaults(s.cmd.Process.Pid)
	if err != nil {
		return -1
	}
	return n
}

func (s *server) removeCgroup() error {
	if s.cgroup == nil {
		return nil
	}
	return s.cgroup.remove()
}

// memory is a process's memory as /proc/<pid>/status reports it, in bytes.
type memory struct {
	peak int64 // VmHWM: peak resident set, file mappings included
	rss  int64 // VmRSS now
	anon int64 // RssAnon now: heap, stacks, the runtime; private to the process
	file int64 // RssFile now: mapped files, bbolt's mmap of the database among them
}

// readMemory reads /proc/<pid>/status (Linux only).
func readMemory(pid int) (memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads the memory fields of a /proc/<pid>/status file. VmHWM
// and RssAnon (Linux 4.5 and later) must be there: the memory goal is read
// from RssAnon.
func parseStatus(r io.Reader) (memory, error) {
	var m memory
	fields := map[string]*int64{"VmHWM:": &m.peak, "VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) == 0 {
			continue
		}
		dst, ok := fields[parts[0]]
		if !ok {
			continue
		}
		if len(parts) != 3 || parts[2] != "kB" {
			return m, fmt.Errorf("/proc status %s: want a number of kB, got %q", parts[0], sc.Text())
		}
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || n < 0 {
			return m, fmt.Errorf("/proc status %s: want a number of kB, got %q", parts[0], sc.Text())
		}
		*dst = n << 10
		seen[parts[0]] = true
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	for _, f := range []string{"VmHWM:", "RssAnon:"} {
		if !seen[f] {
			return m, fmt.Errorf("/proc status has no %s (RssAnon needs Linux 4.5 or later)", strings.TrimSuffix(f, ":"))
		}
	}
	return m, nil
}

func (s *server) memory() (memory, error) { return readMemory(s.cmd.Process.Pid) }

// freeAddr returns a loopback address no one listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// bareBody is what the bare handler answers: about the size of a small
// API response's envelope.
var bareBody = []byte(`{"id":"01JDQ2X3Y4Z5A6B7C8D9E0F1G2","status":"ok","enabled":true}` + "\n")

// bareHandler is the yardstick: net/http and a fixed JSON body, nothing else.
func bareHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(bareBody)
}

// bareServer is bareHandler on a loopback port of this process.
type bareServer struct {
	URL string
	srv *http.Server
}

// startBare serves bareHandler with a plain http.Server.
func startBare() (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &bareServer{URL: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: http.HandlerFunc(bareHandler), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Close stops the bare server.
func (b *bareServer) Close() { _ = b.srv.Close() }
