package handlers_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/mail"
)

// TestTickets_Journey is the whole story of a ticket: staff switch the
// feature on and invite a customer, who accepts and opens a ticket with an
// attachment; staff see it, add an internal note and a public reply; the
// requester gets exactly one email, without the note; the customer reads
// the reply and solves the ticket; the stats follow each step.
func TestTickets_Journey(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	ctx := t.Context()
	staff := e.admin("acme")
	stats := func() map[string]any {
		t.Helper()
		r := e.do(http.MethodGet, "/v1/customer-portal/stats", staff, nil)
		wantStatus(t, r, http.StatusOK)
		return r.json(t)["tickets"].(map[string]any)
	}
	wantTickets := func(open, pending, solved float64) {
		t.Helper()
		got := stats()
		if got["open"] != open || got["pending"] != pending || got["solved"] != solved || got["closed"] != float64(0) {
			t.Fatalf("got ticket stats %v, want open %v, pending %v, solved %v", got, open, pending, solved)
		}
	}

	// Staff switch the feature on (off first, as a fresh portal has it on)
	// and set the support address.
	for _, on := range []bool{false, true} {
		wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/features/tickets/toggle", staff, map[string]any{"enabled": on}), http.StatusOK)
	}
	e.patchConfig(staff, map[string]any{"supportEmail": "help@acme.example"})
	wantTickets(0, 0, 0)

	// Invite, accept.
	session, _ := e.customerOf(staff, "dana@customer.example", "ACC-7", "member")

	// Open a ticket, then add a file to it.
	tk := e.openTicket(session, "Invoice missing", "I cannot find the October invoice.")
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("z"), 500)...)
	body, ct := multipartBody(t, formPart{name: "body", body: []byte("Here is the statement.")},
		formPart{name: "files", fileName: "statement.pdf", body: pdf})
	wantStatus(t, e.do(http.MethodPost, myTicketsPath+"/"+tk.ID+"/messages", session, body, "Content-Type", ct), http.StatusCreated)
	wantTickets(1, 0, 0)

	// Staff find it in the queue and open it with the file.
	r := e.do(http.MethodGet, staffTicketsPath+"?status=open", staff, nil)
	if ids := ticketIDs(t, r); len(ids) != 1 || ids[0] != tk.ID {
		t.Fatalf("staff queue: got %v, want [%s]", ids, tk.ID)
	}
	r = e.do(http.MethodGet, staffTicketsPath+"/"+tk.ID, staff, nil)
	if !strings.Contains(string(r.body), "statement.pdf") {
		t.Fatalf("staff view: got %s, want the attachment", r.body)
	}

	// An internal note, then a public reply.
	const note, reply = "NOTE: customer on the legacy plan", "The invoice is attached to your account now."
	wantStatus(t, e.do(http.MethodPost, staffTicketsPath+"/"+tk.ID+"/messages", staff, map[string]any{"body": note, "internal": true}), http.StatusCreated)
	wantTickets(1, 0, 0)
	wantStatus(t, e.do(http.MethodPost, staffTicketsPath+"/"+tk.ID+"/messages", staff, map[string]any{"body": reply}), http.StatusCreated)
	wantTickets(0, 1, 0)

	// The requester's mail: exactly one ticket email, with the reply and
	// without the note; the support address got the customer's messages.
	msgs, err := e.db.DueMessages(ctx, e.clock.Now(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var toDana, toSupport int
	for _, m := range msgs {
		if m.Kind != data.MailTicketReply && m.Kind != data.MailTicketMessage {
			continue
		}
		subject, text, html, err := mail.Render(m)
		if err != nil {
			t.Fatalf("render %s: %v", m.Kind, err)
		}
		if strings.Contains(subject+text+html, "legacy plan") {
			t.Errorf("email to %s holds the internal note:\n%s", m.To, text)
		}
		switch m.To {
		case "dana@customer.example":
			toDana++
			if !strings.Contains(text, reply) || !strings.Contains(text, "/p/") || !strings.Contains(text, "/tickets/"+tk.ID) {
				t.Errorf("reply email: got %q, want the reply and the ticket page's link", text)
			}
		case "help@acme.example":
			toSupport++
		}
	}
	if toDana != 1 || toSupport != 2 {
		t.Errorf("got %d ticket emails to the requester and %d to support, want 1 and 2", toDana, toSupport)
	}

	// The customer reads the reply (not the note) and solves the ticket.
	r = e.do(http.MethodGet, myTicketsPath+"/"+tk.ID, session, nil)
	wantStatus(t, r, http.StatusOK)
	if s := string(r.body); !strings.Contains(s, reply) || strings.Contains(s, "legacy plan") {
		t.Fatalf("customer view: got %s, want the reply and not the note", s)
	}
	wantStatus(t, e.do(http.MethodPatch, myTicketsPath+"/"+tk.ID, session, map[string]any{"status": "solved"}), http.StatusOK)
	wantTickets(0, 0, 1)
}
