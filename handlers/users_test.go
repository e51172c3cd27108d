package handlers_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestUsers_Delete(t *testing.T) {
	tests := []struct {
		name   string
		active bool // accepted, with sessions; else only invited
	}{
		{name: "invited user", active: false},
		{name: "active user", active: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			tok := e.admin("org-a")
			other, _ := e.activeUser(tok, "other@example.com")
			inv := e.invite(tok, "ada@example.com")
			var sessions []string
			if tt.active {
				a := e.accept(inv.AcceptURL)
				b := e.mustLogin(e.slug(tok), "ada@example.com", goodPassword, "User-Agent", "second-browser")
				sessions = []string{a.AccessToken, b.AccessToken}
			}
			wantStatus(t, e.do(http.MethodDelete, usersPath+"/"+inv.UserID, tok, nil), http.StatusNoContent)
			wantProblem(t, e.do(http.MethodGet, usersPath+"/"+inv.UserID, tok, nil), http.StatusNotFound)
			wantProblem(t, e.do(http.MethodDelete, usersPath+"/"+inv.UserID, tok, nil), http.StatusNotFound)
			wantProblem(t, e.do(http.MethodDelete, usersPath+"/"+inv.UserID+"/access", tok, nil), http.StatusNotFound)
			for _, u := range listAll[userJSON](e, tok, usersPath) {
				if u.ID == inv.UserID {
					t.Errorf("got the removed user in the list")
				}
			}
			for _, s := range sessions {
				wantProblem(t, e.do(http.MethodGet, mePath, s, nil), http.StatusUnauthorized)
			}
			if got := listAll[sessionJSON](e, tok, sessionsPath+"?userId="+inv.UserID); len(got) != 0 {
				t.Errorf("got sessions %+v, want none", got)
			}
			wantProblem(t, e.login(e.slug(tok), "ada@example.com", goodPassword), http.StatusUnauthorized)

			s := e.stats(tok)
			if s.Users.Total != 1 || s.Users.Active != 1 || s.Users.Invited != 0 || s.Sessions.Active != 1 {
				t.Errorf("got stats %+v, want only the other user and its session", s)
			}
			if tt.active {
				if s.Invitations.Accepted != 2 || s.Invitations.Cancelled != 0 {
					t.Errorf("got stats %+v, want both invitations accepted", s)
				}
			} else {
				wantProblem(t, e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL),
					"password": goodPassword}), http.StatusGone)
				cancelled := listAll[invitationJSON](e, tok, invitationsPath+"?status=cancelled")
				if len(cancelled) != 1 || cancelled[0].ID != inv.ID {
					t.Errorf("got cancelled %+v, want the removed user's invitation", cancelled)
				}
				if s.Invitations.Pending != 0 || s.Invitations.Cancelled != 1 {
					t.Errorf("got stats %+v, want the pending invitation cancelled", s)
				}
			}
			if u := e.user(tok, other.UserID); u.Status != "active" {
				t.Errorf("got other user %+v, want it untouched", u)
			}
			// The email is free again.
			again := e.invite(tok, "ada@example.com")
			if again.UserID == inv.UserID {
				t.Errorf("got the removed user's id %s again, want a new user", again.UserID)
			}
		})
	}
}

