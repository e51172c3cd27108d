package store

// Documents are files staff share with customers:
//
//	orgs/<org>/documents/<id> -> documentRecord: data.Document and the ID of
//	                             the blob that holds its file (blob.go)
//
// The bucket is created with the first document. A document is created in
// two steps so that neither holds a whole file: PutDocumentFile streams the
// file into a loose blob, then CreateDocument commits the record and claims
// the blob in one transaction.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

var bDocuments = []byte("documents")

// documentRecord is a document as stored: the API's fields and its blob.
type documentRecord struct {
	data.Document
	BlobID string `json:"blobId"`
}

// DocumentLimits bound the files of an organization's documents.
type DocumentLimits struct {
	// MaxSize is the largest file one upload takes.
	MaxSize int64
	// Quota is the total size of the organization's files.
	Quota int64
}

// DocumentFile is a document's file, stored and not yet held by a document.
type DocumentFile struct {
	Blob
	// ContentType is sniffed from the first bytes.
	ContentType string
}

// PutDocumentFile streams r into a loose blob of the organization, for
// CreateDocument. A file longer than lim.MaxSize (or than the whole quota)
// is a *BlobTooLargeError; one that does not fit in what the quota leaves
// is a *data.StorageQuotaError. Either way nothing of it is kept.
func (db *DB) PutDocumentFile(ctx context.Context, tenant data.TenantID, r io.Reader, lim DocumentLimits) (DocumentFile, error) {
	used, err := db.BlobUsage(ctx, tenant)
	if err != nil {
		return DocumentFile{}, err
	}
	limit := min(lim.MaxSize, lim.Quota)
	quotaBound := false
	if left := lim.Quota - used; left < limit {
		limit, quotaBound = max(left, 0), true
	}
	head := &headWriter{max: data.SniffLength}
	blob, err := db.PutBlob(ctx, tenant, io.TeeReader(r, head), limit)
	if err != nil {
		if quotaBound && errors.Is(err, ErrBlobTooLarge) {
			return DocumentFile{}, &data.StorageQuotaError{Quota: lim.Quota, Used: used}
		}
		return DocumentFile{}, err
	}
	return DocumentFile{Blob: blob, ContentType: data.SniffContentType(head.b)}, nil
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	b   []byte
	max int
}

func (h *headWriter) Write(p []byte) (int, error) {
	if n := h.max - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// DiscardBlob removes a loose blob at once: an upload whose owner record
// will not be created (its request failed after the file was stored). A
// blob already held, or gone, is left as it is.
func (db *DB) DiscardBlob(ctx context.Context, tenant data.TenantID, id string) error {
	_, err := db.collectBlob(context.WithoutCancel(ctx), tenant, id, true)
	return err
}

// CreateDocument stores doc with file, as PutDocumentFile returned it, and
// sets doc's ID, file fields, CreatedAt and CreatedBy (actor). The file
// must still fit in quota when the record is committed, as other uploads
// may have finished meanwhile (*data.StorageQuotaError). On any error the
// file is discarded.
func (db *DB) CreateDocument(ctx context.Context, tenant data.TenantID, actor string, doc *data.Document, file DocumentFile, quota int64) error {
	err := db.createDocument(ctx, tenant, actor, doc, file, quota)
	if err != nil {
		_ = db.DiscardBlob(ctx, tenant, file.ID)
	}
	return err
}

func (db *DB) createDocument(ctx context.Context, tenant data.TenantID, actor string, doc *data.Document, file DocumentFile, quota int64) error {
	if err := doc.Validate(); err != nil {
		return err
	}
	var out data.Document
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Document{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		if used := counter(b, cBlobBytes); used+file.Size > quota {
			return &data.StorageQuotaError{Quota: quota, Used: used}
		}
		docs, err := b.CreateBucketIfNotExists(bDocuments)
		if err != nil {
			return err
		}
		now := db.Now()
		n := *doc
		n.ID, n.CreatedAt, n.CreatedBy = db.ids.New(now), now, actor
		n.ContentType, n.Size, n.SHA256 = file.ContentType, file.Size, file.SHA256
		// claimBlob checks before it writes: the last check of this
		// transaction.
		if err := claimBlob(b, file.Blob, "document/"+n.ID); err != nil {
			return err
		}
		if err := putJSON(docs, bytesOf(n.ID), documentRecord{Document: n, BlobID: file.ID}); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "document.create", "document", n.ID, ""); err != nil {
			return err
		}
		out = n
		return nil
	})
	if err != nil {
		return err
	}
	*doc = out
	return nil
}

