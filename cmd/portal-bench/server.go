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

// buildServer builds the portal binary (the module's root package) to bin.
func buildServer(ctx context.Context, bin string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/salesos/portal")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build github.com/salesos/portal (run inside the module, or pass --binary): %w", err)
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
	cgroup *memoryCgroup // with --memory-limit

	// The sampler reads /proc every 50 ms and keeps the peaks of the
	// anonymous and file-backed parts, which VmHWM does not separate.
	mu                 sync.Mutex
	peakAnon, peakFile int64
	stopSampler        chan struct{}
	samplerDone        chan struct{}
}

func (s *server) sample() {
	defer close(s.samplerDone)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if m, err := readMemory(s.cmd.Process.Pid); err == nil {
			s.mu.Lock()
			s.peakAnon, s.peakFile = max(s.peakAnon, m.anon), max(s.peakFile, m.file)
			s.mu.Unlock()
		}
		select {
		case <-s.stopSampler:
			return
		case <-t.C:
		}
	}
}

// peaks returns the sampled peaks of anonymous and file-backed memory.
func (s *server) peaks() (anon, file int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakAnon, s.peakFile
}

// startServer starts bin serving dbPath on a free loopback port with the
// HS256 secret, and waits until /healthz answers.
func startServer(ctx context.Context, bin, dbPath string, secret []byte, opt options) (*server, error) {
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
	cmd.Env = append(cmd.Env, "PORTAL_ADDR="+addr, "PORTAL_DB="+dbPath, "PORTAL_JWT_SECRET="+string(secret),
		"PORTAL_LOG_LEVEL="+opt.logLevel, "PORTAL_PUBLIC_URL="+s.url)
	cmd.Stderr = s.stderr
	if opt.serverLog != "" {
		f, err := os.OpenFile(opt.serverLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		s.log, cmd.Stdout = f, f
	} // else stdout is /dev/null: the server still encodes and writes every line
	if opt.memoryLimit > 0 {
		// Pages already cached were charged to whoever read or wrote them
		// (the build, the seeding): drop them, so that the server reads them
		// again under its own limit.
		if err := dropCache(bin, dbPath); err != nil {
			return nil, err
		}
		if s.cgroup, err = newMemoryCgroup(opt.memoryLimit); err != nil {
			return nil, err
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

// stop asks the server to shut down gracefully (SIGTERM) and kills it after
// 15 seconds.
func (s *server) stop() error {
	close(s.stopSampler)
	<-s.samplerDone
	defer func() {
		if s.log != nil {
			_ = s.log.Close()
		}
	}()
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

// limited reports the cgroup's peak charge, how often it hit the limit, and
// how many pages the server read back from disk on a fault.
func (s *server) limited() (peak, hits, majflt int64, err error) {
	peak, hits, err = s.cgroup.usage()
	if err != nil {
		return 0, 0, 0, err
	}
	majflt, err = majorFaults(s.cmd.Process.Pid)
	return peak, hits, majflt, err
}

func (s *server) removeCgroup() error {
	if s.cgroup == nil {
		return nil
	}
	return s.cgroup.remove()
}

// memory is a process's memory as /proc/<pid>/status reports it, in bytes.
type memory struct {
	peak int64 // VmHWM: peak resident set
	rss  int64 // VmRSS now
	anon int64 // RssAnon now: heap, stacks
	file int64 // RssFile now: mapped files, bbolt's mmap of the database among them
}

// readMemory reads /proc/<pid>/status (Linux only).
func readMemory(pid int) (memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	fields := map[string]*int64{"VmHWM:": &m.peak, "VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 3 || parts[2] != "kB" {
			continue
		}
		if dst, ok := fields[parts[0]]; ok {
			n, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				return m, fmt.Errorf("/proc status %s: %w", parts[0], err)
			}
			*dst = n << 10
		}
	}
	if m.peak == 0 {
		return m, errors.New("/proc status has no VmHWM")
	}
	return m, sc.Err()
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
