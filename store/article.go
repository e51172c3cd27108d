package store

// Knowledge base articles live in two buckets of the organization, made by
// the first article:
//
//	orgs/<org>/kb_articles/<id>  -> data.Article, its HTML rendered and sanitized
//	orgs/<org>/kb_slugs/<slug>   -> article id (slugs are unique per organization)
//
// The full-text index (package kb) is memory only: it is rebuilt from these
// buckets when the server starts (BuildArticleIndex), or else on an
// organization's first search or write, and every write updates it once
// its transaction has committed. The writes of articles take kbMu around both steps, so the
// index sees them in commit order; it holds published articles only.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

var (
	bKBArticles = []byte("kb_articles")
	bKBSlugs    = []byte("kb_slugs")
)

// ArticleFilter narrows an article list. Empty fields do not filter.
type ArticleFilter struct {
	Status   data.ArticleStatus
	Category string
}

func (f ArticleFilter) match(a data.Article) bool {
	return (f.Status == "" || a.Status == f.Status) && (f.Category == "" || a.Category == f.Category)
}

// ArticleHit is an article a search found, with the HTML snippet of its
// text around the terms that matched.
type ArticleHit struct {
	data.Article
	Snippet string
}

// articleBuckets returns the organization's article buckets, creating them
// in a write transaction; in a read they may be nil.
func articleBuckets(b kv.Bucket) (articles, slugs kv.Bucket, err error) {
	if b == nil {
		return nil, nil, nil
	}
	if !b.Writable() {
		return b.Bucket(bKBArticles), b.Bucket(bKBSlugs), nil
	}
	if articles, err = b.CreateBucketIfNotExists(bKBArticles); err != nil {
		return nil, nil, err
	}
	if slugs, err = b.CreateBucketIfNotExists(bKBSlugs); err != nil {
		return nil, nil, err
	}
	setFill(articles) // ULID keys: new ones arrive at the end
	return articles, slugs, nil
}

func articleIn(articles kv.Bucket, id string) (data.Article, error) {
	var a data.Article
	found, err := getJSON(articles, bytesOf(id), &a)
	if err == nil && !found {
		err = fmt.Errorf("article %s: %w", id, data.ErrNotFound)
	}
	return a, err
}

// CreateArticle stores a for tenant, written by actor, and sets its ID,
// HTML, CreatedBy, CreatedAt and UpdatedAt. A slug another article of the
// organization holds is a conflict.
func (db *DB) CreateArticle(ctx context.Context, tenant data.TenantID, actor string, a *data.Article) error {
	if err := a.Validate(); err != nil {
		return err
	}
	rendered := db.render.HTML(a.Body) // outside the transaction: it holds the write lock
	db.kbMu.Lock()
	defer db.kbMu.Unlock()
	var out data.Article
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Article{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		articles, slugs, err := articleBuckets(b)
		if err != nil {
			return err
		}
		if slugs.Get(bytesOf(a.Slug)) != nil {
			return data.SlugTaken(a.Slug)
		}
		now := db.Now()
		n := *a
		n.ID, n.HTML, n.CreatedBy, n.CreatedAt, n.UpdatedAt = db.ids.New(now), rendered, actor, now, now
		if err := putJSON(articles, bytesOf(n.ID), n); err != nil {
			return err
		}
		if err := slugs.Put(bytesOf(n.Slug), bytesOf(n.ID)); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "article.create", "article", n.ID, string(n.Status)); err != nil {
			return err
		}
		out = n
		return nil
	})
	if err != nil {
		return err
	}
	*a = out
	return db.indexArticle(ctx, tenant, out)
}

// PreviewArticle renders body as an article's HTML exactly as CreateArticle
// and UpdateArticle store it, rendered and sanitized, and writes nothing. A
// body no article may have is refused with the same field error.
func (db *DB) PreviewArticle(body string) (string, error) {
	bad := &data.FieldErrors{}
	if p := data.ArticleBodyProblem(body); p != "" {
		bad.Add("body", p)
	}
	if err := bad.Err(); err != nil {
		return "", err
	}
	return db.render.HTML(body), nil
}

