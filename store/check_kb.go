package store

// Knowledge base: each article decodes, sits under its own ID, is valid,
// and holds the slug that the slug index maps to it; each slug index entry
// names an article that holds that slug. The buckets are made on first use,
// so an organization without them has no articles.

import (
	"github.com/salesos/portal/data"
)

func (o orgCheck) articles() {
	articles, slugs := o.b["kb_articles"], o.b["kb_slugs"]
	if articles != nil {
		_ = articles.ForEach(func(k, v []byte) error {
			o.r.Records["kb_articles"]++
			var a data.Article
			if !o.decode("kb_articles", k, v, &a) {
				return nil
			}
			if a.ID != string(k) {
				o.add(BreachRecord, o.org, "kb_articles", printable(k), "holds article %s", a.ID)
				return nil
			}
			if err := a.Validate(); err != nil {
				o.add(BreachRecord, o.org, "kb_articles", a.ID, "is not valid: %v", err)
			}
			if slugs == nil {
				o.add(BreachIndex, o.org, "kb_slugs", a.Slug, "is missing for article %s", a.ID)
			} else if id := slugs.Get(bytesOf(a.Slug)); string(id) != a.ID {
				o.add(BreachIndex, o.org, "kb_slugs", a.Slug, "maps to %q, not to article %s that holds it", printable(id), a.ID)
			}
			return nil
		})
	}
	if slugs == nil {
		return
	}
	_ = slugs.ForEach(func(k, v []byte) error {
		o.r.Records["kb_slugs"]++
		var a data.Article
		if articles == nil || v == nil || jsonDecode(articles.Get(v), &a) != nil {
			o.add(BreachIndex, o.org, "kb_slugs", printable(k), "points at missing article %s", printable(v))
			return nil
		}
		if a.Slug != string(k) {
			o.add(BreachIndex, o.org, "kb_slugs", printable(k), "points at article %s, whose slug is %q", a.ID, a.Slug)
		}
		return nil
	})
}
