package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

func TestDB_CreateInvitation(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	inv, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "Ada@Example.com", FirstName: "Ada", ExpiresInHours: 5})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != data.InvitationPending || inv.Role != data.RoleMember || !inv.ExpiresAt.Equal(storeT0.Add(5*time.Hour)) ||
		inv.TokenHash != "" || inv.ResendTimes != nil || !strings.HasPrefix(inv.AcceptURL, "http://localhost:8080/p/org-a/accept?token=") {
		t.Errorf("got %+v, want a pending member invitation for 5 hours with its link and no hash", inv)
	}
	stored, err := db.Invitation(ctx, tenantA, inv.ID)
	if err != nil || stored.AcceptURL != "" || stored.TokenHash != "" {
		t.Errorf("got stored %+v, %v, want no link and no hash", stored, err)
	}
	u, err := db.User(ctx, tenantA, inv.UserID)
	if err != nil || u.Status != data.UserInvited || u.FirstName != "Ada" || u.Email != "Ada@Example.com" {
		t.Errorf("got user %+v, %v, want invited Ada", u, err)
	}
	if _, err := db.Invitation(ctx, tenantB, inv.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("Invitation from another organization: got %v, want ErrNotFound", err)
	}
	got, cfg, err := db.PendingInvitation(ctx, linkToken(t, inv.AcceptURL))
	if err != nil || got.ID != inv.ID || cfg.Slug != "org-a" {
		t.Errorf("PendingInvitation: got %+v, %+v, %v, want the invitation of org-a", got.ID, cfg.Slug, err)
	}
}

func TestDB_CreateInvitation_Refused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, db *store.DB)
		req   data.InvitationRequest
		want  error // matched with errors.Is, or a *data.ValidationError naming field
		field string
	}{
		{name: "pending, other case", setup: func(t *testing.T, db *store.DB) { mustInvite(t, db, tenantA, "ada@example.com") },
			req: data.InvitationRequest{Email: "ADA@example.COM"}, want: data.ErrConflict},
		{name: "active user", setup: func(t *testing.T, db *store.DB) { mustActivate(t, db, tenantA, "ada@example.com") },
			req: data.InvitationRequest{Email: "ada@example.com"}, want: data.ErrConflict},
		{name: "domain not allowed", setup: func(t *testing.T, db *store.DB) {
			_, err := db.UpdateConfig(t.Context(), tenantA, "staff-1", func(c data.Config) (data.Config, error) {
				c.Auth.AllowedEmailDomains = []string{"example.com"}
				return c, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}, req: data.InvitationRequest{Email: "ada@example.org"}, field: "email"},
		{name: "invalid", req: data.InvitationRequest{Email: "nope", Role: "root", ExpiresInHours: 721},
			field: "expiresInHours"},
		{name: "negative expiry", req: data.InvitationRequest{Email: "ada@example.com", ExpiresInHours: -1}, field: "expiresInHours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, _ := openStoreDB(t)
			if tt.setup != nil {
				tt.setup(t, db)
			}
			before := mustStats(t, db, tenantA)
			_, err := db.CreateInvitation(t.Context(), tenantA, "staff-1", tt.req)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if tt.field != "" {
				var ve *data.ValidationError
				if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
					t.Errorf("got %v, want a validation error naming %s", err, tt.field)
				}
			}
			after := mustStats(t, db, tenantA)
			if after.Users != before.Users || after.Invitations != before.Invitations {
				t.Errorf("got stats %+v %+v, want unchanged %+v %+v", after.Users, after.Invitations, before.Users, before.Invitations)
			}
		})
	}
}

func TestDB_CreateInvitation_Concurrent(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "ada@example.com"
			if i%3 == 0 {
				email = "ADA@EXAMPLE.COM"
			}
			_, errs[i] = db.CreateInvitation(context.Background(), tenantA, "staff-1", data.InvitationRequest{Email: email})
		}()
	}
	wg.Wait()
	ok, conflicts := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, data.ErrConflict):
			conflicts++
		default:
			t.Errorf("got %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 || conflicts != n-1 {
		t.Errorf("got %d created and %d conflicts, want 1 and %d", ok, conflicts, n-1)
	}
	s := mustStats(t, db, tenantA)
	if s.Users.Invited != 1 || s.Invitations.Pending != 1 {
		t.Errorf("got stats %+v %+v, want one invited user and one pending invitation", s.Users, s.Invitations)
	}
}

func TestDB_AcceptInvitation_Concurrent(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	_, tok := mustInvite(t, db, tenantA, "ada@example.com")
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = db.AcceptInvitation(context.Background(), tok, fakeHash, "", "", store.Client{})
		}()
	}
	wg.Wait()
	ok, gone := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, data.ErrGone):
			gone++
		default:
			t.Errorf("got %v, want nil or ErrGone", err)
		}
	}
	if ok != 1 || gone != n-1 {
		t.Errorf("got %d accepted and %d gone, want 1 and %d", ok, gone, n-1)
	}
	s := mustStats(t, db, tenantA)
	if s.Users.Active != 1 || s.Sessions.Active != 1 || s.Invitations.Accepted != 1 || s.Logins.Last24h != 1 {
		t.Errorf("got stats %+v, want one activation, one session, one login", s)
	}
}

