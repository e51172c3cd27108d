package store_test

import (
	"errors"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

func TestDB_SessionByToken_Touch(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	a := mustActivate(t, db, tenantA, "ada@example.com") // idle timeout 60 minutes
	steps := []struct {
		advance      time.Duration
		wantErr      error
		wantLastSeen time.Duration // since storeT0
	}{
		{advance: 30 * time.Second, wantLastSeen: 0},                // under a minute: not written
		{advance: 30 * time.Second, wantLastSeen: time.Minute},      // a minute stale: written
		{advance: 59 * time.Minute, wantLastSeen: 60 * time.Minute}, // alive: idle counts from the last write
		{advance: 59*time.Minute + 59*time.Second, wantLastSeen: 119*time.Minute + 59*time.Second},
		{advance: 60 * time.Minute, wantErr: data.ErrUnauthorized}, // idle
		{advance: 0, wantErr: data.ErrUnauthorized},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		got, err := db.SessionByToken(ctx, a.Token)
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("step %d: got %v, want %v", i, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: got %v, want nil", i, err)
		}
		if want := storeT0.Add(st.wantLastSeen); !got.Session.LastSeenAt.Equal(want) || got.Session.TokenHash != "" {
			t.Errorf("step %d: got lastSeenAt %v, want %v, and no token hash", i, got.Session.LastSeenAt, want)
		}
		list, err := db.UserSessions(ctx, tenantA, a.User.ID)
		if err != nil || len(list) != 1 || !list[0].LastSeenAt.Equal(got.Session.LastSeenAt) {
			t.Errorf("step %d: got UserSessions %+v, %v, want the one session as read", i, list, err)
		}
	}
	if s := mustStats(t, db, tenantA); s.Sessions.Active != 0 {
		t.Errorf("got %d active sessions, want 0 once idle", s.Sessions.Active)
	}
}

func TestDB_SessionByToken_Refused(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, db *store.DB, a store.Auth)
	}{
		{name: "unknown token", change: func(*testing.T, *store.DB, store.Auth) {}},
		{name: "portal disabled", change: func(t *testing.T, db *store.DB, a store.Auth) {
			if _, err := db.UpdateConfig(t.Context(), tenantA, "staff-1", func(c data.Config) (data.Config, error) {
				c.Enabled = false
				return c, nil
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ended", change: func(t *testing.T, db *store.DB, a store.Auth) {
			if err := db.EndSession(t.Context(), tenantA, "staff-1", a.Session.ID, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "removed", change: func(t *testing.T, db *store.DB, a store.Auth) {
			if err := db.DeleteUser(t.Context(), tenantA, "staff-1", a.User.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, _ := openStoreDB(t)
			a := mustActivate(t, db, tenantA, "ada@example.com")
			tt.change(t, db, a)
			tok := a.Token
			if tt.name == "unknown token" {
				tok = "x" + tok[1:]
			}
			if _, err := db.SessionByToken(t.Context(), tok); !errors.Is(err, data.ErrUnauthorized) {
				t.Errorf("got %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestDB_EndSession(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	ada := mustActivate(t, db, tenantA, "ada@example.com")
	grace := mustActivate(t, db, tenantA, "grace@example.com")
	other := mustActivate(t, db, tenantB, "ada@example.com")
	tests := []struct {
		name           string
		tenant         data.TenantID
		id, userID     string
		want           error
		stillAliveAuth store.Auth
	}{
		{"another organization's session", tenantA, other.Session.ID, "", data.ErrNotFound, other},
		{"another user's session, as a customer", tenantA, grace.Session.ID, ada.User.ID, data.ErrNotFound, grace},
		{"unknown", tenantA, "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", "", data.ErrNotFound, ada},
	}
	for _, tt := range tests {
		if err := db.EndSession(ctx, tt.tenant, "actor", tt.id, tt.userID); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if _, err := db.SessionByToken(ctx, tt.stillAliveAuth.Token); err != nil {
			t.Errorf("%s: got %v, want the session alive", tt.name, err)
		}
	}
	if err := db.EndSession(ctx, tenantA, "", ada.Session.ID, ada.User.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, tenantA, "", ada.Session.ID, ada.User.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("second end: got %v, want ErrNotFound", err)
	}
	if s := mustStats(t, db, tenantA); s.Sessions.Active != 1 {
		t.Errorf("got %d active sessions, want grace's only", s.Sessions.Active)
	}
}

func TestDB_ResetPassword(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	keep := mustActivate(t, db, tenantA, "ada@example.com")
	other := mustLogin(t, db, tenantA, "ada@example.com")
	grace := mustActivate(t, db, tenantA, "grace@example.com")
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		if err := db.StartPasswordReset(ctx, "org-a", email); err != nil {
			t.Fatalf("StartPasswordReset %s: got %v, want nil", email, err)
		}
	}
	if err := db.StartPasswordReset(ctx, "no-such-portal", "ada@example.com"); err != nil {
		t.Fatalf("StartPasswordReset of an unknown portal: got %v, want nil", err)
	}
	var tok string
	msgs, err := db.DueMessages(ctx, clk.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Kind == data.MailPasswordReset {
			n++
			u, err := url.Parse(m.Data.Link)
			if err != nil || m.To != "ada@example.com" {
				t.Fatalf("got reset email %+v, want one to ada", m)
			}
			tok = u.Query().Get("token")
		}
	}
	if n != 1 {
		t.Fatalf("got %d reset emails, want 1", n)
	}
	if err := db.ResetPassword(ctx, tok, "new-hash", keep.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByToken(ctx, keep.Token); err != nil {
		t.Errorf("kept session: got %v, want it alive", err)
	}
	if _, err := db.SessionByToken(ctx, other.Token); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("other session: got %v, want ErrUnauthorized", err)
	}
	if _, err := db.SessionByToken(ctx, grace.Token); err != nil {
		t.Errorf("another user's session: got %v, want it alive", err)
	}
	if err := db.ResetPassword(ctx, tok, "newer-hash", ""); !errors.Is(err, data.ErrGone) {
		t.Errorf("second use: got %v, want ErrGone", err)
	}
	cand, err := db.LoginCandidate(ctx, "org-a", "ada@example.com")
	if err != nil || cand.PasswordHash != "new-hash" {
		t.Errorf("got hash %q, %v, want new-hash", cand.PasswordHash, err)
	}
	if _, err := db.CompleteLogin(ctx, "org-a", "ada@example.com", fakeHash, store.Client{}); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("login with the old hash: got %v, want ErrUnauthorized", err)
	}
}

func TestDB_UserSessionPage(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	first := mustActivate(t, db, tenantA, "ada@example.com")
	var want []string // newest first
	for range 4 {
		a := mustLogin(t, db, tenantA, "ada@example.com")
		want = append([]string{a.Session.ID}, want...)
	}
	want = append(want, first.Session.ID)
	mustActivate(t, db, tenantA, "grace@example.com")
	if err := db.EndSession(ctx, tenantA, "staff-1", want[2], ""); err != nil {
		t.Fatal(err)
	}
	want = append(want[:2], want[3:]...)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		p, err := db.UserSessionPage(ctx, tenantA, first.User.ID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > 2 || pages > 3 {
			t.Fatalf("got page %+v, want at most 2 sessions and 2 pages", p)
		}
		for _, s := range p.Items {
			got = append(got, s.ID)
			if s.TokenHash != "" || s.UserID != first.User.ID {
				t.Errorf("got %+v, want ada's session without its hash", s)
			}
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	clk.Advance(2 * time.Hour) // all idle
	if p, err := db.UserSessionPage(ctx, tenantA, first.User.ID, "", 20); err != nil || len(p.Items) != 0 || p.Next != "" {
		t.Errorf("after the idle timeout: got %+v, %v, want an empty page", p, err)
	}
	if p, err := db.UserSessionPage(ctx, tenantB, first.User.ID, "", 20); err != nil || len(p.Items) != 0 {
		t.Errorf("another organization: got %+v, %v, want an empty page", p, err)
	}
}

// TestDB_UpdateConfig_TightensSessions: a shorter lifetime or idle timeout
// applies to sessions already started, and the file stays consistent (the
// expiry index moves with them).
func TestDB_UpdateConfig_TightensSessions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portal.db")
	clk := &stClock{t: storeT0}
	db, err := store.Open(path, clk.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	old := mustActivate(t, db, tenantA, "ada@example.com")
	clk.Advance(30 * time.Minute)
	fresh := mustLogin(t, db, tenantA, "ada@example.com")
	if _, err := db.UpdateConfig(ctx, tenantA, "staff-1", func(c data.Config) (data.Config, error) {
		c.Auth.SessionTTLMinutes, c.Auth.IdleTimeoutMinutes = 20, 10
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByToken(ctx, old.Token); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("session older than the new lifetime: got %v, want ErrUnauthorized", err)
	}
	got, err := db.SessionByToken(ctx, fresh.Token)
	if err != nil || !got.Session.ExpiresAt.Equal(storeT0.Add(50*time.Minute)) {
		t.Errorf("fresh session: got %v, %v, want alive until %v", got.Session.ExpiresAt, err, storeT0.Add(50*time.Minute))
	}
	if s := mustStats(t, db, tenantA); s.Sessions.Active != 1 {
		t.Errorf("got %d active sessions, want 1", s.Sessions.Active)
	}
	clk.Advance(10 * time.Minute) // idle for the new ten minutes
	if _, err := db.SessionByToken(ctx, fresh.Token); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("session idle for the new timeout: got %v, want ErrUnauthorized", err)
	}
	if s := mustStats(t, db, tenantA); s.Sessions.Active != 0 {
		t.Errorf("got %d active sessions, want 0", s.Sessions.Active)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := store.Check(path)
	if err != nil || !r.OK() {
		t.Errorf("check: got %+v, %v, want a consistent file", r, err)
	}
}
