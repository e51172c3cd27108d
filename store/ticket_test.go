package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// mustActivateAs activates a portal user of account with role.
func mustActivateAs(t *testing.T, db *store.DB, tenant data.TenantID, email, account string, role data.Role) data.User {
	t.Helper()
	inv, err := db.CreateInvitation(t.Context(), tenant, "staff-1", data.InvitationRequest{Email: email, AccountID: account, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.AcceptInvitation(t.Context(), linkToken(t, inv.AcceptURL), fakeHash, "Ann", "Lee", store.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return a.User
}

// queuedTicketMail returns the queued ticket emails.
func queuedTicketMail(t *testing.T, db *store.DB, clk *stClock) []data.OutboxMessage {
	t.Helper()
	msgs, err := db.DueMessages(t.Context(), clk.Now(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []data.OutboxMessage
	for _, m := range msgs {
		if strings.HasPrefix(m.Kind, "ticket_") {
			out = append(out, m)
		}
	}
	return out
}

func setSupportEmail(t *testing.T, db *store.DB, tenant data.TenantID, email string) {
	t.Helper()
	_, err := db.UpdateConfig(t.Context(), tenant, "staff-1", func(c data.Config) (data.Config, error) {
		c.SupportEmail = email
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDB_TicketLifecycle(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	setSupportEmail(t, db, tenantA, "help@acme.example")
	ann := mustActivateAs(t, db, tenantA, "ann@example.com", "ACC-1", data.RoleMember)

	tk, first, err := db.CreateTicket(ctx, tenantA, ann.ID, data.NewTicket{Subject: "Invoice missing", Body: "Where is it?"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Status != data.TicketOpen || tk.Priority != data.PriorityNormal || tk.AccountID != "ACC-1" ||
		tk.UserID != ann.ID || tk.MessageCount != 1 || first.Author.Name != "Ann Lee" {
		t.Fatalf("got %+v, %+v, want an open normal ticket of ACC-1 by Ann with one message", tk, first)
	}
	mail := queuedTicketMail(t, db, clk)
	if len(mail) != 1 || mail[0].Kind != data.MailTicketMessage || mail[0].To != "help@acme.example" {
		t.Fatalf("got %+v, want one ticket_message to the support address", mail)
	}

	staff := data.Author{Kind: data.AuthorStaff, ID: "staff-1", Name: "Sam"}
	if _, err := db.AddMessage(ctx, tenantA, nil, tk.ID, store.NewMessage{Author: staff, Body: "Secret note", Internal: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddMessage(ctx, tenantA, nil, tk.ID, store.NewMessage{Author: staff, Body: "Here it is"}); err != nil {
		t.Fatal(err)
	}
	mail = queuedTicketMail(t, db, clk)
	var replies []data.OutboxMessage
	for _, m := range mail {
		if strings.Contains(m.Data.Message, "Secret") {
			t.Errorf("got mail with the internal note: %+v", m)
		}
		if m.Kind == data.MailTicketReply {
			replies = append(replies, m)
		}
	}
	if len(replies) != 1 || replies[0].To != "ann@example.com" ||
		!strings.HasSuffix(replies[0].Data.Link, "/tickets/"+tk.ID) || replies[0].Data.Message != "Here it is" {
		t.Fatalf("got replies %+v, want one to ann@example.com linking the ticket page", replies)
	}

	// The customer sees the reply and not the note; staff see both.
	got, thread, err := db.Ticket(ctx, tenantA, &ann, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(thread) != 2 || thread[1].Body != "Here it is" || thread[1].Author.ID != "" || got.NoteCount != 0 || got.Status != data.TicketPending {
		t.Errorf("customer view: got %+v and %+v, want a pending ticket, two messages, no note, no staff id", got, thread)
	}
	_, thread, err = db.Ticket(ctx, tenantA, nil, tk.ID)
	if err != nil || len(thread) != 3 || !thread[1].Internal {
		t.Errorf("staff view: got %+v, %v, want three messages with the note", thread, err)
	}

	// The customer solves it; stats follow.
	solved := data.TicketSolved
	if _, err := db.UpdateTicket(ctx, tenantA, "user:"+ann.ID, &ann, tk.ID, data.TicketPatch{Status: &solved}); err != nil {
		t.Fatal(err)
	}
	s := mustStats(t, db, tenantA)
	if s.Tickets.Open != 0 || s.Tickets.Pending != 0 || s.Tickets.Solved != 1 {
		t.Errorf("got ticket stats %+v, want one solved", s.Tickets)
	}
	// A customer message reopens a solved ticket.
	if _, err := db.AddMessage(ctx, tenantA, &ann, tk.ID, store.NewMessage{Author: data.Author{Kind: data.AuthorCustomer, ID: ann.ID, Name: "Ann"}, Body: "Again"}); err != nil {
		t.Fatal(err)
	}
	if s := mustStats(t, db, tenantA); s.Tickets.Open != 1 || s.Tickets.Solved != 0 {
		t.Errorf("got ticket stats %+v, want the ticket open again", s.Tickets)
	}
	// Staff close it; the customer can neither reopen nor write.
	closed := data.TicketClosed
	if _, err := db.UpdateTicket(ctx, tenantA, "staff-1", nil, tk.ID, data.TicketPatch{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	open := data.TicketOpen
	if _, err := db.UpdateTicket(ctx, tenantA, "user:"+ann.ID, &ann, tk.ID, data.TicketPatch{Status: &open}); !errors.Is(err, data.ErrConflict) {
		t.Errorf("customer reopens a closed ticket: got %v, want ErrConflict", err)
	}
	if _, err := db.AddMessage(ctx, tenantA, &ann, tk.ID, store.NewMessage{Author: data.Author{Kind: data.AuthorCustomer, ID: ann.ID}, Body: "x"}); !errors.Is(err, data.ErrConflict) {
		t.Errorf("customer writes on a closed ticket: got %v, want ErrConflict", err)
	}
	// A customer cannot change staff fields or set staff statuses.
	pending := data.TicketPending
	if _, err := db.UpdateTicket(ctx, tenantA, "u", &ann, tk.ID, data.TicketPatch{Status: &pending}); err == nil {
		t.Error("customer sets pending: got nil, want a validation error")
	}
}

func TestDB_TicketVisibility(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	ann := mustActivateAs(t, db, tenantA, "ann@example.com", "ACC-1", data.RoleMember)
	bob := mustActivateAs(t, db, tenantA, "bob@example.com", "ACC-1", data.RoleMember)
	boss := mustActivateAs(t, db, tenantA, "boss@example.com", "ACC-1", data.RoleAdmin)
	other := mustActivateAs(t, db, tenantA, "eve@example.com", "ACC-2", data.RoleAdmin)
	loner := mustActivateAs(t, db, tenantA, "lone@example.com", "", data.RoleAdmin)
	stranger := mustActivateAs(t, db, tenantB, "ann@example.com", "ACC-1", data.RoleAdmin)
	tk, _, err := db.CreateTicket(ctx, tenantA, ann.ID, data.NewTicket{Subject: "s", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateTicket(ctx, tenantA, loner.ID, data.NewTicket{Subject: "lone", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tenant data.TenantID
		viewer *data.User
		sees   bool
		list   int // tickets in the viewer's list
	}{
		{"requester", tenantA, &ann, true, 1},
		{"member of the same account", tenantA, &bob, false, 0},
		{"customer admin of the account", tenantA, &boss, true, 1},
		{"admin of another account", tenantA, &other, false, 0},
		{"admin without an account", tenantA, &loner, false, 1},
		{"other organization", tenantB, &stranger, false, 0},
		{"staff", tenantA, nil, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := db.Ticket(ctx, tt.tenant, tt.viewer, tk.ID)
			if tt.sees && err != nil || !tt.sees && !errors.Is(err, data.ErrNotFound) {
				t.Errorf("Ticket: got %v, want seen=%v", err, tt.sees)
			}
			solved := data.TicketSolved
			_, err = db.UpdateTicket(ctx, tt.tenant, "x", tt.viewer, tk.ID, data.TicketPatch{Status: &solved})
			if !tt.sees && !errors.Is(err, data.ErrNotFound) {
				t.Errorf("UpdateTicket: got %v, want ErrNotFound", err)
			}
			p, err := db.Tickets(ctx, tt.tenant, tt.viewer, store.TicketFilter{}, "", 100)
			if err != nil || len(p.Items) != tt.list {
				t.Errorf("Tickets: got %d, %v, want %d", len(p.Items), err, tt.list)
			}
		})
	}
}

func TestDB_Tickets_Filters(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	ann := mustActivateAs(t, db, tenantA, "ann@example.com", "ACC-1", data.RoleMember)
	bob := mustActivateAs(t, db, tenantA, "bob@example.com", "ACC-2", data.RoleMember)
	var ids []string
	for i, s := range []string{"Invoice missing", "Login broken", "Second INVOICE"} {
		u := ann
		if i == 1 {
			u = bob
		}
		tk, _, err := db.CreateTicket(ctx, tenantA, u.ID, data.NewTicket{Subject: s, Body: "b", Priority: data.PriorityHigh})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	assignee, low := "agent-7", data.PriorityLow
	if _, err := db.UpdateTicket(ctx, tenantA, "staff-1", nil, ids[1], data.TicketPatch{Assignee: &assignee, Priority: &low}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    store.TicketFilter
		want []string // newest first
	}{
		{"all", store.TicketFilter{}, []string{ids[2], ids[1], ids[0]}},
		{"q", store.TicketFilter{Q: "invoice"}, []string{ids[2], ids[0]}},
		{"account", store.TicketFilter{AccountID: "ACC-2"}, []string{ids[1]}},
		{"user", store.TicketFilter{UserID: ann.ID}, []string{ids[2], ids[0]}},
		{"assignee", store.TicketFilter{Assignee: "agent-7"}, []string{ids[1]}},
		{"priority", store.TicketFilter{Priority: data.PriorityHigh}, []string{ids[2], ids[0]}},
		{"status", store.TicketFilter{Status: data.TicketSolved}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := db.Tickets(ctx, tenantA, nil, tt.f, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tk := range p.Items {
				got = append(got, tk.ID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Pages continue where the last stopped.
	p, err := db.Tickets(ctx, tenantA, nil, store.TicketFilter{}, "", 2)
	if err != nil || len(p.Items) != 2 || p.Next != ids[1] {
		t.Fatalf("first page: got %+v, %v, want two tickets and a cursor", p, err)
	}
	p, err = db.Tickets(ctx, tenantA, nil, store.TicketFilter{}, p.Next, 2)
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != ids[0] || p.Next != "" {
		t.Fatalf("second page: got %+v, %v, want the oldest ticket and no cursor", p, err)
	}
}

// Without a support address a customer's message queues nothing; a staff
// reply to a revoked requester queues nothing either.
func TestDB_TicketMail_Skipped(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	ann := mustActivateAs(t, db, tenantA, "ann@example.com", "", data.RoleMember)
	tk, _, err := db.CreateTicket(ctx, tenantA, ann.ID, data.NewTicket{Subject: "s", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeUser(ctx, tenantA, "staff-1", ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddMessage(ctx, tenantA, nil, tk.ID, store.NewMessage{Author: data.Author{Kind: data.AuthorStaff, ID: "s", Name: "Sam"}, Body: "r"}); err != nil {
		t.Fatal(err)
	}
	if mail := queuedTicketMail(t, db, clk); len(mail) != 0 {
		t.Errorf("got %+v, want no ticket mail", mail)
	}
}

func TestDB_AddMessage_Limit(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	ann := mustActivateAs(t, db, tenantA, "ann@example.com", "", data.RoleMember)
	tk, _, err := db.CreateTicket(ctx, tenantA, ann.ID, data.NewTicket{Subject: "s", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	note := store.NewMessage{Author: data.Author{Kind: data.AuthorStaff, ID: "s"}, Body: "n", Internal: true}
	for i := 1; i < data.MaxTicketMessages; i++ {
		if _, err := db.AddMessage(ctx, tenantA, nil, tk.ID, note); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	if _, err := db.AddMessage(ctx, tenantA, nil, tk.ID, note); !errors.Is(err, data.ErrConflict) {
		t.Errorf("message %d: got %v, want ErrConflict", data.MaxTicketMessages+1, err)
	}
}
