package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// bOutboxDue indexes the outbox by next attempt, one bucket per
// organization: outbox_due/<org>/<nextAttemptAt><id> -> nil. An
// organization's bucket exists only while it has queued mail, so finding
// due work reads one short bucket per organization with mail waiting and
// the due keys themselves, however long the outbox has grown. Schema 3.
var bOutboxDue = []byte("outbox_due")

// enqueue writes msg to the outbox in the caller's transaction, so a message
// exists exactly when the change that causes it was committed.
func (db *DB) enqueue(tx kv.Tx, now time.Time, msg data.OutboxMessage) (data.OutboxMessage, error) {
	msg.ID = db.ids.New(now)
	msg.CreatedAt, msg.NextAttemptAt = now, now
	if err := putJSON(tx.Bucket(bOutbox), bytesOf(msg.ID), msg); err != nil {
		return data.OutboxMessage{}, err
	}
	return msg, indexDue(tx, msg)
}

// dueBucket names an organization's bucket in the due index. bbolt has no
// empty bucket name, so a message of no organization (none the portal
// makes) is kept under a name no organization can have.
func dueBucket(tenant data.TenantID) []byte {
	if tenant == "" {
		return []byte{0}
	}
	return bytesOf(tenant)
}

// dueKey is m's key in its organization's due index.
func dueKey(m data.OutboxMessage) []byte { return timeKey(m.NextAttemptAt, m.ID) }

// indexDue adds m to the due index.
func indexDue(tx kv.Tx, m data.OutboxMessage) error {
	b, err := tx.Bucket(bOutboxDue).CreateBucketIfNotExists(dueBucket(m.Tenant))
	if err != nil {
		return err
	}
	setFill(b) // keys are times: new ones mostly arrive at the end
	return b.Put(dueKey(m), nil)
}

// unindexDue removes m from the due index. It reads and writes that one
// key, so recording a delivery does not collide with messages queued
// meanwhile on an engine with optimistic transactions; the organization's
// bucket stays when it empties.
func unindexDue(tx kv.Tx, m data.OutboxMessage) error {
	b := tx.Bucket(bOutboxDue).Bucket(dueBucket(m.Tenant))
	if b == nil {
		return nil
	}
	return b.Delete(dueKey(m))
}

// deleteOutbox removes a queued message by ID, with its index entry. A
// message already sent or given up on is gone, and an empty ID names none:
// both are no-ops.
func deleteOutbox(tx kv.Tx, id string) error {
	if id == "" {
		return nil
	}
	var m data.OutboxMessage
	ok, err := getJSON(tx.Bucket(bOutbox), bytesOf(id), &m)
	if err != nil || !ok {
		return err
	}
	if err := tx.Bucket(bOutbox).Delete(bytesOf(id)); err != nil {
		return err
	}
	return unindexDue(tx, m)
}

// DueMessages returns up to limit outbox messages whose next attempt is due
// at now, taking them in turn from each organization with mail due (each
// organization's oldest first), so that one organization's backlog does not
// hold back the others'.
func (db *DB) DueMessages(ctx context.Context, now time.Time, limit int) ([]data.OutboxMessage, error) {
	return db.DueMessagesAfter(ctx, now, limit, "", nil)
}