func TestUsers_Revoke(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	slug := e.slug(tok)
	inv, first := e.activeUser(tok, "ada@example.com")
	second := e.mustLogin(slug, "ada@example.com", goodPassword, "User-Agent", "second-browser")

	r := e.do(http.MethodDelete, usersPath+"/"+inv.UserID+"/access", tok, nil)
	wantStatus(t, r, http.StatusOK)
	var u userJSON
	r.decode(t, &u)
	if u.ID != inv.UserID || u.Status != "revoked" || u.RevokedAt == nil || u.ActivatedAt == nil {
		t.Fatalf("got %+v, want the user revoked", u)
	}
	if strings.Contains(string(r.body), "password") {
		t.Errorf("got %s, want no password hash", r.body)
	}
	// Both sessions end at once.
	for _, a := range []authJSON{first, second} {
		wantProblem(t, e.do(http.MethodGet, mePath, a.AccessToken, nil), http.StatusUnauthorized)
	}
	if got := listAll[sessionJSON](e, tok, sessionsPath); len(got) != 0 {
		t.Errorf("got sessions %+v, want none", got)
	}
	wantProblem(t, e.login(slug, "ada@example.com", goodPassword), http.StatusUnauthorized)

	// Idempotent: the same user, the same revokedAt.
	e.clock.Advance(time.Minute)
	r = e.do(http.MethodDelete, usersPath+"/"+inv.UserID+"/access", tok, nil)
	wantStatus(t, r, http.StatusOK)
	var again userJSON
	r.decode(t, &again)
	if again.Status != "revoked" || !again.RevokedAt.Equal(*u.RevokedAt) || !again.UpdatedAt.Equal(u.UpdatedAt) {
		t.Errorf("got %+v on the second revoke, want it unchanged from %+v", again, u)
	}
	s := e.stats(tok)
	if s.Users.Revoked != 1 || s.Users.Active != 0 || s.Users.Total != 1 || s.Sessions.Active != 0 {
		t.Errorf("got stats %+v, want one revoked user and no session", s)
	}
	if got := listAll[userJSON](e, tok, usersPath+"?status=revoked"); len(got) != 1 {
		t.Errorf("got revoked list %+v, want the user", got)
	}
	revokes := 0
	for _, a := range listAll[map[string]any](e, tok, auditPath) {
		if a["action"] == "user.revoke" {
			revokes++
		}
	}
	if revokes != 1 {
		t.Errorf("got %d user.revoke audit entries, want 1 (the second revoke changed nothing)", revokes)
	}

	// Revoking an invited user cancels its invitation.
	pending := e.invite(tok, "grace@example.com")
	wantStatus(t, e.do(http.MethodDelete, usersPath+"/"+pending.UserID+"/access", tok, nil), http.StatusOK)
	wantProblem(t, e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, pending.AcceptURL), "password": goodPassword}),
		http.StatusGone)
	if s := e.stats(tok); s.Users.Revoked != 2 || s.Invitations.Pending != 0 || s.Invitations.Cancelled != 1 {
		t.Errorf("got stats %+v, want two revoked users and one cancelled invitation", s)
	}
	wantProblem(t, e.do(http.MethodDelete, usersPath+"/01JDQ2X3Y4Z5A6B7C8D9E0F1G2/access", tok, nil), http.StatusNotFound)
}

func TestUsers_ListFilters(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	ada := e.invite(tok, "ada@example.com", map[string]any{"firstName": "Ada", "lastName": "Lovelace", "accountId": "acc-1"})
	grace, _ := e.activeUser(tok, "grace@navy.example")
	linus := e.invite(tok, "linus@example.com", map[string]any{"firstName": "Linus", "accountId": "acc-1"})
	wantStatus(t, e.do(http.MethodDelete, usersPath+"/"+linus.UserID+"/access", tok, nil), http.StatusOK)

	tests := []struct {
		query string
		want  []string // newest first
	}{
		{query: "", want: []string{linus.UserID, grace.UserID, ada.UserID}},
		{query: "?status=invited", want: []string{ada.UserID}},
		{query: "?status=active", want: []string{grace.UserID}},
		{query: "?status=revoked", want: []string{linus.UserID}},
		{query: "?accountId=acc-1", want: []string{linus.UserID, ada.UserID}},
		{query: "?accountId=acc-2", want: nil},
		{query: "?q=LOVE", want: []string{ada.UserID}},
		{query: "?q=ada%20love", want: []string{ada.UserID}},
		{query: "?q=NAVY", want: []string{grace.UserID}},
		{query: "?q=example.com", want: []string{linus.UserID, ada.UserID}},
		{query: "?q=example&status=revoked&accountId=acc-1", want: []string{linus.UserID}},
		{query: "?q=zzz", want: nil},
	}
	for _, tt := range tests {
		var got []string
		for _, u := range listAll[userJSON](e, tok, usersPath+tt.query) {
			got = append(got, u.ID)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%q: got %v, want %v", tt.query, got, tt.want)
		}
	}
	// Paging one at a time gives the same, newest first.
	r := e.do(http.MethodGet, usersPath+"?limit=1", tok, nil)
	wantStatus(t, r, http.StatusOK)
	if items := rawItems(t, r); len(items) != 1 || items[0]["id"] != linus.UserID {
		t.Errorf("got first page %s, want only the newest user", r.body)
	}
	for _, bad := range []string{"?status=gone", "?limit=abc", "?cursor=%00", "?role=admin"} {
		wantProblem(t, e.do(http.MethodGet, usersPath+bad, tok, nil), http.StatusBadRequest)
	}
	// A cursor of another list is refused.
	inv := e.do(http.MethodGet, invitationsPath+"?limit=1&status=pending", tok, nil)
	var page struct {
		NextCursor *string `json:"nextCursor"`
	}
	inv.decode(t, &page)
	e.invite(tok, "more@example.com")
	inv = e.do(http.MethodGet, invitationsPath+"?limit=1", tok, nil)
	inv.decode(t, &page)
	if page.NextCursor == nil {
		t.Fatal("got no nextCursor, want one with two pending invitations")
	}
	wantProblem(t, e.do(http.MethodGet, usersPath+"?cursor="+*page.NextCursor, tok, nil), http.StatusBadRequest)
}

