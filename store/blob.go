package store

// Blobs are files kept inside the database, cut into chunks, so that one
// backup holds every file with the records that point at them:
//
//	orgs/<org>/blobs/<id>           -> Blob (JSON): a blob its owner record holds
//	orgs/<org>/blob_chunks/<id><i>  -> chunk i (4 bytes, big-endian) of blob id
//	orgs/<org>/blob_loose/<id>      -> 8-byte UnixNano: chunks no record holds yet
//	                                   (an upload under way) or any more (a deleted
//	                                   blob), collected by the sweeper
//	orgs/<org>/counters/blobs.bytes -> bytes of the organization's held blobs
//	orgs/<org>/counters/blobs.count -> number of held blobs
//
// An upload streams: PutBlob reads BlobChunkSize bytes at a time and writes
// blobChunksPerTx chunks per transaction, hashing as it goes, so neither
// memory nor any transaction grows with the file. The owner record (a
// document, an attachment) is committed after every chunk is, in the same
// transaction as the blob's own record (claimBlob). A crash in between
// leaves only loose chunks, which `portal check` counts and the sweeper
// removes once they are older than blobGrace. The buckets are created on
// first use, so a database that never held a file has none of them.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

var (
	bBlobs      = []byte("blobs")
	bBlobChunks = []byte("blob_chunks")
	bBlobLoose  = []byte("blob_loose")
)

// lazyOrgBuckets are organization buckets created on first use rather than
// with the organization; check looks at those present.
var lazyOrgBuckets = [][]byte{bBlobs, bBlobChunks, bBlobLoose, bDocuments,
	bQuotes, bQuoteRefs, bInvoices, bInvoiceRefs, bOrders, bOrderRefs, bWebhooks, bWebhookDeliveries, bKBArticles, bKBSlugs}

// Counters of the organization's blobs.
const (
	cBlobBytes = "blobs.bytes"
	cBlobCount = "blobs.count"
)

const (
	// BlobChunkSize is the size of every chunk of a blob but its last.
	BlobChunkSize = 256 << 10
	// blobChunksPerTx is how many chunks one upload transaction writes: an
	// upload holds at most this many chunks in memory, and no transaction
	// carries more than 1 MiB of a file.
	blobChunksPerTx = 4
	// blobGrace is how long loose chunks of an upload stay after its last
	// write before the sweeper takes them: an upload that stalls this long
	// is abandoned. Chunks of a deleted blob go at the next sweep.
	blobGrace = 15 * time.Minute
	// blobSweepBatch bounds the chunks one collecting transaction deletes.
	blobSweepBatch = 256
)

