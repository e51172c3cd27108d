package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// ResetTokenTTL is how long a password reset link works.
const ResetTokenTTL = time.Hour

// ResetMailInterval is how often one account can be sent a reset link:
// asking again sooner sends nothing, so a flood of requests cannot flood
// the person's mailbox.
const ResetMailInterval = time.Minute

// resetToken is the value of reset_tokens/<hash>.
type resetToken struct {
	Tenant    data.TenantID `json:"tenant"`
	UserID    string        `json:"userId"`
	ExpiresAt time.Time     `json:"expiresAt"`
	CreatedAt time.Time     `json:"createdAt,omitzero"`
}

// created is when rt was made (for tokens stored before CreatedAt was
// recorded: an hour before they expire).
func (rt resetToken) created() time.Time {
	if rt.CreatedAt.IsZero() {
		return rt.ExpiresAt.Add(-ResetTokenTTL)
	}
	return rt.CreatedAt
}

// PendingInvitation returns the pending invitation a token names and its
// portal's configuration, so the caller can check the password rules before
// spending the hash. Anything but a live invitation is data.ErrGone.
func (db *DB) PendingInvitation(ctx context.Context, token string) (data.Invitation, data.Config, error) {
	var inv data.Invitation
	var cfg data.Config
	err := db.read(ctx, func(tx kv.Tx) error {
		var err error
		_, inv, cfg, err = db.pendingInvitation(tx, HashToken(token), db.Now())
		return err
	})
	return inv, cfg, err
}

func (db *DB) pendingInvitation(tx kv.Tx, hash string, now time.Time) (kv.Bucket, data.Invitation, data.Config, error) {
	gone := fmt.Errorf("invitation token: %w", data.ErrGone)
	tenant, id, ok := splitRef(tx.Bucket(bInvitationTokens).Get(bytesOf(hash)))
	if !ok {
		return nil, data.Invitation{}, data.Config{}, gone
	}
	b, err := org(tx, tenant)
	if err != nil || b == nil {
		return nil, data.Invitation{}, data.Config{}, gone
	}
	inv, err := getInvitation(b, id)
	if err != nil || inv.EffectiveStatus(now) != data.InvitationPending || inv.TokenHash != hash {
		return nil, data.Invitation{}, data.Config{}, gone
	}
	cfg, err := db.configOf(tx, tenant, now)
	// The allowed domains may have changed since the invitation was sent.
	if err != nil || !cfg.Enabled || !cfg.Auth.EmailDomainAllowed(inv.Email) {
		return nil, data.Invitation{}, data.Config{}, gone
	}
	return b, inv, cfg, nil
}

// AcceptInvitation spends an invitation token: the user becomes active with
// passwordHash, the invitation accepted, and a first session starts. Of
// concurrent accepts of one token exactly one succeeds; the others, and any
// used, expired or unknown token, get data.ErrGone.
func (db *DB) AcceptInvitation(ctx context.Context, token, passwordHash, firstName, lastName string, c Client) (Auth, error) {
	if err := data.CheckName("firstName", firstName); err != nil {
		return Auth{}, err
	}
	if err := data.CheckName("lastName", lastName); err != nil {
		return Auth{}, err
	}
	hash := HashToken(token)
	var out Auth
	err := db.write(ctx, func(tx kv.Tx) error {
		out = Auth{}
		now := db.Now()
		b, inv, cfg, err := db.pendingInvitation(tx, hash, now)
		if err != nil {
			return err
		}
		u, err := getUser(b, inv.UserID)
		if err != nil || u.Status != data.UserInvited {
			return fmt.Errorf("invitation user: %w", data.ErrGone)
		}
		tenant, _, _ := splitRef(tx.Bucket(bInvitationTokens).Get(bytesOf(hash)))
		// Every check is done: from here on the transaction writes.
		if err := finishInvitation(tx, b, &inv, data.InvitationAccepted, now); err != nil {
			return err
		}
		prev := u.Status
		u.Status, u.ActivatedAt, u.LastLoginAt, u.UpdatedAt = data.UserActive, &now, &now, now
		u.RevokedAt = nil
		if firstName != "" {
			u.FirstName = firstName
		}
		if lastName != "" {
			u.LastName = lastName
		}
		if err := putUser(b, u, prev); err != nil {
			return err
		}
		if err := setPassword(b, u.ID, passwordHash); err != nil {
			return err
		}
		out, err = db.createSession(tx, b, tenant, u, cfg, c, now)
		if err != nil {
			return err
		}
		return db.enqueueWebhookEvent(tx, tenant, now, data.EventInvitationAccepted,
			map[string]any{"invitation": inv.Public(now), "user": u})
	})
	return out, err
}

