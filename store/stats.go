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
		if b, _ := orgIfReadsAhead(tx, tenant); b != nil {
			// One request on engines whose reads are round trips.
			prefetch(b.Bucket(bConfig), keyConfig)
			// Every counter (a few hundred keys with their shards), the
			// first keys of the deadline indexes (those past due until the
			// next sweep: few), and 30 days of hourly logins.
			prefetchSeek(b.Bucket(bCounters), nil, 256)
			prefetchSeek(b.Bucket(bInvitationExpiry), nil, 8)
			prefetchSeek(b.Bucket(bSessionExpiry), nil, 8)
			prefetchSeek(b.Bucket(bLogins), hourKey(now.Add(-(30*24-1)*time.Hour)), 30*24)
		}
		cfg, err := db.configOf(tx, tenant, now)
		if err != nil {
			return err
		}
		s.Features.Enabled, s.Features.Total = data.EnabledFeatures(cfg.Features), len(cfg.Features)
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		n := counters(b)
		s.Users.Invited = n[cUsersInvited]
		s.Users.Active = n[cUsersActive]
		s.Users.Revoked = n[cUsersRevoked]
		s.Users.Total = s.Users.Invited + s.Users.Active + s.Users.Revoked
		lapsed := overdue(b.Bucket(bInvitationExpiry), now)
		s.Invitations.Pending = n[cInvPending] - lapsed
		s.Invitations.Expired = n[cInvExpired] + lapsed
		s.Invitations.Accepted = n[cInvAccepted]
		s.Invitations.Cancelled = n[cInvCancelled]
		s.Sessions.Active = n[cSessionsActive] - overdue(b.Bucket(bSessionExpiry), now)
		s.Tickets.Open = n[ticketCounter(data.TicketOpen)]
		s.Tickets.Pending = n[ticketCounter(data.TicketPending)]
		s.Tickets.Solved = n[ticketCounter(data.TicketSolved)]
		s.Tickets.Closed = n[ticketCounter(data.TicketClosed)]
		logins := loginsSince(b, now, 23*time.Hour, (7*24-1)*time.Hour, (30*24-1)*time.Hour)
		s.Logins.Last24h, s.Logins.Last7d, s.Logins.Last30d = logins[0], logins[1], logins[2]
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
