package store

// Outbound webhooks live in the organization's buckets, made on first use:
//
//	orgs/<org>/webhooks/<id>                        -> storedWebhook (the webhook and its secrets)
//	orgs/<org>/webhook_deliveries/<webhookId>/<id>  -> storedDelivery (one event for one webhook)
//
// and one global index of the deliveries still to attempt, also made on
// first use:
//
//	webhook_due/<nextAttemptAt><org> 0x00 <webhookId> 0x00 <deliveryId> -> nil
//
// An event is written by enqueueWebhookEvent in the transaction of the
// change that causes it, one delivery per enabled webhook that subscribes to
// its type, so a delivery exists exactly when its change was committed and
// survives a crash. The delivery worker (package webhook) finds due work by
// reading the index from its start, never the deliveries themselves, and
// records each attempt with RecordWebhookAttempt. This queue is apart from
// the email outbox: a dead endpoint holds back neither mail nor another
// endpoint.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

var (
	bWebhooks          = []byte("webhooks")
	bWebhookDeliveries = []byte("webhook_deliveries")
	bWebhookDue        = []byte("webhook_due")
)

const (
	// WebhookRetryWindow is how long a delivery is retried before it is
	// marked failed.
	WebhookRetryWindow = 72 * time.Hour
	// WebhookSecretGrace is how long deliveries are signed with a rotated
	// secret as well as the new one, so receivers can switch over.
	WebhookSecretGrace = 24 * time.Hour
	// maxWebhookError bounds the failure reason kept on a delivery.
	maxWebhookError = 300
)

// storedWebhook is a webhook as stored: the API's record and its secrets.
type storedWebhook struct {
	data.Webhook
	Secret         string `json:"secret"`
	PreviousSecret string `json:"previousSecret,omitempty"`
}

// storedDelivery is a delivery as stored: the API's record, the exact body
// every attempt sends, and when retries end.
type storedDelivery struct {
	data.WebhookDelivery
	Body     string    `json:"body"`
	GiveUpAt time.Time `json:"giveUpAt"`
}