func TestDB_ResendInvitation(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	inv, old := mustInvite(t, db, tenantA, "ada@example.com")
	if _, err := db.ResendInvitation(ctx, tenantB, "staff-b", inv.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("ResendInvitation from another organization: got %v, want ErrNotFound", err)
	}
	var last data.Invitation
	for i := range data.ResendsPerHour {
		clk.Advance(time.Minute)
		got, err := db.ResendInvitation(ctx, tenantA, "staff-1", inv.ID)
		if err != nil {
			t.Fatalf("resend %d: got %v, want nil", i+1, err)
		}
		if got.AcceptURL == "" || got.AcceptURL == inv.AcceptURL || got.AcceptURL == last.AcceptURL {
			t.Errorf("resend %d: got link %q, want a new one", i+1, got.AcceptURL)
		}
		last = got
	}
	_, err := db.ResendInvitation(ctx, tenantA, "staff-1", inv.ID)
	var rl *data.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfterSeconds < 1 || rl.RetryAfterSeconds > 3600-4*60+1 {
		t.Fatalf("sixth resend: got %v, want a RateLimitError until the first resend is an hour old", err)
	}
	if _, _, err := db.PendingInvitation(ctx, old); !errors.Is(err, data.ErrGone) {
		t.Errorf("first link after resend: got %v, want ErrGone", err)
	}
	if _, _, err := db.PendingInvitation(ctx, linkToken(t, last.AcceptURL)); err != nil {
		t.Errorf("last link: got %v, want it live", err)
	}
	clk.Advance(time.Duration(rl.RetryAfterSeconds) * time.Second)
	if _, err := db.ResendInvitation(ctx, tenantA, "staff-1", inv.ID); err != nil {
		t.Errorf("resend after the wait: got %v, want nil", err)
	}
	msgs, err := db.DueMessages(ctx, clk.Now(), 100)
	if err != nil || len(msgs) != 1 {
		t.Errorf("got %d queued emails, %v, want only the newest link's", len(msgs), err)
	}
	if err := db.CancelInvitation(ctx, tenantA, "staff-1", inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResendInvitation(ctx, tenantA, "staff-1", inv.ID); !errors.Is(err, data.ErrConflict) {
		t.Errorf("resend of a cancelled invitation: got %v, want ErrConflict", err)
	}
}

// An invitation past its expiry is expired for resend too, the same before
// and after the sweeper writes it down, as it is for cancel and the lists.
func TestDB_ResendInvitation_Expired(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	inv, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "ada@example.com", ExpiresInHours: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	for _, when := range []string{"before the sweep", "after the sweep"} {
		if _, err := db.ResendInvitation(ctx, tenantA, "staff-1", inv.ID); !errors.Is(err, data.ErrConflict) {
			t.Errorf("%s: got %v, want ErrConflict", when, err)
		}
		s := mustStats(t, db, tenantA)
		if s.Invitations.Expired != 1 || s.Invitations.Pending != 0 {
			t.Errorf("%s: got %+v, want the invitation expired", when, s.Invitations)
		}
		if _, err := db.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A new invitation is the way to send a new link.
	if _, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "ada@example.com"}); err != nil {
		t.Errorf("invite again: got %v, want nil", err)
	}
}

