package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// upload stores content as a document of blobOrg.
func upload(t *testing.T, db *DB, title, account string, content []byte, lim DocumentLimits) (data.Document, error) {
	t.Helper()
	file, err := db.PutDocumentFile(t.Context(), blobOrg, bytes.NewReader(content), lim)
	if err != nil {
		return data.Document{}, err
	}
	d := data.Document{Title: title, FileName: "f.bin", AccountID: account}
	err = db.CreateDocument(t.Context(), blobOrg, "staff-1", &d, file, lim.Quota)
	return d, err
}

func TestDocuments_Lifecycle(t *testing.T) {
	t.Parallel()
	db, _, path := openBlobDB(t)
	ctx := t.Context()
	lim := DocumentLimits{MaxSize: 1 << 20, Quota: 4 << 20}
	pdf := append([]byte("%PDF-1.7\n"), content(BlobChunkSize, 1)...)
	all, err := upload(t, db, "Terms", "", pdf, lim)
	if err != nil {
		t.Fatal(err)
	}
	if all.ContentType != "application/pdf" || all.Size != int64(len(pdf)) || all.CreatedBy != "staff-1" || all.ID == "" {
		t.Errorf("got %+v, want a sniffed PDF of %d bytes by staff-1", all, len(pdf))
	}
	mine, err := upload(t, db, "Contract", "acc-1", []byte("hello, contract\n"), lim)
	if err != nil {
		t.Fatal(err)
	}
	if mine.ContentType != "text/plain; charset=utf-8" {
		t.Errorf("got content type %q, want text/plain; charset=utf-8", mine.ContentType)
	}
	other, err := upload(t, db, "Other", "acc-2", []byte("other"), lim)
	if err != nil {
		t.Fatal(err)
	}

	ids := func(p Page[data.Document]) string {
		var s []string
		for _, d := range p.Items {
			s = append(s, d.Title)
		}
		return strings.Join(s, ",")
	}
	acc1, acc3 := "acc-1", "acc-3"
	for _, c := range []struct {
		f    DocumentFilter
		want string
	}{
		{DocumentFilter{}, "Other,Contract,Terms"},
		{DocumentFilter{AccountID: "acc-2"}, "Other"},
		{DocumentFilter{VisibleTo: &acc1}, "Contract,Terms"},
		{DocumentFilter{VisibleTo: &acc3}, "Terms"},
	} {
		p, err := db.Documents(ctx, blobOrg, c.f, "", 10)
		if err != nil || ids(p) != c.want {
			t.Errorf("filter %+v: got %q, %v, want %q", c.f, ids(p), err, c.want)
		}
	}
	if _, _, err := db.OpenDocument(ctx, blobOrg, other.ID, &acc1); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("another account's document: got %v, want ErrNotFound", err)
	}
	d, r, err := db.OpenDocument(ctx, blobOrg, all.ID, &acc1)
	if err != nil {
		t.Fatal(err)
	}
	got := new(bytes.Buffer)
	if _, err := got.ReadFrom(r); err != nil || !bytes.Equal(got.Bytes(), pdf) || d.SHA256 != all.SHA256 {
		t.Errorf("read %d bytes, %v: want the %d uploaded", got.Len(), err, len(pdf))
	}
	_ = r.Close()

	if n, _ := db.BlobUsage(ctx, blobOrg); n != int64(len(pdf))+16+5 {
		t.Errorf("got usage %d, want %d", n, len(pdf)+16+5)
	}
	if err := db.DeleteDocument(ctx, blobOrg, "staff-1", all.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDocument(ctx, blobOrg, "staff-1", all.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
	if n, _ := db.BlobUsage(ctx, blobOrg); n != 16+5 {
		t.Errorf("got usage %d after the delete, want 21", n)
	}
	if chunks, loose := blobKeys(t, db); chunks != 2 || loose != 0 {
		t.Errorf("got %d chunks, %d loose after the delete, want 2 and 0", chunks, loose)
	}
	_ = db.Close()
	rep, err := Check(path)
	if err != nil || !rep.OK() || rep.Records["documents"] != 2 {
		t.Fatalf("check: got %v, %v, %d documents, want OK with 2", err, rep.Breaches, rep.Records["documents"])
	}
}

func TestDocuments_LimitsLeaveNothing(t *testing.T) {
	t.Parallel()
	db, _, path := openBlobDB(t)
	ctx := t.Context()
	lim := DocumentLimits{MaxSize: 2 * BlobChunkSize, Quota: 3 * BlobChunkSize}
	// Too large for one file: 413.
	_, err := upload(t, db, "Big", "", content(2*BlobChunkSize+1, 2), lim)
	var tl *BlobTooLargeError
	if !errors.As(err, &tl) || tl.Max != lim.MaxSize {
		t.Errorf("file over the size limit: got %v, want a BlobTooLargeError at %d", err, lim.MaxSize)
	}
	if _, err := upload(t, db, "Kept", "", content(2*BlobChunkSize, 1), lim); err != nil {
		t.Fatal(err)
	}
	before, _ := blobKeys(t, db)
	// Within the size limit, past what the quota leaves: 507.
	_, err = upload(t, db, "Full", "", content(BlobChunkSize+1, 3), lim)
	var qe *data.StorageQuotaError
	if !errors.As(err, &qe) || qe.Quota != lim.Quota || qe.Used != 2*BlobChunkSize {
		t.Errorf("file over the quota: got %v, want a StorageQuotaError", err)
	}
	// An invalid title, found after the file is stored: the file goes.
	_, err = upload(t, db, " ", "", content(10, 4), lim)
	var ve *data.ValidationError
	if !errors.As(err, &ve) || ve.Fields["title"] == "" {
		t.Errorf("no title: got %v, want a validation error of the title", err)
	}
	// Two uploads that each fit but not both: the second commit is refused.
	lim2 := DocumentLimits{MaxSize: lim.MaxSize, Quota: 2*BlobChunkSize + 15}
	f1, err := db.PutDocumentFile(ctx, blobOrg, bytes.NewReader(content(10, 5)), lim2)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := db.PutDocumentFile(ctx, blobOrg, bytes.NewReader(content(10, 6)), lim2)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDocument(ctx, blobOrg, "s", &data.Document{Title: "One", FileName: "a"}, f1, lim2.Quota); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDocument(ctx, blobOrg, "s", &data.Document{Title: "Two", FileName: "b"}, f2, lim2.Quota); !errors.As(err, &qe) {
		t.Errorf("second of two concurrent uploads: got %v, want a StorageQuotaError", err)
	}
	if chunks, loose := blobKeys(t, db); chunks != before+1 || loose != 0 {
		t.Errorf("got %d chunks, %d loose, want %d and 0: the refused files left nothing", chunks, loose, before+1)
	}
	_ = db.Close()
	if rep, err := Check(path); err != nil || !rep.OK() {
		t.Fatalf("check: got %v, %v, want OK", err, rep.Breaches)
	}
}

func TestCheck_Documents(t *testing.T) {
	t.Parallel()
	db, _, path := openBlobDB(t)
	d, err := upload(t, db, "Doc", "", []byte("content"), DocumentLimits{MaxSize: 100, Quota: 100})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	// The document loses its blob's record: both sides are reported.
	mutate(t, path, func(tx kv.Tx) error {
		var rec documentRecord
		if _, err := getJSON(acme(tx).Bucket(bDocuments), bytesOf(d.ID), &rec); err != nil {
			return err
		}
		return acme(tx).Bucket(bBlobs).Delete(bytesOf(rec.BlobID))
	})
	rep, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range rep.Breaches {
		got = append(got, b.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"points at missing blob", "neither held nor loose", "blobs.bytes"} {
		if !strings.Contains(all, want) {
			t.Errorf("got breaches %q, want one saying %q", all, want)
		}
	}
}
