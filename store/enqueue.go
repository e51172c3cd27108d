package store

import (
	"context"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// Enqueue writes msg to the outbox on its own (the portal's changes enqueue
// within their own transactions) and returns it as stored, with its ID set.
func (db *DB) Enqueue(ctx context.Context, msg data.OutboxMessage) (data.OutboxMessage, error) {
	var stored data.OutboxMessage
	err := db.write(ctx, func(tx kv.Tx) error {
		var err error
		stored, err = db.enqueue(tx, db.Now(), msg)
		return err
	})
	if err != nil {
		return data.OutboxMessage{}, err
	}
	return stored, nil
}
