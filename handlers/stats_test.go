package handlers_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestStats_Empty(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	r := e.do(http.MethodGet, statsPath, admin, nil)
	wantStatus(t, r, http.StatusOK)
	var s statsJSON
	r.decode(t, &s)
	if s.Users.Total != 0 || s.AcceptanceRate != 0 || s.Features.Enabled != 2 || s.Features.Total != 7 || !s.GeneratedAt.Equal(fixedStart) {
		t.Errorf("got %s, want zero counts, 2 of 7 features and generatedAt %v", r.body, fixedStart)
	}
	m := r.json(t)
	for _, k := range []string{"users", "invitations", "sessions", "logins", "acceptanceRate", "features", "generatedAt"} {
		if _, ok := m[k]; !ok {
			t.Errorf("got %s, want member %q", r.body, k)
		}
	}
	wantProblem(t, e.do(http.MethodGet, statsPath+"?fresh=1", admin, nil), http.StatusBadRequest)
	wantStatus(t, e.do(http.MethodPatch, "/v1/customer-portal/features/chat/toggle", admin, nil), http.StatusOK)
	if s := e.stats(admin); s.Features.Enabled != 3 {
		t.Errorf("got %d features enabled, want 3 after a toggle", s.Features.Enabled)
	}
}

func TestStats_LoginWindows(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	slug := e.slug(admin)
	e.activeUser(admin, "ada@example.com") // one login now
	steps := []struct {
		advance         time.Duration
		d1, d7, d30     int64
		loginAfterCheck bool
	}{
		{advance: 0, d1: 1, d7: 1, d30: 1, loginAfterCheck: true},
		{advance: 23 * time.Hour, d1: 2, d7: 2, d30: 2},
		{advance: 2 * time.Hour, d1: 0, d7: 2, d30: 2, loginAfterCheck: true},
		{advance: 6 * 24 * time.Hour, d1: 0, d7: 1, d30: 3},
		{advance: 30 * 24 * time.Hour, d1: 0, d7: 0, d30: 0},
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		admin = e.admin("org-a")
		s := e.stats(admin)
		if s.Logins.Last24h != st.d1 || s.Logins.Last7d != st.d7 || s.Logins.Last30d != st.d30 {
			t.Errorf("step %d: got logins %+v, want %d/%d/%d", i, s.Logins, st.d1, st.d7, st.d30)
		}
		if st.loginAfterCheck {
			e.mustLogin(slug, "ada@example.com", goodPassword)
		}
	}
}

// propOrg is what the property test remembers of one organization.
type propOrg struct {
	name        string
	tokens      []string // accept tokens ever issued, live or dead
	invitations []string
	users       []string
	sessions    []string // customer access tokens ever issued
}