func TestDB_CancelInvitation(t *testing.T) {
	t.Parallel()
	db, clk := openStoreDB(t)
	ctx := t.Context()
	inv, tok := mustInvite(t, db, tenantA, "ada@example.com")
	if err := db.CancelInvitation(ctx, tenantB, "staff-b", inv.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("CancelInvitation from another organization: got %v, want ErrNotFound", err)
	}
	if err := db.CancelInvitation(ctx, tenantA, "staff-1", inv.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.CancelInvitation(ctx, tenantA, "staff-1", inv.ID); !errors.Is(err, data.ErrConflict) {
		t.Errorf("second cancel: got %v, want ErrConflict", err)
	}
	if _, err := db.AcceptInvitation(ctx, tok, fakeHash, "", "", store.Client{}); !errors.Is(err, data.ErrGone) {
		t.Errorf("accept after cancel: got %v, want ErrGone", err)
	}
	// An invitation past its expiry is expired, not cancellable.
	late, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "grace@example.com", ExpiresInHours: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if err := db.CancelInvitation(ctx, tenantA, "staff-1", late.ID); !errors.Is(err, data.ErrConflict) {
		t.Errorf("cancel after expiry: got %v, want ErrConflict", err)
	}
	s := mustStats(t, db, tenantA)
	if s.Invitations.Cancelled != 1 || s.Invitations.Expired != 1 || s.Invitations.Pending != 0 || s.Users.Invited != 2 {
		t.Errorf("got stats %+v %+v, want one cancelled, one expired, two invited users", s.Invitations, s.Users)
	}
}

// Paging newest first while invitations are added sees each at most once
// and every one that existed before it began.
func TestDB_Invitations_PagingWhileAdding(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := t.Context()
	before := map[string]bool{}
	for i := range 10 {
		inv, _ := mustInvite(t, db, tenantA, fmt.Sprintf("before-%d@example.com", i))
		before[inv.ID] = true
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				_, err := db.CreateInvitation(context.Background(), tenantA, "staff-1",
					data.InvitationRequest{Email: fmt.Sprintf("during-%d-%d@example.com", w, i)})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := map[string]bool{}
	after := ""
	for {
		p, err := db.Invitations(ctx, tenantA, store.InvitationFilter{Status: data.InvitationPending}, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range p.Items {
			if seen[inv.ID] {
				t.Fatalf("got %s twice", inv.ID)
			}
			seen[inv.ID] = true
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	wg.Wait()
	for id := range before {
		if !seen[id] {
			t.Errorf("missed %s, made before paging began", id)
		}
	}
}

func ExampleDB_CreateInvitation() {
	dir, err := os.MkdirTemp("", "portal-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	db, err := store.Open(filepath.Join(dir, "portal.db"), now, store.Options{PublicURL: "https://portal.example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	inv, err := db.CreateInvitation(ctx, "acme", "staff-1", data.InvitationRequest{Email: "ada@example.com", ExpiresInHours: 48})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(inv.Status, inv.Role, inv.ExpiresAt.Format(time.RFC3339))
	fmt.Println(strings.HasPrefix(inv.AcceptURL, "https://portal.example.com/p/acme/accept?token="))
	_, err = db.CreateInvitation(ctx, "acme", "staff-1", data.InvitationRequest{Email: "ADA@example.com"})
	fmt.Println(errors.Is(err, data.ErrConflict))
	// Output:
	// pending member 2026-11-28T12:00:00Z
	// true
	// true
}

func TestNewToken_KeysSortByTime(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prevKey := ""
	for i := range 200 {
		tok, key, err := store.NewToken(start.Add(time.Duration(i) * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 51 || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("got token %q, want 51 characters of base64url", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q made twice", tok)
		}
		seen[tok] = true
		if key != store.HashToken(tok) {
			t.Fatalf("NewToken's key %q is not HashToken's %q", key, store.HashToken(tok))
		}
		if len(key) != 12+64 || strings.Contains(key, tok) {
			t.Fatalf("got key %q for %q, want 12 hex of time and 64 of SHA-256", key, tok)
		}
		if key <= prevKey {
			t.Fatalf("key %q of a later token sorts before %q", key, prevKey)
		}
		prevKey = key
	}
	// A token of another shape (as made before the time prefix: 32 bytes,
	// 43 characters) is keyed by its SHA-256 alone.
	for _, tok := range []string{strings.Repeat("A", 43), strings.Repeat("!", 51), ""} {
		if key := store.HashToken(tok); len(key) != 64 {
			t.Errorf("HashToken(%q) = %q, want 64 hex characters", tok, key)
		}
	}
}

func TestAccept_TokenMadeBeforeTheTimePrefix(t *testing.T) {
	t.Parallel()
	db, _ := openStoreDB(t)
	ctx := context.Background()
	inv, err := db.CreateInvitation(ctx, "org-a", "admin", data.InvitationRequest{Email: "old@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	legacy := strings.Repeat("L", 43)
	if err := db.ReplaceInvitationTokenForTest(ctx, "org-a", inv.ID, legacy); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.PendingInvitation(ctx, legacy); err != nil {
		t.Fatalf("a 43-character token indexed by its SHA-256: %v", err)
	}
}

// FuzzHashToken feeds HashToken what a client may send as a token: the key
// is always one of the two shapes, and a token NewToken made keeps its key.
func FuzzHashToken(f *testing.F) {
	tok, _, err := store.NewToken(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, strings.Repeat("A", 43), strings.Repeat("_", 51), "", "%%%", tok[:50] + "="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		key := store.HashToken(token)
		if len(key) != 64 && len(key) != 76 {
			t.Fatalf("HashToken(%q) = %q: want 64 or 76 hex characters", token, key)
		}
		if strings.Trim(key, "0123456789abcdef") != "" {
			t.Fatalf("HashToken(%q) = %q: want lower-case hex", token, key)
		}
		if len(key) == 76 && len(token) != 51 {
			t.Fatalf("HashToken(%q) has a time prefix, but the token is not 51 characters", token)
		}
	})
}