// webhookEvent is the body of every delivery, as the Standard Webhooks
// specification suggests: the type, when it happened and its data.
type webhookEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// NewWebhookSecret returns a fresh signing secret: whsec_ and the base64
// of data.WebhookSecretBytes random bytes.
func NewWebhookSecret() (string, error) {
	b := make([]byte, data.WebhookSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return data.WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// webhookBuckets returns the organization's webhook buckets, creating them
// in a write transaction; in a read they may be nil.
func webhookBuckets(b kv.Bucket) (hooks, deliveries kv.Bucket, err error) {
	if b == nil {
		return nil, nil, nil
	}
	if !b.Writable() {
		return b.Bucket(bWebhooks), b.Bucket(bWebhookDeliveries), nil
	}
	if hooks, err = b.CreateBucketIfNotExists(bWebhooks); err != nil {
		return nil, nil, err
	}
	if deliveries, err = b.CreateBucketIfNotExists(bWebhookDeliveries); err != nil {
		return nil, nil, err
	}
	setFill(hooks)
	return hooks, deliveries, nil
}

func getWebhook(hooks kv.Bucket, id string) (storedWebhook, error) {
	var w storedWebhook
	ok, err := getJSON(hooks, bytesOf(id), &w)
	if err != nil {
		return w, err
	}
	if !ok {
		return w, fmt.Errorf("webhook %s: %w", id, data.ErrNotFound)
	}
	return w, nil
}

// webhookDueKey is a pending delivery's key in the due index.
func webhookDueKey(tenant data.TenantID, d data.WebhookDelivery) []byte {
	return timeKey(*d.NextAttemptAt, string(tenant)+"\x00"+d.WebhookID+"\x00"+d.ID)
}

// splitWebhookDueKey reads a due index key.
func splitWebhookDueKey(k []byte) (at time.Time, tenant data.TenantID, webhookID, id string, ok bool) {
	if len(k) <= 8 {
		return time.Time{}, "", "", "", false
	}
	parts := strings.Split(string(k[8:]), "\x00")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return time.Time{}, "", "", "", false
	}
	return keyTime(k), data.TenantID(parts[0]), parts[1], parts[2], true
}

func indexWebhookDue(tx kv.Tx, tenant data.TenantID, d data.WebhookDelivery) error {
	due, err := tx.CreateBucketIfNotExists(bWebhookDue)
	if err != nil {
		return err
	}
	setFill(due)
	return due.Put(webhookDueKey(tenant, d), nil)
}

func unindexWebhookDue(tx kv.Tx, tenant data.TenantID, d data.WebhookDelivery) error {
	due := tx.Bucket(bWebhookDue)
	if due == nil || d.NextAttemptAt == nil {
		return nil
	}
	return due.Delete(webhookDueKey(tenant, d))
}

// putDelivery writes d under its webhook.
func putDelivery(deliveries kv.Bucket, d storedDelivery) error {
	sub, err := deliveries.CreateBucketIfNotExists(bytesOf(d.WebhookID))
	if err != nil {
		return err
	}
	setFill(sub) // ULID keys: new ones arrive at the end
	return putJSON(sub, bytesOf(d.ID), d)
}

func getDelivery(deliveries kv.Bucket, webhookID, id string) (storedDelivery, error) {
	var d storedDelivery
	var sub kv.Bucket
	if deliveries != nil {
		sub = deliveries.Bucket(bytesOf(webhookID))
	}
	ok, err := getJSON(sub, bytesOf(id), &d)
	if err != nil {
		return d, err
	}
	if !ok {
		return d, fmt.Errorf("delivery %s: %w", id, data.ErrNotFound)
	}
	return d, nil
}

// enqueueWebhookEvent queues an event of eventType with payload (encoded as
// its "data") for every enabled webhook of the organization that subscribes
// to it, in the caller's transaction: a store method calls it inside its
// own write, so the event is committed with the change or not at all. With
// no such webhook it writes nothing.
func (db *DB) enqueueWebhookEvent(tx kv.Tx, tenant data.TenantID, now time.Time, eventType string, payload any) error {
	if !data.KnownWebhookEvent(eventType) {
		return fmt.Errorf("webhook event type %q is not in the catalogue", eventType)
	}
	b, err := org(tx, tenant)
	if err != nil {
		return err
	}
	if b.Bucket(bWebhooks) == nil {
		return nil
	}
	hooks, deliveries, err := webhookBuckets(b)
	if err != nil {
		return err
	}
	var body []byte
	eventID := ""
	return hooks.ForEach(func(k, v []byte) error {
		var w storedWebhook
		if err := jsonDecode(v, &w); err != nil {
			return fmt.Errorf("decode webhook %s: %w", k, err)
		}
		if !w.Subscribes(eventType) {
			return nil
		}
		if body == nil {
			if body, err = gojson.Marshal(webhookEvent{Type: eventType, Timestamp: now, Data: payload}); err != nil {
				return err
			}
			eventID = "evt_" + db.ids.New(now)
		}
		at := now
		d := storedDelivery{WebhookDelivery: data.WebhookDelivery{ID: db.ids.New(now), WebhookID: w.ID, EventID: eventID,
			EventType: eventType, Status: data.WebhookPending, CreatedAt: now, NextAttemptAt: &at},
			Body: string(body), GiveUpAt: now.Add(WebhookRetryWindow)}
		if err := putDelivery(deliveries, d); err != nil {
			return err
		}
		if err := indexWebhookDue(tx, tenant, d.WebhookDelivery); err != nil {
			return err
		}
		return keepDeliveries(b, deliveries.Bucket(bytesOf(w.ID)), w.ID)
	})
}

// webhookDeliveryCounter names the counter of a webhook's deliveries.
func webhookDeliveryCounter(id string) string { return "webhook_deliveries." + id }

// keepDeliveries counts a new delivery of webhook id and, past
// data.MaxWebhookDeliveries, drops its oldest finished ones, so a webhook's
// history stays bounded however long it lives.
func keepDeliveries(b, sub kv.Bucket, id string) error {
	name := webhookDeliveryCounter(id)
	if err := bump(b, name, 1); err != nil {
		return err
	}
	excess := counter(b, name) - data.MaxWebhookDeliveries
	if excess <= 0 {
		return nil
	}
	var drop [][]byte
	c := sub.Cursor()
	for k, v := c.First(); k != nil && int64(len(drop)) < excess; k, v = c.Next() {
		var d storedDelivery
		if err := jsonDecode(v, &d); err != nil {
			return fmt.Errorf("decode delivery %s: %w", k, err)
		}
		if d.Status != data.WebhookPending {
			drop = append(drop, append([]byte(nil), k...))
		}
	}
	for _, k := range drop {
		if err := sub.Delete(k); err != nil {
			return err
		}
	}
	return bump(b, name, -int64(len(drop)))
}

// CreateWebhook stores w for the organization with a fresh signing secret,
// which it returns: the only time the secret is shown. The organization
// holds at most data.MaxWebhooks webhooks (409 past it).
func (db *DB) CreateWebhook(ctx context.Context, tenant data.TenantID, actor string, w data.Webhook, p data.WebhookPolicy) (data.Webhook, string, error) {
	if err := w.Validate(p); err != nil {
		return data.Webhook{}, "", err
	}
	secret, err := NewWebhookSecret()
	if err != nil {
		return data.Webhook{}, "", err
	}
	var out data.Webhook
	err = db.write(ctx, func(tx kv.Tx) error {
		out = data.Webhook{}
		now := db.Now()
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		hooks, _, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		if hooks.KeyN() >= data.MaxWebhooks {
			return data.Conflict("the organization has " + strconv.Itoa(data.MaxWebhooks) + " webhooks, the most it may have; delete one first")
		}
		nw := w
		nw.ID, nw.CreatedAt, nw.UpdatedAt = db.ids.New(now), now, now
		nw.SecretRotatedAt, nw.PreviousSecretExpiresAt = nil, nil
		if err := putJSON(hooks, bytesOf(nw.ID), storedWebhook{Webhook: nw, Secret: secret}); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "webhook.create", "webhook", nw.ID, nw.URL); err != nil {
			return err
		}
		out = nw
		return nil
	})
	if err != nil {
		return data.Webhook{}, "", err
	}
	return out, secret, nil
}

