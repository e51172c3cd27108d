package cli

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     string
		nofile  uint64
		want    int
		wantErr bool
	}{
		{"80% of the limit", "0", 20000, 16000, false},
		{"80% of an odd limit", "0", 1023, 818, false},
		{"limit unknown", "0", 0, unknownLimitConns, false},
		{"limit unlimited", "0", ^uint64(0), unlimitedLimitConns, false},
		{"tiny limit", "0", 1, 1, false},
		{"set below the limit", "100", 20000, 100, false},
		{"set at 80%", "16000", 20000, 16000, false},
		{"set above 80%", "16001", 20000, 0, true},
		{"set with the limit unknown", "50000", 0, 50000, false},
		{"negative", "-1", 20000, 0, true},
		{"garbage", "many", 20000, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := maxConnections(tt.raw, tt.nofile)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("maxConnections(%q, %d): got %d, %v, want %d (error %v)", tt.raw, tt.nofile, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "max-connections") {
				t.Errorf("got error %q, want it to name max-connections", err)
			}
		})
	}
}

// getKeepAlive sends one keep-alive request on c and reads its answer.
func getKeepAlive(c net.Conn, br *bufio.Reader) error {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: portal\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("got " + resp.Status + ", want 200 OK")
	}
	return nil
}

// idleConn dials addr, gets one answer and leaves the connection open and
// idle, as a keep-alive client does.
func idleConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound on a failing test, not a wait
	if err := getKeepAlive(c, bufio.NewReader(c)); err != nil {
		t.Fatalf("idle connection: %v", err)
	}
	return c
}

// serveLimited serves a 200 on a limitListener on loopback until cleanup.
func serveLimited(t *testing.T, max, perClient int, exempt func(netip.Addr) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(newLimitListener(ln, max, perClient, exempt, nil)) }()
	t.Cleanup(func() {
		// Close must end an Accept that waits for a free slot.
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: got %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// TestLimitListener_Total: with the cap reached, a new connection waits in
// the backlog and is served once an idle one closes.
func TestLimitListener_Total(t *testing.T) {
	t.Parallel()
	addr := serveLimited(t, 2, 0, nil)
	c1 := idleConn(t, addr)
	idleConn(t, addr)

	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := io.WriteString(c3, "GET /healthz HTTP/1.1\r\nHost: portal\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Not served while both slots are taken. A short deadline can only
	// make this check pass wrongly, never fail wrongly.
	br := bufio.NewReader(c3)
	_ = c3.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection over a cap of 2: got %v, want no answer yet", err)
	}
	c1.Close()
	_ = c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("third connection after one closed: got %v, want an answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("got %d, want 200", resp.StatusCode)
	}
}

// TestLimitListener_Exempt: a client address the exempt function names (a
// trusted proxy) has no per-client cap.
func TestLimitListener_Exempt(t *testing.T) {
	t.Parallel()
	loopback := netip.MustParseAddr("127.0.0.1")
	addr := serveLimited(t, 10, 1, func(a netip.Addr) bool { return a == loopback })
	for range 3 {
		idleConn(t, addr)
	}
}

// TestServe_ConnectionCapPerClient: serve closes a client's connections over
// PORTAL_MAX_CONNECTIONS_PER_CLIENT as they come, says so in the log, and
// serves the client again once one of its connections has closed.
func TestServe_ConnectionCapPerClient(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"PORTAL_MAX_CONNECTIONS_PER_CLIENT": "2", "PORTAL_LOG_FLUSH_INTERVAL": "0"})
	c1 := idleConn(t, s.addr)
	idleConn(t, s.addr)

	c3, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	_ = c3.SetDeadline(time.Now().Add(10 * time.Second))
	if err := getKeepAlive(c3, bufio.NewReader(c3)); err == nil {
		t.Fatal("third connection from one client over a cap of 2: got an answer, want it closed")
	}
	waitFor(t, "the refusal in the log", func() bool { return strings.Contains(s.out.String(), "over its connection cap") })

	c1.Close()
	waitFor(t, "a connection once one of the two closed", func() bool {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return getKeepAlive(c, bufio.NewReader(c)) == nil
	})
}
