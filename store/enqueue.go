package store

import (
	"context"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
)

// Enqueue writes msg to the outbox on its own (the portal's changes enqueue
// within their own transactions) and returns it as stored, with its ID set.
func (db *DB) Enqueue(ctx context.Context, msg data.OutboxMessage) (data.OutboxMessage, error) {
	var stored data.OutboxMessage
	err := db.write(ctx, func(tx *bbolt.Tx) error {
		// write may run this more than once: take a fresh ID and time each run.
		// This mirrors enqueue, which does not report the ID it chose.
		now := db.now().UTC()
		stored = msg
		stored.ID = db.ids.New(now)
		stored.CreatedAt, stored.NextAttemptAt = now, now
		return putJSON(tx.Bucket(bOutbox), []byte(stored.ID), stored)
	})
	if err != nil {
		return data.OutboxMessage{}, err
	}
	return stored, nil
}
