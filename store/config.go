package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// Config returns the organization's portal configuration, or its defaults
// when it has never been written. Reading never writes.
func (db *DB) Config(ctx context.Context, tenant data.TenantID) (data.Config, error) {
	var c data.Config
	err := db.read(ctx, func(tx kv.Tx) error {
		var err error
		c, err = db.configOf(tx, tenant, db.Now())
		return err
	})
	return c, err
}

// ConfigJSON returns the organization's configuration as the API shows it,
// and its entity tag (data.Config.ETag). The body is encoded once per stored
// change and shared: callers must not modify it.
func (db *DB) ConfigJSON(ctx context.Context, tenant data.TenantID) (string, []byte, error) {
	var tag string
	var body []byte
	err := db.read(ctx, func(tx kv.Tx) error {
		tag, body = "", nil
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		if b != nil {
			if raw := b.Bucket(bConfig).Get(keyConfig); raw != nil {
				e, err := db.configs.entry(tenant, raw)
				tag, body = e.cfg.ETag(), e.body
				return err
			}
		}
		c, err := db.configOf(tx, tenant, db.Now())
		if err != nil {
			return err
		}
		tag = c.ETag()
		body, err = gojson.Marshal(c)
		return err
	})
	return tag, body, err
}

// configOf returns the stored config, or the defaults with a slug no other
// organization holds. In a writable transaction the defaults are stored and
// their slug claimed, so every organization that has records has a config.
func (db *DB) configOf(tx kv.Tx, tenant data.TenantID, now time.Time) (data.Config, error) {
	b, err := org(tx, tenant)
	if err != nil {
		return data.Config{}, err
	}
	var c data.Config
	if b != nil {
		if raw := b.Bucket(bConfig).Get(keyConfig); raw != nil {
			return db.configs.decode(tenant, raw)
		}
	}
	c = data.DefaultConfig(tenant, now)
	c.Slug = freeSlug(tx, tenant, c.Slug)
	if tx.Writable() {
		if err := tx.Bucket(bSlugs).Put(bytesOf(c.Slug), bytesOf(tenant)); err != nil {
			return c, err
		}
		if err := putJSON(b.Bucket(bConfig), keyConfig, c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// freeSlug returns base, or base with the smallest numeric suffix that no
// other organization holds.
func freeSlug(tx kv.Tx, tenant data.TenantID, base string) string {
	slugs := tx.Bucket(bSlugs)
	s := base
	for i := 2; ; i++ {
		owner := slugs.Get(bytesOf(s))
		if owner == nil || string(owner) == string(tenant) {
			return s
		}
		suffix := "-" + strconv.Itoa(i)
		trimmed := base
		if len(trimmed)+len(suffix) > 63 {
			trimmed = trimmed[:63-len(suffix)]
		}
		s = trimmed + suffix
	}
}

// TenantBySlug returns the organization whose portal lives at slug.
func (db *DB) TenantBySlug(ctx context.Context, slug string) (data.TenantID, error) {
	var t data.TenantID
	err := db.read(ctx, func(tx kv.Tx) error {
		t = ""
		v := tx.Bucket(bSlugs).Get(bytesOf(slug))
		if v == nil {
			return fmt.Errorf("portal %q: %w", slug, data.ErrNotFound)
		}
		t = data.TenantID(v)
		return nil
	})
	return t, err
}

// UpdateConfig replaces the configuration with change(current); change may
// refuse with an error (such as data.ErrPreconditionFailed for a stale
// If-Match) and nothing is written. The version grows by one,
// the slug index follows a slug change (409 if another organization holds
// it), and an audit entry is written in the same transaction.
func (db *DB) UpdateConfig(ctx context.Context, tenant data.TenantID, actor string,
	change func(data.Config) (data.Config, error)) (data.Config, error) {
	return db.changeConfig(ctx, tenant, actor, change, func(cur, next data.Config) auditNote {
		return auditNote{"config.update", "config", string(tenant), configDiff(cur, next)}
	})
}

// auditNote is what an audit entry says about a change.
type auditNote struct{ action, targetType, targetID, detail string }

func (db *DB) changeConfig(ctx context.Context, tenant data.TenantID, actor string,
	change func(data.Config) (data.Config, error), note func(cur, next data.Config) auditNote) (data.Config, error) {
	var out data.Config
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Config{}
		now := db.Now()
		cur, err := db.configOf(tx, tenant, now)
		if err != nil {
			return err
		}
		next, err := change(cur)
		if err != nil {
			return err
		}
		if err := next.Validate(); err != nil {
			return err
		}
		slugs := tx.Bucket(bSlugs)
		if next.Slug != cur.Slug {
			if owner := slugs.Get(bytesOf(next.Slug)); owner != nil && string(owner) != string(tenant) {
				return data.Conflict("slug " + next.Slug + " is taken by another portal")
			}
		}
		// Every check is done: from here on the transaction writes.
		if next.Slug != cur.Slug {
			if err := slugs.Delete(bytesOf(cur.Slug)); err != nil {
				return err
			}
			if err := slugs.Put(bytesOf(next.Slug), bytesOf(tenant)); err != nil {
				return err
			}
		}
		next.Version = cur.Version + 1
		next.UpdatedAt, next.UpdatedBy = now, actor
		b, _ := org(tx, tenant)
		if err := putJSON(b.Bucket(bConfig), keyConfig, next); err != nil {
			return err
		}
		if err := tightenSessions(b, cur.Auth, next.Auth); err != nil {
			return err
		}
		n := note(cur, next)
		if err := db.audit(b, now, actor, n.action, n.targetType, n.targetID, n.detail); err != nil {
			return err
		}
		if err := db.enqueueWebhookEvent(tx, tenant, now, data.EventPortalConfigUpdated,
			map[string]any{"config": next, "change": n.detail}); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

// configDiff names the top-level fields that changed, for the audit trail.
func configDiff(a, b data.Config) string {
	var changed []string
	add := func(name string, differ bool) {
		if differ {
			changed = append(changed, name)
		}
	}
	add("enabled", a.Enabled != b.Enabled)
	add("portalName", a.PortalName != b.PortalName)
	add("slug", a.Slug != b.Slug)
	add("customDomain", a.CustomDomain != b.CustomDomain)
	add("welcomeMessage", a.WelcomeMessage != b.WelcomeMessage)
	add("supportEmail", a.SupportEmail != b.SupportEmail)
	add("branding", a.Branding != b.Branding)
	add("auth", fmt.Sprint(a.Auth) != fmt.Sprint(b.Auth))
	add("invitations", a.Invitations != b.Invitations)
	if len(changed) == 0 {
		return "no change"
	}
	return "changed " + strings.Join(changed, ", ")
}

// SetFeature sets feature id to *enabled, or flips it when enabled is nil.
// The config version grows by one.
func (db *DB) SetFeature(ctx context.Context, tenant data.TenantID, actor, id string, enabled *bool) (data.Feature, error) {
	if !data.KnownFeature(id) {
		return data.Feature{}, fmt.Errorf("feature %q: %w", id, data.ErrNotFound)
	}
	var out data.Feature
	note := func(_, _ data.Config) auditNote {
		return auditNote{"feature.toggle", "feature", id, fmt.Sprintf("enabled=%t", out.Enabled)}
	}
	_, err := db.changeConfig(ctx, tenant, actor, func(c data.Config) (data.Config, error) {
		out = data.Feature{}
		fs := append([]data.Feature(nil), c.Features...)
		for i := range fs {
			if fs[i].ID != id {
				continue
			}
			if enabled != nil {
				fs[i].Enabled = *enabled
			} else {
				fs[i].Enabled = !fs[i].Enabled
			}
			fs[i].UpdatedAt = db.Now()
			out = fs[i]
		}
		c.Features = fs
		return c, nil
	}, note)
	return out, err
}

// audit appends an entry to the organization's audit trail.
func (db *DB) audit(b kv.Bucket, now time.Time, actor, action, targetType, targetID, detail string) error {
	e := data.AuditEntry{ID: db.ids.New(now), At: now, Actor: actor, Action: action,
		TargetType: targetType, TargetID: targetID, Detail: detail}
	return putJSON(b.Bucket(bAudit), bytesOf(e.ID), e)
}

// configCache keeps each organization's decoded config next to the stored
// bytes it came from. A reader still reads the bytes in its own transaction
// and uses the cached value only when they are the same, so there is nothing
// to invalidate and a retried write cannot see a stale config.
type configCache struct {
	mu    sync.RWMutex
	items map[data.TenantID]cachedConfig
}

type cachedConfig struct {
	raw  []byte      // the stored bytes
	cfg  data.Config // decoded, with the features of this binary's catalogue
	body []byte      // cfg as the API shows it
}

// maxCachedConfigs bounds the cache; past it, it starts afresh.
const maxCachedConfigs = 10000

func (c *configCache) decode(tenant data.TenantID, raw []byte) (data.Config, error) {
	e, err := c.entry(tenant, raw)
	return cloneConfig(e.cfg), err
}

// entry returns the cache entry for raw, decoding and encoding it when the
// organization's entry is of other bytes. Its values are shared.
func (c *configCache) entry(tenant data.TenantID, raw []byte) (cachedConfig, error) {
	c.mu.RLock()
	e, ok := c.items[tenant]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e, nil
	}
	var cfg data.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return e, fmt.Errorf("decode config: %w", err)
	}
	cfg.Features = data.SyncFeatures(cfg.Features, cfg.UpdatedAt)
	cfg = cloneConfig(cfg)
	body, err := gojson.Marshal(cfg)
	if err != nil {
		return e, fmt.Errorf("encode config: %w", err)
	}
	// raw belongs to the transaction: keep a copy.
	e = cachedConfig{raw: bytes.Clone(raw), cfg: cfg, body: body}
	c.mu.Lock()
	if c.items == nil || len(c.items) >= maxCachedConfigs {
		c.items = make(map[data.TenantID]cachedConfig)
	}
	c.items[tenant] = e
	c.mu.Unlock()
	return e, nil
}

// cloneConfig copies the slices of c, so callers may change what they get.
func cloneConfig(c data.Config) data.Config {
	c.Features = slices.Clone(c.Features)
	c.Auth.AllowedEmailDomains = slices.Clone(c.Auth.AllowedEmailDomains)
	if c.Auth.AllowedEmailDomains == nil {
		c.Auth.AllowedEmailDomains = []string{}
	}
	return c
}
