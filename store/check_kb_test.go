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

// newArticleCheckFixture is a closed database with a published and a draft
// article of acme.
func newArticleCheckFixture(t *testing.T) (path string, a, d data.Article) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a = data.Article{Title: "Invoices", Slug: "invoices", Body: "About *invoices*.", Status: data.ArticlePublished}
	d = data.Article{Title: "Draft", Slug: "draft", Body: "Soon.", Status: data.ArticleDraft}
	for _, x := range []*data.Article{&a, &d} {
		if err := db.CreateArticle(ctx, "acme", "t", x); err != nil {
			t.Fatal(err)
		}
	}
	return path, a, d
}

func TestCheck_Articles(t *testing.T) {
	t.Parallel()
	path, _, _ := newArticleCheckFixture(t)
	r, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Records["kb_articles"] != 2 || r.Records["kb_slugs"] != 2 {
		t.Fatalf("got %v, %v, want no breach, 2 articles and 2 slugs", r.Breaches, r.Records)
	}
	tests := []struct {
		name   string
		break_ func(tx kv.Tx, a, d data.Article) error
		kind   string
		bucket string
		want   string
	}{
		{"does not decode", func(tx kv.Tx, a, d data.Article) error {
			return acme(tx).Bucket(bKBArticles).Put([]byte(a.ID), []byte("{"))
		}, BreachRecord, "kb_articles", "does not decode"},
		{"under another key", func(tx kv.Tx, a, d data.Article) error {
			return putJSON(acme(tx).Bucket(bKBArticles), []byte(a.ID), d)
		}, BreachRecord, "kb_articles", "holds article"},
		{"invalid", func(tx kv.Tx, a, d data.Article) error {
			a.Status = "hidden"
			return putJSON(acme(tx).Bucket(bKBArticles), []byte(a.ID), a)
		}, BreachRecord, "kb_articles", "is not valid"},
		{"slug missing from the index", func(tx kv.Tx, a, d data.Article) error {
			return acme(tx).Bucket(bKBSlugs).Delete([]byte(a.Slug))
		}, BreachIndex, "kb_slugs", "not to article"},
		{"slug of a missing article", func(tx kv.Tx, a, d data.Article) error {
			return acme(tx).Bucket(bKBSlugs).Put([]byte("gone"), []byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2"))
		}, BreachIndex, "kb_slugs", "missing article"},
		{"slug pointing at another article", func(tx kv.Tx, a, d data.Article) error {
			return acme(tx).Bucket(bKBSlugs).Put([]byte(a.Slug), []byte(d.ID))
		}, BreachIndex, "kb_slugs", "whose slug is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, a, d := newArticleCheckFixture(t)
			mutate(t, path, func(tx kv.Tx) error { return tt.break_(tx, a, d) })
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
