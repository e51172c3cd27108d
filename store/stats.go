package store

import (
	"context"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// Stats returns the organization's counts from counters kept in the same
// transactions as the records, corrected by the few records whose deadline
// passed since the last sweep. Its cost does not grow with the number of
// users or sessions.
func (db *DB) Stats(ctx context.Context, tenant data.TenantID) (data.Stats, error) {
	var s data.Stats
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		s = data.Stats{}
		cfg, err := db.configOf(tx, tenant, now)
		if err != nil {
			return err
		}
		s.Features.Enabled, s.Features.Total = data.EnabledFeatures(cfg.Features), len(cfg.Features)
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		s.Users.Invited = counter(b, cUsersInvited)
		s.Users.Active = counter(b, cUsersActive)
		s.Users.Revoked = counter(b, cUsersRevoked)
		s.Users.Total = s.Users.Invited + s.Users.Active + s.Users.Revoked
		lapsed := overdue(b.Bucket(bInvitationExpiry), now)
		s.Invitations.Pending = counter(b, cInvPending) - lapsed
		s.Invitations.Expired = counter(b, cInvExpired) + lapsed
		s.Invitations.Accepted = counter(b, cInvAccepted)
		s.Invitations.Cancelled = counter(b, cInvCancelled)
		s.Sessions.Active = counter(b, cSessionsActive) - overdue(b.Bucket(bSessionExpiry), now)
		s.Tickets.Open = counter(b, ticketCounter(data.TicketOpen))
		s.Tickets.Pending = counter(b, ticketCounter(data.TicketPending))
		s.Tickets.Solved = counter(b, ticketCounter(data.TicketSolved))
		s.Tickets.Closed = counter(b, ticketCounter(data.TicketClosed))
		s.Logins.Last24h = loginsSince(b, now.Add(-23*time.Hour))
		s.Logins.Last7d = loginsSince(b, now.Add(-(7*24-1)*time.Hour))
		s.Logins.Last30d = loginsSince(b, now.Add(-(30*24-1)*time.Hour))
		return nil
	})
	all := s.Invitations.Accepted + s.Invitations.Expired + s.Invitations.Cancelled + s.Invitations.Pending
	if all > 0 {
		s.AcceptanceRate = float64(s.Invitations.Accepted) / float64(all)
	}
	s.GeneratedAt = now
	return s, err
}

// ActiveSessions counts the sessions of every organization that are usable
// now: the sessions.active counters less the sessions whose deadline passed
// since the last sweep. It reads one counter and a short index prefix per
// organization, whatever the number of sessions, so metrics can call it on
// every scrape.
func (db *DB) ActiveSessions(ctx context.Context) (int64, error) {
	var n int64
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		n = 0 // a sum: from zero on every run
		orgs := tx.Bucket(bOrgs)
		return orgs.ForEachBucket(func(k []byte) error {
			b := orgs.Bucket(k)
			if b.Bucket(bCounters) == nil || b.Bucket(bSessionExpiry) == nil {
				return nil
			}
			n += counter(b, cSessionsActive) - overdue(b.Bucket(bSessionExpiry), now)
			return nil
		})
	})
	return n, err
}
