package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// countUsers pages through the tenant's users with status (all when empty).
func countUsers(t *testing.T, db *store.DB, tenant data.TenantID, status data.UserStatus) int64 {
	t.Helper()
	var n int64
	after := ""
	for {
		p, err := db.Users(t.Context(), tenant, store.UserFilter{Status: status}, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(len(p.Items))
		if p.Next == "" {
			return n
		}
		after = p.Next
	}
}

func TestDB_Stats_Seeded(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	if err := db.SeedUsers(ctx, tenantA, 1000); err != nil {
		t.Fatal(err)
	}
	mustActivate(t, db, tenantA, "ada@example.com")
	mustInvite(t, db, tenantA, "grace@example.com")
	s := mustStats(t, db, tenantA)
	want := map[string][2]int64{
		"total":   {s.Users.Total, countUsers(t, db, tenantA, "")},
		"invited": {s.Users.Invited, countUsers(t, db, tenantA, data.UserInvited)},
		"active":  {s.Users.Active, countUsers(t, db, tenantA, data.UserActive)},
		"revoked": {s.Users.Revoked, countUsers(t, db, tenantA, data.UserRevoked)},
	}
	for name, v := range want {
		if v[0] != v[1] {
			t.Errorf("users.%s: got %d in stats, want %d from the list", name, v[0], v[1])
		}
	}
	if s.Users.Total != 1002 || s.Sessions.Active != 1 || s.Invitations.Pending != 1 || s.Invitations.Accepted != 1 || s.AcceptanceRate != 0.5 {
		t.Errorf("got stats %+v, want 1002 users, one session, one pending and one accepted invitation", s)
	}
	if b := mustStats(t, db, tenantB); b.Users.Total != 0 {
		t.Errorf("got %d users in org-b, want none", b.Users.Total)
	}
}

// BenchmarkDB_Stats shows that the cost of the stats does not grow with the
// number of users: compare users=1000 with users=100000.
func BenchmarkDB_Stats(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		db, clk := openStoreDB(b)
		ctx := context.Background()
		start := time.Now()
		if err := db.SeedUsers(ctx, tenantA, n); err != nil {
			b.Fatal(err)
		}
		// Some of everything else the stats read: pending invitations, live
		// sessions and logins spread over the last month.
		for i := range 50 {
			inv, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: fmt.Sprintf("bench-%d@example.com", i)})
			if err != nil {
				b.Fatal(err)
			}
			if i%2 == 0 {
				if _, err := db.AcceptInvitation(ctx, linkToken(b, inv.AcceptURL), fakeHash, "", "", store.Client{}); err != nil {
					b.Fatal(err)
				}
			}
			clk.Advance(13 * time.Hour)
		}
		b.Logf("seeded %d users in %v", n, time.Since(start).Round(time.Millisecond))
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := db.Stats(ctx, tenantA)
				if err != nil {
					b.Fatal(err)
				}
				if s.Users.Total != int64(n)+50 {
					b.Fatalf("got %d users, want %d", s.Users.Total, n+50)
				}
			}
		})
	}
}