// Webhooks lists the organization's webhooks, newest first.
func (db *DB) Webhooks(ctx context.Context, tenant data.TenantID, after string, limit int) (Page[data.Webhook], error) {
	var p Page[data.Webhook]
	if limit < 1 || limit > data.MaxWebhookList {
		return p, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxWebhookList))
	}
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[data.Webhook]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		hooks, _, err := webhookBuckets(b)
		if err != nil || hooks == nil {
			return err
		}
		p, err = scanPage[data.Webhook](hooks, after, limit, nil)
		return err
	})
	return p, err
}

// Webhook returns webhook id.
func (db *DB) Webhook(ctx context.Context, tenant data.TenantID, id string) (data.Webhook, error) {
	var w data.Webhook
	err := db.read(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		hooks, _, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		sw, err := getWebhook(hooks, id)
		w = sw.Webhook
		return err
	})
	return w, err
}

// UpdateWebhook applies patch to webhook id. Deliveries already queued keep
// going to the webhook, at its new URL.
func (db *DB) UpdateWebhook(ctx context.Context, tenant data.TenantID, actor, id string, patch data.WebhookPatch, p data.WebhookPolicy) (data.Webhook, error) {
	var out data.Webhook
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Webhook{}
		now := db.Now()
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		hooks, _, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		sw, err := getWebhook(hooks, id)
		if err != nil {
			return err
		}
		next := patch.Apply(sw.Webhook)
		if err := next.Validate(p); err != nil {
			return err
		}
		next.UpdatedAt = now
		sw.Webhook = next
		if err := putJSON(hooks, bytesOf(id), sw); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "webhook.update", "webhook", id, next.URL); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

// DeleteWebhook removes webhook id with its deliveries, queued ones
// included.
func (db *DB) DeleteWebhook(ctx context.Context, tenant data.TenantID, actor, id string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		now := db.Now()
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		hooks, deliveries, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		if _, err := getWebhook(hooks, id); err != nil {
			return err
		}
		if sub := deliveries.Bucket(bytesOf(id)); sub != nil {
			err := sub.ForEach(func(k, v []byte) error {
				var d storedDelivery
				if err := jsonDecode(v, &d); err != nil {
					return fmt.Errorf("decode delivery %s: %w", k, err)
				}
				if d.Status == data.WebhookPending {
					return unindexWebhookDue(tx, tenant, d.WebhookDelivery)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := deliveries.DeleteBucket(bytesOf(id)); err != nil {
				return err
			}
		}
		if err := hooks.Delete(bytesOf(id)); err != nil {
			return err
		}
		if err := dropCounter(b, webhookDeliveryCounter(id)); err != nil {
			return err
		}
		return db.audit(b, now, actor, "webhook.delete", "webhook", id, "webhook deleted")
	})
}

// RotateWebhookSecret gives webhook id a new signing secret, which it
// returns. For WebhookSecretGrace deliveries carry a signature with the old
// secret as well, so a receiver can switch to the new one meanwhile.
func (db *DB) RotateWebhookSecret(ctx context.Context, tenant data.TenantID, actor, id string) (data.Webhook, string, error) {
	secret, err := NewWebhookSecret()
	if err != nil {
		return data.Webhook{}, "", err
	}
	var out data.Webhook
	err = db.write(ctx, func(tx kv.Tx) error {
		out = data.Webhook{}
		now := db.Now()
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		hooks, _, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		sw, err := getWebhook(hooks, id)
		if err != nil {
			return err
		}
		until := now.Add(WebhookSecretGrace)
		sw.PreviousSecret, sw.Secret = sw.Secret, secret
		sw.SecretRotatedAt, sw.PreviousSecretExpiresAt, sw.UpdatedAt = &now, &until, now
		if err := putJSON(hooks, bytesOf(id), sw); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "webhook.rotate_secret", "webhook", id, "signing secret replaced"); err != nil {
			return err
		}
		out = sw.Webhook
		return nil
	})
	if err != nil {
		return data.Webhook{}, "", err
	}
	return out, secret, nil
}

