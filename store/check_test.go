package store

// Internal tests: they break the file's invariants with bbolt directly,
// which no exported method can do.

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

var checkT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// checkFixture is a closed database holding one organization with records
// in every state, and the IDs a corruption needs.
type checkFixture struct {
	path                          string
	active, invited, revoked      data.User
	pending, accepted             data.Invitation
	session                       data.Session
	contact                       data.Contact
	pendingHash, sessionTokenHash string
}

// newCheckFixture builds the fixture through the exported API.
func newCheckFixture(t *testing.T) checkFixture {
	t.Helper()
	ctx := context.Background()
	f := checkFixture{path: filepath.Join(t.TempDir(), "portal.db")}
	db, err := Open(f.path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const org = data.TenantID("acme")
	c := data.Contact{Email: "Carla@Example.com", FirstName: "Carla"}
	if err := db.CreateContact(ctx, org, "t", &c); err != nil {
		t.Fatal(err)
	}
	f.contact = c
	if err := db.CreateContact(ctx, org, "t", &data.Contact{FirstName: "No", LastName: "Email"}); err != nil {
		t.Fatal(err)
	}
	invite := func(email string) (data.Invitation, string) {
		t.Helper()
		inv, err := db.CreateInvitation(ctx, org, "t", data.InvitationRequest{Email: email})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(inv.AcceptURL)
		if err != nil {
			t.Fatal(err)
		}
		return inv, u.Query().Get("token")
	}
	var tok string
	f.accepted, tok = invite("active@example.com")
	a, err := db.AcceptInvitation(ctx, tok, "hash", "Ann", "", Client{IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	f.active, f.session = a.User, a.Session
	f.sessionTokenHash = HashToken(a.Token)
	if _, err := db.CompleteLogin(ctx, "acme", "active@example.com", "hash", Client{}); err != nil {
		t.Fatal(err)
	}
	f.pending, tok = invite("invited@example.com")
	f.pendingHash = HashToken(tok)
	f.invited, err = db.User(ctx, org, f.pending.UserID)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, _ := invite("cancelled@example.com")
	if err := db.CancelInvitation(ctx, org, "t", cancelled.ID); err != nil {
		t.Fatal(err)
	}
	revokee, tok := invite("revoked@example.com")
	if _, err := db.AcceptInvitation(ctx, tok, "hash", "", "", Client{}); err != nil {
		t.Fatal(err)
	}
	if f.revoked, err = db.RevokeUser(ctx, org, "t", revokee.UserID); err != nil {
		t.Fatal(err)
	}
	// A second organization, so cross-organization references are walked.
	if _, err := db.CreateInvitation(ctx, "globex", "t", data.InvitationRequest{Email: "g@example.com"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// mutate changes the closed database through the seam, on bbolt directly.
func mutate(t *testing.T, path string, fn func(tx kv.Tx) error) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := boltkv.Wrap(b).Update(fn); err != nil {
		t.Fatal(err)
	}
}

func acme(tx kv.Tx) kv.Bucket { return tx.Bucket(bOrgs).Bucket([]byte("acme")) }

func TestCheck_Clean(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	r, err := Check(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("got breaches %v, want none", r.Breaches)
	}
	if r.Schema != SchemaVersion || r.Orgs != 2 {
		t.Errorf("got schema %d and %d orgs, want %d and 2", r.Schema, r.Orgs, SchemaVersion)
	}
	want := map[string]int{"users": 5, "invitations": 5, "sessions": 2, "contacts": 2}
	for k, n := range want {
		if r.Records[k] != n {
			t.Errorf("got %d %s, want %d", r.Records[k], k, n)
		}
	}
	var out strings.Builder
	if _, err := r.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "OK:") {
		t.Errorf("got report %q, want an OK line", out.String())
	}
}

func TestCheck_Breaches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(tx kv.Tx, f checkFixture) error
		kind   string
		bucket string
		want   string // in the breach's problem
	}{
		{"user not indexed", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserEmails).Delete([]byte("active@example.com"))
		}, BreachIndex, "user_emails", "is missing, want user"},
		{"queued email its invitation does not name", func(tx kv.Tx, f checkFixture) error {
			inv, err := getInvitation(acme(tx), f.pending.ID)
			if err != nil {
				return err
			}
			inv.OutboxID = ""
			return putJSON(acme(tx).Bucket(bInvitations), []byte(inv.ID), inv)
		}, BreachIndex, "outbox", "names"},
		{"queued email of a missing invitation", func(tx kv.Tx, f checkFixture) error {
			return putJSON(tx.Bucket(bOutbox), []byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2"), data.OutboxMessage{ID: "01JDQ2X3Y4Z5A6B7C8D9E0F1G2",
				Tenant: "acme", Kind: data.MailInvitation, To: "x@example.com", InvitationID: "01JDQ2X3Y4Z5A6B7C8D9E0F1G3"})
		}, BreachIndex, "outbox", "missing invitation"},
		{"schema newer than the binary", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bMeta).Put(keySchema, []byte("99"))
		}, BreachRecord, "meta", "this binary reads 1 to"},
		{"password of a missing user", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserPasswords).Put([]byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2"), []byte("$argon2id$x"))
		}, BreachIndex, "user_passwords", "missing user"},
		{"empty password", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserPasswords).Put([]byte(f.active.ID), nil)
		}, BreachRecord, "user_passwords", "is empty"},
		{"user record not as the API shows it", func(tx kv.Tx, f checkFixture) error {
			raw := acme(tx).Bucket(bUsers).Get([]byte(f.active.ID))
			spaced := append([]byte(" "), raw...)
			return acme(tx).Bucket(bUsers).Put([]byte(f.active.ID), spaced)
		}, BreachRecord, "users", "not stored as the API shows it"},
		{"user email index dangles", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserEmails).Put([]byte("ghost@example.com"), []byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2"))
		}, BreachIndex, "user_emails", "points at missing user"},
		{"user email index points at another user", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserEmails).Put([]byte("active@example.com"), []byte(f.invited.ID))
		}, BreachIndex, "user_emails", "whose email is"},
		{"pending invitation not in user_invitation", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserInvitation).Delete([]byte(f.invited.ID))
		}, BreachIndex, "user_invitation", "want pending invitation"},
		{"user_invitation points at accepted invitation", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserInvitation).Put([]byte(f.active.ID), []byte(f.accepted.ID))
		}, BreachIndex, "user_invitation", "which is accepted"},
		{"invitation token missing", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bInvitationTokens).Delete([]byte(f.pendingHash))
		}, BreachIndex, "invitation_tokens", "want acme/"},
		{"invitation token dangles", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bInvitationTokens).Put([]byte("deadbeef"), tokenRef("acme", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"))
		}, BreachIndex, "invitation_tokens", "points at missing invitation"},
		{"invitation token of missing organization", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bInvitationTokens).Put([]byte("deadbeef"), tokenRef("initech", f.pending.ID))
		}, BreachIndex, "invitation_tokens", "missing organization initech"},
		{"invitation expiry missing", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bInvitationExpiry).Delete(timeKey(f.pending.ExpiresAt, f.pending.ID))
		}, BreachIndex, "invitation_expiry", "is missing for pending invitation"},
		{"invitation expiry of a finished invitation", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bInvitationExpiry).Put(timeKey(f.accepted.ExpiresAt, f.accepted.ID), nil)
		}, BreachIndex, "invitation_expiry", "which is accepted"},
		{"session token missing", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bSessionTokens).Delete([]byte(f.sessionTokenHash))
		}, BreachIndex, "session_tokens", "want acme/"},
		{"session token dangles", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bSessionTokens).Put([]byte("cafe"), tokenRef("acme", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"))
		}, BreachIndex, "session_tokens", "points at missing session"},
		{"user session index missing", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserSessions).Delete([]byte(f.active.ID + f.session.ID))
		}, BreachIndex, "user_sessions", "is missing for session"},
		{"user session index names another user", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUserSessions).Put([]byte(f.invited.ID+f.session.ID), nil)
		}, BreachIndex, "user_sessions", "of user"},
		{"session expiry missing", func(tx kv.Tx, f checkFixture) error {
			s, err := getSession(acme(tx), f.session.ID) // the stored one: Public drops the idle rule
			if err != nil {
				return err
			}
			return acme(tx).Bucket(bSessionExpiry).Delete(timeKey(s.EndsAt(), s.ID))
		}, BreachIndex, "session_expiry", "is missing for session"},
		{"session expiry disagrees", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bSessionExpiry).Put(timeKey(checkT0, f.session.ID), nil)
		}, BreachIndex, "session_expiry", "disagrees with the end"},
		{"contact not indexed", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bContactEmails).Delete([]byte("carla@example.com"))
		}, BreachIndex, "contact_emails", "is missing, want contact"},
		{"contact index dangles", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bContactEmails).Put([]byte("x@example.com"), []byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2"))
		}, BreachIndex, "contact_emails", "points at missing contact"},
		{"slug missing", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bSlugs).Delete([]byte("acme"))
		}, BreachIndex, "slugs", "want organization acme"},
		{"slug of missing organization", func(tx kv.Tx, f checkFixture) error {
			return tx.Bucket(bSlugs).Put([]byte("gone"), []byte("initech"))
		}, BreachIndex, "slugs", "missing organization"},
		{"users counter drifts", func(tx kv.Tx, f checkFixture) error {
			return bump(acme(tx), cUsersActive, 1)
		}, BreachCounter, "counters", "is 2, a recount finds 1"},
		{"invitations counter drifts", func(tx kv.Tx, f checkFixture) error {
			return bump(acme(tx), cInvCancelled, -1)
		}, BreachCounter, "counters", "is 0, a recount finds 1"},
		{"sessions counter drifts", func(tx kv.Tx, f checkFixture) error {
			return bump(acme(tx), cSessionsActive, 5)
		}, BreachCounter, "counters", "a recount finds 2"},
		{"record does not decode", func(tx kv.Tx, f checkFixture) error {
			return acme(tx).Bucket(bUsers).Put([]byte(f.revoked.ID), []byte("{not json"))
		}, BreachRecord, "users", "does not decode"},
		{"session of a deleted user", func(tx kv.Tx, f checkFixture) error {
			b := acme(tx)
			if err := b.Bucket(bUsers).Delete([]byte(f.active.ID)); err != nil {
				return err
			}
			return b.Bucket(bUserEmails).Delete([]byte("active@example.com"))
		}, BreachRecord, "sessions", "belongs to missing user"},
		{"top-level bucket missing", func(tx kv.Tx, f checkFixture) error {
			return tx.DeleteBucket(bOutbox)
		}, BreachFile, "outbox", "bucket is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newCheckFixture(t)
			mutate(t, f.path, func(tx kv.Tx) error { return tt.break_(tx, f) })
			r, err := Check(f.path)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatal("got no breach, want one")
			}
			found := false
			for _, b := range r.Breaches {
				if b.Kind == tt.kind && b.Bucket == tt.bucket && strings.Contains(b.Problem, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("got breaches %v, want a %s breach in %s saying %q", r.Breaches, tt.kind, tt.bucket, tt.want)
			}
			var out strings.Builder
			if _, err := r.WriteTo(&out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), tt.bucket) {
				t.Errorf("got report %q, want FAILED naming %s", out.String(), tt.bucket)
			}
			if tt.kind != BreachFile && r.Corrupt() {
				t.Errorf("got Corrupt() true for a %s breach, want false", tt.kind)
			}
		})
	}
}

func TestCheck_ReportMasksEmails(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	mutate(t, f.path, func(tx kv.Tx) error {
		return acme(tx).Bucket(bUserEmails).Put([]byte("secret.person@example.com"), []byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2"))
	})
	r, err := Check(f.path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, _ = r.WriteTo(&out)
	if strings.Contains(out.String(), "secret.person@example.com") {
		t.Errorf("got report %q, want the email masked", out.String())
	}
}

func TestCheck_Locked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(path, time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Check(path); !errors.Is(err, ErrLocked) {
		t.Errorf("got %v, want ErrLocked", err)
	}
}

func TestCheck_NotADatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(garbage); err == nil {
		t.Error("got nil for a garbage file, want an error")
	}
	if _, err := Check(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("got nil for a missing file, want an error")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want Check not to create the file", err)
	}
}

func TestDB_ActiveSessions(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	now := checkT0
	db, err := Open(f.path, func() time.Time { return now }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	n, err := db.ActiveSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("got %d active sessions, want 2", n)
	}
	now = checkT0.Add(48 * time.Hour) // past every idle and absolute deadline, not yet swept
	if n, _ = db.ActiveSessions(ctx); n != 0 {
		t.Errorf("got %d active sessions after their deadline, want 0", n)
	}
}