// Candidate is a user who may log in, with its password hash.
type Candidate struct {
	Tenant       data.TenantID
	User         data.User
	PasswordHash string
}

// LoginCandidate returns the user who may log in to the portal at slug with
// email, with its password hash, for the caller to check outside any
// transaction. Every reason to refuse is the same data.ErrUnauthorized.
func (db *DB) LoginCandidate(ctx context.Context, slug, email string) (Candidate, error) {
	var c Candidate
	err := db.read(ctx, func(tx kv.Tx) error {
		var err error
		c, _, err = db.loginCandidate(tx, slug, email, db.Now())
		return err
	})
	return c, err
}

func (db *DB) loginCandidate(tx kv.Tx, slug, email string, now time.Time) (Candidate, data.Config, error) {
	refused := fmt.Errorf("login: %w", data.ErrUnauthorized)
	owner := tx.Bucket(bSlugs).Get(bytesOf(slug))
	if owner == nil {
		return Candidate{}, data.Config{}, refused
	}
	tenant := data.TenantID(owner)
	cfg, err := db.configOf(tx, tenant, now)
	if err != nil || !cfg.Enabled {
		return Candidate{}, data.Config{}, refused
	}
	b, err := org(tx, tenant)
	if err != nil || b == nil {
		return Candidate{}, data.Config{}, refused
	}
	u, ok, err := userByEmail(b, email)
	if err != nil || !ok || u.Status != data.UserActive || !cfg.Auth.EmailDomainAllowed(u.Email) {
		return Candidate{}, data.Config{}, refused
	}
	hash := passwordOf(b, u.ID)
	if hash == "" {
		return Candidate{}, data.Config{}, refused
	}
	return Candidate{Tenant: tenant, User: u, PasswordHash: hash}, cfg, nil
}

// CompleteLogin starts a session for a user whose password the caller has
// checked against passwordHash. It refuses if anything changed since (the
// user revoked, the password reset, the portal disabled).
func (db *DB) CompleteLogin(ctx context.Context, slug, email, passwordHash string, c Client) (Auth, error) {
	var out Auth
	err := db.write(ctx, func(tx kv.Tx) error {
		out = Auth{}
		now := db.Now()
		cand, cfg, err := db.loginCandidate(tx, slug, email, now)
		if err != nil {
			return err
		}
		if cand.PasswordHash != passwordHash {
			return fmt.Errorf("login: %w", data.ErrUnauthorized)
		}
		b, _ := org(tx, cand.Tenant)
		u := cand.User
		u.LastLoginAt, u.UpdatedAt = &now, now
		if err := putUser(b, u, u.Status); err != nil {
			return err
		}
		out, err = db.createSession(tx, b, cand.Tenant, u, cfg, c, now)
		return err
	})
	return out, err
}

// StartPasswordReset queues a reset link for an active user of the portal
// at slug, at most one per ResetMailInterval, and kills the user's earlier
// links: only the newest works. For anyone else it does nothing and says
// nothing, so the answer does not tell who has an account.
func (db *DB) StartPasswordReset(ctx context.Context, slug, email string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		now := db.Now()
		cand, cfg, err := db.loginCandidate(tx, slug, email, now)
		if err != nil {
			return nil
		}
		tenant, u := cand.Tenant, cand.User
		old, newest, err := userResetTokens(tx, tenant, u.ID)
		if err != nil {
			return err
		}
		if now.Sub(newest) < ResetMailInterval {
			return nil // the link sent a moment ago is still the one to use
		}
		for _, k := range old {
			if err := tx.Bucket(bResetTokens).Delete(k); err != nil {
				return err
			}
		}
		token, hash, err := NewToken(db.now())
		if err != nil {
			return err
		}
		rt := resetToken{Tenant: tenant, UserID: u.ID, ExpiresAt: now.Add(ResetTokenTTL), CreatedAt: now}
		if err := putJSON(tx.Bucket(bResetTokens), bytesOf(hash), rt); err != nil {
			return err
		}
		_, err = db.enqueue(tx, now, data.OutboxMessage{Tenant: tenant, Kind: data.MailPasswordReset, To: u.Email,
			Data: data.MailData{PortalName: cfg.PortalName, PrimaryColor: cfg.Branding.PrimaryColor, LogoURL: cfg.Branding.LogoURL,
				SupportEmail: cfg.SupportEmail, FirstName: u.FirstName, ExpiresAt: rt.ExpiresAt,
				Link: db.publicURL + "/p/" + cfg.Slug + "/reset?token=" + token}})
		return err
	})
}