// WebhookDeliveries lists webhook id's deliveries, newest first.
func (db *DB) WebhookDeliveries(ctx context.Context, tenant data.TenantID, id, after string, limit int) (Page[data.WebhookDelivery], error) {
	var p Page[data.WebhookDelivery]
	if limit < 1 || limit > data.MaxWebhookList {
		return p, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxWebhookList))
	}
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[data.WebhookDelivery]{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		hooks, deliveries, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		if _, err := getWebhook(hooks, id); err != nil {
			return err
		}
		if deliveries == nil {
			return nil
		}
		p, err = scanPage[data.WebhookDelivery](deliveries.Bucket(bytesOf(id)), after, limit, nil)
		return err
	})
	return p, err
}

// RetryWebhookDelivery queues delivery deliveryID of webhook id for an
// attempt now, whatever became of it, with a fresh retry window.
func (db *DB) RetryWebhookDelivery(ctx context.Context, tenant data.TenantID, actor, id, deliveryID string) (data.WebhookDelivery, error) {
	var out data.WebhookDelivery
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.WebhookDelivery{}
		now := db.Now()
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		hooks, deliveries, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		if _, err := getWebhook(hooks, id); err != nil {
			return err
		}
		d, err := getDelivery(deliveries, id, deliveryID)
		if err != nil {
			return err
		}
		if d.Status == data.WebhookPending {
			if err := unindexWebhookDue(tx, tenant, d.WebhookDelivery); err != nil {
				return err
			}
		}
		at := now
		d.Status, d.NextAttemptAt, d.GiveUpAt = data.WebhookPending, &at, now.Add(WebhookRetryWindow)
		if err := putDelivery(deliveries, d); err != nil {
			return err
		}
		if err := indexWebhookDue(tx, tenant, d.WebhookDelivery); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "webhook.retry", "webhook_delivery", d.ID, "delivery queued again"); err != nil {
			return err
		}
		out = d.WebhookDelivery
		return nil
	})
	return out, err
}

// DueWebhook is a delivery due for an attempt, with what sending it needs.
type DueWebhook struct {
	Tenant   data.TenantID
	Delivery data.WebhookDelivery
	// Endpoint names the webhook across organizations, for the worker to
	// keep one attempt in flight per endpoint.
	Endpoint string
	URL      string
	Enabled  bool
	// Secrets sign the attempt: the current one, then a rotated one still
	// in its grace period.
	Secrets []string
	Body    []byte
}

// maxDueScan bounds the index keys one DueWebhooks call reads, so that a
// large backlog of endpoints the caller skips does not make every call long.
const maxDueScan = 10000

