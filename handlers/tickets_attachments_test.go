package handlers_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/salesos/portal/data"
)

func TestTickets_Attachments(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	session, _ := e.customerOf(acme, "ann@example.com", "ACC-1", "member")
	other, _ := e.customerOf(acme, "eve@example.com", "ACC-2", "member")
	tk := e.openTicket(session, "Invoice missing", "b")
	path := myTicketsPath + "/" + tk.ID + "/messages"

	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 2000)...)
	body, ct := multipartBody(t, formPart{name: "body", body: []byte("Here is the file")},
		formPart{name: "files", fileName: `C:\docs\invoice.pdf`, body: pdf})
	r := e.do(http.MethodPost, path, session, body, "Content-Type", ct)
	wantStatus(t, r, http.StatusCreated)
	var m struct {
		Attachments []struct {
			ID, Name, ContentType, SHA256 string
			Size                          int64
		} `json:"attachments"`
	}
	r.decode(t, &m)
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "invoice.pdf" || m.Attachments[0].ContentType != "application/pdf" {
		t.Fatalf("got attachments %+v, want invoice.pdf as a sniffed PDF", m.Attachments)
	}
	att := m.Attachments[0]
	for _, c := range []struct {
		token, path string
		want        int
	}{
		{session, "/v1/portal/attachments/" + att.ID, http.StatusOK},
		{acme, "/v1/customer-portal/attachments/" + att.ID, http.StatusOK},
		{other, "/v1/portal/attachments/" + att.ID, http.StatusNotFound},
		{e.admin("globex"), "/v1/customer-portal/attachments/" + att.ID, http.StatusNotFound},
	} {
		r := e.do(http.MethodGet, c.path, c.token, nil)
		wantStatus(t, r, c.want)
		if c.want != http.StatusOK {
			continue
		}
		if !bytes.Equal(r.body, pdf) || r.header.Get("X-Content-Type-Options") != "nosniff" ||
			r.header.Get("Content-Disposition") != `attachment; filename=invoice.pdf` || r.header.Get("ETag") != `"`+att.SHA256+`"` {
			t.Errorf("GET %s: got %d bytes, headers %v, want the file as an attachment with nosniff", c.path, len(r.body), r.header)
		}
	}

	// An oversized file is 413 and nothing is stored: no message, no file.
	big := bytes.Repeat([]byte("y"), int(data.DefaultMaxAttachmentSize)+1)
	body, ct = multipartBody(t, formPart{name: "body", body: []byte("too big")}, formPart{name: "files", fileName: "big.bin", body: big})
	r = e.do(http.MethodPost, path, session, body, "Content-Type", ct)
	if p := wantProblem(t, r, http.StatusRequestEntityTooLarge); p["type"] != "https://salesos.dev/problems/file-too-large" {
		t.Errorf("got problem %v, want file-too-large", p)
	}
	stats, err := e.db.BlobStats(t.Context(), "acme")
	if err != nil || stats.Blobs != 1 || stats.Loose != 0 || stats.Bytes != int64(len(pdf)) {
		t.Errorf("got blob stats %+v, %v, want only the first file", stats, err)
	}
	var thread ticketJSON
	e.do(http.MethodGet, myTicketsPath+"/"+tk.ID, session, nil).decode(t, &thread)
	if thread.MessageCount != 2 {
		t.Errorf("got %d messages, want 2: the refused one is not kept", thread.MessageCount)
	}
	// With the feature off the customer route is 404 feature-disabled.
	wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/features/tickets/toggle", acme, map[string]any{"enabled": false}), http.StatusOK)
	if p := wantProblem(t, e.do(http.MethodGet, "/v1/portal/attachments/"+att.ID, session, nil), http.StatusNotFound); p["type"] != "https://salesos.dev/problems/feature-disabled" {
		t.Errorf("got %v, want feature-disabled", p)
	}
}
