package store

// Configurations and the global slugs index.

import (
	"github.com/salesos/portal/data"
)

// config checks that a stored configuration holds its slug.
func (o orgCheck) config() {
	raw := o.b["config"].Get(keyConfig)
	if raw == nil {
		return // an organization with records but no configuration reads the defaults
	}
	var cfg data.Config
	if !o.decode("config", keyConfig, raw, &cfg) {
		return
	}
	if got := o.tx.Bucket(bSlugs).Get(bytesOf(cfg.Slug)); string(got) != string(o.org) {
		o.add(BreachIndex, "", "slugs", cfg.Slug, "%s, want organization %s", pointsAt(got), o.org)
	}
}

func (c *checker) slugs() {
	_ = c.tx.Bucket(bSlugs).ForEach(func(k, v []byte) error {
		b := c.tx.Bucket(bOrgs).Bucket(v)
		if b == nil {
			c.add(BreachIndex, "", "slugs", printable(k), "points at missing organization %s", printable(v))
			return nil
		}
		var cfg data.Config
		cb := b.Bucket(bConfig)
		if cb == nil {
			return nil // reported with the organization
		}
		raw := cb.Get(keyConfig)
		switch {
		case raw == nil:
			c.add(BreachIndex, "", "slugs", printable(k), "points at organization %s, which has no configuration", printable(v))
		case jsonDecode(raw, &cfg) != nil:
		case cfg.Slug != string(k):
			c.add(BreachIndex, "", "slugs", printable(k), "points at organization %s, whose slug is %s", printable(v), cfg.Slug)
		}
		return nil
	})
}
