package store

// Blobs: each held blob's chunks (their count, their sizes and the SHA-256
// of the whole), its owner record, the usage counters, and chunks that
// belong to no blob.

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/salesos/portal/store/kv"
)

// blobOwners lists the kinds of record that hold blobs: for an owner ID,
// the blob IDs that record holds, and whether the record exists. A blob
// whose Owner names an unknown kind, a missing record, or a record that
// does not hold it is a breach. A new kind of owner is listed here, its
// lookup in its own check file.
var blobOwners = map[string]func(o orgCheck, ownerID string) (blobIDs []string, found bool){
	"document":       orgCheck.documentBlobs,
	"ticket_message": orgCheck.messageBlobs,
}

func (o orgCheck) blobs() {
	blobs, chunks, loose := o.b["blobs"], o.b["blob_chunks"], o.b["blob_loose"]
	var bytes, count int64
	if blobs != nil {
		_ = blobs.ForEach(func(k, v []byte) error {
			o.r.Records["blobs"]++
			var blob Blob
			if !o.decode("blobs", k, v, &blob) {
				return nil
			}
			if blob.ID != string(k) {
				o.add(BreachRecord, o.org, "blobs", printable(k), "holds blob %s", blob.ID)
				return nil
			}
			bytes += blob.Size
			count++
			o.blobChunks(chunks, blob)
			o.blobOwner(blob)
			if loose != nil && loose.Get(k) != nil {
				o.add(BreachIndex, o.org, "blob_loose", printable(k), "lists a blob that %s holds", blob.Owner)
			}
			return nil
		})
	}
	o.counterIs(cBlobBytes, bytes)
	o.counterIs(cBlobCount, count)
	if loose != nil {
		_ = loose.ForEach(func(k, v []byte) error {
			o.r.Records["blob_loose"]++
			if len(v) != 8 {
				o.add(BreachRecord, o.org, "blob_loose", printable(k), "holds %d bytes, want an 8-byte time", len(v))
			}
			return nil
		})
	}
	if chunks == nil {
		return
	}
	// Every chunk belongs to a held blob or to a loose one.
	_ = chunks.ForEach(func(k, v []byte) error {
		o.r.Records["blob_chunks"]++
		if len(k) <= 4 || v == nil {
			o.add(BreachRecord, o.org, "blob_chunks", printable(k), "is not a chunk key (blob id, 4-byte index) with a value")
			return nil
		}
		id := k[:len(k)-4]
		if (blobs == nil || blobs.Get(id) == nil) && (loose == nil || loose.Get(id) == nil) {
			o.add(BreachIndex, o.org, "blob_chunks", printable(k), "belongs to blob %s, which is neither held nor loose", printable(id))
		}
		return nil
	})
}

// blobChunks checks that blob's chunks are all there, of the right sizes,
// with its SHA-256, and that no chunk follows its last.
func (o orgCheck) blobChunks(chunks kv.Bucket, blob Blob) {
	if blob.ChunkSize <= 0 {
		o.add(BreachRecord, o.org, "blobs", blob.ID, "has chunk size %d", blob.ChunkSize)
		return
	}
	if want := (blob.Size + int64(blob.ChunkSize) - 1) / int64(blob.ChunkSize); int64(blob.Chunks) != want {
		o.add(BreachRecord, o.org, "blobs", blob.ID, "has %d chunks for %d bytes, want %d", blob.Chunks, blob.Size, want)
		return
	}
	h := sha256.New()
	var total int64
	for i := range blob.Chunks {
		var v []byte
		if chunks != nil {
			v = chunks.Get(chunkKey(blob.ID, i))
		}
		want := blob.ChunkSize
		if i == blob.Chunks-1 {
			want = int(blob.Size - int64(i)*int64(blob.ChunkSize))
		}
		if v == nil {
			o.add(BreachIndex, o.org, "blob_chunks", blob.ID, "chunk %d of %d is missing", i, blob.Chunks)
			return
		}
		if len(v) != want {
			o.add(BreachRecord, o.org, "blob_chunks", blob.ID, "chunk %d holds %d bytes, want %d", i, len(v), want)
			return
		}
		h.Write(v)
		total += int64(len(v))
	}
	if chunks != nil && chunks.Get(chunkKey(blob.ID, blob.Chunks)) != nil {
		o.add(BreachRecord, o.org, "blob_chunks", blob.ID, "has a chunk %d past its last", blob.Chunks)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); total == blob.Size && sum != blob.SHA256 {
		o.add(BreachRecord, o.org, "blobs", blob.ID, "content has SHA-256 %s, the record says %s", sum, blob.SHA256)
	}
}

// blobOwner checks that the record blob names holds it.
func (o orgCheck) blobOwner(blob Blob) {
	kind, id, ok := strings.Cut(blob.Owner, "/")
	lookup := blobOwners[kind]
	if !ok || lookup == nil {
		o.add(BreachIndex, o.org, "blobs", blob.ID, "has owner %q, not a kind of record that holds files", blob.Owner)
		return
	}
	ids, found := lookup(o, id)
	if !found {
		o.add(BreachIndex, o.org, "blobs", blob.ID, "is held by %s, which is missing", blob.Owner)
		return
	}
	for _, held := range ids {
		if held == blob.ID {
			return
		}
	}
	o.add(BreachIndex, o.org, "blobs", blob.ID, "names owner %s, which does not hold it", blob.Owner)
}

// heldBlob is the check an owner record makes of the blob it points at:
// the blob's record exists and names it as the owner.
func (o orgCheck) heldBlob(bucket, key, blobID, owner string) {
	var blob Blob
	found := false
	if blobs := o.b["blobs"]; blobs != nil {
		if raw := blobs.Get(bytesOf(blobID)); raw != nil && jsonDecode(raw, &blob) == nil {
			found = true
		}
	}
	switch {
	case !found:
		o.add(BreachIndex, o.org, bucket, key, "points at missing blob %s", blobID)
	case blob.Owner != owner:
		o.add(BreachIndex, o.org, bucket, key, "points at blob %s, held by %q", blobID, blob.Owner)
	}
}
