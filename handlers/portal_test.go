package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// mySessions returns the customer's own sessions.
func (e *testEnv) mySessions(token string) []sessionJSON {
	e.t.Helper()
	r := e.do(http.MethodGet, mySessionsPath, token, nil)
	wantStatus(e.t, r, http.StatusOK)
	var p struct {
		Data []sessionJSON `json:"data"`
	}
	r.decode(e.t, &p)
	return p.Data
}

// wantSessionIDs fails unless the sessions are exactly ids (in any order).
func wantSessionIDs(t *testing.T, got []sessionJSON, ids ...string) {
	t.Helper()
	var g []string
	for _, s := range got {
		g = append(g, s.ID)
	}
	slices.Sort(g)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(g, want) {
		t.Errorf("got sessions %v, want %v", g, want)
	}
}

// TestPortal_Journey is the customer's life: invited, accepted, signed in
// on two devices, one device signed out by an admin, and then access ended
// by revoking or removing the user.
func TestPortal_Journey(t *testing.T) {
	tests := []struct {
		name   string
		end    func(e *testEnv, admin, userID string)
		userOK bool // the user is still listed afterwards
	}{
		{name: "revoke", userOK: true, end: func(e *testEnv, admin, userID string) {
			wantStatus(e.t, e.do(http.MethodDelete, usersPath+"/"+userID+"/access", admin, nil), http.StatusOK)
		}},
		{name: "remove", end: func(e *testEnv, admin, userID string) {
			wantStatus(e.t, e.do(http.MethodDelete, usersPath+"/"+userID, admin, nil), http.StatusNoContent)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			admin := e.admin("org-a")
			slug := e.slug(admin)
			e.patchConfig(admin, map[string]any{"branding": map[string]any{"primaryColor": "#123456"}, "welcomeMessage": "Hello"})
			inv := e.invite(admin, "ada@example.com", map[string]any{"firstName": "Ada"})

			// Accept: 201 with a session; it counts as the first login.
			r := e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL), "password": goodPassword,
				"lastName": "Lovelace"}, "User-Agent", "laptop")
			wantStatus(t, r, http.StatusCreated)
			var first authJSON
			r.decode(t, &first)
			if len(first.AccessToken) != 51 || first.User.ID != inv.UserID || first.User.Status != "active" ||
				first.User.FirstName != "Ada" || first.User.LastName != "Lovelace" || first.User.ActivatedAt == nil || first.User.LastLoginAt == nil {
				t.Fatalf("got %s, want an opaque token and the active user", r.body)
			}
			if want := fixedStart.Add(1440 * time.Minute); !first.ExpiresAt.Equal(want) {
				t.Errorf("got expiresAt %v, want %v", first.ExpiresAt, want)
			}
			if strings.Contains(string(r.body), "password") || strings.Contains(string(r.body), "tokenHash") {
				t.Errorf("got %s, want no hashes", r.body)
			}

			// Me: the user, the branding and the enabled features.
			me := e.do(http.MethodGet, mePath, first.AccessToken, nil)
			wantStatus(t, me, http.StatusOK)
			var m struct {
				User   userJSON `json:"user"`
				Portal struct {
					Name, Slug, WelcomeMessage string
					Branding                   struct{ PrimaryColor string }
				}
				Features []struct {
					ID      string `json:"id"`
					Enabled bool   `json:"enabled"`
				} `json:"features"`
			}
			me.decode(t, &m)
			if strings.Contains(string(me.body), "password") || strings.Contains(string(me.body), "tokenHash") {
				t.Errorf("got me %s, want no hashes", me.body)
			}
			if m.User.ID != inv.UserID || m.Portal.Slug != slug || m.Portal.WelcomeMessage != "Hello" || m.Portal.Branding.PrimaryColor != "#123456" {
				t.Errorf("got me %s, want the user and the portal's branding", me.body)
			}
			var features []string
			for _, f := range m.Features {
				if !f.Enabled {
					t.Errorf("got disabled feature %s in me, want enabled ones only", f.ID)
				}
				features = append(features, f.ID)
			}
			if slices.Sort(features); !slices.Equal(features, []string{"knowledge_base", "tickets"}) {
				t.Errorf("got features %v, want the default two", features)
			}

			// Log in elsewhere: two sessions, in the admin's list and the customer's own.
			second := e.mustLogin(slug, "ADA@example.com", goodPassword, "User-Agent", "phone")
			if second.AccessToken == first.AccessToken || second.User.ID != inv.UserID {
				t.Fatalf("got %+v, want a second session of the same user", second)
			}
			adminList := listAll[sessionJSON](e, admin, sessionsPath+"?userId="+inv.UserID)
			if len(adminList) != 2 {
				t.Fatalf("got admin sessions %+v, want 2", adminList)
			}
			agents := map[string]string{}
			for _, s := range adminList {
				agents[s.UserAgent] = s.ID
				if s.UserID != inv.UserID || s.Email != "ada@example.com" || s.IP != "127.0.0.1" || !s.ExpiresAt.After(s.CreatedAt) {
					t.Errorf("got session %+v, want ada's from 127.0.0.1", s)
				}
			}
			laptop, phone := agents["laptop"], agents["phone"]
			if laptop == "" || phone == "" {
				t.Fatalf("got user agents %v, want laptop and phone", agents)
			}
			own := e.mySessions(first.AccessToken)
			wantSessionIDs(t, own, laptop, phone)
			for _, s := range own {
				if s.Current != (s.ID == laptop) {
					t.Errorf("got current=%v on %s, want it only on the laptop session %s", s.Current, s.ID, laptop)
				}
			}
			for _, s := range e.mySessions(second.AccessToken) {
				if s.Current != (s.ID == phone) {
					t.Errorf("got current=%v on %s from the phone, want it only on %s", s.Current, s.ID, phone)
				}
			}
			if s := e.stats(admin); s.Sessions.Active != 2 || s.Logins.Last24h != 2 || s.Users.Active != 1 || s.Invitations.Accepted != 1 || s.AcceptanceRate != 1 {
				t.Errorf("got stats %+v, want two sessions, two logins, one accepted invitation", s)
			}

			// The admin ends the phone's session: its token dies, the laptop's lives.
			wantStatus(t, e.do(http.MethodDelete, sessionsPath+"/"+phone, admin, nil), http.StatusNoContent)
			wantProblem(t, e.do(http.MethodGet, mePath, second.AccessToken, nil), http.StatusUnauthorized)
			wantStatus(t, e.do(http.MethodGet, mePath, first.AccessToken, nil), http.StatusOK)
			wantProblem(t, e.do(http.MethodDelete, sessionsPath+"/"+phone, admin, nil), http.StatusNotFound)
			wantSessionIDs(t, e.mySessions(first.AccessToken), laptop)

			// Ending access ends the rest at once, and login is refused.
			tt.end(e, admin, inv.UserID)
			wantProblem(t, e.do(http.MethodGet, mePath, first.AccessToken, nil), http.StatusUnauthorized)
			wantProblem(t, e.do(http.MethodGet, mySessionsPath, first.AccessToken, nil), http.StatusUnauthorized)
			if got := listAll[sessionJSON](e, admin, sessionsPath); len(got) != 0 {
				t.Errorf("got sessions %+v, want none", got)
			}
			wantProblem(t, e.login(slug, "ada@example.com", goodPassword), http.StatusUnauthorized)
			s := e.stats(admin)
			if s.Sessions.Active != 0 || s.Logins.Last24h != 2 {
				t.Errorf("got stats %+v, want no session and the two past logins", s)
			}
			status := e.do(http.MethodGet, usersPath+"/"+inv.UserID, admin, nil).status
			if tt.userOK && status != http.StatusOK || !tt.userOK && status != http.StatusNotFound {
				t.Errorf("got status %d for the user, want it kept=%v", status, tt.userOK)
			}
		})
	}
}

