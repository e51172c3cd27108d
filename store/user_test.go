package store_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

var storeT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// stClock is a settable clock for store tests.
type stClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStoreDB opens a fresh database with a settable clock at storeT0.
func openStoreDB(t testing.TB) (*store.DB, *stClock) {
	t.Helper()
	clk := &stClock{t: storeT0}
	return openTestDB(t, clk.Now, store.Options{}), clk
}

const (
	tenantA data.TenantID = "org-a"
	tenantB data.TenantID = "org-b"
	// fakeHash stands for a password hash: the store does not look inside.
	fakeHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$a2V5"
)

// mustInvite invites email and returns the invitation and its token.
func mustInvite(t *testing.T, db *store.DB, tenant data.TenantID, email string) (data.Invitation, string) {
	t.Helper()
	inv, err := db.CreateInvitation(t.Context(), tenant, "staff-1", data.InvitationRequest{Email: email})
	if err != nil {
		t.Fatalf("CreateInvitation %s: got %v, want nil", email, err)
	}
	return inv, linkToken(t, inv.AcceptURL)
}

// linkToken returns the token of an emailed link.
func linkToken(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get("token")
	if len(tok) != 51 {
		t.Fatalf("got token %q in %q, want 51 characters", tok, link)
	}
	return tok
}

// mustActivate invites email and accepts: an active user with one session.
func mustActivate(t *testing.T, db *store.DB, tenant data.TenantID, email string) store.Auth {
	t.Helper()
	_, tok := mustInvite(t, db, tenant, email)
	a, err := db.AcceptInvitation(t.Context(), tok, fakeHash, "", "", store.Client{IP: "192.0.2.1", UserAgent: "test"})
	if err != nil {
		t.Fatalf("AcceptInvitation: got %v, want nil", err)
	}
	return a
}

// mustLogin starts another session for an active user.
func mustLogin(t *testing.T, db *store.DB, tenant data.TenantID, email string) store.Auth {
	t.Helper()
	cfg, err := db.Config(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.CompleteLogin(t.Context(), cfg.Slug, email, fakeHash, store.Client{IP: "192.0.2.2", UserAgent: "other"})
	if err != nil {
		t.Fatalf("CompleteLogin: got %v, want nil", err)
	}
	return a
}

// mustStats returns the tenant's stats.
func mustStats(t *testing.T, db *store.DB, tenant data.TenantID) data.Stats {
	t.Helper()
	s, err := db.Stats(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDB_RevokeUser(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	first := mustActivate(t, db, tenantA, "ada@example.com")
	second := mustLogin(t, db, tenantA, "ada@example.com")
	clk.Advance(time.Minute)

	if _, err := db.RevokeUser(ctx, tenantB, "staff-b", first.User.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("RevokeUser from another organization: got %v, want ErrNotFound", err)
	}
	if _, err := db.SessionByToken(ctx, first.Token); err != nil {
		t.Fatalf("got %v, want the session alive after a foreign revoke", err)
	}
	u, err := db.RevokeUser(ctx, tenantA, "staff-1", first.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != data.UserRevoked || u.RevokedAt == nil || !u.RevokedAt.Equal(storeT0.Add(time.Minute)) {
		t.Errorf("got %+v, want revoked at %v", u, storeT0.Add(time.Minute))
	}
	for _, a := range []store.Auth{first, second} {
		if _, err := db.SessionByToken(ctx, a.Token); !errors.Is(err, data.ErrUnauthorized) {
			t.Errorf("SessionByToken after revoke: got %v, want ErrUnauthorized", err)
		}
	}
	cfg, _ := db.Config(ctx, tenantA)
	if _, err := db.LoginCandidate(ctx, cfg.Slug, "ada@example.com"); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("LoginCandidate after revoke: got %v, want ErrUnauthorized", err)
	}
	clk.Advance(time.Minute)
	again, err := db.RevokeUser(ctx, tenantA, "staff-1", first.User.ID)
	if err != nil || !again.RevokedAt.Equal(*u.RevokedAt) || !again.UpdatedAt.Equal(u.UpdatedAt) {
		t.Errorf("second RevokeUser: got %+v, %v, want it unchanged", again, err)
	}
	s := mustStats(t, db, tenantA)
	if s.Users.Revoked != 1 || s.Users.Active != 0 || s.Sessions.Active != 0 {
		t.Errorf("got stats %+v, want one revoked user and no sessions", s)
	}
}

func TestDB_DeleteUser(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	inv, tok := mustInvite(t, db, tenantA, "ada@example.com")
	if err := db.DeleteUser(ctx, tenantB, "staff-b", inv.UserID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("DeleteUser from another organization: got %v, want ErrNotFound", err)
	}
	if err := db.DeleteUser(ctx, tenantA, "staff-1", inv.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.User(ctx, tenantA, inv.UserID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("User after delete: got %v, want ErrNotFound", err)
	}
	if err := db.DeleteUser(ctx, tenantA, "staff-1", inv.UserID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("second DeleteUser: got %v, want ErrNotFound", err)
	}
	if _, err := db.AcceptInvitation(ctx, tok, fakeHash, "", "", store.Client{}); !errors.Is(err, data.ErrGone) {
		t.Errorf("AcceptInvitation after delete: got %v, want ErrGone", err)
	}
	got, err := db.Invitation(ctx, tenantA, inv.ID)
	if err != nil || got.Status != data.InvitationCancelled {
		t.Errorf("got invitation %+v, %v, want it cancelled", got, err)
	}
	s := mustStats(t, db, tenantA)
	if s.Users.Total != 0 || s.Invitations.Pending != 0 || s.Invitations.Cancelled != 1 {
		t.Errorf("got stats %+v, want no user and one cancelled invitation", s)
	}
	// The email is free again.
	again, _ := mustInvite(t, db, tenantA, "ADA@example.com")
	if again.UserID == inv.UserID {
		t.Errorf("got user id %s again, want a new user", again.UserID)
	}
}

func TestDB_Users_Filter(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	ada, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "ada@example.com", FirstName: "Ada", AccountID: "acc-1"})
	if err != nil {
		t.Fatal(err)
	}
	grace := mustActivate(t, db, tenantA, "grace@example.com")
	mustActivate(t, db, tenantB, "ada@example.com")
	tests := []struct {
		name string
		f    store.UserFilter
		want []string
	}{
		{"all", store.UserFilter{}, []string{grace.User.ID, ada.UserID}},
		{"invited", store.UserFilter{Status: data.UserInvited}, []string{ada.UserID}},
		{"active", store.UserFilter{Status: data.UserActive}, []string{grace.User.ID}},
		{"account", store.UserFilter{AccountID: "acc-1"}, []string{ada.UserID}},
		{"q on name", store.UserFilter{Q: "aDa"}, []string{ada.UserID}},
		{"q on email", store.UserFilter{Q: "GRACE@"}, []string{grace.User.ID}},
		{"no match", store.UserFilter{Q: "zzz"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			after := ""
			for {
				p, err := db.Users(ctx, tenantA, tt.f, after, 1)
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range p.Items {
					got = append(got, u.ID)
				}
				if p.Next == "" {
					break
				}
				after = p.Next
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// Users of an organization that has never written anything is an empty
// page, not an error.
func TestDB_Users_UnknownTenant(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	p, err := db.Users(context.Background(), "nobody", store.UserFilter{}, "", 20)
	if err != nil || len(p.Items) != 0 || p.Next != "" {
		t.Errorf("got %+v, %v, want an empty page", p, err)
	}
	if _, err := db.User(context.Background(), "nobody", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}