// getDocument reads the organization's document id.
func getDocument(b kv.Bucket, id string) (documentRecord, error) {
	var rec documentRecord
	var docs kv.Bucket
	if b != nil {
		docs = b.Bucket(bDocuments)
	}
	found, err := getJSON(docs, bytesOf(id), &rec)
	if err == nil && !found {
		err = data.ErrNotFound
	}
	return rec, err
}

// Document returns the organization's document id.
func (db *DB) Document(ctx context.Context, tenant data.TenantID, id string) (data.Document, error) {
	var d data.Document
	err := db.read(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		rec, err := getDocument(b, id)
		d = rec.Document
		return err
	})
	return d, err
}

// DocumentFilter narrows a document list.
type DocumentFilter struct {
	// AccountID, when set, keeps the documents shared with that account
	// only (not those shared with everyone).
	AccountID string
	// VisibleTo, when set, keeps the documents a customer of that account
	// sees: those shared with it and those shared with everyone.
	VisibleTo *string
}

// Documents lists the organization's documents that match f, newest first,
// starting after the document ID after.
func (db *DB) Documents(ctx context.Context, tenant data.TenantID, f DocumentFilter, after string, limit int) (Page[data.Document], error) {
	var p Page[data.Document]
	if limit < 1 || limit > data.MaxDocumentList {
		return p, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxDocumentList))
	}
	var raw Page[[]byte]
	err := db.read(ctx, func(tx kv.Tx) error {
		raw = Page[[]byte]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		var match func(k, v []byte) (bool, error)
		if f != (DocumentFilter{}) {
			match = func(k, v []byte) (bool, error) {
				var d data.Document
				if err := jsonDecode(v, &d); err != nil {
					return false, fmt.Errorf("decode %s: %w", k, err)
				}
				if f.VisibleTo != nil && !d.VisibleTo(*f.VisibleTo) {
					return false, nil
				}
				return f.AccountID == "" || d.AccountID == f.AccountID, nil
			}
		}
		raw, err = scanRaw(b.Bucket(bDocuments), after, limit, match)
		return err
	})
	if err != nil {
		return p, err
	}
	p = Page[data.Document]{Items: make([]data.Document, len(raw.Items)), Next: raw.Next}
	for i, v := range raw.Items {
		if err := jsonDecode(v, &p.Items[i]); err != nil {
			return Page[data.Document]{}, fmt.Errorf("decode document: %w", err)
		}
	}
	return p, nil
}

// OpenDocument returns the organization's document id with a reader of its
// file, which the caller closes. When visibleTo is not nil the document
// must be one a customer of that account sees, else it is data.ErrNotFound
// as a missing one is.
func (db *DB) OpenDocument(ctx context.Context, tenant data.TenantID, id string, visibleTo *string) (data.Document, *BlobReader, error) {
	var rec documentRecord
	err := db.read(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		rec, err = getDocument(b, id)
		return err
	})
	if err != nil {
		return data.Document{}, nil, err
	}
	if visibleTo != nil && !rec.VisibleTo(*visibleTo) {
		return data.Document{}, nil, data.ErrNotFound
	}
	r, _, err := db.OpenBlob(ctx, tenant, rec.BlobID)
	if err != nil {
		return data.Document{}, nil, err
	}
	return rec.Document, r, nil
}

// DeleteDocument deletes the organization's document id and its file. The
// record and the usage go in one transaction; the file's chunks right
// after it (or, failing that, with the next sweep).
func (db *DB) DeleteDocument(ctx context.Context, tenant data.TenantID, actor, id string) error {
	var blobID string
	err := db.write(ctx, func(tx kv.Tx) error {
		blobID = ""
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		rec, err := getDocument(b, id)
		if err != nil {
			return err
		}
		if err := b.Bucket(bDocuments).Delete(bytesOf(id)); err != nil {
			return err
		}
		if err := deleteBlob(b, rec.BlobID); err != nil {
			return err
		}
		blobID = rec.BlobID
		return db.audit(b, db.Now(), actor, "document.delete", "document", id, "")
	})
	if err != nil {
		return err
	}
	db.collectDeleted(ctx, tenant, blobID)
	return nil
}
