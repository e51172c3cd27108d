package store

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// newTicketCheckFixture is a closed database with one ticket of acme that
// has a customer message, a note and a reply, and an organization without
// ticket buckets.
func newTicketCheckFixture(t *testing.T) (path string, tk data.Ticket) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inv, err := db.CreateInvitation(ctx, "acme", "t", data.InvitationRequest{Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(inv.AcceptURL)
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.AcceptInvitation(ctx, u.Query().Get("token"), "hash", "Ann", "", Client{})
	if err != nil {
		t.Fatal(err)
	}
	tk, _, err = db.CreateTicket(ctx, "acme", a.User.ID, data.NewTicket{Subject: "s", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	staff := data.Author{Kind: data.AuthorStaff, ID: "t", Name: "Sam"}
	for _, internal := range []bool{true, false} {
		if _, err := db.AddMessage(ctx, "acme", nil, tk.ID, NewMessage{Author: staff, Body: "r", Internal: internal}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.CreateInvitation(ctx, "globex", "t", data.InvitationRequest{Email: "g@example.com"}); err != nil {
		t.Fatal(err)
	}
	return path, tk
}

func TestCheck_Tickets(t *testing.T) {
	t.Parallel()
	path, _ := newTicketCheckFixture(t)
	r, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Records["tickets"] != 1 || r.Records["ticket_messages"] != 3 {
		t.Fatalf("got %v, %v, want no breach, 1 ticket and 3 messages", r.Breaches, r.Records)
	}
	tests := []struct {
		name   string
		break_ func(tx kv.Tx, tk data.Ticket) error
		kind   string
		bucket string
		want   string
	}{
		{"counter off", func(tx kv.Tx, tk data.Ticket) error {
			return bump(acme(tx), ticketCounter(data.TicketOpen), 1)
		}, BreachCounter, "counters", "a recount finds 0"},
		{"message of a missing ticket", func(tx kv.Tx, tk data.Ticket) error {
			m := data.Message{ID: "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", TicketID: "01JDQ2X3Y4Z5A6B7C8D9E0F1G3"}
			return putJSON(acme(tx).Bucket(bTicketMessages), messageKey(m.TicketID, m.ID), m)
		}, BreachIndex, "ticket_messages", "missing ticket"},
		{"message under another key", func(tx kv.Tx, tk data.Ticket) error {
			m := data.Message{ID: "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", TicketID: tk.ID}
			return putJSON(acme(tx).Bucket(bTicketMessages), messageKey(tk.ID, "01JDQ2X3Y4Z5A6B7C8D9E0F1G9"), m)
		}, BreachRecord, "ticket_messages", "holds message"},
		{"message count off", func(tx kv.Tx, tk data.Ticket) error {
			tk.MessageCount, tk.Status = 7, data.TicketPending
			return putJSON(acme(tx).Bucket(bTickets), []byte(tk.ID), tk)
		}, BreachRecord, "tickets", "counts 7 messages"},
		{"unknown status", func(tx kv.Tx, tk data.Ticket) error {
			tk.Status = "lost"
			return putJSON(acme(tx).Bucket(bTickets), []byte(tk.ID), tk)
		}, BreachRecord, "tickets", "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, tk := newTicketCheckFixture(t)
			mutate(t, path, func(tx kv.Tx) error { return tt.break_(tx, tk) })
			r, err := Check(path)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, b := range r.Breaches {
				if b.Kind == tt.kind && b.Bucket == tt.bucket && strings.Contains(b.Problem, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("got breaches %v, want a %s breach in %s saying %q", r.Breaches, tt.kind, tt.bucket, tt.want)
			}
		})
	}
}
