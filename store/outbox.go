package store

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
)

// enqueue writes msg to the outbox in the caller's transaction, so a message
// exists exactly when the change that causes it was committed.
func (db *DB) enqueue(tx *bbolt.Tx, now time.Time, msg data.OutboxMessage) (data.OutboxMessage, error) {
	msg.ID = db.ids.New(now)
	msg.CreatedAt, msg.NextAttemptAt = now, now
	return msg, putJSON(tx.Bucket(bOutbox), []byte(msg.ID), msg)
}

// DueMessages returns up to limit outbox messages whose next attempt is due
// at now, oldest first.
func (db *DB) DueMessages(ctx context.Context, now time.Time, limit int) ([]data.OutboxMessage, error) {
	var out []data.OutboxMessage
	err := db.read(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var m data.OutboxMessage
			if err := jsonDecode(v, &m); err != nil {
				return fmt.Errorf("outbox %s: %w", k, err)
			}
			if !m.NextAttemptAt.After(now) {
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}

// NextDue returns when the earliest outbox message is due, and false when
// the outbox is empty.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	found := false
	err := db.read(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
			var m data.OutboxMessage
			if err := jsonDecode(v, &m); err != nil {
				return fmt.Errorf("outbox %s: %w", k, err)
			}
			if !found || m.NextAttemptAt.Before(next) {
				next, found = m.NextAttemptAt, true
			}
			return nil
		})
	})
	return next, found, err
}

// OutboxDepth counts the messages not yet delivered.
func (db *DB) OutboxDepth(ctx context.Context) (int, error) {
	n := 0
	err := db.read(ctx, func(tx *bbolt.Tx) error {
		n = tx.Bucket(bOutbox).Stats().KeyN
		return nil
	})
	return n, err
}

// MessageSent removes a delivered message and records the delivery on its
// invitation, if it has one.
func (db *DB) MessageSent(ctx context.Context, id string, at time.Time) error {
	return db.write(ctx, func(tx *bbolt.Tx) error {
		var m data.OutboxMessage
		ok, err := getJSON(tx.Bucket(bOutbox), []byte(id), &m)
		if err != nil || !ok {
			return err // already handled: nothing to do
		}
		if err := tx.Bucket(bOutbox).Delete([]byte(id)); err != nil {
			return err
		}
		return updateDelivery(tx, m, func(d *data.Delivery) {
			d.Status, d.Attempts, d.LastError, d.SentAt = data.DeliverySent, m.Attempts+1, "", &at
		})
	})
}

// MessageFailed records a failed attempt. With next zero the message is
// given up on and removed; otherwise it is retried at next.
func (db *DB) MessageFailed(ctx context.Context, id, reason string, next time.Time) error {
	return db.write(ctx, func(tx *bbolt.Tx) error {
		var m data.OutboxMessage
		ok, err := getJSON(tx.Bucket(bOutbox), []byte(id), &m)
		if err != nil || !ok {
			return err
		}
		m.Attempts++
		m.LastError = reason
		if next.IsZero() {
			if err := tx.Bucket(bOutbox).Delete([]byte(id)); err != nil {
				return err
			}
		} else {
			m.NextAttemptAt = next
			if err := putJSON(tx.Bucket(bOutbox), []byte(id), m); err != nil {
				return err
			}
		}
		status := data.DeliveryQueued
		if next.IsZero() {
			status = data.DeliveryFailed
		}
		return updateDelivery(tx, m, func(d *data.Delivery) {
			d.Status, d.Attempts, d.LastError = status, m.Attempts, reason
		})
	})
}

// updateDelivery changes the delivery state of m's invitation, if m is for
// one that still exists.
func updateDelivery(tx *bbolt.Tx, m data.OutboxMessage, change func(*data.Delivery)) error {
	if m.InvitationID == "" {
		return nil
	}
	b := tx.Bucket(bOrgs).Bucket([]byte(m.Tenant))
	if b == nil {
		return nil
	}
	var inv data.Invitation
	ok, err := getJSON(b.Bucket(bInvitations), []byte(m.InvitationID), &inv)
	if err != nil || !ok {
		return err
	}
	change(&inv.Delivery)
	return putJSON(b.Bucket(bInvitations), []byte(inv.ID), inv)
}