// Article returns the organization's article id, draft or published.
func (db *DB) Article(ctx context.Context, tenant data.TenantID, id string) (data.Article, error) {
	var a data.Article
	err := db.read(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		articles, _, err := articleBuckets(b)
		if err != nil {
			return err
		}
		a, err = articleIn(articles, id)
		return err
	})
	return a, err
}

// PublishedArticle returns the organization's article with slug, as
// customers read it: a draft is not found, exactly like a missing one.
func (db *DB) PublishedArticle(ctx context.Context, tenant data.TenantID, slug string) (data.Article, error) {
	notFound := fmt.Errorf("article %q: %w", slug, data.ErrNotFound)
	if !data.ValidArticleSlug(slug) {
		return data.Article{}, notFound
	}
	var a data.Article
	err := db.read(ctx, func(tx kv.Tx) error {
		a = data.Article{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		articles, slugs, err := articleBuckets(b)
		if err != nil {
			return err
		}
		if slugs == nil {
			return notFound
		}
		id := slugs.Get(bytesOf(slug))
		if id == nil {
			return notFound
		}
		if a, err = articleIn(articles, string(id)); err != nil {
			return err
		}
		if !a.Published() {
			a = data.Article{}
			return notFound
		}
		return nil
	})
	return a, err
}

// Articles lists the organization's articles that match f, newest first,
// starting after the article ID after.
func (db *DB) Articles(ctx context.Context, tenant data.TenantID, f ArticleFilter, after string, limit int) (Page[data.Article], error) {
	var p Page[data.Article]
	if limit < 1 || limit > data.MaxArticleList {
		return p, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxArticleList))
	}
	var raw Page[[]byte]
	err := db.read(ctx, func(tx kv.Tx) error {
		raw = Page[[]byte]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		articles, _, err := articleBuckets(b)
		if err != nil || articles == nil {
			return err
		}
		var match func(k, v []byte) (bool, error)
		if f != (ArticleFilter{}) {
			match = func(k, v []byte) (bool, error) {
				var a data.Article
				if err := jsonDecode(v, &a); err != nil {
					return false, fmt.Errorf("decode %s: %w", k, err)
				}
				return f.match(a), nil
			}
		}
		raw, err = scanRaw(articles, after, limit, match)
		return err
	})
	if err != nil {
		return p, err
	}
	p = Page[data.Article]{Items: make([]data.Article, len(raw.Items)), Next: raw.Next}
	for i, v := range raw.Items {
		if err := jsonDecode(v, &p.Items[i]); err != nil {
			return Page[data.Article]{}, fmt.Errorf("decode article: %w", err)
		}
	}
	return p, nil
}

// SearchArticles finds the organization's published articles that match q
// in the full-text index, within category when it is not empty, and
// returns the best limit of them, best first, as the store holds them now.
func (db *DB) SearchArticles(ctx context.Context, tenant data.TenantID, q, category string, limit int) ([]ArticleHit, error) {
	if limit < 1 || limit > data.MaxArticleList {
		return nil, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxArticleList))
	}
	if strings.TrimSpace(q) == "" {
		return []ArticleHit{}, nil
	}
	if err := db.ensureArticleIndex(ctx, tenant); err != nil {
		return nil, err
	}
	hits, err := db.kb.Search(tenant, q, category, limit)
	if err != nil {
		return nil, fmt.Errorf("search articles: %w", err)
	}
	out := make([]ArticleHit, 0, len(hits))
	err = db.read(ctx, func(tx kv.Tx) error {
		out = out[:0]
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		articles, _, err := articleBuckets(b)
		if err != nil || articles == nil {
			return err
		}
		for _, h := range hits {
			var a data.Article
			found, err := getJSON(articles, bytesOf(h.ID), &a)
			if err != nil {
				return err
			}
			// The index follows the store after each commit: an article
			// deleted or unpublished a moment ago is left out here.
			if !found || !a.Published() || (category != "" && a.Category != category) {
				continue
			}
			out = append(out, ArticleHit{Article: a, Snippet: h.Snippet})
		}
		return nil
	})
	return out, err
}

