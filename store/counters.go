package store

import (
	"bytes"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// Counter names. They are kept in the same transactions as the records
// they count, so stats never need to scan records.
const (
	cUsersInvited   = "users.invited"
	cUsersActive    = "users.active"
	cUsersRevoked   = "users.revoked"
	cInvPending     = "invitations.pending"
	cInvAccepted    = "invitations.accepted"
	cInvExpired     = "invitations.expired"
	cInvCancelled   = "invitations.cancelled"
	cSessionsActive = "sessions.active"
)

func userCounter(s data.UserStatus) string { return "users." + string(s) }

func invitationCounter(s data.InvitationStatus) string { return "invitations." + string(s) }

// bump adds delta to counter name.
func bump(b kv.Bucket, name string, delta int64) error {
	c := b.Bucket(bCounters)
	return c.Put(bytesOf(name), itob(btoi(c.Get(bytesOf(name)))+delta))
}

func counter(b kv.Bucket, name string) int64 {
	return btoi(b.Bucket(bCounters).Get(bytesOf(name)))
}

// hourKey names the login bucket of t's UTC hour.
func hourKey(t time.Time) []byte { return bytesOf(t.UTC().Format("2006010215")) }

// countLogin adds one login at now.
func countLogin(b kv.Bucket, now time.Time) error {
	l := b.Bucket(bLogins)
	k := hourKey(now)
	return l.Put(k, itob(btoi(l.Get(k))+1))
}

// loginsSince sums the hourly login buckets from since's hour on: at most
// 721 keys whatever the number of users.
func loginsSince(b kv.Bucket, since time.Time) int64 {
	var n int64
	c := b.Bucket(bLogins).Cursor()
	for k, v := c.Seek(hourKey(since)); k != nil; k, v = c.Next() {
		n += btoi(v)
	}
	return n
}

// overdue counts the keys of a time index (key = 8-byte time, then id) at
// or before now: records whose time has passed but that the sweeper has
// not yet handled. The sweeper runs every few seconds, so this is short.
func overdue(idx kv.Bucket, now time.Time) int64 {
	var n int64
	limit := timeKey(now, "\xff")
	c := idx.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, limit) <= 0; k, _ = c.Next() {
		n++
	}
	return n
}