// ResetPolicy returns the password rules that apply to a live reset token.
func (db *DB) ResetPolicy(ctx context.Context, token string) (data.Config, error) {
	var cfg data.Config
	err := db.read(ctx, func(tx kv.Tx) error {
		var err error
		_, _, cfg, err = db.liveReset(tx, HashToken(token), db.Now())
		return err
	})
	return cfg, err
}

func (db *DB) liveReset(tx kv.Tx, hash string, now time.Time) (resetToken, data.User, data.Config, error) {
	gone := fmt.Errorf("reset token: %w", data.ErrGone)
	var rt resetToken
	ok, err := getJSON(tx.Bucket(bResetTokens), bytesOf(hash), &rt)
	if err != nil || !ok || !now.Before(rt.ExpiresAt) {
		return rt, data.User{}, data.Config{}, gone
	}
	b, err := org(tx, rt.Tenant)
	if err != nil || b == nil {
		return rt, data.User{}, data.Config{}, gone
	}
	u, err := getUser(b, rt.UserID)
	if err != nil || u.Status != data.UserActive {
		return rt, data.User{}, data.Config{}, gone
	}
	cfg, err := db.configOf(tx, rt.Tenant, now)
	if err != nil || !cfg.Enabled || !cfg.Auth.EmailDomainAllowed(u.Email) {
		return rt, data.User{}, data.Config{}, gone
	}
	return rt, u, cfg, nil
}

// ResetPassword spends a reset token: the user's password becomes
// passwordHash, every session but keepSession ends, and every reset token of
// the user dies.
func (db *DB) ResetPassword(ctx context.Context, token, passwordHash, keepSession string) error {
	hash := HashToken(token)
	return db.write(ctx, func(tx kv.Tx) error {
		keep := keepSession // the parameter stays as given for another run
		now := db.Now()
		rt, u, _, err := db.liveReset(tx, hash, now)
		if err != nil {
			return err
		}
		b, _ := org(tx, rt.Tenant)
		u.UpdatedAt = now
		if err := putUser(b, u, u.Status); err != nil {
			return err
		}
		if err := setPassword(b, u.ID, passwordHash); err != nil {
			return err
		}
		if keep != "" {
			if s, err := getSession(b, keep); err != nil || s.UserID != u.ID {
				keep = ""
			}
		}
		if err := endSessions(tx, b, u.ID, keep); err != nil {
			return err
		}
		return dropResetTokens(tx, rt.Tenant, u.ID)
	})
}

// dropResetTokens kills every reset token of a user. Reset tokens live an
// hour and the sweeper removes dead ones, so the bucket stays small.
func dropResetTokens(tx kv.Tx, tenant data.TenantID, userID string) error {
	_, err := deleteWhere(tx.Bucket(bResetTokens), 0, func(v []byte) (bool, error) {
		var rt resetToken
		if err := jsonDecode(v, &rt); err != nil {
			return false, err
		}
		return rt.Tenant == tenant && rt.UserID == userID, nil
	})
	return err
}

// userResetTokens returns the keys of a user's reset tokens and when the
// newest of them was made (zero when there is none).
func userResetTokens(tx kv.Tx, tenant data.TenantID, userID string) ([][]byte, time.Time, error) {
	var keys [][]byte
	var newest time.Time
	err := tx.Bucket(bResetTokens).ForEach(func(k, v []byte) error {
		var rt resetToken
		if err := jsonDecode(v, &rt); err != nil {
			return err
		}
		if rt.Tenant == tenant && rt.UserID == userID {
			keys = append(keys, append([]byte(nil), k...))
			if c := rt.created(); c.After(newest) {
				newest = c
			}
		}
		return nil
	})
	return keys, newest, err
}

// errEnough stops a walk that has found what it needs.
var errEnough = errors.New("enough")

// deleteWhere deletes the records of b that dead picks, at most limit of
// them when limit > 0, and counts them.
func deleteWhere(b kv.Bucket, limit int, dead func(v []byte) (bool, error)) (int, error) {
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if limit > 0 && len(keys) >= limit {
			return errEnough
		}
		ok, err := dead(v)
		if ok {
			keys = append(keys, append([]byte(nil), k...)) // k is the map's: copy before deleting
		}
		return err
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