func TestPortal_LogoutAndOwnSessions(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	slug := e.slug(admin)
	_, first := e.activeUser(admin, "ada@example.com")
	second := e.mustLogin(slug, "ada@example.com", goodPassword)
	_, other := e.activeUser(admin, "grace@example.com")

	ids := map[string]string{}
	for _, s := range e.mySessions(first.AccessToken) {
		if s.Current {
			ids["first"] = s.ID
		} else {
			ids["second"] = s.ID
		}
	}
	otherID := e.mySessions(other.AccessToken)[0].ID
	// The own list pages like every list.
	page := e.do(http.MethodGet, mySessionsPath+"?limit=1", first.AccessToken, nil)
	wantStatus(t, page, http.StatusOK)
	var p struct {
		Data       []sessionJSON `json:"data"`
		NextCursor *string       `json:"nextCursor"`
	}
	page.decode(t, &p)
	if len(p.Data) != 1 || p.Data[0].ID != ids["second"] || p.NextCursor == nil {
		t.Fatalf("got first page %s, want the newest session and a cursor", page.body)
	}
	page = e.do(http.MethodGet, mySessionsPath+"?limit=1&cursor="+url.QueryEscape(*p.NextCursor), first.AccessToken, nil)
	wantStatus(t, page, http.StatusOK)
	p.NextCursor = nil
	page.decode(t, &p)
	if len(p.Data) != 1 || p.Data[0].ID != ids["first"] || !p.Data[0].Current || p.NextCursor != nil {
		t.Fatalf("got second page %s, want the current session and no cursor", page.body)
	}
	for _, bad := range []string{"?limit=0", "?limit=101", "?cursor=garbage", "?q=x", "?userId=" + ids["first"]} {
		wantProblem(t, e.do(http.MethodGet, mySessionsPath+bad, first.AccessToken, nil), http.StatusBadRequest)
	}
	// A customer cannot end another user's session, nor an unknown one.
	wantProblem(t, e.do(http.MethodDelete, mySessionsPath+"/"+otherID, first.AccessToken, nil), http.StatusNotFound)
	wantProblem(t, e.do(http.MethodDelete, mySessionsPath+"/nope", first.AccessToken, nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodGet, mePath, other.AccessToken, nil), http.StatusOK)
	// It can end its own other session.
	wantStatus(t, e.do(http.MethodDelete, mySessionsPath+"/"+ids["second"], first.AccessToken, nil), http.StatusNoContent)
	wantProblem(t, e.do(http.MethodGet, mePath, second.AccessToken, nil), http.StatusUnauthorized)
	// Logout ends this one.
	wantStatus(t, e.do(http.MethodPost, "/v1/portal/logout", first.AccessToken, nil), http.StatusNoContent)
	wantProblem(t, e.do(http.MethodGet, mePath, first.AccessToken, nil), http.StatusUnauthorized)
	wantProblem(t, e.do(http.MethodPost, "/v1/portal/logout", first.AccessToken, nil), http.StatusUnauthorized)
	if s := e.stats(admin); s.Sessions.Active != 1 {
		t.Errorf("got %d active sessions, want only grace's", s.Sessions.Active)
	}
}