// TestStats_Property runs a random sequence of operations across two
// organizations and checks that the stats equal a recount from the lists.
func TestStats_Property(t *testing.T) {
	t.Parallel()
	seed := uint64(20261126)
	if s := os.Getenv("PORTAL_PROP_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = n
	}
	t.Logf("seed %d (set PORTAL_PROP_SEED to replay another)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	e := newFastEnv(t)
	orgs := []*propOrg{{name: "org-a"}, {name: "org-b"}}
	slugs := map[string]string{}
	for _, o := range orgs {
		admin := e.admin(o.name)
		// Short sessions, so that time ends some of them.
		e.patchConfig(admin, map[string]any{"auth": map[string]any{"sessionTtlMinutes": 240, "idleTimeoutMinutes": 90}})
		slugs[o.name] = e.slug(admin)
	}
	emails := make([]string, 15)
	for i := range emails {
		emails[i] = fmt.Sprintf("person-%d@example.com", i)
	}
	pick := func(list []string) string {
		if len(list) == 0 {
			return "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"
		}
		return list[rng.IntN(len(list))]
	}
	expect := func(op string, r response, ok ...int) {
		t.Helper()
		for _, s := range ok {
			if r.status == s {
				return
			}
		}
		t.Fatalf("%s: got status %d, want one of %v: %s", op, r.status, ok, r.body)
	}

	const ops = 500
	counts := map[string]int{}
	for i := range ops {
		o := orgs[rng.IntN(len(orgs))]
		admin := e.admin(o.name)
		var op string
		switch n := rng.IntN(100); {
		case n < 22:
			op = "invite"
			body := map[string]any{"email": pick(emails)}
			if rng.IntN(3) == 0 {
				body["expiresInHours"] = 1 + rng.IntN(3)
			}
			r := e.mustTry(http.MethodPost, invitationsPath, admin, body)
			expect(op, r, http.StatusCreated, http.StatusConflict)
			if r.status == http.StatusCreated {
				var inv invitationJSON
				r.decode(t, &inv)
				o.tokens = append(o.tokens, acceptToken(t, inv.AcceptURL))
				o.invitations = append(o.invitations, inv.ID)
				o.users = append(o.users, inv.UserID)
			}
		case n < 40:
			op = "accept"
			r := e.mustTry(http.MethodPost, acceptPath, "", map[string]any{"token": pick(o.tokens), "password": goodPassword})
			expect(op, r, http.StatusCreated, http.StatusGone)
			if r.status == http.StatusCreated {
				var a authJSON
				r.decode(t, &a)
				o.sessions = append(o.sessions, a.AccessToken)
			}
		case n < 52:
			op = "login"
			r := e.mustTry(http.MethodPost, loginPath, "", map[string]any{"portal": slugs[o.name], "email": pick(emails), "password": goodPassword})
			expect(op, r, http.StatusOK, http.StatusUnauthorized, http.StatusTooManyRequests)
			if r.status == http.StatusOK {
				var a authJSON
				r.decode(t, &a)
				o.sessions = append(o.sessions, a.AccessToken)
			}
		case n < 58:
			op = "revoke"
			expect(op, e.mustTry(http.MethodDelete, usersPath+"/"+pick(o.users)+"/access", admin, nil), http.StatusOK, http.StatusNotFound)
		case n < 62:
			op = "remove"
			expect(op, e.mustTry(http.MethodDelete, usersPath+"/"+pick(o.users), admin, nil), http.StatusNoContent, http.StatusNotFound)
		case n < 68:
			op = "cancel"
			expect(op, e.mustTry(http.MethodDelete, invitationsPath+"/"+pick(o.invitations), admin, nil),
				http.StatusNoContent, http.StatusConflict, http.StatusNotFound)
		case n < 74:
			op = "resend"
			r := e.mustTry(http.MethodPost, invitationsPath+"/"+pick(o.invitations)+"/resend", admin, nil)
			expect(op, r, http.StatusOK, http.StatusConflict, http.StatusNotFound, http.StatusTooManyRequests)
			if r.status == http.StatusOK {
				var inv invitationJSON
				r.decode(t, &inv)
				o.tokens = append(o.tokens, acceptToken(t, inv.AcceptURL))
			}
		case n < 78:
			op = "end session"
			list := listAllQuick[sessionJSON](e, admin, sessionsPath)
			id := "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"
			if len(list) > 0 {
				id = list[rng.IntN(len(list))].ID
			}
			expect(op, e.mustTry(http.MethodDelete, sessionsPath+"/"+id, admin, nil), http.StatusNoContent, http.StatusNotFound)
		case n < 82:
			op = "logout"
			expect(op, e.mustTry(http.MethodPost, "/v1/portal/logout", pick(o.sessions), nil), http.StatusNoContent, http.StatusUnauthorized)
		case n < 86:
			op = "use session"
			expect(op, e.mustTry(http.MethodGet, mePath, pick(o.sessions), nil), http.StatusOK, http.StatusUnauthorized)
		case n < 88:
			op = "password reset"
			email := pick(emails)
			r := e.mustTry(http.MethodPost, "/v1/portal/password/forgot", "", map[string]any{"portal": slugs[o.name], "email": email})
			expect(op, r, http.StatusAccepted, http.StatusTooManyRequests)
			if tok := newestResetToken(t, e, email); tok != "" {
				// The same password again: what matters is that every session ends.
				expect(op, e.mustTry(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": tok, "password": goodPassword}),
					http.StatusNoContent, http.StatusGone)
			}
		case n < 96:
			op = "advance clock"
			steps := []time.Duration{30 * time.Second, 10 * time.Minute, 45 * time.Minute, 100 * time.Minute, 5 * time.Hour}
			e.clock.Advance(steps[rng.IntN(len(steps))])
		default:
			op = "sweep"
			if _, err := e.db.Sweep(t.Context()); err != nil {
				t.Fatalf("op %d: sweep: %v", i, err)
			}
		}
		counts[op]++
		if (i+1)%100 == 0 {
			for _, o := range orgs {
				checkStatsRecount(t, e, o.name, fmt.Sprintf("after %d operations", i+1))
			}
		}
	}
	t.Logf("operations: %v", counts)
	// Stats and lists agree whether or not the sweeper has run.
	if _, err := e.db.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		checkStatsRecount(t, e, o.name, "after the final sweep")
	}
}

// checkStatsRecount fails unless GET /stats of org equals a recount from
// the lists.
func checkStatsRecount(t *testing.T, e *testEnv, org, when string) {
	t.Helper()
	admin := e.admin(org)
	var s statsJSON
	sr := e.mustTry(http.MethodGet, statsPath, admin, nil)
	wantStatus(t, sr, http.StatusOK)
	sr.decode(t, &s)
	var want statsJSON
	want.Users.Invited = int64(len(listAllQuick[userJSON](e, admin, usersPath+"?status=invited")))
	want.Users.Active = int64(len(listAllQuick[userJSON](e, admin, usersPath+"?status=active")))
	want.Users.Revoked = int64(len(listAllQuick[userJSON](e, admin, usersPath+"?status=revoked")))
	want.Users.Total = int64(len(listAllQuick[userJSON](e, admin, usersPath)))
	want.Invitations.Pending = int64(len(listAllQuick[invitationJSON](e, admin, invitationsPath+"?status=pending")))
	want.Invitations.Accepted = int64(len(listAllQuick[invitationJSON](e, admin, invitationsPath+"?status=accepted")))
	want.Invitations.Expired = int64(len(listAllQuick[invitationJSON](e, admin, invitationsPath+"?status=expired")))
	want.Invitations.Cancelled = int64(len(listAllQuick[invitationJSON](e, admin, invitationsPath+"?status=cancelled")))
	want.Sessions.Active = int64(len(listAllQuick[sessionJSON](e, admin, sessionsPath)))
	if s.Users != want.Users || s.Invitations != want.Invitations || s.Sessions != want.Sessions {
		t.Fatalf("%s, %s: got stats users %+v invitations %+v sessions %+v, want from the lists %+v %+v %+v",
			when, org, s.Users, s.Invitations, s.Sessions, want.Users, want.Invitations, want.Sessions)
	}
	if s.Users.Total != s.Users.Invited+s.Users.Active+s.Users.Revoked {
		t.Fatalf("%s, %s: got users %+v, want total = invited + active + revoked", when, org, s.Users)
	}
	inv := want.Invitations
	all := inv.Accepted + inv.Expired + inv.Cancelled + inv.Pending
	rate := 0.0
	if all > 0 {
		rate = float64(inv.Accepted) / float64(all)
	}
	if math.Abs(s.AcceptanceRate-rate) > 1e-9 {
		t.Fatalf("%s, %s: got acceptanceRate %v, want %v", when, org, s.AcceptanceRate, rate)
	}
}

// newestResetToken returns the token of the newest reset email to email in
// the outbox, or "" when there is none.
func newestResetToken(t *testing.T, e *testEnv, email string) string {
	t.Helper()
	msgs, err := e.db.DueMessages(t.Context(), e.clock.Now().Add(24*time.Hour), 10000)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := msgs[i]; m.Kind == "password_reset" && m.To == email {
			u, err := url.Parse(m.Data.Link)
			if err != nil {
				t.Fatal(err)
			}
			return u.Query().Get("token")
		}
	}
	return ""
}
