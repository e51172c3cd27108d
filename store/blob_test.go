package store

// Internal tests of the blob store: blobs are claimed and deleted inside an
// owner's transaction, which only the owner kinds of this package do, so
// these tests stand in an owner of their own ("test/<blob id>").

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

func init() {
	// A test owner holds the blob whose ID is its own.
	blobOwners["test"] = func(_ orgCheck, id string) ([]string, bool) { return []string{id}, true }
}

const blobOrg = data.TenantID("acme")

// blobClock is a settable clock.
type blobClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *blobClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *blobClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openBlobDB(t *testing.T) (*DB, *blobClock, string) {
	t.Helper()
	clk := &blobClock{t: checkT0}
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(path, clk.now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, clk, path
}

// content is n reproducible pseudo-random bytes.
func content(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// claim holds blob as the test owner, as an owner's transaction would.
func claim(t *testing.T, db *DB, blob Blob) error {
	t.Helper()
	return db.write(t.Context(), func(tx kv.Tx) error {
		b, err := org(tx, blobOrg)
		if err != nil {
			return err
		}
		return claimBlob(b, blob, "test/"+blob.ID)
	})
}

// blobKeys counts the chunks and loose markers of the organization.
func blobKeys(t *testing.T, db *DB) (chunks, loose int) {
	t.Helper()
	err := db.kv.View(func(tx kv.Tx) error {
		chunks, loose = 0, 0
		b := tx.Bucket(bOrgs).Bucket(bytesOf(blobOrg))
		if b == nil {
			return nil
		}
		if c := b.Bucket(bBlobChunks); c != nil {
			chunks = c.KeyN()
		}
		if l := b.Bucket(bBlobLoose); l != nil {
			loose = l.KeyN()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return chunks, loose
}

func readBlob(t *testing.T, db *DB, id string) []byte {
	t.Helper()
	r, _, err := db.OpenBlob(t.Context(), blobOrg, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPutBlob_RoundTrip(t *testing.T) {
	t.Parallel()
	db, _, path := openBlobDB(t)
	sizes := []int{0, 1, BlobChunkSize - 1, BlobChunkSize, BlobChunkSize + 1, blobChunksPerTx*BlobChunkSize + 7}
	var usage int64
	for i, n := range sizes {
		want := content(n, uint64(i))
		// iotest-style one-byte-at-a-time readers would be slow at this
		// size; a reader that returns short reads is enough to exercise the
		// chunk filling.
		blob, err := db.PutBlob(t.Context(), blobOrg, &shortReader{r: bytes.NewReader(want), max: 10000}, int64(n))
		if err != nil {
			t.Fatalf("size %d: got %v, want nil", n, err)
		}
		sum := sha256.Sum256(want)
		if blob.Size != int64(n) || blob.SHA256 != hex.EncodeToString(sum[:]) || blob.Chunks != (n+BlobChunkSize-1)/BlobChunkSize {
			t.Errorf("size %d: got %+v, want size, hash and chunk count of the content", n, blob)
		}
		if _, err := db.BlobInfo(t.Context(), blobOrg, blob.ID); !errors.Is(err, data.ErrNotFound) {
			t.Errorf("size %d: got %v for an unclaimed blob, want ErrNotFound", n, err)
		}
		if err := claim(t, db, blob); err != nil {
			t.Fatal(err)
		}
		usage += int64(n)
		if got := readBlob(t, db, blob.ID); !bytes.Equal(got, want) {
			t.Errorf("size %d: read back %d bytes that differ from the %d written", n, len(got), n)
		}
		if n == 0 {
			continue
		}
		// Ranges across chunk boundaries, through Seek and ReadAt.
		r, _, err := db.OpenBlob(t.Context(), blobOrg, blob.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int{0, n / 2, max(0, n-BlobChunkSize-3), n - 1} {
			if _, err := r.Seek(int64(off), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(io.LimitReader(r, int64(BlobChunkSize+5)))
			if err != nil {
				t.Fatal(err)
			}
			if end := min(n, off+BlobChunkSize+5); !bytes.Equal(got, want[off:end]) {
				t.Errorf("size %d: range from %d differs", n, off)
			}
			p := make([]byte, min(100, n-off))
			if k, err := r.ReadAt(p, int64(off)); k != len(p) || (err != nil && err != io.EOF) || !bytes.Equal(p, want[off:off+len(p)]) {
				t.Errorf("size %d: ReadAt %d: got %d, %v", n, off, k, err)
			}
		}
		if end, err := r.Seek(0, io.SeekEnd); end != int64(n) || err != nil {
			t.Errorf("size %d: seek to end: got %d, %v", n, end, err)
		}
		_ = r.Close()
	}
	if got, err := db.BlobUsage(t.Context(), blobOrg); err != nil || got != usage {
		t.Errorf("got usage %d, %v, want %d", got, err, usage)
	}
	if _, loose := blobKeys(t, db); loose != 0 {
		t.Errorf("got %d loose blobs after every blob was claimed, want 0", loose)
	}
	_ = db.Close()
	r, err := Check(path)
	if err != nil || !r.OK() {
		t.Fatalf("check: got %v, %v, want OK", err, r.Breaches)
	}
	if r.Records["blobs"] != len(sizes) {
		t.Errorf("check: got %d blobs, want %d", r.Records["blobs"], len(sizes))
	}
}

// shortReader returns at most max bytes a read.
type shortReader struct {
	r   io.Reader
	max int
}

func (s *shortReader) Read(p []byte) (int, error) {
	if len(p) > s.max {
		p = p[:s.max]
	}
	return s.r.Read(p)
}

// failingReader yields n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

func TestPutBlob_FailureLeavesNothing(t *testing.T) {
	t.Parallel()
	db, _, path := openBlobDB(t)
	kept, err := db.PutBlob(t.Context(), blobOrg, bytes.NewReader(content(BlobChunkSize+1, 1)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := claim(t, db, kept); err != nil {
		t.Fatal(err)
	}
	chunks, _ := blobKeys(t, db)
	errRead := errors.New("connection reset")
	cases := []struct {
		name string
		r    io.Reader
		max  int64
		want error
	}{
		{"one byte over", bytes.NewReader(content(3*BlobChunkSize+1, 2)), 3 * BlobChunkSize, ErrBlobTooLarge},
		{"far over, past a transaction", bytes.NewReader(content(3*blobChunksPerTx*BlobChunkSize, 3)), 2*blobChunksPerTx*BlobChunkSize + 5, ErrBlobTooLarge},
		{"reader fails", &failingReader{n: 2*blobChunksPerTx*BlobChunkSize + 9, err: errRead}, 1 << 30, errRead},
	}
	for _, c := range cases {
		_, err := db.PutBlob(t.Context(), blobOrg, c.r, c.max)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		var tooLarge *BlobTooLargeError
		if errors.As(err, &tooLarge) && tooLarge.Max != c.max {
			t.Errorf("%s: got limit %d in the error, want %d", c.name, tooLarge.Max, c.max)
		}
		if got, loose := blobKeys(t, db); got != chunks || loose != 0 {
			t.Errorf("%s: got %d chunks and %d loose blobs, want %d and 0 as before", c.name, got, loose, chunks)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.PutBlob(ctx, blobOrg, bytes.NewReader(content(10, 4)), 100); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
	if got, loose := blobKeys(t, db); got != chunks || loose != 0 {
		t.Errorf("cancelled: got %d chunks and %d loose blobs, want %d and 0", got, loose, chunks)
	}
	if got, err := db.BlobUsage(t.Context(), blobOrg); err != nil || got != kept.Size {
		t.Errorf("got usage %d, %v, want %d", got, err, kept.Size)
	}
	_ = db.Close()
	if r, err := Check(path); err != nil || !r.OK() {
		t.Fatalf("check: got %v, %v, want OK", err, r.Breaches)
	}
}

func TestSweep_LooseBlobs(t *testing.T) {
	t.Parallel()
	db, clk, path := openBlobDB(t)
	ctx := t.Context()
	abandoned, err := db.PutBlob(ctx, blobOrg, bytes.NewReader(content(2*BlobChunkSize+3, 5)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	held, err := db.PutBlob(ctx, blobOrg, bytes.NewReader(content(BlobChunkSize+3, 6)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := claim(t, db, held); err != nil {
		t.Fatal(err)
	}
	if r, err := db.Sweep(ctx); err != nil || r.Blobs != 0 {
		t.Fatalf("sweep within the grace: got %+v, %v, want nothing collected", r, err)
	}
	if chunks, loose := blobKeys(t, db); chunks != 5 || loose != 1 {
		t.Fatalf("got %d chunks, %d loose, want 5 and 1", chunks, loose)
	}
	clk.advance(blobGrace)
	if r, err := db.Sweep(ctx); err != nil || r.Blobs != 1 {
		t.Fatalf("sweep past the grace: got %+v, %v, want one blob collected", r, err)
	}
	if chunks, loose := blobKeys(t, db); chunks != 2 || loose != 0 {
		t.Errorf("got %d chunks, %d loose, want the held blob's 2 and none loose", chunks, loose)
	}
	if err := claim(t, db, abandoned); !errors.Is(err, data.ErrGone) {
		t.Errorf("claim of a collected upload: got %v, want ErrGone", err)
	}

	// A deleted blob leaves the usage at once and its chunks with the next
	// collection, whatever the grace.
	err = db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, blobOrg)
		if err != nil {
			return err
		}
		return deleteBlob(b, held.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := db.BlobUsage(ctx, blobOrg); err != nil || n != 0 {
		t.Errorf("got usage %d, %v after the delete, want 0", n, err)
	}
	if _, _, err := db.OpenBlob(ctx, blobOrg, held.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("open of a deleted blob: got %v, want ErrNotFound", err)
	}
	db.collectDeleted(ctx, blobOrg, held.ID)
	if chunks, loose := blobKeys(t, db); chunks != 0 || loose != 0 {
		t.Errorf("got %d chunks, %d loose after the delete, want none", chunks, loose)
	}
	_ = db.Close()
	if r, err := Check(path); err != nil || !r.OK() {
		t.Fatalf("check: got %v, %v, want OK", err, r.Breaches)
	}
}

func TestPutBlob_StalledUploadExpires(t *testing.T) {
	t.Parallel()
	db, clk, _ := openBlobDB(t)
	// The reader stalls after the first transaction's chunks; meanwhile
	// the grace passes and a sweep collects them.
	first := blobChunksPerTx * BlobChunkSize
	reached, resume := make(chan struct{}), make(chan struct{})
	r := &stallReader{data: content(first+10, 7), at: first, reached: reached, resume: resume}
	done := make(chan error, 1)
	go func() {
		_, err := db.PutBlob(t.Context(), blobOrg, r, 1<<30)
		done <- err
	}()
	// PutBlob commits a transaction's chunks before it reads on, so they
	// are stored once the reader is asked for more.
	<-reached
	if _, loose := blobKeys(t, db); loose != 1 {
		t.Fatalf("got %d loose blobs while the upload stalls, want 1", loose)
	}
	clk.advance(blobGrace)
	if res, err := db.Sweep(t.Context()); err != nil || res.Blobs != 1 {
		t.Fatalf("got %+v, %v, want the stalled upload collected", res, err)
	}
	close(resume)
	if err := <-done; !errors.Is(err, data.ErrGone) {
		t.Errorf("got %v from the resumed upload, want ErrGone", err)
	}
	if chunks, loose := blobKeys(t, db); chunks != 0 || loose != 0 {
		t.Errorf("got %d chunks, %d loose, want none", chunks, loose)
	}
}

// stallReader serves data, blocking at offset at until resume is closed.
type stallReader struct {
	data            []byte
	off, at         int
	reached, resume chan struct{}
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.off == s.at && s.reached != nil {
		close(s.reached)
		s.reached = nil
		<-s.resume
	}
	if s.off >= len(s.data) {
		return 0, io.EOF
	}
	end := len(s.data)
	if s.off < s.at {
		end = s.at
	}
	n := copy(p, s.data[s.off:end])
	s.off += n
	return n, nil
}

func TestCheck_Blobs(t *testing.T) {
	t.Parallel()
	build := func(t *testing.T) (string, Blob) {
		db, _, path := openBlobDB(t)
		blob, err := db.PutBlob(t.Context(), blobOrg, bytes.NewReader(content(2*BlobChunkSize+10, 8)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := claim(t, db, blob); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutBlob(t.Context(), blobOrg, bytes.NewReader(content(10, 9)), 1<<20); err != nil {
			t.Fatal(err) // loose, as after a crash: counted, not a breach
		}
		_ = db.Close()
		return path, blob
	}
	path, _ := build(t)
	r, err := Check(path)
	if err != nil || !r.OK() {
		t.Fatalf("got %v, %v, want OK", err, r.Breaches)
	}
	if r.Records["blobs"] != 1 || r.Records["blob_chunks"] != 4 || r.Records["blob_loose"] != 1 {
		t.Errorf("got %v, want 1 blob, 4 chunks, 1 loose", r.Records)
	}
	chunks := func(tx kv.Tx) kv.Bucket { return acme(tx).Bucket(bBlobChunks) }
	cases := []struct {
		name   string
		mutate func(tx kv.Tx, blob Blob) error
		want   string
	}{
		{"a byte of a chunk changed", func(tx kv.Tx, blob Blob) error {
			v := append([]byte(nil), chunks(tx).Get(chunkKey(blob.ID, 1))...)
			v[7]++
			return chunks(tx).Put(chunkKey(blob.ID, 1), v)
		}, "content has SHA-256"},
		{"a chunk missing", func(tx kv.Tx, blob Blob) error {
			return chunks(tx).Delete(chunkKey(blob.ID, 2))
		}, "chunk 2 of 3 is missing"},
		{"a chunk cut short", func(tx kv.Tx, blob Blob) error {
			return chunks(tx).Put(chunkKey(blob.ID, 0), []byte("short"))
		}, "chunk 0 holds 5 bytes"},
		{"a chunk past the last", func(tx kv.Tx, blob Blob) error {
			return chunks(tx).Put(chunkKey(blob.ID, 3), []byte("extra"))
		}, "past its last"},
		{"chunks of no blob", func(tx kv.Tx, blob Blob) error {
			return chunks(tx).Put(chunkKey("01ORPHANORPHANORPHANORPHAN", 0), []byte("x"))
		}, "neither held nor loose"},
		{"an unknown owner", func(tx kv.Tx, blob Blob) error {
			blob.Owner = "nothing/" + blob.ID
			return putJSON(acme(tx).Bucket(bBlobs), bytesOf(blob.ID), blob)
		}, "not a kind of record that holds files"},
		{"usage counter off", func(tx kv.Tx, blob Blob) error {
			return bump(acme(tx), cBlobBytes, 1)
		}, "blobs.bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path, blob := build(t)
			mutate(t, path, func(tx kv.Tx) error { return c.mutate(tx, blob) })
			r, err := Check(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Breaches) != 1 || !strings.Contains(r.Breaches[0].String(), c.want) {
				t.Errorf("got %v, want one breach saying %q", r.Breaches, c.want)
			}
		})
	}
}

func TestBackup_BlobsByteIdentical(t *testing.T) {
	t.Parallel()
	db, _, _ := openBlobDB(t)
	want := map[string][]byte{}
	for i, n := range []int{5, 3*BlobChunkSize + 17} {
		c := content(n, uint64(100+i))
		blob, err := db.PutBlob(t.Context(), blobOrg, bytes.NewReader(c), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if err := claim(t, db, blob); err != nil {
			t.Fatal(err)
		}
		want[blob.ID] = c
	}
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	err := WriteFileAtomic(backup, func(w io.Writer) error {
		_, err := db.Backup(t.Context(), w, nil)
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Check(backup); err != nil || !r.OK() || r.Records["blobs"] != 2 {
		t.Fatalf("check of the backup: got %v, %v, %d blobs, want OK with 2", err, r.Breaches, r.Records["blobs"])
	}
	restored := filepath.Join(dir, "restored.db")
	if err := Restore(backup, restored, false); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(restored, time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for id, c := range want {
		if got := readBlob(t, db2, id); !bytes.Equal(got, c) {
			t.Errorf("blob %s: restored %d bytes that differ from the %d stored", id, len(got), len(c))
		}
	}
}
