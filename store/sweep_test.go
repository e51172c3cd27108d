package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

func TestDB_Sweep(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	idle := mustActivate(t, db, tenantA, "idle@example.com")
	busy := mustActivate(t, db, tenantB, "busy@example.com")
	soon, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "soon@example.com", ExpiresInHours: 1})
	if err != nil {
		t.Fatal(err)
	}
	later, _ := mustInvite(t, db, tenantB, "later@example.com")
	if err := db.StartPasswordReset(ctx, "org-a", "idle@example.com"); err != nil {
		t.Fatal(err)
	}

	// Nothing is due yet.
	if r, err := db.Sweep(ctx); err != nil || r != (store.SweepResult{}) {
		t.Fatalf("first sweep: got %+v, %v, want nothing swept", r, err)
	}
	clk.Advance(30 * time.Minute)
	if _, err := db.SessionByToken(ctx, busy.Token); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute) // idle's session is idle, the invitation and reset link dead
	before := map[data.TenantID]data.Stats{tenantA: mustStats(t, db, tenantA), tenantB: mustStats(t, db, tenantB)}
	r, err := db.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.SweepResult{Sessions: 1, Invitations: 1, ResetTokens: 1}); r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	for tenant, b := range before {
		a := mustStats(t, db, tenant)
		if a.Users != b.Users || a.Invitations != b.Invitations || a.Sessions != b.Sessions {
			t.Errorf("%s: got stats %+v %+v %+v after the sweep, want %+v %+v %+v as before it", tenant,
				a.Users, a.Invitations, a.Sessions, b.Users, b.Invitations, b.Sessions)
		}
	}
	a := mustStats(t, db, tenantA)
	if a.Sessions.Active != 0 || a.Invitations.Expired != 1 || a.Invitations.Pending != 0 {
		t.Errorf("got org-a stats %+v %+v, want no session and one expired invitation", a.Sessions, a.Invitations)
	}
	got, err := db.Invitation(ctx, tenantA, soon.ID)
	if err != nil || got.Status != data.InvitationExpired {
		t.Errorf("got %+v, %v, want the invitation stored as expired", got.Status, err)
	}
	if _, err := db.SessionByToken(ctx, idle.Token); !errors.Is(err, data.ErrUnauthorized) {
		t.Errorf("idle session: got %v, want ErrUnauthorized", err)
	}
	if _, err := db.SessionByToken(ctx, busy.Token); err != nil {
		t.Errorf("busy session: got %v, want it alive", err)
	}
	if _, _, err := db.PendingInvitation(ctx, linkToken(t, later.AcceptURL)); err != nil {
		t.Errorf("later invitation: got %v, want it live", err)
	}
	if r, err := db.Sweep(ctx); err != nil || r != (store.SweepResult{}) {
		t.Errorf("sweep again: got %+v, %v, want nothing", r, err)
	}
}

// A sweep after a long downtime works in bounded transactions until done.
func TestDB_Sweep_ManyBatches(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	const n, workers = 1010, 64 // more than one sweep transaction's budget of 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				_, err := db.CreateInvitation(context.Background(), tenantA, "staff-1",
					data.InvitationRequest{Email: fmt.Sprintf("p%d@example.com", i), ExpiresInHours: 1})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	clk.Advance(2 * time.Hour)
	if s := mustStats(t, db, tenantA); s.Invitations.Expired != n || s.Invitations.Pending != 0 {
		t.Errorf("before the sweep: got %+v, want all %d expired", s.Invitations, n)
	}
	r, err := db.Sweep(t.Context())
	if err != nil || r.Invitations != n {
		t.Errorf("got %+v, %v, want %d invitations expired", r, err, n)
	}
	if s := mustStats(t, db, tenantA); s.Invitations.Expired != n || s.Invitations.Pending != 0 || s.Users.Invited != n {
		t.Errorf("after the sweep: got %+v %+v, want all %d expired and their users invited", s.Invitations, s.Users, n)
	}
	msgs, err := db.DueMessages(t.Context(), clk.Now(), 10)
	if err != nil || len(msgs) != 0 {
		t.Errorf("got %d queued emails, %v, want the dead links' emails dropped", len(msgs), err)
	}
}