// TestTenancy checks every route with an id: another organization's token
// gets 404 and changes nothing, and sees nothing in its lists, stats and audit.
func TestTenancy(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	a := e.admin("org-a")
	b := e.admin("org-b")
	active, sess := e.activeUser(a, "ada@example.com")
	pending := e.invite(a, "grace@example.com")

	sessions := listAll[sessionJSON](e, a, sessionsPath)
	if len(sessions) != 1 {
		t.Fatalf("got sessions %+v, want one", sessions)
	}
	statsBefore := e.stats(a)
	auditBefore := listAll[map[string]any](e, a, auditPath)

	routes := []struct {
		method, path string
	}{
		{http.MethodGet, usersPath + "/" + active.UserID},
		{http.MethodGet, usersPath + "/" + pending.UserID},
		{http.MethodDelete, usersPath + "/" + active.UserID},
		{http.MethodDelete, usersPath + "/" + pending.UserID},
		{http.MethodDelete, usersPath + "/" + active.UserID + "/access"},
		{http.MethodDelete, usersPath + "/" + pending.UserID + "/access"},
		{http.MethodGet, invitationsPath + "/" + pending.ID},
		{http.MethodGet, invitationsPath + "/" + active.ID},
		{http.MethodPost, invitationsPath + "/" + pending.ID + "/resend"},
		{http.MethodDelete, invitationsPath + "/" + pending.ID},
		{http.MethodDelete, sessionsPath + "/" + sessions[0].ID},
	}
	for _, rt := range routes {
		r := e.do(rt.method, rt.path, b, nil)
		p := wantProblem(t, r, http.StatusNotFound)
		if strings.Contains(string(r.body), "org-a") || p["detail"] != "The resource does not exist." {
			t.Errorf("%s %s: got %s, want a plain 404", rt.method, rt.path, r.body)
		}
	}
	// Filtering by org A's user id shows org B nothing.
	if got := listAll[sessionJSON](e, b, sessionsPath+"?userId="+active.UserID); len(got) != 0 {
		t.Errorf("got org-b sessions of org-a's user %+v, want none", got)
	}

	// Org A is unchanged: same counts, same audit, the session and link still work.
	if after := e.stats(a); after != withTime(statsBefore, after.GeneratedAt) {
		t.Errorf("got org-a stats %+v, want %+v", after, statsBefore)
	}
	if got := listAll[map[string]any](e, a, auditPath); len(got) != len(auditBefore) {
		t.Errorf("got %d org-a audit entries, want %d", len(got), len(auditBefore))
	}
	wantStatus(t, e.do(http.MethodGet, mePath, sess.AccessToken, nil), http.StatusOK)
	if u := e.user(a, pending.UserID); u.Status != "invited" {
		t.Errorf("got %+v, want still invited", u)
	}
	e.accept(pending.AcceptURL)

	// Org B sees nothing of org A.
	if got := listAll[userJSON](e, b, usersPath); len(got) != 0 {
		t.Errorf("got org-b users %+v, want none", got)
	}
	for _, st := range []string{"pending", "accepted", "expired", "cancelled"} {
		if got := listAll[invitationJSON](e, b, invitationsPath+"?status="+st); len(got) != 0 {
			t.Errorf("got org-b %s invitations %+v, want none", st, got)
		}
	}
	if got := listAll[sessionJSON](e, b, sessionsPath); len(got) != 0 {
		t.Errorf("got org-b sessions %+v, want none", got)
	}
	if got := listAll[map[string]any](e, b, auditPath); len(got) != 0 {
		t.Errorf("got org-b audit %+v, want none", got)
	}
	sb := e.stats(b)
	if sb.Users.Total != 0 || sb.Invitations.Pending+sb.Invitations.Accepted+sb.Invitations.Expired+sb.Invitations.Cancelled != 0 ||
		sb.Sessions.Active != 0 || sb.Logins.Last30d != 0 {
		t.Errorf("got org-b stats %+v, want all zero", sb)
	}
}

