package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// TouchInterval is how stale a session's lastSeenAt may get before a use
// writes it again, so that reads do not all become writes.
const TouchInterval = time.Minute

// Client is who a session or login came from.
type Client struct {
	IP        string
	UserAgent string
}

func (c Client) clip() Client {
	if len(c.IP) > data.MaxIP {
		c.IP = c.IP[:data.MaxIP]
	}
	if len(c.UserAgent) > data.MaxUserAgent {
		c.UserAgent = c.UserAgent[:data.MaxUserAgent]
	}
	return c
}

// Auth is the result of a login or an acceptance: the session token (the
// only copy), the session and the user.
type Auth struct {
	Token   string
	Session data.Session
	User    data.User
	Tenant  data.TenantID
}

// createSession starts a session for u under the portal's current rules and
// counts a login.
func (db *DB) createSession(tx kv.Tx, b kv.Bucket, tenant data.TenantID, u data.User, cfg data.Config, c Client, now time.Time) (Auth, error) {
	token, hash, err := NewToken(db.now())
	if err != nil {
		return Auth{}, err
	}
	c = c.clip()
	s := data.Session{ID: db.ids.New(now), UserID: u.ID, Email: u.Email, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(time.Duration(cfg.Auth.SessionTTLMinutes) * time.Minute), IP: c.IP, UserAgent: c.UserAgent,
		IdleTimeoutMinutes: cfg.Auth.IdleTimeoutMinutes, TokenHash: hash}
	if err := putJSON(b.Bucket(bSessions), bytesOf(s.ID), s); err != nil {
		return Auth{}, err
	}
	if err := tx.Bucket(bSessionTokens).Put(bytesOf(hash), tokenRef(tenant, s.ID)); err != nil {
		return Auth{}, err
	}
	if err := b.Bucket(bUserSessions).Put(bytesOf(u.ID+s.ID), nil); err != nil {
		return Auth{}, err
	}
	if err := b.Bucket(bSessionExpiry).Put(timeKey(s.EndsAt(), s.ID), nil); err != nil {
		return Auth{}, err
	}
	if err := bump(b, cSessionsActive, 1); err != nil {
		return Auth{}, err
	}
	if err := countLogin(b, now); err != nil {
		return Auth{}, err
	}
	return Auth{Token: token, Session: s.Public(), User: u, Tenant: tenant}, nil
}

// underRules is s under the portal's current session rules: a shorter
// lifetime or idle timeout set after the session began applies to it too
// (a longer one does not stretch it).
func underRules(s data.Session, a data.AuthSettings) data.Session {
	if a.SessionTTLMinutes > 0 {
		if end := s.CreatedAt.Add(time.Duration(a.SessionTTLMinutes) * time.Minute); end.Before(s.ExpiresAt) {
			s.ExpiresAt = end
		}
	}
	if a.IdleTimeoutMinutes > 0 && (s.IdleTimeoutMinutes == 0 || a.IdleTimeoutMinutes < s.IdleTimeoutMinutes) {
		s.IdleTimeoutMinutes = a.IdleTimeoutMinutes
	}
	return s
}