// UpdateArticle applies patch to the organization's article id, written by
// actor. A slug another article holds is a conflict. A patch that changes
// nothing writes nothing.
func (db *DB) UpdateArticle(ctx context.Context, tenant data.TenantID, actor, id string, patch data.ArticlePatch) (data.Article, error) {
	var rendered string
	if patch.Body != nil {
		if len(*patch.Body) > data.MaxArticleBody {
			return data.Article{}, data.Invalid("body", "must be at most "+strconv.Itoa(data.MaxArticleBody)+" bytes")
		}
		rendered = db.render.HTML(*patch.Body)
	}
	db.kbMu.Lock()
	defer db.kbMu.Unlock()
	var out data.Article
	changed := false
	err := db.write(ctx, func(tx kv.Tx) error {
		out, changed = data.Article{}, false
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		articles, slugs, err := articleBuckets(b)
		if err != nil {
			return err
		}
		cur, err := articleIn(articles, id)
		if err != nil {
			return err
		}
		next := cur
		patch.Apply(&next)
		if patch.Body != nil {
			next.HTML = rendered
		}
		if err := next.Validate(); err != nil {
			return err
		}
		if next == cur {
			out = cur
			return nil
		}
		if next.Slug != cur.Slug && slugs.Get(bytesOf(next.Slug)) != nil {
			return data.SlugTaken(next.Slug)
		}
		// Every check is done: from here on the transaction writes.
		now := db.Now()
		next.UpdatedAt = now
		if next.Slug != cur.Slug {
			if err := slugs.Delete(bytesOf(cur.Slug)); err != nil {
				return err
			}
			if err := slugs.Put(bytesOf(next.Slug), bytesOf(next.ID)); err != nil {
				return err
			}
		}
		if err := putJSON(articles, bytesOf(id), next); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "article.update", "article", id, articleDiff(cur, next)); err != nil {
			return err
		}
		out, changed = next, true
		return nil
	})
	if err != nil || !changed {
		return out, err
	}
	return out, db.indexArticle(ctx, tenant, out)
}

// DeleteArticle deletes the organization's article id, written by actor.
func (db *DB) DeleteArticle(ctx context.Context, tenant data.TenantID, actor, id string) error {
	db.kbMu.Lock()
	defer db.kbMu.Unlock()
	err := db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		articles, slugs, err := articleBuckets(b)
		if err != nil {
			return err
		}
		cur, err := articleIn(articles, id)
		if err != nil {
			return err
		}
		if err := articles.Delete(bytesOf(id)); err != nil {
			return err
		}
		if err := slugs.Delete(bytesOf(cur.Slug)); err != nil {
			return err
		}
		return db.audit(b, db.Now(), actor, "article.delete", "article", id, "")
	})
	if err != nil {
		return err
	}
	if !db.kb.Built(tenant) {
		return db.reindexArticles(ctx, tenant)
	}
	if err := db.kb.Delete(tenant, id); err != nil {
		return db.reindexArticles(ctx, tenant)
	}
	return nil
}

// indexArticle brings a, just committed, into the index; the caller holds
// kbMu. An index not built yet is built now, from the store that holds a.
// Should the index refuse it, the organization's index is rebuilt from the
// store, so that it never keeps what the store no longer holds.
func (db *DB) indexArticle(ctx context.Context, tenant data.TenantID, a data.Article) error {
	if !db.kb.Built(tenant) {
		return db.reindexArticles(ctx, tenant)
	}
	if err := db.kb.Put(tenant, a); err != nil {
		return db.reindexArticles(ctx, tenant)
	}
	return nil
}

