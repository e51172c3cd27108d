package store

// Documents: each record decodes, agrees with its key, is valid, and holds
// a blob that names it as the owner (the blob's own checks are in
// check_blob.go).

// documentBlobs is the blob a document holds, for the blob check
// (blobOwners).
func (o orgCheck) documentBlobs(id string) ([]string, bool) {
	var rec documentRecord
	if docs := o.b["documents"]; docs == nil || jsonDecode(docs.Get(bytesOf(id)), &rec) != nil {
		return nil, false
	}
	return []string{rec.BlobID}, true
}

func (o orgCheck) documents() {
	docs := o.b["documents"]
	if docs == nil {
		return
	}
	_ = docs.ForEach(func(k, v []byte) error {
		o.r.Records["documents"]++
		var rec documentRecord
		if !o.decode("documents", k, v, &rec) {
			return nil
		}
		if rec.ID != string(k) {
			o.add(BreachRecord, o.org, "documents", printable(k), "holds document %s", rec.ID)
			return nil
		}
		if err := rec.Validate(); err != nil {
			o.add(BreachRecord, o.org, "documents", rec.ID, "is not valid: %v", err)
		}
		o.heldBlob("documents", rec.ID, rec.BlobID, "document/"+rec.ID)
		var blob Blob
		if blobs := o.b["blobs"]; blobs == nil {
			return nil // heldBlob reported it
		} else if raw := blobs.Get(bytesOf(rec.BlobID)); raw != nil && jsonDecode(raw, &blob) == nil &&
			(blob.Size != rec.Size || blob.SHA256 != rec.SHA256) {
			o.add(BreachRecord, o.org, "documents", rec.ID, "says %d bytes with SHA-256 %s, its blob %d bytes with %s",
				rec.Size, rec.SHA256, blob.Size, blob.SHA256)
		}
		return nil
	})
}