// Blob describes a stored file. Its content is read with OpenBlob.
type Blob struct {
	ID string `json:"id"`
	// Size is the length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the content.
	SHA256 string `json:"sha256"`
	// Chunks is the number of chunks, each ChunkSize bytes but the last.
	Chunks    int `json:"chunks"`
	ChunkSize int `json:"chunkSize"`
	// Owner names the record that holds the blob, "<kind>/<id>" (such as
	// "document/01J..."); empty until that record is committed.
	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// ErrBlobTooLarge is wrapped by the error of an upload longer than its
// limit (*BlobTooLargeError).
var ErrBlobTooLarge = errors.New("file too large")

// BlobTooLargeError is an upload that went past its limit. Nothing of it
// was kept.
type BlobTooLargeError struct{ Max int64 }

func (e *BlobTooLargeError) Error() string {
	return "the file is larger than " + strconv.FormatInt(e.Max, 10) + " bytes"
}

// Unwrap makes errors.Is(err, ErrBlobTooLarge) true.
func (e *BlobTooLargeError) Unwrap() error { return ErrBlobTooLarge }

// ErrUploadExpired is an upload whose loose chunks the sweeper collected
// before the upload was done or claimed (it stalled past blobGrace). It
// wraps data.ErrGone.
var ErrUploadExpired = fmt.Errorf("the upload took too long and was discarded: %w", data.ErrGone)

// chunkKey is the key of chunk i of blob id.
func chunkKey(id string, i int) []byte {
	k := make([]byte, len(id)+4)
	copy(k, id)
	binary.BigEndian.PutUint32(k[len(id):], uint32(i))
	return k
}

// PutBlob stores the content of r, up to max bytes, as a new blob of the
// organization and returns it. The chunks are written as they arrive, a
// few per transaction; the blob stays loose (counted by no quota, held by
// no record, collected by the sweeper after blobGrace) until its owner's
// transaction claims it with claimBlob. A reader longer than max fails
// with a *BlobTooLargeError; that or any other failure (a read error, a
// cancelled ctx) removes every chunk written before returning.
func (db *DB) PutBlob(ctx context.Context, tenant data.TenantID, r io.Reader, max int64) (Blob, error) {
	id := db.NewID()
	blob := Blob{ID: id, ChunkSize: BlobChunkSize}
	h := sha256.New()
	var bufs [blobChunksPerTx][]byte
	var lens [blobChunksPerTx]int
	fail := func(err error) (Blob, error) {
		// The write path gave up: drop what was written, even though ctx
		// may be what ended it. What a failure here leaves, the sweeper
		// takes later.
		_, _ = db.collectBlob(context.WithoutCancel(ctx), tenant, id, true)
		return Blob{}, err
	}
	for first, eof := true, false; first || !eof; first = false {
		n := 0
		for n < blobChunksPerTx && !eof {
			if bufs[n] == nil {
				bufs[n] = make([]byte, BlobChunkSize)
			}
			k, err := io.ReadFull(r, bufs[n])
			switch {
			case err == io.EOF || err == io.ErrUnexpectedEOF:
				eof = true
			case err != nil:
				return fail(err)
			}
			if k == 0 {
				break
			}
			if blob.Size+int64(k) > max {
				return fail(&BlobTooLargeError{Max: max})
			}
			h.Write(bufs[n][:k])
			blob.Size += int64(k)
			lens[n] = k
			n++
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		start, isFirst := blob.Chunks, first
		err := db.write(ctx, func(tx kv.Tx) error {
			b, err := org(tx, tenant)
			if err != nil {
				return err
			}
			loose, err := b.CreateBucketIfNotExists(bBlobLoose)
			if err != nil {
				return err
			}
			chunks, err := b.CreateBucketIfNotExists(bBlobChunks)
			if err != nil {
				return err
			}
			if !isFirst && loose.Get(bytesOf(id)) == nil {
				return ErrUploadExpired
			}
			if err := loose.Put(bytesOf(id), itob(db.now().UnixNano())); err != nil {
				return err
			}
			for i := range n {
				if err := chunks.Put(chunkKey(id, start+i), bufs[i][:lens[i]]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fail(err)
		}
		blob.Chunks += n
	}
	blob.SHA256 = hex.EncodeToString(h.Sum(nil))
	blob.CreatedAt = db.Now()
	return blob, nil
}

// claimBlob makes blob, as PutBlob returned it, held by owner ("<kind>/<id>",
// a kind listed in blobOwners): it writes the blob's record, takes it off
// the loose list and counts it in the organization's usage. It runs inside
// the owner's transaction, after the owner's own checks and before its
// writes: its checks come first, so an error leaves nothing written. An
// upload the sweeper already collected is ErrUploadExpired (data.ErrGone).
func claimBlob(b kv.Bucket, blob Blob, owner string) error {
	loose, chunks := b.Bucket(bBlobLoose), b.Bucket(bBlobChunks)
	if loose == nil || loose.Get(bytesOf(blob.ID)) == nil || chunks == nil {
		return ErrUploadExpired
	}
	if blob.Chunks > 0 && chunks.Get(chunkKey(blob.ID, blob.Chunks-1)) == nil {
		return ErrUploadExpired
	}
	blobs, err := b.CreateBucketIfNotExists(bBlobs)
	if err != nil {
		return err
	}
	if blobs.Get(bytesOf(blob.ID)) != nil {
		return fmt.Errorf("blob %s is held already", blob.ID)
	}
	blob.Owner = owner
	if err := putJSON(blobs, bytesOf(blob.ID), blob); err != nil {
		return err
	}
	if err := loose.Delete(bytesOf(blob.ID)); err != nil {
		return err
	}
	if err := bump(b, cBlobBytes, blob.Size); err != nil {
		return err
	}
	return bump(b, cBlobCount, 1)
}

// deleteBlob drops blob id from its owner, inside the owner's transaction
// that deletes the owner record: the blob's record goes, its size leaves
// the usage, and its chunks become loose for the sweeper (or for
// collectLoose right after the commit), so the transaction stays small
// whatever the file's size. A missing blob is not an error.
func deleteBlob(b kv.Bucket, id string) error {
	blobs := b.Bucket(bBlobs)
	var blob Blob
	found, err := getJSON(blobs, bytesOf(id), &blob)
	if err != nil || !found {
		return err
	}
	loose, err := b.CreateBucketIfNotExists(bBlobLoose)
	if err != nil {
		return err
	}
	if err := blobs.Delete(bytesOf(id)); err != nil {
		return err
	}
	if err := loose.Put(bytesOf(id), itob(0)); err != nil { // due at once
		return err
	}
	if err := bump(b, cBlobBytes, -blob.Size); err != nil {
		return err
	}
	return bump(b, cBlobCount, -1)
}

// BlobInfo returns the organization's held blob id, without its content.
func (db *DB) BlobInfo(ctx context.Context, tenant data.TenantID, id string) (Blob, error) {
	var blob Blob
	err := db.read(ctx, func(tx kv.Tx) error {
		blob = Blob{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			if err == nil {
				err = data.ErrNotFound
			}
			return err
		}
		found, err := getJSON(b.Bucket(bBlobs), bytesOf(id), &blob)
		if err == nil && !found {
			err = data.ErrNotFound
		}
		return err
	})
	return blob, err
}

// BlobUsage is the number of bytes the organization's held blobs take, for
// its storage quota. Loose chunks do not count.
func (db *DB) BlobUsage(ctx context.Context, tenant data.TenantID) (int64, error) {
	var n int64
	err := db.read(ctx, func(tx kv.Tx) error {
		n = 0
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		n = counter(b, cBlobBytes)
		return nil
	})
	return n, err
}

// OpenBlob opens the organization's held blob id for reading. The reader
// reads one chunk at a time, in its own read transaction, and seeks, so
// http.ServeContent can serve ranges of it; reads use ctx. Close it when
// done. A missing blob is data.ErrNotFound.
func (db *DB) OpenBlob(ctx context.Context, tenant data.TenantID, id string) (*BlobReader, Blob, error) {
	blob, err := db.BlobInfo(ctx, tenant, id)
	if err != nil {
		return nil, Blob{}, err
	}
	return &BlobReader{db: db, ctx: ctx, tenant: tenant, blob: blob, cur: -1}, blob, nil
}

// BlobReader reads a blob's content: an io.ReadSeekCloser and io.ReaderAt.
// It holds at most one chunk in memory. It is not safe for concurrent use.
type BlobReader struct {
	db     *DB
	ctx    context.Context
	tenant data.TenantID
	blob   Blob
	off    int64
	cur    int // index of the chunk in buf, -1 for none
	buf    []byte
	closed bool
}

// ErrBlobChanged is a read of a blob that was deleted, or whose chunks do
// not match its record, while it was being read.
var ErrBlobChanged = errors.New("blob deleted or damaged while being read")

// chunk loads chunk i into r.buf.
func (r *BlobReader) chunk(i int) error {
	if r.cur == i {
		return nil
	}
	want := r.blob.ChunkSize
	if i == r.blob.Chunks-1 {
		want = int(r.blob.Size - int64(i)*int64(r.blob.ChunkSize))
	}
	r.cur = -1
	err := r.db.read(r.ctx, func(tx kv.Tx) error {
		r.buf = r.buf[:0]
		b, err := org(tx, r.tenant)
		if err != nil || b == nil {
			if err == nil {
				err = ErrBlobChanged
			}
			return err
		}
		chunks := b.Bucket(bBlobChunks)
		if chunks == nil {
			return ErrBlobChanged
		}
		v := chunks.Get(chunkKey(r.blob.ID, i))
		if len(v) != want {
			return fmt.Errorf("blob %s chunk %d: %d bytes, want %d: %w", r.blob.ID, i, len(v), want, ErrBlobChanged)
		}
		r.buf = append(r.buf, v...)
		return nil
	})
	if err != nil {
		return err
	}
	r.cur = i
	return nil
}

// ReadAt reads len(p) bytes from off.
func (r *BlobReader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, errors.New("read of a closed blob")
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for n < len(p) {
		if off >= r.blob.Size {
			return n, io.EOF
		}
		i := int(off / int64(r.blob.ChunkSize))
		if err := r.chunk(i); err != nil {
			return n, err
		}
		c := copy(p[n:], r.buf[off-int64(i)*int64(r.blob.ChunkSize):])
		n += c
		off += int64(c)
	}
	return n, nil
}

// Read reads from the current offset, at most to the end of one chunk.
func (r *BlobReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("read of a closed blob")
	}
	if r.off >= r.blob.Size {
		return 0, io.EOF
	}
	if end := (r.off/int64(r.blob.ChunkSize) + 1) * int64(r.blob.ChunkSize); int64(len(p)) > end-r.off {
		p = p[:end-r.off]
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read.
func (r *BlobReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.blob.Size
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	r.off = offset
	return offset, nil
}

// Close releases the reader's buffer.
func (r *BlobReader) Close() error {
	r.closed, r.buf, r.cur = true, nil, -1
	return nil
}

// collectBlob deletes the loose chunks of blob id and then its loose
// marker, blobSweepBatch chunks per transaction. Unless force is set it
// acts only when the marker is older than blobGrace. It reports whether it
// removed the blob; a blob that is not loose (held, or already gone) is
// left alone.
func (db *DB) collectBlob(ctx context.Context, tenant data.TenantID, id string, force bool) (bool, error) {
	for {
		done, stop := false, false
		err := db.write(ctx, func(tx kv.Tx) error {
			done, stop = false, false
			b := tx.Bucket(bOrgs).Bucket(bytesOf(tenant))
			if b == nil || b.Bucket(bBlobLoose) == nil {
				stop = true
				return nil
			}
			loose := b.Bucket(bBlobLoose)
			mark := loose.Get(bytesOf(id))
			if mark == nil || (!force && !looseDue(mark, db.now())) {
				stop = true
				return nil
			}
			var keys [][]byte
			if chunks := b.Bucket(bBlobChunks); chunks != nil {
				c := chunks.Cursor()
				for k, _ := c.Seek(bytesOf(id)); k != nil && len(keys) < blobSweepBatch && isChunkOf(k, id); k, _ = c.Next() {
					keys = append(keys, append([]byte(nil), k...))
				}
				for _, k := range keys {
					if err := chunks.Delete(k); err != nil {
						return err
					}
				}
			}
			if len(keys) < blobSweepBatch {
				done = true
				return loose.Delete(bytesOf(id))
			}
			return nil
		})
		if err != nil || stop {
			return false, err
		}
		if done {
			return true, nil
		}
	}
}

// isChunkOf reports whether k is a chunk key of blob id.
func isChunkOf(k []byte, id string) bool {
	return len(k) == len(id)+4 && bytes.HasPrefix(k, bytesOf(id))
}

// looseDue reports whether a loose marker is older than blobGrace.
func looseDue(mark []byte, now time.Time) bool {
	return now.Sub(time.Unix(0, btoi(mark))) >= blobGrace
}

// looseBlob is a loose blob the sweeper may collect.
type looseBlob struct {
	tenant data.TenantID
	id     string
}

// dueLooseBlobs lists up to limit loose blobs past their grace.
func (db *DB) dueLooseBlobs(ctx context.Context, limit int) ([]looseBlob, error) {
	var due []looseBlob
	err := db.read(ctx, func(tx kv.Tx) error {
		due = nil
		now := db.now()
		orgs := tx.Bucket(bOrgs)
		return orgs.ForEachBucket(func(name []byte) error {
			loose := orgs.Bucket(name).Bucket(bBlobLoose)
			if loose == nil {
				return nil
			}
			return loose.ForEach(func(k, v []byte) error {
				if len(due) < limit && looseDue(v, now) {
					due = append(due, looseBlob{tenant: data.TenantID(strings.Clone(string(name))), id: string(k)})
				}
				return nil
			})
		})
	})
	return due, err
}

// sweepBlobs collects loose blobs past their grace, at most sweepBatch.
func (db *DB) sweepBlobs(ctx context.Context) (int, error) {
	due, err := db.dueLooseBlobs(ctx, sweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range due {
		ok, err := db.collectBlob(ctx, l.tenant, l.id, false)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// collectDeleted collects the organization's deleted blobs ids right away,
// after the transaction that deleted their owners. An error is left to the
// sweeper, which collects them later.
func (db *DB) collectDeleted(ctx context.Context, tenant data.TenantID, ids ...string) {
	for _, id := range ids {
		if _, err := db.collectBlob(context.WithoutCancel(ctx), tenant, id, false); err != nil {
			return
		}
	}
}

// BlobStats counts what the organization's blobs hold.
type BlobStats struct {
	// Blobs and Bytes are the held blobs and their size (the quota's usage).
	Blobs, Bytes int64
	// Chunks counts every stored chunk, of held and loose blobs.
	Chunks int
	// Loose counts blobs no record holds: uploads under way or cut short,
	// and deleted blobs not yet collected.
	Loose int
}

// BlobStats counts the organization's blobs and chunks. It walks the chunk
// keys, so it costs O(chunks): for operations and tests, not for every
// request.
func (db *DB) BlobStats(ctx context.Context, tenant data.TenantID) (BlobStats, error) {
	var s BlobStats
	err := db.read(ctx, func(tx kv.Tx) error {
		s = BlobStats{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		s.Blobs, s.Bytes = counter(b, cBlobCount), counter(b, cBlobBytes)
		if c := b.Bucket(bBlobChunks); c != nil {
			s.Chunks = c.KeyN()
		}
		if l := b.Bucket(bBlobLoose); l != nil {
			s.Loose = l.KeyN()
		}
		return nil
	})
	return s, err
}