// reindexArticles rebuilds the organization's index from the store.
func (db *DB) reindexArticles(ctx context.Context, tenant data.TenantID) error {
	var all []data.Article
	err := db.read(context.WithoutCancel(ctx), func(tx kv.Tx) error {
		all = nil
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		all, err = articlesOf(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("reindex articles: %w", err)
	}
	if err := db.kb.Reset(tenant, all); err != nil {
		return fmt.Errorf("reindex articles: %w", err)
	}
	return nil
}

// ArticlesChanged rebuilds the organization's search index from the
// store: for a process that shares the store with others (etcd), after
// another one wrote the organization's articles.
func (db *DB) ArticlesChanged(ctx context.Context, tenant data.TenantID) error {
	db.kbMu.Lock()
	defer db.kbMu.Unlock()
	return db.reindexArticles(ctx, tenant)
}

// articlesOf decodes every article of the organization bucket b.
func articlesOf(b kv.Bucket) ([]data.Article, error) {
	articles := b.Bucket(bKBArticles)
	if articles == nil {
		return nil, nil
	}
	var all []data.Article
	err := articles.ForEach(func(k, v []byte) error {
		var a data.Article
		if err := jsonDecode(v, &a); err != nil {
			return fmt.Errorf("decode article %s: %w", k, err)
		}
		all = append(all, a)
		return nil
	})
	return all, err
}

// ensureArticleIndex builds the organization's index from the store, the
// first time it is needed after start.
func (db *DB) ensureArticleIndex(ctx context.Context, tenant data.TenantID) error {
	if db.kb.Built(tenant) {
		return nil
	}
	db.kbMu.Lock()
	defer db.kbMu.Unlock()
	if db.kb.Built(tenant) {
		return nil
	}
	return db.reindexArticles(ctx, tenant)
}

// BuildArticleIndex builds the index of every organization from the store,
// as a server does when it starts, so that no customer's first search
// waits for it. Without it each organization's index is built on its first
// search or write.
func (db *DB) BuildArticleIndex(ctx context.Context) error {
	return db.eachOrgIndex(ctx, "build", db.ensureArticleIndex)
}

// RebuildArticleIndex rebuilds the index of every organization from the
// store, as ArticlesChanged does for one: after a process that shares the
// store may have missed what others wrote.
func (db *DB) RebuildArticleIndex(ctx context.Context) error {
	return db.eachOrgIndex(ctx, "rebuild", db.ArticlesChanged)
}

// eachOrgIndex runs index for every organization in the store.
func (db *DB) eachOrgIndex(ctx context.Context, what string, index func(context.Context, data.TenantID) error) error {
	var orgs []data.TenantID
	err := db.read(ctx, func(tx kv.Tx) error {
		orgs = nil
		return tx.Bucket(bOrgs).ForEach(func(k, v []byte) error {
			if v == nil {
				orgs = append(orgs, data.TenantID(k))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("%s article index: %w", what, err)
	}
	for _, tenant := range orgs {
		if err := index(ctx, tenant); err != nil {
			return fmt.Errorf("%s article index of %s: %w", what, tenant, err)
		}
	}
	return nil
}

// articleDiff names the fields a change set, for the audit trail.
func articleDiff(a, b data.Article) string {
	var changed []string
	if a.Title != b.Title {
		changed = append(changed, "title")
	}
	if a.Slug != b.Slug {
		changed = append(changed, "slug "+a.Slug+" -> "+b.Slug)
	}
	if a.Category != b.Category {
		changed = append(changed, "category")
	}
	if a.Body != b.Body {
		changed = append(changed, "body")
	}
	if a.Status != b.Status {
		changed = append(changed, "status "+string(a.Status)+" -> "+string(b.Status))
	}
	return "changed " + strings.Join(changed, ", ")
}