// DueWebhooks returns up to limit deliveries due at now, oldest first, at
// most one per endpoint, passing over the endpoints for which skip (if not
// nil) returns true, such as those the caller is already sending to.
func (db *DB) DueWebhooks(ctx context.Context, now time.Time, limit int, skip func(endpoint string) bool) ([]DueWebhook, error) {
	var out []DueWebhook
	err := db.read(ctx, func(tx kv.Tx) error {
		out = nil
		due := tx.Bucket(bWebhookDue)
		if due == nil || limit <= 0 {
			return nil
		}
		end := timeKey(now, "\xff")
		taken := map[string]bool{}
		c := due.Cursor()
		n := 0
		for k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0 && len(out) < limit && n < maxDueScan; k, _ = c.Next() {
			n++
			_, tenant, webhookID, id, ok := splitWebhookDueKey(k)
			if !ok {
				return fmt.Errorf("webhook_due key %x is malformed", k)
			}
			endpoint := string(tenant) + "/" + webhookID
			if taken[endpoint] || (skip != nil && skip(endpoint)) {
				continue
			}
			b := tx.Bucket(bOrgs).Bucket(bytesOf(tenant))
			if b == nil {
				return fmt.Errorf("webhook_due names missing organization %s", tenant)
			}
			hooks, deliveries, _ := webhookBuckets(b)
			w, err := getWebhook(hooks, webhookID)
			if err != nil {
				return fmt.Errorf("webhook_due: %w", err)
			}
			d, err := getDelivery(deliveries, webhookID, id)
			if err != nil {
				return fmt.Errorf("webhook_due: %w", err)
			}
			secrets := []string{w.Secret}
			if w.PreviousSecret != "" && w.PreviousSecretExpiresAt != nil && now.Before(*w.PreviousSecretExpiresAt) {
				secrets = append(secrets, w.PreviousSecret)
			}
			taken[endpoint] = true
			out = append(out, DueWebhook{Tenant: tenant, Delivery: d.WebhookDelivery, Endpoint: endpoint, URL: w.URL,
				Enabled: w.Enabled, Secrets: secrets, Body: []byte(d.Body)})
		}
		return nil
	})
	return out, err
}

// NextWebhookDue returns when the earliest pending delivery is due, and
// false when none is pending.
func (db *DB) NextWebhookDue(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	found := false
	err := db.read(ctx, func(tx kv.Tx) error {
		next, found = time.Time{}, false
		due := tx.Bucket(bWebhookDue)
		if due == nil {
			return nil
		}
		if k, _ := due.Cursor().First(); len(k) >= 8 {
			next, found = keyTime(k), true
		}
		return nil
	})
	return next, found, err
}

// WebhookAttempt is the outcome of one delivery attempt.
type WebhookAttempt struct {
	Tenant     data.TenantID
	WebhookID  string
	DeliveryID string
	// DueAt is the next attempt the delivery had when it was taken (its
	// NextAttemptAt): a delivery queued again meanwhile stays queued.
	DueAt time.Time
	At    time.Time
	// OK says the receiver answered 2xx.
	OK bool
	// Code is the receiver's HTTP status, 0 without an answer.
	Code      int
	LatencyMs int64
	// Reason is why a failed attempt failed.
	Reason string
	// Next is when a failed delivery is tried again; zero, or a time past
	// the delivery's retry window, marks it failed.
	Next time.Time
}

// RecordWebhookAttempt records an attempt on its delivery. A delivery that
// was deleted, or is no longer pending (retried or finished meanwhile), is
// left as it is. The worker records a delivery only after the attempt, so
// a crash in between sends it again rather than losing it.
func (db *DB) RecordWebhookAttempt(ctx context.Context, a WebhookAttempt) (data.WebhookDelivery, error) {
	var out data.WebhookDelivery
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.WebhookDelivery{}
		b := tx.Bucket(bOrgs).Bucket(bytesOf(a.Tenant))
		if b == nil {
			return nil
		}
		_, deliveries, err := webhookBuckets(b)
		if err != nil {
			return err
		}
		d, err := getDelivery(deliveries, a.WebhookID, a.DeliveryID)
		if errors.Is(err, data.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Status != data.WebhookPending {
			out = d.WebhookDelivery
			return nil
		}
		at := a.At.UTC()
		d.Attempts++
		d.LastAttemptAt, d.LastResponseCode, d.LatencyMs = &at, a.Code, a.LatencyMs
		d.LastError = clip(a.Reason, maxWebhookError)
		if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(a.DueAt) {
			// Retried while this attempt was in flight: the retry stands.
			if err := putDelivery(deliveries, d); err != nil {
				return err
			}
			out = d.WebhookDelivery
			return nil
		}
		if err := unindexWebhookDue(tx, a.Tenant, d.WebhookDelivery); err != nil {
			return err
		}
		switch {
		case a.OK:
			d.Status, d.NextAttemptAt, d.LastError = data.WebhookSucceeded, nil, ""
		case a.Next.IsZero() || a.Next.After(d.GiveUpAt):
			d.Status, d.NextAttemptAt = data.WebhookFailed, nil
		default:
			next := a.Next.UTC()
			d.NextAttemptAt = &next
			if err := indexWebhookDue(tx, a.Tenant, d.WebhookDelivery); err != nil {
				return err
			}
		}
		if err := putDelivery(deliveries, d); err != nil {
			return err
		}
		out = d.WebhookDelivery
		return nil
	})
	return out, err
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
