package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

const (
	myTicketsPath    = "/v1/portal/tickets"
	staffTicketsPath = "/v1/customer-portal/tickets"
)

type ticketMessageJSON struct {
	ID       string `json:"id"`
	TicketID string `json:"ticketId"`
	Author   struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"author"`
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
}

type ticketJSON struct {
	ID           string              `json:"id"`
	AccountID    string              `json:"accountId"`
	UserID       string              `json:"userId"`
	Subject      string              `json:"subject"`
	Status       string              `json:"status"`
	Priority     string              `json:"priority"`
	Assignee     string              `json:"assignee"`
	MessageCount int                 `json:"messageCount"`
	NoteCount    int                 `json:"noteCount"`
	Messages     []ticketMessageJSON `json:"messages"`
}

// customerOf activates a portal user of account with role in the token's
// organization and returns their session token and user ID.
func (e *testEnv) customerOf(token, email, account, role string) (session, userID string) {
	e.t.Helper()
	inv := e.invite(token, email, map[string]any{"accountId": account, "role": role})
	a := e.accept(inv.AcceptURL)
	return a.AccessToken, a.User.ID
}

// openTicket opens a ticket as the customer session.
func (e *testEnv) openTicket(session, subject, body string) ticketJSON {
	e.t.Helper()
	r := e.do(http.MethodPost, myTicketsPath, session, map[string]any{"subject": subject, "body": body})
	wantStatus(e.t, r, http.StatusCreated)
	var tk ticketJSON
	r.decode(e.t, &tk)
	if loc := r.header.Get("Location"); loc != myTicketsPath+"/"+tk.ID {
		e.t.Fatalf("got Location %q, want %s/%s", loc, myTicketsPath, tk.ID)
	}
	return tk
}

func ticketIDs(t *testing.T, r response) []string {
	t.Helper()
	var p struct {
		Data []ticketJSON `json:"data"`
	}
	r.decode(t, &p)
	var ids []string
	for _, tk := range p.Data {
		ids = append(ids, tk.ID)
	}
	return ids
}

// TestTickets_Visibility is the visibility matrix: the requester (a
// member), a customer admin of the same account, a member of the same
// account, an admin of another account, a user of another organization and
// staff, on every ticket route.
func TestTickets_Visibility(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme, globex := e.admin("acme"), e.admin("globex")
	requester, _ := e.customerOf(acme, "ann@example.com", "ACC-1", "member")
	boss, _ := e.customerOf(acme, "boss@example.com", "ACC-1", "admin")
	colleague, _ := e.customerOf(acme, "bob@example.com", "ACC-1", "member")
	otherAccount, _ := e.customerOf(acme, "eve@example.com", "ACC-2", "admin")
	otherOrg, _ := e.customerOf(globex, "ann@example.com", "ACC-1", "admin")
	tk := e.openTicket(requester, "Invoice missing", "Where is it?")
	one := myTicketsPath + "/" + tk.ID

	customers := []struct {
		name    string
		session string
		sees    bool
	}{
		{"requester", requester, true},
		{"customer admin of the account", boss, true},
		{"member of the same account", colleague, false},
		{"admin of another account", otherAccount, false},
		{"user of another organization", otherOrg, false},
	}
	for _, c := range customers {
		t.Run(c.name, func(t *testing.T) {
			want := http.StatusNotFound
			if c.sees {
				want = http.StatusOK
			}
			r := e.do(http.MethodGet, one, c.session, nil)
			wantStatus(t, r, want)
			wantStatus(t, e.do(http.MethodHead, one, c.session, nil), want)
			if !c.sees {
				if p := r.json(t); p["type"] != "https://salesos.dev/problems/not-found" {
					t.Errorf("got problem type %v, want not-found", p["type"])
				}
			}
			list := ticketIDs(t, e.do(http.MethodGet, myTicketsPath, c.session, nil))
			if got := len(list) == 1 && list[0] == tk.ID; got != c.sees {
				t.Errorf("list: got %v, want the ticket listed: %v", list, c.sees)
			}
			wantStatus(t, e.do(http.MethodPatch, one, c.session, map[string]any{"status": "open"}), want)
			msg := e.do(http.MethodPost, one+"/messages", c.session, map[string]any{"body": "hello from " + c.name})
			if c.sees {
				wantStatus(t, msg, http.StatusCreated)
			} else {
				wantStatus(t, msg, http.StatusNotFound)
			}
		})
	}
	staff := []struct {
		name  string
		token string
		want  int
	}{
		{"staff of the organization", acme, http.StatusOK},
		{"staff of another organization", globex, http.StatusNotFound},
	}
	for _, s := range staff {
		t.Run(s.name, func(t *testing.T) {
			staffOne := staffTicketsPath + "/" + tk.ID
			wantStatus(t, e.do(http.MethodGet, staffOne, s.token, nil), s.want)
			wantStatus(t, e.do(http.MethodPatch, staffOne, s.token, map[string]any{"priority": "high"}), s.want)
			msg := e.do(http.MethodPost, staffOne+"/messages", s.token, map[string]any{"body": "note", "internal": true})
			if s.want == http.StatusOK {
				wantStatus(t, msg, http.StatusCreated)
			} else {
				wantStatus(t, msg, http.StatusNotFound)
			}
			list := ticketIDs(t, e.do(http.MethodGet, staffTicketsPath, s.token, nil))
			if got := len(list) == 1; got != (s.want == http.StatusOK) {
				t.Errorf("list: got %v, want the ticket listed: %v", list, s.want == http.StatusOK)
			}
		})
	}
	// Staff tokens are not portal sessions, and sessions are not staff tokens.
	wantStatus(t, e.do(http.MethodGet, one, acme, nil), http.StatusUnauthorized)
	wantStatus(t, e.do(http.MethodGet, staffTicketsPath+"/"+tk.ID, requester, nil), http.StatusUnauthorized)
	// A reader may read and not write.
	reader := e.tokenFor("acme", "portal:read")
	wantStatus(t, e.do(http.MethodGet, staffTicketsPath+"/"+tk.ID, reader, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodPatch, staffTicketsPath+"/"+tk.ID, reader, map[string]any{"priority": "low"}), http.StatusForbidden)
}

// TestTickets_FeatureDisabled: with the tickets feature off every customer
// route is 404 feature-disabled, and the admin API still works.
func TestTickets_FeatureDisabled(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	session, _ := e.customerOf(acme, "ann@example.com", "ACC-1", "member")
	tk := e.openTicket(session, "Invoice missing", "Where is it?")
	wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/features/tickets/toggle", acme, map[string]any{"enabled": false}), http.StatusOK)
	one := myTicketsPath + "/" + tk.ID
	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, myTicketsPath, nil},
		{http.MethodHead, myTicketsPath, nil},
		{http.MethodPost, myTicketsPath, map[string]any{"subject": "s", "body": "b"}},
		{http.MethodGet, one, nil},
		{http.MethodHead, one, nil},
		{http.MethodPatch, one, map[string]any{"status": "solved"}},
		{http.MethodPost, one + "/messages", map[string]any{"body": "b"}},
	}
	for _, rt := range routes {
		r := e.do(rt.method, rt.path, session, rt.body)
		wantStatus(t, r, http.StatusNotFound)
		if rt.method == http.MethodHead {
			continue
		}
		if p := wantProblem(t, r, http.StatusNotFound); p["type"] != "https://salesos.dev/problems/feature-disabled" {
			t.Errorf("%s %s: got problem type %v, want feature-disabled", rt.method, rt.path, p["type"])
		}
	}
	// Without a session the route still asks for one first.
	wantStatus(t, e.do(http.MethodGet, myTicketsPath, "", nil), http.StatusUnauthorized)
	wantStatus(t, e.do(http.MethodGet, staffTicketsPath+"/"+tk.ID, acme, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodPost, staffTicketsPath+"/"+tk.ID+"/messages", acme, map[string]any{"body": "still here"}), http.StatusCreated)
}

// TestTickets_InternalNotesStayInternal: a note never reaches the
// customer's view of the ticket, and the staff view shows it.
func TestTickets_InternalNotesStayInternal(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	session, _ := e.customerOf(acme, "ann@example.com", "ACC-1", "admin")
	tk := e.openTicket(session, "Invoice missing", "Where is it?")
	staffOne := staffTicketsPath + "/" + tk.ID
	wantStatus(t, e.do(http.MethodPost, staffOne+"/messages", acme, map[string]any{"body": "SECRET-NOTE", "internal": true}), http.StatusCreated)
	wantStatus(t, e.do(http.MethodPatch, staffOne, acme, map[string]any{"assignee": "sam@salesos.example"}), http.StatusOK)
	for _, path := range []string{myTicketsPath + "/" + tk.ID, myTicketsPath} {
		r := e.do(http.MethodGet, path, session, nil)
		wantStatus(t, r, http.StatusOK)
		if s := string(r.body); strings.Contains(s, "SECRET-NOTE") || strings.Contains(s, "sam@salesos.example") {
			t.Errorf("GET %s: got %s, want no note and no assignee", path, s)
		}
	}
	r := e.do(http.MethodGet, staffOne, acme, nil)
	var staffView ticketJSON
	r.decode(t, &staffView)
	if len(staffView.Messages) != 2 || !staffView.Messages[1].Internal || staffView.NoteCount != 1 || staffView.Assignee != "sam@salesos.example" {
		t.Errorf("staff view: got %+v, want the note and the assignee", staffView)
	}
	// A customer cannot write a note: internal is not a member of their request.
	p := wantProblem(t, e.do(http.MethodPost, myTicketsPath+"/"+tk.ID+"/messages", session, map[string]any{"body": "x", "internal": true}), http.StatusUnprocessableEntity)
	if _, ok := fieldErrors(t, p)["internal"]; !ok {
		t.Errorf("got %v, want internal named", p)
	}
}

func TestTickets_Validation(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	session, _ := e.customerOf(acme, "ann@example.com", "ACC-1", "member")
	tk := e.openTicket(session, "s", "b")
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      int
		field                     string
	}{
		{"no subject", http.MethodPost, myTicketsPath, session, map[string]any{"body": "b"}, 422, "subject"},
		{"blank subject", http.MethodPost, myTicketsPath, session, map[string]any{"subject": " ", "body": "b"}, 422, "subject"},
		{"two-line subject", http.MethodPost, myTicketsPath, session, map[string]any{"subject": "a\nb", "body": "b"}, 422, "subject"},
		{"long subject", http.MethodPost, myTicketsPath, session, map[string]any{"subject": strings.Repeat("s", 201), "body": "b"}, 422, "subject"},
		{"long body", http.MethodPost, myTicketsPath, session, map[string]any{"subject": "s", "body": strings.Repeat("b", data.MaxMessageBody+1)}, 422, "body"},
		{"bad priority", http.MethodPost, myTicketsPath, session, map[string]any{"subject": "s", "body": "b", "priority": "asap"}, 422, "priority"},
		{"customer sets pending", http.MethodPatch, myTicketsPath + "/" + tk.ID, session, map[string]any{"status": "pending"}, 422, "status"},
		{"customer sets priority", http.MethodPatch, myTicketsPath + "/" + tk.ID, session, map[string]any{"status": "open", "priority": "high"}, 422, "priority"},
		{"staff null status", http.MethodPatch, staffTicketsPath + "/" + tk.ID, acme, map[string]any{"status": nil}, 422, "status"},
		{"staff bad status", http.MethodPatch, staffTicketsPath + "/" + tk.ID, acme, map[string]any{"status": "lost"}, 422, "status"},
		{"staff long assignee", http.MethodPatch, staffTicketsPath + "/" + tk.ID, acme, map[string]any{"assignee": strings.Repeat("a", 201)}, 422, "assignee"},
		{"empty message", http.MethodPost, staffTicketsPath + "/" + tk.ID + "/messages", acme, map[string]any{"body": ""}, 422, "body"},
		{"unknown list parameter", http.MethodGet, myTicketsPath + "?priority=high", session, nil, 400, ""},
		{"bad status filter", http.MethodGet, staffTicketsPath + "?status=lost", acme, nil, 400, ""},
		{"bad priority filter", http.MethodGet, staffTicketsPath + "?priority=asap", acme, nil, 400, ""},
		{"bad user filter", http.MethodGet, staffTicketsPath + "?userId=42", acme, nil, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, e.do(tt.method, tt.path, tt.token, tt.body), tt.want)
			if tt.field != "" {
				if _, ok := fieldErrors(t, p)[tt.field]; !ok {
					t.Errorf("got %v, want field %s named", p, tt.field)
				}
			}
		})
	}
}

func TestTickets_StaffListFilters(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	ann, annID := e.customerOf(acme, "ann@example.com", "ACC-1", "member")
	bob, _ := e.customerOf(acme, "bob@example.com", "ACC-2", "member")
	a1 := e.openTicket(ann, "Invoice missing", "b")
	b1 := e.openTicket(bob, "Cannot log in", "b")
	a2 := e.openTicket(ann, "Second invoice", "b")
	wantStatus(t, e.do(http.MethodPatch, staffTicketsPath+"/"+b1.ID, acme, map[string]any{"status": "closed", "priority": "urgent", "assignee": "sam"}), http.StatusOK)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{a2.ID, b1.ID, a1.ID}},
		{"?q=INVOICE", []string{a2.ID, a1.ID}},
		{"?status=closed", []string{b1.ID}},
		{"?status=open", []string{a2.ID, a1.ID}},
		{"?priority=urgent", []string{b1.ID}},
		{"?accountId=ACC-1", []string{a2.ID, a1.ID}},
		{"?userId=" + annID, []string{a2.ID, a1.ID}},
		{"?assignee=sam", []string{b1.ID}},
		{"?assignee=sam&status=open", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.do(http.MethodGet, staffTicketsPath+tt.query, acme, nil)
			wantStatus(t, r, http.StatusOK)
			if got := ticketIDs(t, r); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Cursor pages walk the list; a customer's cursor is of another list.
	r := e.do(http.MethodGet, staffTicketsPath+"?limit=2", acme, nil)
	var page struct {
		NextCursor *string `json:"nextCursor"`
	}
	r.decode(t, &page)
	if page.NextCursor == nil {
		t.Fatal("got no nextCursor, want one")
	}
	if got := ticketIDs(t, e.do(http.MethodGet, staffTicketsPath+"?limit=2&cursor="+*page.NextCursor, acme, nil)); len(got) != 1 || got[0] != a1.ID {
		t.Errorf("second page: got %v, want [%s]", got, a1.ID)
	}
	wantStatus(t, e.do(http.MethodGet, myTicketsPath+"?cursor="+*page.NextCursor, ann, nil), http.StatusBadRequest)
	// The customer's status filter.
	if got := ticketIDs(t, e.do(http.MethodGet, myTicketsPath+"?status=open", ann, nil)); len(got) != 2 {
		t.Errorf("customer status filter: got %v, want two open tickets", got)
	}
}
