package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// UserFilter narrows a user list. Empty fields match everything.
type UserFilter struct {
	Status    data.UserStatus
	Q         string // case-insensitive substring of email or name
	AccountID string
}

func (f UserFilter) match(u *data.User) bool {
	if f.Status != "" && u.Status != f.Status {
		return false
	}
	if f.AccountID != "" && u.AccountID != f.AccountID {
		return false
	}
	return f.Q == "" || matchQ(f.Q, u.Email, u.FirstName, u.LastName)
}

// matchQ reports whether q occurs, ignoring case, in the email or the name.
func matchQ(q, email, first, last string) bool {
	q = strings.ToLower(q)
	return strings.Contains(strings.ToLower(email), q) ||
		strings.Contains(strings.ToLower(strings.TrimSpace(first+" "+last)), q)
}

// UsersJSON lists the organization's portal users, newest first, each as
// the JSON the API shows: the stored record is exactly that, so an unfiltered
// page is copied out without decoding a record.
func (db *DB) UsersJSON(ctx context.Context, tenant data.TenantID, f UserFilter, after string, limit int) (Page[[]byte], error) {
	var p Page[[]byte]
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[[]byte]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		var match func(k, v []byte) (bool, error)
		if f != (UserFilter{}) {
			pre := newSearchFilter(ctx, f.Q, f.AccountID, string(f.Status))
			match = func(k, v []byte) (bool, error) {
				if ok, err := pre.mayMatch(v); !ok || err != nil {
					return false, err
				}
				var u data.User
				if err := jsonDecode(v, &u); err != nil {
					return false, fmt.Errorf("decode %s: %w", k, err)
				}
				return f.match(&u), nil
			}
		}
		p, err = scanRaw(b.Bucket(bUsers), after, limit, match)
		return err
	})
	return p, err
}

// Users is UsersJSON decoded.
func (db *DB) Users(ctx context.Context, tenant data.TenantID, f UserFilter, after string, limit int) (Page[data.User], error) {
	raw, err := db.UsersJSON(ctx, tenant, f, after, limit)
	if err != nil {
		return Page[data.User]{}, err
	}
	p := Page[data.User]{Items: make([]data.User, len(raw.Items)), Next: raw.Next}
	for i, v := range raw.Items {
		if err := jsonDecode(v, &p.Items[i]); err != nil {
			return Page[data.User]{}, fmt.Errorf("decode user: %w", err)
		}
	}
	return p, nil
}

// UserJSON returns one portal user as the JSON the API shows (a copy of the
// stored record).
func (db *DB) UserJSON(ctx context.Context, tenant data.TenantID, id string) ([]byte, error) {
	var out []byte
	err := db.read(ctx, func(tx kv.Tx) error {
		out = nil
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		var raw []byte
		if b != nil {
			raw = b.Bucket(bUsers).Get(bytesOf(id))
		}
		if raw == nil {
			return fmt.Errorf("user %s: %w", id, data.ErrNotFound)
		}
		out = append([]byte(nil), raw...)
		return nil
	})
	return out, err
}

// User is UserJSON decoded.
func (db *DB) User(ctx context.Context, tenant data.TenantID, id string) (data.User, error) {
	var u data.User
	raw, err := db.UserJSON(ctx, tenant, id)
	if err != nil {
		return u, err
	}
	if err := jsonDecode(raw, &u); err != nil {
		return u, fmt.Errorf("decode user %s: %w", id, err)
	}
	return u, nil
}

func getUser(b kv.Bucket, id string) (data.User, error) {
	var u data.User
	if b == nil {
		return u, fmt.Errorf("user %s: %w", id, data.ErrNotFound)
	}
	ok, err := getJSON(b.Bucket(bUsers), bytesOf(id), &u)
	if err != nil {
		return u, err
	}
	if !ok {
		return u, fmt.Errorf("user %s: %w", id, data.ErrNotFound)
	}
	return u, nil
}

// passwordOf is the user's password hash, empty when it has none.
func passwordOf(b kv.Bucket, userID string) string {
	return string(b.Bucket(bUserPasswords).Get(bytesOf(userID)))
}

