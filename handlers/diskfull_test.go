package handlers_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/salesos/portal/store"
)

// lockedBuffer collects the server's log lines, written from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fullDisk fails the store's commits with ENOSPC while on.
type fullDisk struct{ on atomic.Bool }

func (d *fullDisk) fault() error {
	if d.on.Load() {
		return &fs.PathError{Op: "write", Path: "portal.db", Err: syscall.ENOSPC}
	}
	return nil
}

// TestDiskFull: a write refused for a full disk answers 507 with
// Retry-After, is logged once for the episode, turns /readyz to 503 until a
// write succeeds, and stores nothing.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	disk := &fullDisk{}
	var logs lockedBuffer
	e := newTestEnvWith(t, envOptions{logTo: &logs, store: store.Options{CommitFault: disk.fault}})
	tok := e.admin("acme")
	e.mustCreateContact(tok, map[string]any{"email": "kept@example.com", "firstName": "K"})
	wantStatus(t, e.do(http.MethodGet, "/readyz", "", nil), http.StatusOK)

	disk.on.Store(true)
	for i := range 3 {
		r := e.do(http.MethodPost, "/v1/contacts", tok, map[string]any{"email": fmt.Sprintf("lost%d@example.com", i), "firstName": "L"})
		p := wantProblem(t, r, http.StatusInsufficientStorage)
		if p["type"] != "https://salesos.dev/problems/insufficient-storage" {
			t.Errorf("got type %v, want .../insufficient-storage", p["type"])
		}
		if d, _ := p["detail"].(string); !strings.Contains(d, "disk is full") || strings.Contains(d, "no space left") {
			t.Errorf("got detail %q, want one saying the disk is full, without the system's error text", d)
		}
		if got := r.header.Get("Retry-After"); got != "30" {
			t.Errorf("got Retry-After %q, want 30", got)
		}
	}
	if n := strings.Count(logs.String(), "database disk full"); n != 1 {
		t.Errorf("got %d disk-full log lines for 3 refused writes, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "request failed") {
		t.Errorf("got logs %s, want the disk full at ERROR and no 500 logged", logs.String())
	}
	r := e.do(http.MethodGet, "/readyz", "", nil)
	p := wantProblem(t, r, http.StatusServiceUnavailable)
	if d, _ := p["detail"].(string); !strings.Contains(d, "disk is full") {
		t.Errorf("got readiness detail %q, want the disk named", d)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("got no Retry-After on the 503, want one")
	}

	// Space freed: the readiness probe writes, succeeds and clears it.
	disk.on.Store(false)
	e.clock.Advance(5 * time.Second)
	wantStatus(t, e.do(http.MethodGet, "/readyz", "", nil), http.StatusOK)
	if p := e.listContacts(tok, ""); len(p.Data) != 1 || p.Data[0].Email != "kept@example.com" {
		t.Errorf("got contacts %+v, want only the one written before the disk filled", p.Data)
	}
	e.mustCreateContact(tok, map[string]any{"email": "later@example.com", "firstName": "L"})

	// A second episode is logged again.
	disk.on.Store(true)
	wantProblem(t, e.do(http.MethodPost, "/v1/contacts", tok, map[string]any{"email": "x@example.com", "firstName": "X"}),
		http.StatusInsufficientStorage)
	if n := strings.Count(logs.String(), "database disk full"); n != 2 {
		t.Errorf("got %d disk-full log lines after a second episode, want 2", n)
	}
}