func TestPortal_TokenKinds(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	inv, customer := e.activeUser(admin, "ada@example.com")

	// Staff tokens are refused on the customer API.
	for _, tok := range []string{admin, e.tokenFor("org-a", "", map[string]any{"role": "owner"}), "garbage", strings.Repeat("a", 43)} {
		for _, path := range []string{mePath, mySessionsPath} {
			r := e.do(http.MethodGet, path, tok, nil)
			wantProblem(t, r, http.StatusUnauthorized)
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
				t.Errorf("%s: got WWW-Authenticate %q, want invalid_token", path, got)
			}
		}
	}
	wantProblem(t, e.do(http.MethodGet, mePath, "", nil), http.StatusUnauthorized)

	// Customer session tokens are refused on every admin GET.
	sessions := listAll[sessionJSON](e, admin, sessionsPath)
	for _, path := range []string{"/v1/customer-portal/config", "/v1/customer-portal/features", usersPath, usersPath + "/" + inv.UserID,
		invitationsPath, invitationsPath + "/" + inv.ID, statsPath, sessionsPath, auditPath, "/v1/contacts"} {
		r := e.do(http.MethodGet, path, customer.AccessToken, nil)
		wantProblem(t, r, http.StatusUnauthorized)
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
			t.Errorf("%s: got WWW-Authenticate %q, want invalid_token", path, got)
		}
	}
	// And on the admin's writes.
	wantProblem(t, e.do(http.MethodDelete, sessionsPath+"/"+sessions[0].ID, customer.AccessToken, nil), http.StatusUnauthorized)
	wantProblem(t, e.do(http.MethodDelete, usersPath+"/"+inv.UserID+"/access", customer.AccessToken, nil), http.StatusUnauthorized)
	wantStatus(t, e.do(http.MethodGet, mePath, customer.AccessToken, nil), http.StatusOK)
}

