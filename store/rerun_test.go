package store

// Internal tests of the seam's contract that a transaction function may run
// more than once: an engine with optimistic transactions runs it again with
// fresh reads after a conflict. rerunKV does that to every transaction, on
// bbolt, so every method must give the same results as on bbolt alone.

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// errRerun rolls back the first run of a rerunKV transaction.
var errRerun = errors.New("rolled back to run again")

// rerunKV runs every transaction function twice, as an engine does after a
// conflict: the first run's writes are rolled back and the second run is
// the one that counts. A function that fails in its first run fails the
// transaction, as it would on any engine. between, when set, runs between
// the two runs, as the conflicting writer would.
type rerunKV struct {
	kv.DB
	between func()
	runs    int // transaction functions run, both runs counted
}

func (e *rerunKV) View(fn func(kv.Tx) error) error {
	if err := e.DB.View(func(tx kv.Tx) error { e.runs++; return fn(tx) }); err != nil {
		return err
	}
	e.rerun()
	return e.DB.View(func(tx kv.Tx) error { e.runs++; return fn(tx) })
}

func (e *rerunKV) Update(fn func(kv.Tx) error) error {
	err := e.DB.Update(func(tx kv.Tx) error {
		e.runs++
		if err := fn(tx); err != nil {
			return err
		}
		return errRerun
	})
	if !errors.Is(err, errRerun) {
		return err
	}
	e.rerun()
	return e.DB.Update(func(tx kv.Tx) error { e.runs++; return fn(tx) })
}

func (e *rerunKV) rerun() {
	if f := e.between; f != nil {
		e.between = nil
		f()
	}
}

// onRerun puts db on a rerunKV, and returns a function that puts it back on
// bbolt alone. The tests using it run one call at a time.
func onRerun(db *DB) (e *rerunKV, back func()) {
	plain := db.kv
	e = &rerunKV{DB: plain}
	db.kv, db.commit.kv = e, e
	return e, func() { db.kv, db.commit.kv = plain, plain }
}

// TestRerun_ReadsGiveTheSameResults runs every read method on bbolt alone
// and then with each transaction run twice, and compares the results: a
// result summed or appended across runs comes out doubled.
func TestRerun_ReadsGiveTheSameResults(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	db, err := Open(f.path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const org = data.TenantID("acme")
	reads := []struct {
		name string
		read func() (any, error)
	}{
		{"ActiveSessions", func() (any, error) { return db.ActiveSessions(ctx) }},
		{"UserSessions", func() (any, error) { return db.UserSessions(ctx, org, f.active.ID) }},
		{"UserSessionPage", func() (any, error) { return db.UserSessionPage(ctx, org, f.active.ID, "", 10) }},
		{"Sessions", func() (any, error) { return db.Sessions(ctx, org, SessionFilter{}, "", 10) }},
		{"Stats", func() (any, error) { return db.Stats(ctx, org) }},
		{"Users", func() (any, error) { return db.Users(ctx, org, UserFilter{}, "", 10) }},
		{"Users filtered", func() (any, error) { return db.Users(ctx, org, UserFilter{Q: "example"}, "", 10) }},
		{"User", func() (any, error) { return db.User(ctx, org, f.active.ID) }},
		{"Contacts", func() (any, error) { return db.Contacts(ctx, org, ContactFilter{}, "", 10) }},
		{"Contacts filtered", func() (any, error) { return db.Contacts(ctx, org, ContactFilter{Q: "carla"}, "", 10) }},
		{"Contact", func() (any, error) { return db.Contact(ctx, org, f.contact.ID) }},
		{"Invitations", func() (any, error) { return db.Invitations(ctx, org, InvitationFilter{}, "", 10) }},
		{"Invitation", func() (any, error) { return db.Invitation(ctx, org, f.pending.ID) }},
		{"AuditTrail", func() (any, error) { return db.AuditTrail(ctx, org, "", 10) }},
		{"Config", func() (any, error) { return db.Config(ctx, org) }},
		{"TenantBySlug", func() (any, error) { return db.TenantBySlug(ctx, "acme") }},
		{"DueMessages", func() (any, error) { return db.DueMessages(ctx, checkT0.Add(time.Hour), 10) }},
		{"OutboxDepth", func() (any, error) { return db.OutboxDepth(ctx) }},
		{"Schema", func() (any, error) { return db.Schema() }},
		{"LoginCandidate", func() (any, error) { return db.LoginCandidate(ctx, "acme", "active@example.com") }},
		{"NextDue", func() (any, error) {
			next, ok, err := db.NextDue(ctx)
			return []any{next, ok}, err
		}},
		{"SweepDue", func() (any, error) { return db.sweepDue(ctx) }},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			want, err := r.read()
			if err != nil {
				t.Fatalf("on bbolt: %v", err)
			}
			e, back := onRerun(db)
			defer back()
			got, err := r.read()
			if err != nil {
				t.Fatalf("run twice: %v", err)
			}
			if e.runs < 2 {
				t.Fatalf("the read ran %d times, want every transaction run twice", e.runs)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("run twice: got %+v, want %+v", got, want)
			}
		})
	}
}

