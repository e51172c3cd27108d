package store

import (
	"bytes"

	"github.com/salesos/portal/data"
)

// outboxDue checks the due index (schema 3): every outbox message that
// decodes has exactly its key, under its organization and at its next
// attempt, and every key is such a message's.
func (c *checker) outboxDue() {
	if c.r.Schema < 3 {
		return // an older file: a server builds the index when it opens it
	}
	due, box := c.tx.Bucket(bOutboxDue), c.tx.Bucket(bOutbox)
	if due == nil {
		c.add(BreachFile, "", "outbox_due", "", "top-level bucket is missing")
		return
	}
	_ = box.ForEach(func(k, v []byte) error {
		var m data.OutboxMessage
		if v == nil || jsonDecode(v, &m) != nil {
			return nil // reported by outbox
		}
		key := timeKey(m.NextAttemptAt, string(k))
		if b := due.Bucket(dueBucket(m.Tenant)); b == nil || b.Get(key) == nil {
			c.add(BreachIndex, m.Tenant, "outbox_due", timeKeyString(key), "is missing for outbox message %s", printable(k))
		}
		return nil
	})
	_ = due.ForEach(func(name, v []byte) error {
		tenant := data.TenantID(name)
		if bytes.Equal(name, dueBucket("")) {
			tenant = ""
		}
		if v != nil {
			c.add(BreachIndex, "", "outbox_due", printable(name), "is a value, not an organization bucket")
			return nil
		}
		// An organization's bucket stays when its last message leaves
		// (removing it would make every delivery read the whole bucket,
		// which on etcd collides with every message queued meanwhile).
		b := due.Bucket(name)
		return b.ForEach(func(k, v []byte) error {
			c.r.Records["outbox_due"]++
			if len(k) <= 8 || len(v) != 0 || b.Bucket(k) != nil {
				c.add(BreachIndex, tenant, "outbox_due", printable(k), "is not a time key")
				return nil
			}
			id := k[8:]
			var m data.OutboxMessage
			raw := box.Get(id)
			switch {
			case raw == nil:
				c.add(BreachIndex, tenant, "outbox_due", timeKeyString(k), "points at missing outbox message %s", printable(id))
			case jsonDecode(raw, &m) != nil:
				// reported by outbox
			case m.Tenant != tenant:
				c.add(BreachIndex, tenant, "outbox_due", timeKeyString(k), "points at outbox message %s of organization %q", printable(id), m.Tenant)
			case !bytes.Equal(timeKey(m.NextAttemptAt, string(id)), k):
				c.add(BreachIndex, tenant, "outbox_due", timeKeyString(k), "disagrees with the next attempt %s of outbox message %s",
					m.NextAttemptAt.UTC().Format("2006-01-02T15:04:05.999999999Z"), printable(id))
			}
			return nil
		})
	})
}
