package store

import (
	"bytes"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

// TestMigrate_ToSchema2 turns the check fixture back into a schema 1 file,
// where the hash was a field of the user record and an invitation did not
// name its queued email, and opens it.
func TestMigrate_ToSchema2(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	const hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$a2V5"
	mutate(t, f.path, func(tx kv.Tx) error {
		b := acme(tx)
		if err := b.DeleteBucket(bUserPasswords); err != nil {
			return err
		}
		for _, u := range []data.User{f.active, f.revoked} {
			raw, err := gojson.Marshal(struct {
				data.User
				PasswordHash string `json:"passwordHash,omitempty"`
			}{u, hash})
			if err != nil {
				return err
			}
			if err := b.Bucket(bUsers).Put([]byte(u.ID), raw); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bOrgs).Bucket([]byte("globex")).DeleteBucket(bUserPasswords); err != nil {
			return err
		}
		// Nor did an invitation name its queued email.
		inv, err := getInvitation(b, f.pending.ID)
		if err != nil {
			return err
		}
		inv.OutboxID = ""
		if err := putJSON(b.Bucket(bInvitations), []byte(inv.ID), inv); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(keySchema, []byte("1"))
	})

	// The schema 1 file checks clean as it is: a backup made before the
	// upgrade can be restored, and is migrated when a server opens it.
	old, err := Check(f.path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if _, err := old.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if !old.OK() || old.Schema != 1 || !strings.Contains(out.String(), "migrates it to") {
		t.Fatalf("check of the schema 1 file: got %v and %q, want no breach and a note of the migration", old.Breaches, out.String())
	}

	db, err := Open(f.path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, u := range []data.User{f.active, f.revoked, f.invited} {
		raw, err := db.UserJSON(ctx, "acme", u.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := gojson.Marshal(u)
		if !bytes.Equal(raw, want) {
			t.Errorf("user %s after migration: got %s, want %s", u.ID, raw, want)
		}
	}
	cfg, err := db.Config(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := db.LoginCandidate(ctx, cfg.Slug, f.active.Email)
	if err != nil || cand.PasswordHash != hash || cand.User.ID != f.active.ID {
		t.Errorf("login candidate after migration: got %+v, %v, want the active user with its hash", cand, err)
	}
	// The migration linked the pending invitation to its email: cancelling
	// it drops the email.
	queued := func() int {
		n := 0
		msgs, err := db.DueMessages(ctx, checkT0.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.InvitationID == f.pending.ID {
				n++
			}
		}
		return n
	}
	if n := queued(); n != 1 {
		t.Fatalf("got %d queued emails for the pending invitation after migration, want 1", n)
	}
	if err := db.CancelInvitation(ctx, "acme", "t", f.pending.ID); err != nil {
		t.Fatal(err)
	}
	if n := queued(); n != 0 {
		t.Errorf("got %d queued emails for the cancelled invitation, want 0", n)
	}
	if v, _ := db.Schema(); v != SchemaVersion {
		t.Errorf("got schema %d, want %d", v, SchemaVersion)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Check(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("check after migration: got breaches %v, want none", r.Breaches)
	}
}

// TestRevoke_ForgetsPassword: the fixture's revoked user had accepted (and
// so set a password) before it was revoked.
func TestRevoke_ForgetsPassword(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	b, err := bbolt.Open(f.path, 0o600, BoltOptions(true))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = boltkv.Wrap(b).View(func(tx kv.Tx) error {
		pw := tx.Bucket(bOrgs).Bucket([]byte("acme")).Bucket(bUserPasswords)
		if got := pw.Get([]byte(f.revoked.ID)); got != nil {
			t.Errorf("revoked user's password: got %q, want none", got)
		}
		if got := pw.Get([]byte(f.active.ID)); string(got) != "hash" {
			t.Errorf("active user's password: got %q, want %q", got, "hash")
		}
		return nil
	})
}