func TestPortal_Accept(t *testing.T) {
	tests := []struct {
		name   string
		body   func(token string) any
		status int
		field  string
		spent  bool // the token is used up afterwards
	}{
		{name: "ok", body: func(tok string) any { return map[string]any{"token": tok, "password": goodPassword} }, status: http.StatusCreated, spent: true},
		{name: "short password", body: func(tok string) any { return map[string]any{"token": tok, "password": "short"} },
			status: http.StatusUnprocessableEntity, field: "password"},
		{name: "long password", body: func(tok string) any { return map[string]any{"token": tok, "password": strings.Repeat("p", 129)} },
			status: http.StatusUnprocessableEntity, field: "password"},
		{name: "blank password", body: func(tok string) any { return map[string]any{"token": tok, "password": strings.Repeat(" ", 12)} },
			status: http.StatusUnprocessableEntity, field: "password"},
		{name: "long first name", body: func(tok string) any {
			return map[string]any{"token": tok, "password": goodPassword, "firstName": strings.Repeat("a", 101)}
		}, status: http.StatusUnprocessableEntity, field: "firstName"},
		{name: "unknown field", body: func(tok string) any { return map[string]any{"token": tok, "password": goodPassword, "role": "admin"} },
			status: http.StatusUnprocessableEntity, field: "role"},
		{name: "unknown token", body: func(string) any { return map[string]any{"token": strings.Repeat("A", 51), "password": goodPassword} },
			status: http.StatusGone},
		{name: "no token", body: func(string) any { return map[string]any{"password": goodPassword} }, status: http.StatusGone},
		{name: "huge token", body: func(string) any { return map[string]any{"token": strings.Repeat("A", 5000), "password": goodPassword} },
			status: http.StatusGone},
		{name: "malformed", body: func(string) any { return `{"token": ` }, status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			admin := e.admin("org-a")
			inv := e.invite(admin, "ada@example.com")
			tok := acceptToken(t, inv.AcceptURL)
			r := e.do(http.MethodPost, acceptPath, "", tt.body(tok))
			if tt.status == http.StatusCreated {
				wantStatus(t, r, tt.status)
			} else {
				p := wantProblem(t, r, tt.status)
				if tt.field != "" {
					wantFields(t, p, tt.field)
				}
			}
			again := e.do(http.MethodPost, acceptPath, "", map[string]any{"token": tok, "password": goodPassword})
			if tt.spent {
				wantProblem(t, again, http.StatusGone)
			} else {
				wantStatus(t, again, http.StatusCreated)
			}
			if s := e.stats(admin); s.Users.Active != 1 || s.Invitations.Accepted != 1 || s.Sessions.Active != 1 {
				t.Errorf("got stats %+v, want one acceptance in all", s)
			}
		})
	}
}