func TestUsers_ViewerForbidden(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	a := e.admin("org-a")
	viewer := e.tokenFor("org-a", "portal:read")
	inv, _ := e.activeUser(a, "ada@example.com")
	sessions := listAll[sessionJSON](e, viewer, sessionsPath)
	if len(sessions) != 1 {
		t.Fatalf("got sessions %+v, want one", sessions)
	}
	tests := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, invitationsPath, map[string]any{"email": "x@example.com"}},
		{http.MethodPost, usersPath + "/invite", map[string]any{"contactId": "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"}},
		{http.MethodPost, invitationsPath + "/" + inv.ID + "/resend", nil},
		{http.MethodDelete, invitationsPath + "/" + inv.ID, nil},
		{http.MethodDelete, usersPath + "/" + inv.UserID, nil},
		{http.MethodDelete, usersPath + "/" + inv.UserID + "/access", nil},
		{http.MethodDelete, sessionsPath + "/" + sessions[0].ID, nil},
	}
	for _, tt := range tests {
		wantProblem(t, e.do(tt.method, tt.path, viewer, tt.body), http.StatusForbidden)
	}
	for _, path := range []string{usersPath, usersPath + "/" + inv.UserID, invitationsPath, sessionsPath, statsPath} {
		wantStatus(t, e.do(http.MethodGet, path, viewer, nil), http.StatusOK)
	}
	if u := e.user(a, inv.UserID); u.Status != "active" {
		t.Errorf("got %+v, want still active", u)
	}
}

func TestUsers_MethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	inv := e.invite(admin, "ada@example.com")
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodPut, usersPath + "/" + inv.UserID, "GET, HEAD, DELETE"},
		{http.MethodPost, usersPath + "/" + inv.UserID + "/access", "DELETE"},
		{http.MethodDelete, usersPath, "GET, HEAD"},
		{http.MethodPatch, invitationsPath, "GET, HEAD, POST"},
		{http.MethodGet, invitationsPath + "/" + inv.ID + "/resend", "POST"},
		{http.MethodPost, statsPath, "GET, HEAD"},
		{http.MethodPost, sessionsPath, "GET, HEAD"},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, admin, nil)
		wantProblem(t, r, http.StatusMethodNotAllowed)
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: got Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

// TestUsers_BodiesCarryNoPassword reads the user bodies that are served as
// stored: an active user's password hash is kept apart and never shown.
func TestUsers_BodiesCarryNoPassword(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	inv, a := e.activeUser(tok, "ada@example.com")
	revokee, _ := e.activeUser(tok, "grace@example.com")
	wantStatus(t, e.do(http.MethodDelete, usersPath+"/"+revokee.UserID+"/access", tok, nil), http.StatusOK)
	bodies := map[string]response{
		"get":           e.do(http.MethodGet, usersPath+"/"+inv.UserID, tok, nil),
		"get revoked":   e.do(http.MethodGet, usersPath+"/"+revokee.UserID, tok, nil),
		"list":          e.do(http.MethodGet, usersPath, tok, nil),
		"list filtered": e.do(http.MethodGet, usersPath+"?status=active", tok, nil),
		"list paged":    e.do(http.MethodGet, usersPath+"?limit=1", tok, nil),
		"me":            e.do(http.MethodGet, mePath, a.AccessToken, nil),
	}
	for name, r := range bodies {
		wantStatus(t, r, http.StatusOK)
		for _, secret := range []string{"argon2", "passwordHash", goodPassword} {
			if strings.Contains(string(r.body), secret) {
				t.Errorf("%s: body %s contains %q", name, r.body, secret)
			}
		}
		if !strings.HasSuffix(string(r.body), "}\n") || r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
			t.Errorf("%s: got body %q with Content-Length %q, want one JSON object and its length", name, r.body, r.header.Get("Content-Length"))
		}
	}
	var page struct {
		Data       []userJSON `json:"data"`
		NextCursor *string    `json:"nextCursor"`
	}
	bodies["list paged"].decode(t, &page)
	if len(page.Data) != 1 || page.Data[0].ID != revokee.UserID || page.NextCursor == nil {
		t.Errorf("got page %s, want the newest user and a cursor", bodies["list paged"].body)
	}
	next := e.do(http.MethodGet, usersPath+"?limit=1&cursor="+*page.NextCursor, tok, nil)
	next.decode(t, &page)
	if len(page.Data) != 1 || page.Data[0].ID != inv.UserID || page.NextCursor != nil {
		t.Errorf("got page %s, want the oldest user and no cursor", next.body)
	}
}

// TestLists_Search: q is a parameter of the lists that search, and a 400 on
// the others.
func TestLists_Search(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	tests := []struct {
		path   string
		search bool
	}{
		{usersPath, true},
		{invitationsPath, true},
		{"/v1/contacts", true},
		{auditPath, false},
		{sessionsPath, false},
	}
	for _, tt := range tests {
		r := e.do(http.MethodGet, tt.path+"?q=ada", tok, nil)
		if tt.search {
			wantStatus(t, r, http.StatusOK)
			continue
		}
		if p := wantProblem(t, r, http.StatusBadRequest); !strings.Contains(fmt.Sprint(p), "q is not a parameter") {
			t.Errorf("%s?q=ada: got %v, want a problem naming q", tt.path, p)
		}
	}
}
