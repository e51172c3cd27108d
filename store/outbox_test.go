package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// openOutboxDB opens a fresh database whose clock the test moves.
func openOutboxDB(t *testing.T, now *time.Time) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "portal.db"), func() time.Time { return *now }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// scanDue is what the due index replaces: every message of a full scan of
// the outbox that is due at now.
func scanDue(t *testing.T, db *DB, now time.Time) (due []string, next time.Time, any bool) {
	t.Helper()
	err := db.kv.View(func(tx kv.Tx) error {
		return tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
			var m data.OutboxMessage
			if err := jsonDecode(v, &m); err != nil {
				return err
			}
			if !m.NextAttemptAt.After(now) {
				due = append(due, m.ID)
			}
			if !any || m.NextAttemptAt.Before(next) {
				next, any = m.NextAttemptAt, true
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(due)
	return due, next, any
}

// checkOutbox runs check's outbox invariants on the open database.
func checkOutbox(t *testing.T, db *DB) []Breach {
	t.Helper()
	r := Report{Records: map[string]int{}, Schema: SchemaVersion}
	_ = db.kv.View(func(tx kv.Tx) error {
		c := &checker{tx: tx, r: &r}
		c.outbox()
		c.outboxDue()
		return nil
	})
	return r.Breaches
}

// TestOutbox_IndexMatchesScan runs random sequences of enqueues, failed
// attempts, deliveries, give-ups and cancellations, and after each step
// compares what the due index finds with a full scan of the outbox.
func TestOutbox_IndexMatchesScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	db := openOutboxDB(t, &now)
	rng := rand.New(rand.NewPCG(17, 2026))
	tenants := []data.TenantID{"org-a", "org-b", "org-c", "org-d"}
	var queued []string // IDs that may still be in the outbox

	for step := range 2000 {
		switch op := rng.IntN(10); {
		case op < 4: // enqueue
			m, err := db.Enqueue(ctx, data.OutboxMessage{Tenant: tenants[rng.IntN(len(tenants))],
				Kind: data.MailInvitation, To: fmt.Sprintf("u%d@example.com", step)})
			if err != nil {
				t.Fatal(err)
			}
			queued = append(queued, m.ID)
		case op < 8 && len(queued) > 0: // a batch of attempts, on messages that may be gone already
			var batch []Attempt
			for range 1 + rng.IntN(4) {
				a := Attempt{ID: queued[rng.IntN(len(queued))]}
				switch rng.IntN(3) {
				case 0:
					a.SentAt = now
				case 1:
					a.Reason = "451 not now"
					a.Next = now.Add(time.Duration(rng.IntN(120)-20) * time.Second)
				case 2:
					a.Reason = "550 no such user" // given up
				}
				batch = append(batch, a)
			}
			if err := db.RecordAttempts(ctx, batch); err != nil {
				t.Fatal(err)
			}
		case op < 9 && len(queued) > 0: // an invitation ends and drops its email
			id := queued[rng.IntN(len(queued))]
			if err := db.write(ctx, func(tx kv.Tx) error { return dropOutbox(tx, id) }); err != nil {
				t.Fatal(err)
			}
		default:
			now = now.Add(time.Duration(rng.IntN(30)) * time.Second)
		}

		wantDue, wantNext, wantAny := scanDue(t, db, now)
		msgs, err := db.DueMessages(ctx, now, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var gotDue []string
		for _, m := range msgs {
			gotDue = append(gotDue, m.ID)
		}
		slices.Sort(gotDue)
		if !slices.Equal(gotDue, wantDue) {
			t.Fatalf("step %d: DueMessages got %d messages %v, a scan finds %d %v", step, len(gotDue), gotDue, len(wantDue), wantDue)
		}
		gotNext, gotAny, err := db.NextDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gotAny != wantAny || !gotNext.Equal(wantNext) {
			t.Fatalf("step %d: NextDue got %v, %v, a scan finds %v, %v", step, gotNext, gotAny, wantNext, wantAny)
		}
		if step%100 == 0 {
			if b := checkOutbox(t, db); len(b) > 0 {
				t.Fatalf("step %d: check got breaches %v, want none", step, b)
			}
		}
	}
	if b := checkOutbox(t, db); len(b) > 0 {
		t.Fatalf("check got breaches %v, want none", b)
	}
}

// TestDB_DueMessages_TakesOrganizationsInTurn: a large backlog of one
// organization does not hold back another's mail, and a caller that passes
// the organization it took last from reaches every organization even when
// more have mail due than it asks for.
func TestDB_DueMessages_TakesOrganizationsInTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	db := openOutboxDB(t, &now)
	enqueue := func(tenant data.TenantID, n int) {
		t.Helper()
		for i := range n {
			if _, err := db.Enqueue(ctx, data.OutboxMessage{Tenant: tenant, Kind: data.MailInvitation,
				To: fmt.Sprintf("%s-%d@example.com", tenant, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enqueue("big", 100)
	now = now.Add(time.Second) // the small organization's mail is younger
	enqueue("small", 3)

	msgs, err := db.DueMessages(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	per := map[data.TenantID]int{}
	for _, m := range msgs {
		per[m.Tenant]++
	}
	if len(msgs) != 10 || per["small"] != 3 || per["big"] != 7 {
		t.Errorf("got %d messages, %v by organization, want 10 with all 3 of small", len(msgs), per)
	}

	// Skipping what a sender holds, the next read finds the rest.
	held := map[string]bool{}
	for _, m := range msgs {
		held[m.ID] = true
	}
	more, err := db.DueMessagesAfter(ctx, now, 10, "", func(id string) bool { return held[id] })
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		if held[m.ID] || m.Tenant != "big" {
			t.Errorf("got %s of %s again or from a drained organization, want big's next", m.ID, m.Tenant)
		}
	}
	if len(more) != 10 {
		t.Errorf("got %d more, want 10", len(more))
	}

	// With one message per call, passing the last organization alternates.
	var order []data.TenantID
	after := data.TenantID("")
	for range 4 {
		one, err := db.DueMessagesAfter(ctx, now, 1, after, nil)
		if err != nil || len(one) != 1 {
			t.Fatalf("got %v, %v, want one message", one, err)
		}
		after = one[0].Tenant
		order = append(order, after)
	}
	if want := []data.TenantID{"big", "small", "big", "small"}; !slices.Equal(order, want) {
		t.Errorf("got organizations %v, want %v", order, want)
	}

	// Not yet due is not returned; NextDue names the earliest.
	if err := db.MessageFailed(ctx, msgs[0].ID, "451 later", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, err := db.DueMessages(ctx, now, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 102 {
		t.Errorf("got %d due, want 102", len(all))
	}
}

func TestCheck_OutboxDue(t *testing.T) {
	t.Parallel()
	// queuedKey finds the fixture's queued email of acme and its index key.
	queuedKey := func(tx kv.Tx) (data.OutboxMessage, []byte) {
		var m data.OutboxMessage
		_ = tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
			var o data.OutboxMessage
			if jsonDecode(v, &o) == nil && o.Tenant == "acme" {
				m = o
			}
			return nil
		})
		return m, dueKey(m)
	}
	tests := []struct {
		name   string
		break_ func(tx kv.Tx) error
		kind   string
		want   string
	}{
		{"message not indexed", func(tx kv.Tx) error {
			_, k := queuedKey(tx)
			return tx.Bucket(bOutboxDue).Bucket([]byte("acme")).Delete(k)
		}, BreachIndex, "is missing for outbox message"},
		{"index entry of a missing message", func(tx kv.Tx) error {
			return tx.Bucket(bOutboxDue).Bucket([]byte("acme")).Put(timeKey(checkT0, "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"), nil)
		}, BreachIndex, "points at missing outbox message"},
		{"index entry at another time", func(tx kv.Tx) error {
			m, k := queuedKey(tx)
			b := tx.Bucket(bOutboxDue).Bucket([]byte("acme"))
			if err := b.Delete(k); err != nil {
				return err
			}
			return b.Put(timeKey(m.NextAttemptAt.Add(time.Minute), m.ID), nil)
		}, BreachIndex, "disagrees with the next attempt"},
		{"index entry under another organization", func(tx kv.Tx) error {
			m, _ := queuedKey(tx)
			m.Tenant = "globex"
			return tx.Bucket(bOutboxDue).Bucket([]byte("globex")).Put(dueKey(m), nil)
		}, BreachIndex, "of organization"},
		{"index missing", func(tx kv.Tx) error {
			return tx.DeleteBucket(bOutboxDue)
		}, BreachFile, "top-level bucket is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newCheckFixture(t)
			mutate(t, f.path, tt.break_)
			r, err := Check(f.path)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, b := range r.Breaches {
				if b.Kind == tt.kind && b.Bucket == "outbox_due" && strings.Contains(b.Problem, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("got breaches %v, want a %s breach in outbox_due saying %q", r.Breaches, tt.kind, tt.want)
			}
		})
	}
}

// TestMigrate_ToSchema3 turns the check fixture back into a schema 2 file,
// without the due index, and opens it: the index is built for the queued
// mail, and the file checks clean before and after.
func TestMigrate_ToSchema3(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	mutate(t, f.path, func(tx kv.Tx) error {
		if err := tx.DeleteBucket(bOutboxDue); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(keySchema, []byte("2"))
	})
	old, err := Check(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !old.OK() || old.Schema != 2 {
		t.Fatalf("check of the schema 2 file: got schema %d, breaches %v, want 2 and none", old.Schema, old.Breaches)
	}
	db, err := Open(f.path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.DueMessages(t.Context(), checkT0.Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	depth, err := db.OutboxDepth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if depth == 0 || len(msgs) != depth {
		t.Errorf("after migration: got %d due of %d queued, want all of them (and some)", len(msgs), depth)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Check(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Schema != SchemaVersion || r.Records["outbox_due"] != depth {
		t.Fatalf("check after migration: got schema %d, %d index keys, breaches %v, want %d, %d, none",
			r.Schema, r.Records["outbox_due"], r.Breaches, SchemaVersion, depth)
	}
}