// TestRerun_WritesCommitOnce makes every kind of write with each transaction
// run twice, the first run rolled back: each must come out as if it ran
// once (its results, and a database in which Check finds every index and
// counter true).
func TestRerun_WritesCommitOnce(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	now := checkT0
	db, err := Open(f.path, func() time.Time { return now }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := onRerun(db)
	ctx := context.Background()
	const org = data.TenantID("acme")

	inv, err := db.CreateInvitation(ctx, org, "t", data.InvitationRequest{Email: "new@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(inv.AcceptURL)
	if err != nil {
		t.Fatal(err)
	}
	// The link returned is the one committed, not the rolled-back run's.
	a, err := db.AcceptInvitation(ctx, link.Query().Get("token"), "hash", "New", "", Client{})
	if err != nil {
		t.Fatalf("accept with the returned link: %v", err)
	}
	if _, err := db.SessionByToken(ctx, a.Token); err != nil {
		t.Fatalf("the returned session token: %v", err)
	}
	login, err := db.CompleteLogin(ctx, "acme", "new@example.com", "hash", Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ResetPassword(ctx, "no such token", "hash2", login.Session.ID); !errors.Is(err, data.ErrGone) {
		t.Fatalf("reset with a dead token: got %v, want ErrGone", err)
	}
	created, updated, err := db.ImportContacts(ctx, org, "t", []data.Contact{
		{Email: "carla@example.com", Phone: "+1 555 0100"}, {Email: "dan@example.com"}, {FirstName: "Eve"},
	})
	if err != nil || created != 2 || updated != 1 {
		t.Fatalf("import: got %d created, %d updated, %v; want 2, 1, nil", created, updated, err)
	}
	if _, err := db.SetFeature(ctx, org, "t", data.DefaultFeatures(now)[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResendInvitation(ctx, org, "t", f.pending.ID); err != nil {
		t.Fatal(err)
	}
	msgs, err := db.DueMessages(ctx, now.Add(time.Hour), 100)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("due messages: got %d, %v", len(msgs), err)
	}
	attempts := []Attempt{{ID: msgs[0].ID, SentAt: now}}
	for _, m := range msgs[1:] {
		attempts = append(attempts, Attempt{ID: m.ID, Reason: "421 busy", Next: now.Add(time.Minute)})
	}
	if err := db.RecordAttempts(ctx, attempts); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeUser(ctx, org, "t", a.User.ID); err != nil {
		t.Fatal(err)
	}
	now = checkT0.Add(30 * 24 * time.Hour)
	swept, err := db.Sweep(ctx)
	if err != nil || swept.Sessions == 0 || swept.Invitations == 0 {
		t.Fatalf("sweep a month later: got %+v, %v, want sessions and invitations ended", swept, err)
	}
	if e.runs == 0 {
		t.Fatal("no transaction ran on the rerunning engine")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Check(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("check after writes run twice: %v", r.Breaches)
	}
}

// TestRerun_ResultsComeFromTheLastRun lets another transaction commit
// between the two runs, as on a conflict: what a method returns must be
// what its last run read, not left over from the first.
func TestRerun_ResultsComeFromTheLastRun(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	db, err := Open(f.path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	msgs, err := db.DueMessages(ctx, checkT0.Add(time.Hour), 100)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("due messages: got %d, %v", len(msgs), err)
	}
	later := checkT0.Add(time.Hour)
	e, back := onRerun(db)
	defer back()
	// Between the runs every queued message fails and waits an hour.
	e.between = func() {
		var attempts []Attempt
		for _, m := range msgs {
			attempts = append(attempts, Attempt{ID: m.ID, Reason: "421 busy", Next: later})
		}
		if err := db.commit.kv.(*rerunKV).DB.Update(func(tx kv.Tx) error {
			for _, a := range attempts {
				if err := recordAttempt(tx, a); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	next, ok, err := db.NextDue(ctx)
	if err != nil || !ok {
		t.Fatalf("next due: got %v, %v", ok, err)
	}
	if !next.Equal(later) {
		t.Errorf("next due: got %v, want %v, as the last run read it", next, later)
	}
}