func TestPortal_ConcurrentAccept(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	inv := e.invite(admin, "ada@example.com")
	tok := acceptToken(t, inv.AcceptURL)
	const n = 30
	statuses := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := e.try(http.MethodPost, acceptPath, "", map[string]any{"token": tok, "password": goodPassword})
			statuses[i], errs[i] = r.status, err
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, st := range statuses {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		count[st]++
	}
	// One wins; the others find the token spent (410), the address over
	// its limit (429) or the hashing line full (503), never a second 201.
	if count[http.StatusCreated] != 1 || count[http.StatusGone]+count[http.StatusTooManyRequests]+count[http.StatusServiceUnavailable] != n-1 {
		t.Errorf("got statuses %v, want one 201 and %d of 410, 429 or 503", count, n-1)
	}
	s := e.stats(admin)
	if s.Users.Active != 1 || s.Users.Invited != 0 || s.Sessions.Active != 1 || s.Invitations.Accepted != 1 || s.Invitations.Pending != 0 {
		t.Errorf("got stats %+v, want one activation and one session", s)
	}
}

func TestPortal_Timeouts(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		// steps advance the clock and then use the session (or only look,
		// with use false) and expect status.
		steps []timeStep
	}{
		{name: "idle timeout", steps: []timeStep{
			{advance: 59 * time.Minute, use: false, active: true},
			{advance: 2 * time.Minute, use: true, status: http.StatusUnauthorized},
		}},
		{name: "idle exactly at the deadline", steps: []timeStep{
			{advance: 60 * time.Minute, use: true, status: http.StatusUnauthorized},
		}},
		{name: "use keeps an active session alive", steps: []timeStep{
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 59 * time.Minute, use: false, active: true},
			{advance: 2 * time.Minute, use: true, status: http.StatusUnauthorized},
		}},
		{name: "uses within a minute are not writes", steps: []timeStep{
			{advance: 30 * time.Second, use: true, status: http.StatusOK},
			{advance: 29 * time.Second, use: true, status: http.StatusOK},
			// lastSeenAt was not rewritten, so the session lapses 60m after it began.
			{advance: 59*time.Minute + 1*time.Second, use: true, status: http.StatusUnauthorized},
		}},
		{name: "absolute lifetime", config: map[string]any{"auth": map[string]any{"sessionTtlMinutes": 90, "idleTimeoutMinutes": 60}}, steps: []timeStep{
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 30 * time.Minute, use: true, status: http.StatusOK},
			{advance: 29 * time.Minute, use: true, status: http.StatusOK},
			{advance: 1 * time.Minute, use: true, status: http.StatusUnauthorized},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			admin := e.admin("org-a")
			if tt.config != nil {
				e.patchConfig(admin, tt.config)
			}
			_, a := e.activeUser(admin, "ada@example.com")
			for i, st := range tt.steps {
				e.clock.Advance(st.advance)
				admin = e.admin("org-a") // staff tokens live an hour
				want := boolInt(st.active)
				if st.use {
					wantStatus(t, e.do(http.MethodGet, mePath, a.AccessToken, nil), st.status)
					want = boolInt(st.status == http.StatusOK)
				}
				if s := e.stats(admin); s.Sessions.Active != want {
					t.Errorf("step %d: got %d active sessions in stats, want %d", i, s.Sessions.Active, want)
				}
				if got := listAll[sessionJSON](e, admin, sessionsPath); int64(len(got)) != want {
					t.Errorf("step %d: got %d sessions listed, want %d", i, len(got), want)
				}
			}
			// The sweeper ends it for good without changing the counts.
			res, err := e.db.Sweep(t.Context())
			if err != nil || res.Sessions != 1 {
				t.Errorf("got sweep %+v, %v, want one session ended", res, err)
			}
			if s := e.stats(admin); s.Sessions.Active != 0 {
				t.Errorf("got %d active sessions after the sweep, want 0", s.Sessions.Active)
			}
		})
	}
}

