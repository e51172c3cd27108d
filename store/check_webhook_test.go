package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// newWebhookCheckFixture is a closed database where acme has a webhook with
// two deliveries: one pending, one succeeded.
func newWebhookCheckFixture(t *testing.T) (path string, w data.Webhook) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, _, err = db.CreateWebhook(ctx, "acme", "t", data.Webhook{URL: "https://crm.example.com/",
		EventTypes: []string{data.EventPortalConfigUpdated}, Enabled: true}, data.WebhookPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"One", "Two"} {
		if _, err := db.UpdateConfig(ctx, "acme", "t", func(c data.Config) (data.Config, error) {
			c.PortalName = name
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	due, err := db.DueWebhooks(ctx, checkT0, 10, nil)
	if err != nil || len(due) != 1 {
		t.Fatalf("got %d due, %v, want 1 (one per endpoint)", len(due), err)
	}
	d := due[0]
	if _, err := db.RecordWebhookAttempt(ctx, WebhookAttempt{Tenant: d.Tenant, WebhookID: w.ID, DeliveryID: d.Delivery.ID,
		DueAt: *d.Delivery.NextAttemptAt, At: checkT0, OK: true, Code: 200}); err != nil {
		t.Fatal(err)
	}
	return path, w
}

func TestCheck_Webhooks(t *testing.T) {
	t.Parallel()
	path, _ := newWebhookCheckFixture(t)
	r, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Records["webhooks"] != 1 || r.Records["webhook_deliveries"] != 2 || r.Records["webhook_due"] != 1 {
		t.Fatalf("got %v, %v, want no breach, 1 webhook, 2 deliveries and 1 due", r.Breaches, r.Records)
	}
	deliveryOf := func(tx kv.Tx, w data.Webhook, status string) storedDelivery {
		var out storedDelivery
		_ = acme(tx).Bucket(bWebhookDeliveries).Bucket([]byte(w.ID)).ForEach(func(k, v []byte) error {
			var d storedDelivery
			if jsonDecode(v, &d) == nil && d.Status == status {
				out = d
			}
			return nil
		})
		return out
	}
	tests := []struct {
		name   string
		break_ func(tx kv.Tx, w data.Webhook) error
		kind   string
		bucket string
		want   string
	}{
		{"due key of a finished delivery", func(tx kv.Tx, w data.Webhook) error {
			d := deliveryOf(tx, w, data.WebhookSucceeded)
			at := checkT0
			d.NextAttemptAt = &at
			return tx.Bucket(bWebhookDue).Put(webhookDueKey("acme", d.WebhookDelivery), nil)
		}, BreachIndex, "webhook_due", "which is succeeded"},
		{"pending delivery not indexed", func(tx kv.Tx, w data.Webhook) error {
			d := deliveryOf(tx, w, data.WebhookPending)
			return tx.Bucket(bWebhookDue).Delete(webhookDueKey("acme", d.WebhookDelivery))
		}, BreachIndex, "webhook_due", "is missing for pending delivery"},
		{"due key of a missing delivery", func(tx kv.Tx, w data.Webhook) error {
			at := checkT0
			d := data.WebhookDelivery{ID: "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", WebhookID: w.ID, NextAttemptAt: &at}
			return tx.Bucket(bWebhookDue).Put(webhookDueKey("acme", d), nil)
		}, BreachIndex, "webhook_due", "missing delivery"},
		{"deliveries of a missing webhook", func(tx kv.Tx, w data.Webhook) error {
			return acme(tx).Bucket(bWebhooks).Delete([]byte(w.ID))
		}, BreachIndex, "webhook_deliveries", "missing webhook"},
		{"unknown status", func(tx kv.Tx, w data.Webhook) error {
			d := deliveryOf(tx, w, data.WebhookSucceeded)
			d.Status = "lost"
			return putDelivery(acme(tx).Bucket(bWebhookDeliveries), d)
		}, BreachRecord, "webhook_deliveries", "status"},
		{"delivery counter off", func(tx kv.Tx, w data.Webhook) error {
			return bump(acme(tx), webhookDeliveryCounter(w.ID), 1)
		}, BreachCounter, "counters", "a recount finds 2"},
		{"webhook without a secret", func(tx kv.Tx, w data.Webhook) error {
			return putJSON(acme(tx).Bucket(bWebhooks), []byte(w.ID), storedWebhook{Webhook: w})
		}, BreachRecord, "webhooks", "no signing secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, w := newWebhookCheckFixture(t)
			mutate(t, path, func(tx kv.Tx) error { return tt.break_(tx, w) })
			r, err := Check(path)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, b := range r.Breaches {
				if b.Kind == tt.kind && b.Bucket == tt.bucket && strings.Contains(b.Problem, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("got breaches %v, want a %s breach in %s saying %q", r.Breaches, tt.kind, tt.bucket, tt.want)
			}
		})
	}
}

// An event is written with the change that causes it, for each enabled
// webhook that subscribes to it, and not for an internal note.
func TestDB_EnqueueWebhookEvent(t *testing.T) {
	t.Parallel()
	path, _ := newTicketCheckFixture(t) // a ticket with a note and a reply, before any webhook
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	mk := func(enabled bool, events ...string) data.Webhook {
		w, _, err := db.CreateWebhook(ctx, "acme", "t", data.Webhook{URL: "https://crm.example.com/", EventTypes: events, Enabled: enabled}, data.WebhookPolicy{})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	msgs := mk(true, data.EventTicketMessageCreated)
	off := mk(false, data.EventTicketMessageCreated)
	other := mk(true, data.EventUserRemoved)
	p, err := db.Tickets(ctx, "acme", nil, TicketFilter{}, "", 1)
	if err != nil || len(p.Items) != 1 {
		t.Fatal(p, err)
	}
	staff := data.Author{Kind: data.AuthorStaff, ID: "t", Name: "Sam"}
	if _, err := db.AddMessage(ctx, "acme", nil, p.Items[0].ID, NewMessage{Author: staff, Body: "note", Internal: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddMessage(ctx, "acme", nil, p.Items[0].ID, NewMessage{Author: staff, Body: "reply"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		w    data.Webhook
		want int
	}{{msgs, 1}, {off, 0}, {other, 0}} {
		got, err := db.WebhookDeliveries(ctx, "acme", tt.w.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != tt.want {
			t.Errorf("webhook %v: got %d deliveries, want %d", tt.w.EventTypes, len(got.Items), tt.want)
		}
	}
}

// A webhook keeps at most data.MaxWebhookDeliveries deliveries: the oldest
// finished ones go first, pending ones stay.
func TestDB_KeepDeliveries(t *testing.T) {
	t.Parallel()
	path, w := newWebhookCheckFixture(t) // two deliveries: the older succeeded, the newer pending
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var oldest []string
	err = db.write(ctx, func(tx kv.Tx) error {
		b := acme(tx)
		_, deliveries, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		sub := deliveries.Bucket([]byte(w.ID))
		// Add failed ones after the two, up to the bound.
		c := sub.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			oldest = append(oldest, string(k))
		}
		for i := 2; i < data.MaxWebhookDeliveries; i++ {
			d := storedDelivery{WebhookDelivery: data.WebhookDelivery{ID: db.ids.New(checkT0.Add(time.Duration(i) * time.Millisecond)),
				WebhookID: w.ID, Status: data.WebhookFailed}}
			if err := putDelivery(deliveries, d); err != nil {
				return err
			}
			if err := bump(b, webhookDeliveryCounter(w.ID), 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateConfig(ctx, "acme", "t", func(c data.Config) (data.Config, error) {
		c.PortalName = "Three"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	var kept map[string]bool
	_ = db.read(ctx, func(tx kv.Tx) error {
		kept = map[string]bool{}
		_ = acme(tx).Bucket(bWebhookDeliveries).Bucket([]byte(w.ID)).ForEach(func(k, _ []byte) error {
			n++
			kept[string(k)] = true
			return nil
		})
		return nil
	})
	if n != data.MaxWebhookDeliveries {
		t.Errorf("got %d deliveries, want %d", n, data.MaxWebhookDeliveries)
	}
	// oldest[0] succeeded and goes; oldest[1] is pending and stays.
	if kept[oldest[0]] || !kept[oldest[1]] {
		t.Errorf("got the succeeded one kept %t and the pending one kept %t, want false and true", kept[oldest[0]], kept[oldest[1]])
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Check(path)
	if err != nil || !r.OK() {
		t.Fatalf("check: %v, %v", r.Breaches, err)
	}
}
