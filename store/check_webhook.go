package store

// Webhooks and their deliveries: each webhook under its own ID with a
// secret, at most data.MaxWebhooks of them; each delivery under its
// webhook's bucket and its own ID, with a known status; a pending delivery
// has a next attempt and exactly its key in webhook_due, a finished one
// neither; the webhook_deliveries.<id> counter equals a recount; and every
// webhook_due key is a pending delivery's.

import (
	"strings"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

func (o orgCheck) webhooks() {
	hooks, deliveries := o.b["webhooks"], o.b["webhook_deliveries"]
	due := o.tx.Bucket(bWebhookDue)
	known := map[string]bool{}
	if hooks != nil {
		n := 0
		_ = hooks.ForEach(func(k, v []byte) error {
			o.r.Records["webhooks"]++
			n++
			var w storedWebhook
			if !o.decode("webhooks", k, v, &w) {
				return nil
			}
			switch {
			case w.ID != string(k):
				o.add(BreachRecord, o.org, "webhooks", printable(k), "holds webhook %s", w.ID)
			case !strings.HasPrefix(w.Secret, data.WebhookSecretPrefix):
				o.add(BreachRecord, o.org, "webhooks", w.ID, "has no signing secret")
			default:
				known[w.ID] = true
			}
			return nil
		})
		if n > data.MaxWebhooks {
			o.add(BreachRecord, o.org, "webhooks", "", "holds %d webhooks, more than %d", n, data.MaxWebhooks)
		}
	}
	if deliveries == nil {
		return
	}
	_ = deliveries.ForEach(func(name, v []byte) error {
		if v != nil {
			o.add(BreachRecord, o.org, "webhook_deliveries", printable(name), "is a value, not a webhook's bucket")
			return nil
		}
		if !known[string(name)] && (hooks == nil || hooks.Get(name) == nil) {
			o.add(BreachIndex, o.org, "webhook_deliveries", printable(name), "belongs to missing webhook")
		}
		sub := deliveries.Bucket(name)
		n := int64(0)
		defer func() { o.counterIs(webhookDeliveryCounter(string(name)), n) }()
		return sub.ForEach(func(k, v []byte) error {
			o.r.Records["webhook_deliveries"]++
			n++
			var d storedDelivery
			where := printable(name) + "/" + printable(k)
			if !o.decode("webhook_deliveries", name, v, &d) {
				return nil
			}
			switch {
			case d.ID != string(k) || d.WebhookID != string(name):
				o.add(BreachRecord, o.org, "webhook_deliveries", where, "holds delivery %s of webhook %s", d.ID, d.WebhookID)
			case d.Status == data.WebhookPending:
				if d.NextAttemptAt == nil {
					o.add(BreachRecord, o.org, "webhook_deliveries", where, "is pending without a next attempt")
				} else if due == nil || due.Get(webhookDueKey(o.org, d.WebhookDelivery)) == nil {
					o.add(BreachIndex, o.org, "webhook_due", timeKeyString(webhookDueKey(o.org, d.WebhookDelivery)), "is missing for pending delivery %s", where)
				}
			case d.Status == data.WebhookSucceeded || d.Status == data.WebhookFailed:
				if d.NextAttemptAt != nil {
					o.add(BreachRecord, o.org, "webhook_deliveries", where, "is %s with a next attempt", d.Status)
				}
			default:
				o.add(BreachRecord, o.org, "webhook_deliveries", where, "has status %q", d.Status)
			}
			return nil
		})
	})
}

// webhookDue checks that every key of the global due index is a pending
// delivery's, at its next attempt.
func (c *checker) webhookDue() {
	due := c.tx.Bucket(bWebhookDue)
	if due == nil {
		return // made by the first event queued
	}
	_ = due.ForEach(func(k, v []byte) error {
		c.r.Records["webhook_due"]++
		at, tenant, webhookID, id, ok := splitWebhookDueKey(k)
		if !ok || len(v) != 0 || due.Bucket(k) != nil {
			c.add(BreachIndex, "", "webhook_due", printable(k), "is not a time key of org, webhook and delivery")
			return nil
		}
		where := timeKeyString(k)
		b := c.tx.Bucket(bOrgs).Bucket(bytesOf(tenant))
		if b == nil {
			c.add(BreachIndex, tenant, "webhook_due", where, "points at a missing organization")
			return nil
		}
		var sub kv.Bucket
		if deliveries := b.Bucket(bWebhookDeliveries); deliveries != nil {
			sub = deliveries.Bucket(bytesOf(webhookID))
		}
		var d storedDelivery
		switch ok, err := getJSON(sub, bytesOf(id), &d); {
		case err != nil:
			// reported by the organization's check
		case !ok:
			c.add(BreachIndex, tenant, "webhook_due", where, "points at missing delivery %s/%s", webhookID, id)
		case d.Status != data.WebhookPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(at):
			c.add(BreachIndex, tenant, "webhook_due", where, "points at delivery %s/%s, which is %s", webhookID, id, d.Status)
		}
		return nil
	})
}