// timeStep is one step of TestPortal_Timeouts.
type timeStep struct {
	advance time.Duration
	use     bool
	status  int
	active  bool // when not used: whether the session still counts
}

func TestPortal_InvitationExpiry(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	inv := e.invite(admin, "ada@example.com", map[string]any{"expiresInHours": 2})
	keep := e.invite(admin, "grace@example.com")
	e.clock.Advance(2 * time.Hour)
	admin = e.admin("org-a")
	wantProblem(t, e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL), "password": goodPassword}),
		http.StatusGone)
	check := func(when string) {
		t.Helper()
		expired := listAll[invitationJSON](e, admin, invitationsPath+"?status=expired")
		if len(expired) != 1 || expired[0].ID != inv.ID || expired[0].Status != "expired" {
			t.Errorf("%s: got expired %+v, want the invitation", when, expired)
		}
		pending := listAll[invitationJSON](e, admin, invitationsPath)
		if len(pending) != 1 || pending[0].ID != keep.ID {
			t.Errorf("%s: got pending %+v, want only %s", when, pending, keep.ID)
		}
		s := e.stats(admin)
		if s.Invitations.Expired != 1 || s.Invitations.Pending != 1 || s.AcceptanceRate != 0 {
			t.Errorf("%s: got stats %+v, want one expired and one pending", when, s)
		}
	}
	check("before the sweep")
	wantProblem(t, e.do(http.MethodDelete, invitationsPath+"/"+inv.ID, admin, nil), http.StatusConflict)
	wantProblem(t, e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", admin, nil), http.StatusConflict)
	check("after a refused resend")
	res, err := e.db.Sweep(t.Context())
	if err != nil || res.Invitations != 1 {
		t.Fatalf("got sweep %+v, %v, want one invitation expired", res, err)
	}
	check("after the sweep")
	wantProblem(t, e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", admin, nil), http.StatusConflict)
	wantProblem(t, e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL), "password": goodPassword}),
		http.StatusGone)
	// The person may be invited again.
	again := e.invite(admin, "ada@example.com")
	e.accept(again.AcceptURL)
	if s := e.stats(admin); s.Invitations.Expired != 1 || s.Invitations.Accepted != 1 || s.AcceptanceRate != 1.0/3 {
		t.Errorf("got stats %+v, want one expired, one accepted, rate 1/3", s)
	}
}

func TestPortal_LoginEnumeration(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	slug := e.slug(admin)
	e.activeUser(admin, "ada@example.com")
	revoked, _ := e.activeUser(admin, "grace@example.com")
	wantStatus(t, e.do(http.MethodDelete, usersPath+"/"+revoked.UserID+"/access", admin, nil), http.StatusOK)
	e.invite(admin, "invited@example.com")

	send := func(portal, email, password string) response {
		t.Helper()
		r := e.do(http.MethodPost, loginPath, "", map[string]any{"portal": portal, "email": email, "password": password},
			"X-Request-Id", "enumeration-probe")
		wantProblem(t, r, http.StatusUnauthorized)
		return r
	}
	cases := []struct {
		name string
		r    response
	}{
		{"unknown email", send(slug, "nobody@example.com", goodPassword)},
		{"wrong password", send(slug, "ada@example.com", goodPassword+"!")},
		{"revoked user", send(slug, "grace@example.com", goodPassword)},
		{"invited user", send(slug, "invited@example.com", goodPassword)},
		{"unknown portal", send("no-such-portal", "ada@example.com", goodPassword)},
		{"empty fields", send("", "", "")},
	}
	e.patchConfig(admin, map[string]any{"enabled": false})
	cases = append(cases, struct {
		name string
		r    response
	}{"disabled portal", send(slug, "ada@example.com", goodPassword)})

	want := cases[0].r
	for _, c := range cases[1:] {
		if !bytes.Equal(c.r.body, want.body) {
			t.Errorf("%s: got body %s, want the same bytes as for an unknown email: %s", c.name, c.r.body, want.body)
		}
		if c.r.header.Get("WWW-Authenticate") != want.header.Get("WWW-Authenticate") {
			t.Errorf("%s: got WWW-Authenticate %q, want %q", c.name, c.r.header.Get("WWW-Authenticate"), want.header.Get("WWW-Authenticate"))
		}
	}
	e.patchConfig(admin, map[string]any{"enabled": true})
	e.mustLogin(slug, "ada@example.com", goodPassword)
}

