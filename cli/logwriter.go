package cli

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBufferSize is how much log output may wait for the next flush; a full
// buffer is written at once.
const logBufferSize = 64 << 10

// flushingWriter gathers log lines and writes them out every interval (and
// whenever its buffer fills), instead of making one write(2) per line: at
// info level every request logs a line, and the write was a sixth of a
// small request's cost. A crash loses at most the last interval's lines.
type flushingWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// newFlushingWriter starts flushing w's buffer every interval until Close.
func newFlushingWriter(w io.Writer, interval time.Duration) *flushingWriter {
	f := &flushingWriter{buf: bufio.NewWriterSize(w, logBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-t.C:
				_ = f.Flush()
			}
		}
	}()
	return f
}

// Write buffers p. slog handlers write one whole record per call, so lines
// are never interleaved.
func (f *flushingWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}

// Flush writes out what is buffered.
func (f *flushingWriter) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Flush()
}

// Close stops the flushing and writes out the rest. Lines written after it
// wait in the buffer for a Flush.
func (f *flushingWriter) Close() error {
	close(f.stop)
	<-f.done
	return f.Flush()
}