// DueMessagesAfter is DueMessages starting with the first organization
// after the named one (wrapping around), so that a caller that passes the
// organization it took last from serves every organization in turn even when
// more have mail due than limit. It passes over the messages for which skip
// (if not nil) returns true, such as those the caller already holds, reading
// their keys but decoding only what it returns.
func (db *DB) DueMessagesAfter(ctx context.Context, now time.Time, limit int, after data.TenantID, skip func(id string) bool) ([]data.OutboxMessage, error) {
	var out []data.OutboxMessage
	err := db.read(ctx, func(tx kv.Tx) error {
		out = nil
		ids, err := dueIDs(tx, now, limit, after, skip)
		if err != nil {
			return err
		}
		box := tx.Bucket(bOutbox)
		for _, id := range ids {
			var m data.OutboxMessage
			ok, err := getJSON(box, id, &m)
			if err != nil {
				return fmt.Errorf("outbox %s: %w", id, err)
			}
			if !ok {
				return fmt.Errorf("outbox_due names missing message %s", id)
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// dueIDs takes up to limit due IDs from the due index, one organization at
// a time in turn, starting after the organization after.
func dueIDs(tx kv.Tx, now time.Time, limit int, after data.TenantID, skip func(id string) bool) ([][]byte, error) {
	if limit <= 0 {
		return nil, nil
	}
	end := timeKey(now, "\xff")
	due := tx.Bucket(bOutboxDue)
	var cursors []kv.Cursor
	var keys [][]byte
	first := 0 // the first organization after after
	err := due.ForEachBucket(func(name []byte) error {
		c := due.Bucket(name).Cursor()
		if k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0 {
			if string(name) <= string(after) {
				first = len(cursors) + 1
			}
			cursors = append(cursors, c)
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if first < len(cursors) {
		cursors = slices.Concat(cursors[first:], cursors[:first])
		keys = slices.Concat(keys[first:], keys[:first])
	}
	var ids [][]byte
	for len(cursors) > 0 && len(ids) < limit {
		live := cursors[:0]
		liveKeys := keys[:0]
		for i, c := range cursors {
			k := keys[i]
			for skip != nil && k != nil && len(k) > 8 && bytes.Compare(k, end) <= 0 && skip(string(k[8:])) {
				k, _ = c.Next()
			}
			if k == nil || bytes.Compare(k, end) > 0 {
				continue // nothing more due in this organization
			}
			if len(k) <= 8 {
				return nil, fmt.Errorf("outbox_due key %x is too short", k)
			}
			if len(ids) < limit {
				ids = append(ids, append([]byte(nil), k[8:]...))
			}
			k, _ = c.Next()
			live = append(live, c)
			liveKeys = append(liveKeys, k)
		}
		cursors, keys = live, liveKeys
	}
	return ids, nil
}

// NextDue returns when the earliest outbox message is due, and false when
// the outbox is empty. It reads the first key of each organization's due
// index.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	found := false
	err := db.read(ctx, func(tx kv.Tx) error {
		next, found = time.Time{}, false
		due := tx.Bucket(bOutboxDue)
		return due.ForEachBucket(func(name []byte) error {
			k, _ := due.Bucket(name).Cursor().First()
			if len(k) < 8 {
				return nil
			}
			if t := keyTime(k); !found || t.Before(next) {
				next, found = t, true
			}
			return nil
		})
	})
	return next, found, err
}

// keyTime is the time a timeKey starts with.
func keyTime(k []byte) time.Time {
	return time.Unix(0, btoi(k[:8])).UTC()
}

// indexOutbox is migration 2 -> 3: it builds the due index of the messages
// already queued.
func indexOutbox(tx kv.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bOutboxDue); err != nil {
		return err
	}
	return tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
		var m data.OutboxMessage
		if jsonDecode(v, &m) != nil {
			return nil // no sender could read it either; check reports it
		}
		m.ID = string(k)
		return indexDue(tx, m)
	})
}

// OutboxDepth counts the messages not yet delivered.
func (db *DB) OutboxDepth(ctx context.Context) (int, error) {
	n := 0
	err := db.read(ctx, func(tx kv.Tx) error {
		n = tx.Bucket(bOutbox).KeyN()
		return nil
	})
	return n, err
}

// Attempt is the outcome of one delivery attempt, for RecordAttempts.
type Attempt struct {
	// ID names the message.
	ID string
	// SentAt, when not zero, says the message was delivered then.
	SentAt time.Time
	// Reason is why an undelivered message failed.
	Reason string
	// Next is when a failed message is tried again; zero gives it up.
	Next time.Time
}

// RecordAttempts records the outcomes of several delivery attempts in one
// commit: a delivered message, or one given up on, leaves the outbox and its
// invitation shows the outcome; a failed one waits for its next attempt. A
// message that is gone meanwhile (its invitation was cancelled) is passed
// over. Callers record a delivery only after the server accepted it, so a
// crash before the commit sends the batch again rather than losing it.
func (db *DB) RecordAttempts(ctx context.Context, attempts []Attempt) error {
	// An attempt reads and writes its message, its due entry and its
	// invitation: on an engine that bounds a transaction, the batch is
	// recorded in several (each attempt once; a crash between them sends
	// only the unrecorded ones again).
	per := db.perTx(len(attempts), 8)
	for start := 0; start < len(attempts); start += per {
		chunk := attempts[start:min(start+per, len(attempts))]
		err := db.write(ctx, func(tx kv.Tx) error {
			for _, a := range chunk {
				if err := recordAttempt(tx, a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// MessageSent removes a delivered message and records the delivery on its
// invitation, if it has one.
func (db *DB) MessageSent(ctx context.Context, id string, at time.Time) error {
	return db.RecordAttempts(ctx, []Attempt{{ID: id, SentAt: at}})
}

// MessageFailed records a failed attempt. With next zero the message is
// given up on and removed; otherwise it is retried at next.
func (db *DB) MessageFailed(ctx context.Context, id, reason string, next time.Time) error {
	return db.RecordAttempts(ctx, []Attempt{{ID: id, Reason: reason, Next: next}})
}

// recordAttempt is one attempt of RecordAttempts.
func recordAttempt(tx kv.Tx, a Attempt) error {
	box := tx.Bucket(bOutbox)
	var m data.OutboxMessage
	ok, err := getJSON(box, bytesOf(a.ID), &m)
	if err != nil || !ok {
		return err // already handled: nothing to do
	}
	if err := unindexDue(tx, m); err != nil {
		return err
	}
	m.Attempts++
	if !a.SentAt.IsZero() {
		if err := box.Delete(bytesOf(a.ID)); err != nil {
			return err
		}
		at := a.SentAt
		return updateDelivery(tx, m, func(d *data.Delivery) {
			d.Status, d.Attempts, d.LastError, d.SentAt = data.DeliverySent, m.Attempts, "", &at
		})
	}
	m.LastError = a.Reason
	status := data.DeliveryQueued
	if a.Next.IsZero() {
		status = data.DeliveryFailed
		if err := box.Delete(bytesOf(a.ID)); err != nil {
			return err
		}
	} else {
		m.NextAttemptAt = a.Next
		if err := putJSON(box, bytesOf(a.ID), m); err != nil {
			return err
		}
		if err := indexDue(tx, m); err != nil {
			return err
		}
	}
	return updateDelivery(tx, m, func(d *data.Delivery) {
		d.Status, d.Attempts, d.LastError = status, m.Attempts, a.Reason
	})
}

// updateDelivery changes the delivery state of m's invitation, if m is for
// one that still exists.
func updateDelivery(tx kv.Tx, m data.OutboxMessage, change func(*data.Delivery)) error {
	if m.InvitationID == "" {
		return nil
	}
	b := tx.Bucket(bOrgs).Bucket(bytesOf(m.Tenant))
	if b == nil {
		return nil
	}
	var inv data.Invitation
	ok, err := getJSON(b.Bucket(bInvitations), bytesOf(m.InvitationID), &inv)
	if err != nil || !ok {
		return err
	}
	change(&inv.Delivery)
	return putJSON(b.Bucket(bInvitations), bytesOf(inv.ID), inv)
}