func TestPortal_LoginRateLimit(t *testing.T) {
	t.Run("per account", func(t *testing.T) {
		t.Parallel()
		e := newFastEnv(t)
		admin := e.admin("org-a")
		slug := e.slug(admin)
		e.activeUser(admin, "ada@example.com")
		var limited response
		for i := 1; ; i++ {
			r := e.login(slug, "ada@example.com", "wrong password "+strconv.Itoa(i))
			if r.status == http.StatusTooManyRequests {
				limited = r
				break
			}
			wantProblem(t, r, http.StatusUnauthorized)
			if i > 20 {
				t.Fatal("got no 429 after 20 failed logins")
			}
		}
		wantProblem(t, limited, http.StatusTooManyRequests)
		secs, err := strconv.Atoi(limited.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 3600 {
			t.Fatalf("got Retry-After %q, want a number of seconds", limited.header.Get("Retry-After"))
		}
		// The right password does not get through while limited...
		wantProblem(t, e.login(slug, "ada@example.com", goodPassword), http.StatusTooManyRequests)
		// ...nor does it help another email from the same account key.
		wantProblem(t, e.login(slug, "Ada@Example.com", goodPassword), http.StatusTooManyRequests)
		// Other accounts are not affected.
		e.activeUser(admin, "grace@example.com")
		e.mustLogin(slug, "grace@example.com", goodPassword)
		// After the window the right password works.
		e.clock.Advance(time.Duration(secs) * time.Second)
		e.mustLogin(slug, "ada@example.com", goodPassword)
	})
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		e := newFastEnv(t)
		admin := e.admin("org-a")
		slug := e.slug(admin)
		e.activeUser(admin, "ada@example.com")
		var limited response
		for i := 1; ; i++ {
			r := e.login(slug, fmt.Sprintf("probe-%d@example.com", i), goodPassword)
			if r.status == http.StatusTooManyRequests {
				limited = r
				break
			}
			wantProblem(t, r, http.StatusUnauthorized)
			if i > 100 {
				t.Fatal("got no 429 after 100 logins from one address")
			}
		}
		secs, err := strconv.Atoi(limited.header.Get("Retry-After"))
		if err != nil || secs < 1 {
			t.Fatalf("got Retry-After %q, want a number of seconds", limited.header.Get("Retry-After"))
		}
		wantProblem(t, e.login(slug, "ada@example.com", goodPassword), http.StatusTooManyRequests)
		e.clock.Advance(time.Duration(secs) * time.Second)
		e.mustLogin(slug, "ada@example.com", goodPassword)
	})
}

// resetLink returns the token of the newest password reset email to email.
func (e *testEnv) resetToken(email string) string {
	e.t.Helper()
	msgs, err := e.db.DueMessages(e.t.Context(), e.clock.Now().Add(24*time.Hour), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Kind != data.MailPasswordReset || m.To != email {
			continue
		}
		u, err := url.Parse(m.Data.Link)
		if err != nil || !strings.HasSuffix(u.Path, "/reset") {
			e.t.Fatalf("got reset link %q, want .../reset?token=", m.Data.Link)
		}
		return u.Query().Get("token")
	}
	e.t.Fatalf("got no reset email to %s in %+v", email, msgs)
	return ""
}

