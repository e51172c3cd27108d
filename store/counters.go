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
//
// On bbolt, which runs one write at a time, the counter is one key. On an
// engine with optimistic transactions (etcd) every write of an
// organization that bumped that one key would conflict with every other
// running at the same time, and all but one would run again. There (a
// kv.Spreader) a bump adds to one of counterShards keys beside it (name,
// 0x00, shard), picked by the transaction's spread number, and counter sums
// them. A counter's shard keys are never written by bbolt, but portal
// migrate copies them with the rest, so every engine reads them.
func bump(b kv.Bucket, name string, delta int64) error {
	c := b.Bucket(bCounters)
	key := counterKey(c, name)
	return c.Put(key, itob(btoi(c.Get(key))+delta))
}

// counterKey is the key a bump of counter name writes in counters bucket c.
func counterKey(c kv.Bucket, name string) []byte {
	if s, ok := c.(kv.Spreader); ok {
		return shardKey(name, byte(s.Spread()%counterShards))
	}
	return bytesOf(name)
}

// prefetchBumps announces the reads of bumps of the named counters.
func prefetchBumps(b kv.Bucket, names ...string) {
	c := b.Bucket(bCounters)
	if p, ok := c.(kv.Prefetcher); ok {
		keys := make([][]byte, len(names))
		for i, name := range names {
			keys[i] = counterKey(c, name)
		}
		p.Prefetch(keys...)
	}
}

// counterShards is how many keys a counter spreads over on engines with
// optimistic transactions: more than the writes one process runs at once.
const counterShards = 64

func shardKey(name string, shard byte) []byte {
	return append(append([]byte(name), 0x00), shard)
}

// counter reads counter name: its key and its shards' keys.
func counter(b kv.Bucket, name string) int64 {
	return counterIn(b.Bucket(bCounters), name)
}

func counterIn(c kv.Bucket, name string) int64 {
	n := btoi(c.Get(bytesOf(name)))
	p := shardKey(name, 0)[:len(name)+1]
	cur := c.Cursor()
	for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
		n += btoi(v)
	}
	return n
}

// counters reads every counter of an organization in one walk of its
// counters, shards summed.
func counters(b kv.Bucket) map[string]int64 {
	out := map[string]int64{}
	_ = b.Bucket(bCounters).ForEach(func(k, v []byte) error {
		if i := bytes.IndexByte(k, 0x00); i >= 0 {
			k = k[:i]
		}
		out[string(k)] += btoi(v)
		return nil
	})
	return out
}

// dropCounter deletes counter name and its shards.
func dropCounter(b kv.Bucket, name string) error {
	c := b.Bucket(bCounters)
	if err := c.Delete(bytesOf(name)); err != nil {
		return err
	}
	p := shardKey(name, 0)[:len(name)+1]
	var keys [][]byte
	cur := c.Cursor()
	for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := c.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// hourKey names the login bucket of t's UTC hour.
func hourKey(t time.Time) []byte { return bytesOf(t.UTC().Format("2006010215")) }

// countLogin adds one login at now.
func countLogin(b kv.Bucket, now time.Time) error {
	l := b.Bucket(bLogins)
	k := hourKey(now)
	return l.Put(k, itob(btoi(l.Get(k))+1))
}

// loginsSince sums the hourly login buckets from the hour of now less each
// of backs on, in one walk from the earliest: at most 721 keys whatever the
// number of users.
func loginsSince(b kv.Bucket, now time.Time, backs ...time.Duration) []int64 {
	out := make([]int64, len(backs))
	if len(backs) == 0 {
		return out
	}
	from := make([][]byte, len(backs))
	earliest := 0
	for i, d := range backs {
		from[i] = hourKey(now.Add(-d))
		if bytes.Compare(from[i], from[earliest]) < 0 {
			earliest = i
		}
	}
	c := b.Bucket(bLogins).Cursor()
	for k, v := c.Seek(from[earliest]); k != nil; k, v = c.Next() {
		for i := range from {
			if bytes.Compare(k, from[i]) >= 0 {
				out[i] += btoi(v)
			}
		}
	}
	return out
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
