package store_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

func TestDB_TicketAttachments(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	ann := mustActivateAs(t, db, tenantA, "ann@example.com", "ACC-1", data.RoleMember)
	eve := mustActivateAs(t, db, tenantA, "eve@example.com", "ACC-2", data.RoleMember)
	tk, _, err := db.CreateTicket(ctx, tenantA, ann.ID, data.NewTicket{Subject: "s", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	lim := store.DocumentLimits{MaxSize: 1 << 20, Quota: 1 << 30}
	put := func(content []byte) store.DocumentFile {
		t.Helper()
		f, err := db.PutDocumentFile(ctx, tenantA, bytes.NewReader(content), lim)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	pdf := []byte("%PDF-1.4\n" + string(bytes.Repeat([]byte("x"), 1000)))
	customer := data.Author{Kind: data.AuthorCustomer, ID: ann.ID, Name: "Ann"}
	m, err := db.AddMessage(ctx, tenantA, &ann, tk.ID, store.NewMessage{Author: customer, Body: "see file",
		Files: []store.AttachmentFile{{File: put(pdf), Name: "invoice.pdf"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/pdf" || m.Attachments[0].Size != int64(len(pdf)) {
		t.Fatalf("got attachments %+v, want one sniffed PDF", m.Attachments)
	}
	aid := m.Attachments[0].ID
	att, _, r, err := db.Attachment(ctx, tenantA, &ann, aid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, pdf) || att.Name != "invoice.pdf" {
		t.Errorf("got %q (%d bytes), %v, want the file back byte for byte", att.Name, len(got), err)
	}
	for name, viewer := range map[string]*data.User{"other account": &eve} {
		if _, _, _, err := db.Attachment(ctx, tenantA, viewer, aid); !errors.Is(err, data.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", name, err)
		}
	}
	if _, _, _, err := db.Attachment(ctx, tenantB, nil, aid); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("other organization: got %v, want ErrNotFound", err)
	}
	// A file of an internal note is staff's only.
	staff := data.Author{Kind: data.AuthorStaff, ID: "s", Name: "Sam"}
	note, err := db.AddMessage(ctx, tenantA, nil, tk.ID, store.NewMessage{Author: staff, Body: "n", Internal: true,
		Files: []store.AttachmentFile{{File: put([]byte("secret")), Name: "notes.txt"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.Attachment(ctx, tenantA, &ann, note.Attachments[0].ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("customer reads a note's file: got %v, want ErrNotFound", err)
	}
	if _, _, r, err := db.Attachment(ctx, tenantA, nil, note.Attachments[0].ID); err != nil {
		t.Errorf("staff read a note's file: got %v", err)
	} else {
		r.Close()
	}
	// A message that fails keeps none of its files.
	closed := data.TicketClosed
	if _, err := db.UpdateTicket(ctx, tenantA, "s", nil, tk.ID, data.TicketPatch{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	before, err := db.BlobStats(ctx, tenantA)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.AddMessage(ctx, tenantA, &ann, tk.ID, store.NewMessage{Author: customer, Body: "late",
		Files: []store.AttachmentFile{{File: put([]byte("late file")), Name: "late.txt"}}})
	if !errors.Is(err, data.ErrConflict) {
		t.Fatalf("message on a closed ticket: got %v, want ErrConflict", err)
	}
	after, err := db.BlobStats(ctx, tenantA)
	if err != nil || after != before {
		t.Errorf("got blob stats %+v, %v after a refused message, want %+v", after, err, before)
	}
	// A file over the limit is refused and nothing of it stays.
	if _, err := db.PutDocumentFile(ctx, tenantA, bytes.NewReader(make([]byte, 2<<20)), lim); !errors.Is(err, store.ErrBlobTooLarge) {
		t.Errorf("oversized file: got %v, want ErrBlobTooLarge", err)
	}
	if after, _ := db.BlobStats(ctx, tenantA); after != before {
		t.Errorf("got blob stats %+v after an oversized file, want %+v", after, before)
	}
}