// resetMails counts the password reset emails in the outbox.
func (e *testEnv) resetMails() int {
	e.t.Helper()
	msgs, err := e.db.DueMessages(e.t.Context(), e.clock.Now().Add(24*time.Hour), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Kind == data.MailPasswordReset {
			n++
		}
	}
	return n
}

func TestPortal_PasswordReset(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	slug := e.slug(admin)
	_, laptop := e.activeUser(admin, "ada@example.com")
	phone := e.mustLogin(slug, "ada@example.com", goodPassword)
	tablet := e.mustLogin(slug, "ada@example.com", goodPassword)
	revoked, _ := e.activeUser(admin, "grace@example.com")
	wantStatus(t, e.do(http.MethodDelete, usersPath+"/"+revoked.UserID+"/access", admin, nil), http.StatusOK)

	// Forgot answers 202 alike whoever asks, and mails only a real user.
	var bodies [][]byte
	for _, req := range []map[string]any{
		{"portal": slug, "email": "nobody@example.com"},
		{"portal": "no-such-portal", "email": "ada@example.com"},
		{"portal": slug, "email": "grace@example.com"},
		{"portal": slug, "email": "ada@example.com"},
	} {
		r := e.forgot(req)
		wantStatus(t, r, http.StatusAccepted)
		bodies = append(bodies, r.body)
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Errorf("got forgot body %s, want the same as %s", b, bodies[0])
		}
	}
	if n := e.resetMails(); n != 1 {
		t.Fatalf("got %d reset emails, want 1 (for ada only)", n)
	}
	tok := e.resetToken("ada@example.com")
	const newPassword = "a much better passphrase"

	// A password that breaks the rule is refused and does not spend the token.
	p := wantProblem(t, e.do(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": tok, "password": "short"}),
		http.StatusUnprocessableEntity)
	wantFields(t, p, "password")
	wantProblem(t, e.do(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": "nope", "password": newPassword}),
		http.StatusGone)

	// Reset from the laptop: the laptop stays signed in, every other session ends.
	wantStatus(t, e.do(http.MethodPost, "/v1/portal/password/reset", laptop.AccessToken, map[string]any{"token": tok, "password": newPassword}),
		http.StatusNoContent)
	wantStatus(t, e.do(http.MethodGet, mePath, laptop.AccessToken, nil), http.StatusOK)
	for _, a := range []authJSON{phone, tablet} {
		wantProblem(t, e.do(http.MethodGet, mePath, a.AccessToken, nil), http.StatusUnauthorized)
	}
	if s := e.stats(admin); s.Sessions.Active != 1 {
		t.Errorf("got %d active sessions, want only the laptop's", s.Sessions.Active)
	}
	wantProblem(t, e.login(slug, "ada@example.com", goodPassword), http.StatusUnauthorized)
	e.mustLogin(slug, "ada@example.com", newPassword)
	// Single use.
	wantProblem(t, e.do(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": tok, "password": goodPassword}),
		http.StatusGone)

	// Without a session of its own, a reset ends every session; an hour-old link is dead.
	wantStatus(t, e.forgot(map[string]any{"portal": slug, "email": "ada@example.com"}), http.StatusAccepted)
	tok2 := e.resetToken("ada@example.com")
	wantStatus(t, e.do(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": tok2, "password": goodPassword}),
		http.StatusNoContent)
	if got := listAll[sessionJSON](e, admin, sessionsPath); len(got) != 0 {
		t.Errorf("got sessions %+v, want none after a reset without a session", got)
	}
	wantStatus(t, e.forgot(map[string]any{"portal": slug, "email": "ada@example.com"}), http.StatusAccepted)
	tok3 := e.resetToken("ada@example.com")
	e.clock.Advance(time.Hour)
	wantProblem(t, e.do(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": tok3, "password": newPassword}),
		http.StatusGone)
	e.mustLogin(slug, "ada@example.com", goodPassword)
}
