package cli

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer the test can read while the writer writes.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestFlushingWriter_WholeLinesInFewWrites(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	w := newFlushingWriter(&out, time.Hour) // only Close flushes here
	log := slog.New(slog.NewJSONHandler(w, nil))
	const goroutines, lines = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				log.Info("request", "g", g, "i", i, "pad", strings.Repeat("x", 100))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s, writes := out.String()
	got := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(got) != goroutines*lines {
		t.Fatalf("got %d lines, want %d", len(got), goroutines*lines)
	}
	seen := map[string]bool{}
	for _, line := range got {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Fatalf("got a broken line %q", line)
		}
		seen[line[strings.Index(line, `"g"`):]] = true
	}
	if len(seen) != goroutines*lines {
		t.Errorf("got %d distinct lines, want %d", len(seen), goroutines*lines)
	}
	if max := len(s)/logBufferSize + 2; writes > max {
		t.Errorf("got %d writes for %d bytes, want at most %d", writes, len(s), max)
	}
}

func TestFlushingWriter_FlushesOnItsOwn(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	w := newFlushingWriter(&out, 10*time.Millisecond)
	defer w.Close()
	fmt.Fprintln(w, "a line")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := out.String(); s == "a line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was not written within 5s of a 10ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