// setPassword keeps hash as the user's password hash.
func setPassword(b kv.Bucket, userID, hash string) error {
	return b.Bucket(bUserPasswords).Put(bytesOf(userID), bytesOf(hash))
}

func userByEmail(b kv.Bucket, email string) (data.User, bool, error) {
	id := b.Bucket(bUserEmails).Get(bytesOf(data.NormalizeEmail(email)))
	if id == nil {
		return data.User{}, false, nil
	}
	u, err := getUser(b, string(id))
	return u, err == nil, err
}

// putUser writes u and its email index, moving the status counters from
// prev (empty for a new user) to u.Status.
func putUser(b kv.Bucket, u data.User, prev data.UserStatus) error {
	if err := putJSON(b.Bucket(bUsers), bytesOf(u.ID), u); err != nil {
		return err
	}
	if err := b.Bucket(bUserEmails).Put(bytesOf(data.NormalizeEmail(u.Email)), bytesOf(u.ID)); err != nil {
		return err
	}
	if prev == u.Status {
		return nil
	}
	if prev != "" {
		if err := bump(b, userCounter(prev), -1); err != nil {
			return err
		}
	}
	return bump(b, userCounter(u.Status), 1)
}

// RevokeUser keeps the user with status revoked, ends every session and
// cancels a pending invitation, all at once. Revoking a revoked user
// changes nothing.
func (db *DB) RevokeUser(ctx context.Context, tenant data.TenantID, actor, id string) (data.User, error) {
	var out data.User
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.User{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		u, err := getUser(b, id)
		if err != nil {
			return err
		}
		out = u
		if u.Status == data.UserRevoked {
			return nil
		}
		now := db.Now()
		if err := db.endUserAccess(tx, b, tenant, u.ID, now); err != nil {
			return err
		}
		prev := u.Status
		u.Status, u.RevokedAt, u.UpdatedAt = data.UserRevoked, &now, now
		if err := putUser(b, u, prev); err != nil {
			return err
		}
		out = u
		if err := db.audit(b, now, actor, "user.revoke", "user", u.ID, "access revoked"); err != nil {
			return err
		}
		return db.enqueueWebhookEvent(tx, tenant, now, data.EventUserRevoked, map[string]any{"user": u})
	})
	return out, err
}

// DeleteUser removes the user, cancels its pending invitation and ends its
// sessions in one transaction.
func (db *DB) DeleteUser(ctx context.Context, tenant data.TenantID, actor, id string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		u, err := getUser(b, id)
		if err != nil {
			return err
		}
		now := db.Now()
		if err := db.endUserAccess(tx, b, tenant, u.ID, now); err != nil {
			return err
		}
		if err := b.Bucket(bUsers).Delete(bytesOf(u.ID)); err != nil {
			return err
		}
		if err := b.Bucket(bUserEmails).Delete(bytesOf(data.NormalizeEmail(u.Email))); err != nil {
			return err
		}
		if err := bump(b, userCounter(u.Status), -1); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "user.delete", "user", u.ID, "user removed"); err != nil {
			return err
		}
		return db.enqueueWebhookEvent(tx, tenant, now, data.EventUserRemoved, map[string]any{"user": u})
	})
}

// endUserAccess cancels the user's pending invitation, ends all its
// sessions, kills its password reset tokens and forgets its password, which
// a revoked user invited again sets anew.
func (db *DB) endUserAccess(tx kv.Tx, b kv.Bucket, tenant data.TenantID, userID string, now time.Time) error {
	if invID := b.Bucket(bUserInvitation).Get(bytesOf(userID)); invID != nil {
		inv, err := getInvitation(b, string(invID))
		if err == nil && inv.Status == data.InvitationPending {
			if err := finishInvitation(tx, b, &inv, data.InvitationCancelled, now); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	if err := endSessions(tx, b, userID, ""); err != nil {
		return err
	}
	if err := b.Bucket(bUserPasswords).Delete(bytesOf(userID)); err != nil {
		return err
	}
	return dropResetTokens(tx, tenant, userID)
}