// tightenSessions brings every session of the organization under the
// session rules next when they are stricter than cur, moving each in the
// expiry index, so that the counts and lists agree with the sessions'
// checks at once rather than when the sweeper gets to them.
func tightenSessions(b kv.Bucket, cur, next data.AuthSettings) error {
	if next.SessionTTLMinutes >= cur.SessionTTLMinutes && next.IdleTimeoutMinutes >= cur.IdleTimeoutMinutes {
		return nil
	}
	var changed [][2]data.Session
	err := b.Bucket(bSessions).ForEach(func(_, v []byte) error {
		var s data.Session
		if err := jsonDecode(v, &s); err != nil {
			return err
		}
		if t := underRules(s, next); t != s {
			changed = append(changed, [2]data.Session{s, t})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changed {
		old, s := c[0], c[1]
		if err := b.Bucket(bSessionExpiry).Delete(timeKey(old.EndsAt(), old.ID)); err != nil {
			return err
		}
		if err := putJSON(b.Bucket(bSessions), bytesOf(s.ID), s); err != nil {
			return err
		}
		if err := b.Bucket(bSessionExpiry).Put(timeKey(s.EndsAt(), s.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

func getSession(b kv.Bucket, id string) (data.Session, error) {
	var s data.Session
	if b == nil {
		return s, fmt.Errorf("session %s: %w", id, data.ErrNotFound)
	}
	ok, err := getJSON(b.Bucket(bSessions), bytesOf(id), &s)
	if err != nil {
		return s, err
	}
	if !ok {
		return s, fmt.Errorf("session %s: %w", id, data.ErrNotFound)
	}
	return s, nil
}

// deleteSession removes a session and its indexes.
func deleteSession(tx kv.Tx, b kv.Bucket, s data.Session) error {
	if err := b.Bucket(bSessions).Delete(bytesOf(s.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bSessionTokens).Delete(bytesOf(s.TokenHash)); err != nil {
		return err
	}
	if err := b.Bucket(bUserSessions).Delete(bytesOf(s.UserID + s.ID)); err != nil {
		return err
	}
	if err := b.Bucket(bSessionExpiry).Delete(timeKey(s.EndsAt(), s.ID)); err != nil {
		return err
	}
	return bump(b, cSessionsActive, -1)
}

// userSessionIDs lists the IDs of a user's sessions, oldest first.
func userSessionIDs(b kv.Bucket, userID string) []string {
	var ids []string
	c := b.Bucket(bUserSessions).Cursor()
	prefix := bytesOf(userID)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// endSessions ends every session of userID except keep.
func endSessions(tx kv.Tx, b kv.Bucket, userID, keep string) error {
	for _, id := range userSessionIDs(b, userID) {
		if id == keep {
			continue
		}
		s, err := getSession(b, id)
		if err != nil {
			return err
		}
		if err := deleteSession(tx, b, s); err != nil {
			return err
		}
	}
	return nil
}

// SessionFilter narrows the admin session list.
type SessionFilter struct {
	UserID string
}

// Sessions lists the organization's active sessions, newest first.
func (db *DB) Sessions(ctx context.Context, tenant data.TenantID, f SessionFilter, after string, limit int) (Page[data.Session], error) {
	var p Page[data.Session]
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[data.Session]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		p, err = scanPage(b.Bucket(bSessions), after, limit, func(s *data.Session) bool {
			return s.Active(now) && (f.UserID == "" || s.UserID == f.UserID)
		})
		return err
	})
	for i := range p.Items {
		p.Items[i] = p.Items[i].Public()
	}
	return p, err
}

// EndSession ends one session of the organization; with userID set, only
// if it is that user's (a customer ending its own).
func (db *DB) EndSession(ctx context.Context, tenant data.TenantID, actor, id, userID string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		s, err := getSession(b, id)
		if err != nil {
			return err
		}
		now := db.Now()
		if (userID != "" && s.UserID != userID) || !s.Active(now) {
			return fmt.Errorf("session %s: %w", id, data.ErrNotFound)
		}
		if err := deleteSession(tx, b, s); err != nil {
			return err
		}
		if userID == "" {
			return db.audit(b, now, actor, "session.end", "session", s.ID, "ended by an admin")
		}
		return nil
	})
}

// SessionByToken returns the live session a customer's token names, with
// its user. The session's lastSeenAt is written at most once per
// TouchInterval. Anything else (unknown, ended, expired, idle, revoked user,
// disabled portal) is data.ErrUnauthorized.
func (db *DB) SessionByToken(ctx context.Context, token string) (Auth, error) {
	hash := HashToken(token)
	now := db.Now()
	var a Auth
	var stale bool
	err := db.read(ctx, func(tx kv.Tx) error {
		var err error
		a, stale, err = db.sessionFor(tx, hash, now)
		return err
	})
	if err != nil || !stale {
		return a, err
	}
	read := a
	err = db.write(ctx, func(tx kv.Tx) error {
		a = read
		cur, stale, err := db.sessionFor(tx, hash, now)
		if err != nil || !stale {
			a = cur
			return err
		}
		b, _ := org(tx, cur.Tenant)
		s, err := getSession(b, cur.Session.ID)
		if err != nil {
			return err
		}
		if err := b.Bucket(bSessionExpiry).Delete(timeKey(s.EndsAt(), s.ID)); err != nil {
			return err
		}
		s.LastSeenAt = now
		if err := putJSON(b.Bucket(bSessions), bytesOf(s.ID), s); err != nil {
			return err
		}
		if err := b.Bucket(bSessionExpiry).Put(timeKey(s.EndsAt(), s.ID), nil); err != nil {
			return err
		}
		cur.Session = s.Public()
		a = cur
		return nil
	})
	return a, err
}

func (db *DB) sessionFor(tx kv.Tx, hash string, now time.Time) (Auth, bool, error) {
	unauthorized := fmt.Errorf("session: %w", data.ErrUnauthorized)
	tenant, id, ok := splitRef(tx.Bucket(bSessionTokens).Get(bytesOf(hash)))
	if !ok {
		return Auth{}, false, unauthorized
	}
	b, err := org(tx, tenant)
	if err != nil || b == nil {
		return Auth{}, false, unauthorized
	}
	cfg, err := db.configOf(tx, tenant, now)
	if err != nil || !cfg.Enabled {
		return Auth{}, false, unauthorized
	}
	s, err := getSession(b, id)
	if err != nil || !underRules(s, cfg.Auth).Active(now) { // the rules as they are now, not as they were at login
		return Auth{}, false, unauthorized
	}
	u, err := getUser(b, s.UserID)
	if err != nil || u.Status != data.UserActive {
		return Auth{}, false, unauthorized
	}
	stale := now.Sub(s.LastSeenAt) >= TouchInterval
	return Auth{Session: s.Public(), User: u, Tenant: tenant}, stale, nil
}

// UserSessionPage is one page of a user's active sessions, newest first,
// starting below the session ID after (from the top when empty).
func (db *DB) UserSessionPage(ctx context.Context, tenant data.TenantID, userID, after string, limit int) (Page[data.Session], error) {
	var p Page[data.Session]
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[data.Session]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		ids := userSessionIDs(b, userID) // oldest first: IDs are ULIDs
		for i := len(ids) - 1; i >= 0; i-- {
			if after != "" && ids[i] >= after {
				continue
			}
			s, err := getSession(b, ids[i])
			if err != nil {
				return err
			}
			if !s.Active(now) {
				continue
			}
			if len(p.Items) == limit {
				p.Next = p.Items[len(p.Items)-1].ID
				return nil
			}
			p.Items = append(p.Items, s.Public())
		}
		return nil
	})
	return p, err
}

// UserSessions lists a user's active sessions, newest first.
func (db *DB) UserSessions(ctx context.Context, tenant data.TenantID, userID string) ([]data.Session, error) {
	var out []data.Session
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		out = nil
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		ids := userSessionIDs(b, userID)
		for i := len(ids) - 1; i >= 0; i-- {
			s, err := getSession(b, ids[i])
			if err != nil {
				return err
			}
			if s.Active(now) {
				out = append(out, s.Public())
			}
		}
		return nil
	})
	return out, err
}
