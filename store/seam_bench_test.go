package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// BenchmarkDB_Hot is the store's hottest paths at 10,000 users, each a
// handful of Gets or a run of cursor steps, so that what the key-value seam
// costs per Get, Put and cursor step shows: a customer request's session
// check, a login's lookups, one user, an unfiltered page of 100 users, and
// a contact written by parallel writers through the group commit.
func BenchmarkDB_Hot(b *testing.B) {
	db, _ := openStoreDB(b)
	ctx := context.Background()
	if err := db.SeedUsers(ctx, tenantA, 10_000); err != nil {
		b.Fatal(err)
	}
	inv, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "bench@example.com"})
	if err != nil {
		b.Fatal(err)
	}
	auth, err := db.AcceptInvitation(ctx, linkToken(b, inv.AcceptURL), fakeHash, "", "", store.Client{})
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := db.Config(ctx, tenantA)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("SessionByToken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.SessionByToken(ctx, auth.Token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LoginCandidate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.LoginCandidate(ctx, cfg.Slug, "bench@example.com"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UserJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.UserJSON(ctx, tenantA, auth.User.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UsersJSON page of 100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := db.UsersJSON(ctx, tenantA, store.UserFilter{}, "", 100)
			if err != nil || len(p.Items) != 100 {
				b.Fatalf("got %d users, %v; want 100", len(p.Items), err)
			}
		}
	})
	var writers atomic.Int64 // across the runs of the benchmark, so emails stay unique
	b.Run("CreateContact parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := writers.Add(1)
			for i := 0; pb.Next(); i++ {
				c := data.Contact{FirstName: "Bench", Email: fmt.Sprintf("c%d-%d@example.com", w, i)}
				if err := db.CreateContact(ctx, tenantA, "staff-1", &c); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
