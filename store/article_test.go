package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

func openArticleDB(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func searchIDs(t *testing.T, db *DB, org data.TenantID, q string) []string {
	t.Helper()
	hits, err := db.SearchArticles(t.Context(), org, q, "", 20)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Slug
	}
	return ids
}

func TestDB_Articles_Lifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "portal.db")
	db := openArticleDB(t, path)
	pub := data.Article{Title: "Billing", Slug: "billing", Category: "Billing",
		Body: "Download your **invoices** <script>alert(1)</script> [x](javascript:alert(1))", Status: data.ArticlePublished}
	draft := data.Article{Title: "Invoice drafts", Slug: "invoice-drafts", Body: "Invoices to come.", Status: data.ArticleDraft}
	for _, a := range []*data.Article{&pub, &draft} {
		if err := db.CreateArticle(ctx, "acme", "staff-1", a); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(pub.HTML, "<script") || strings.Contains(pub.HTML, "javascript:") || !strings.Contains(pub.HTML, "<strong>invoices</strong>") {
		t.Errorf("got HTML %q, want the Markdown rendered without script or javascript: URL", pub.HTML)
	}
	if got := searchIDs(t, db, "acme", "invoice"); len(got) != 1 || got[0] != "billing" {
		t.Errorf("got %v for invoice, want [billing] (drafts never found)", got)
	}
	if got := searchIDs(t, db, "globex", "invoice"); len(got) != 0 {
		t.Errorf("got %v in another organization, want nothing", got)
	}
	if _, err := db.PublishedArticle(ctx, "acme", "invoice-drafts"); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("got %v for a draft by slug, want ErrNotFound", err)
	}
	dup := data.Article{Title: "Again", Slug: "billing", Status: data.ArticleDraft}
	if err := db.CreateArticle(ctx, "acme", "staff-1", &dup); !errors.Is(err, data.ErrConflict) {
		t.Errorf("got %v for a taken slug, want ErrConflict", err)
	}
	other := data.Article{Title: "Other org", Slug: "billing", Status: data.ArticlePublished}
	if err := db.CreateArticle(ctx, "globex", "staff-2", &other); err != nil {
		t.Errorf("got %v for the same slug in another organization, want it stored", err)
	}

	// Publishing the draft brings it into search; unpublishing takes it out.
	pubStatus, draftStatus := data.ArticlePublished, data.ArticleDraft
	if _, err := db.UpdateArticle(ctx, "acme", "staff-1", draft.ID, data.ArticlePatch{Status: &pubStatus}); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, db, "acme", "invoice"); len(got) != 2 {
		t.Errorf("got %v after publishing, want both articles", got)
	}
	if _, err := db.UpdateArticle(ctx, "acme", "staff-1", draft.ID, data.ArticlePatch{Status: &draftStatus}); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, db, "acme", "invoice"); len(got) != 1 {
		t.Errorf("got %v after unpublishing, want [billing]", got)
	}
	taken := "billing"
	if _, err := db.UpdateArticle(ctx, "acme", "staff-1", draft.ID, data.ArticlePatch{Slug: &taken}); !errors.Is(err, data.ErrConflict) {
		t.Errorf("got %v renaming to a taken slug, want ErrConflict", err)
	}
	renamed := "paying-invoices"
	if _, err := db.UpdateArticle(ctx, "acme", "staff-1", pub.ID, data.ArticlePatch{Slug: &renamed}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PublishedArticle(ctx, "acme", "billing"); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("got %v for the old slug, want ErrNotFound", err)
	}
	if a, err := db.PublishedArticle(ctx, "acme", renamed); err != nil || a.ID != pub.ID {
		t.Errorf("got %v, %v for the new slug, want the article", a.ID, err)
	}

	// Restart: a new DB on the same file rebuilds the index.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openArticleDB(t, path)
	if got := searchIDs(t, db, "acme", "invoice"); len(got) != 1 || got[0] != renamed {
		t.Errorf("got %v after reopening, want [%s]", got, renamed)
	}
	if err := db.DeleteArticle(ctx, "acme", "staff-1", pub.ID); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, db, "acme", "invoice"); len(got) != 0 {
		t.Errorf("got %v after delete, want nothing", got)
	}
	if err := db.DeleteArticle(ctx, "acme", "staff-1", pub.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("got %v deleting twice, want ErrNotFound", err)
	}
	r, err := Check(path)
	if err == nil && !r.OK() {
		t.Errorf("got breaches %v, want none", r.Breaches)
	}
}

func TestDB_Articles_ListFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openArticleDB(t, filepath.Join(t.TempDir(), "portal.db"))
	for i, s := range []data.ArticleStatus{data.ArticleDraft, data.ArticlePublished, data.ArticlePublished} {
		a := data.Article{Title: "T", Slug: "a-" + string(rune('a'+i)), Category: []string{"x", "x", "y"}[i], Status: s}
		if err := db.CreateArticle(ctx, "acme", "t", &a); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    ArticleFilter
		want []string
	}{
		{"all", ArticleFilter{}, []string{"a-c", "a-b", "a-a"}},
		{"published", ArticleFilter{Status: data.ArticlePublished}, []string{"a-c", "a-b"}},
		{"category", ArticleFilter{Category: "x"}, []string{"a-b", "a-a"}},
		{"both", ArticleFilter{Status: data.ArticlePublished, Category: "x"}, []string{"a-b"}},
	}
	for _, tt := range tests {
		p, err := db.Articles(ctx, "acme", tt.f, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range p.Items {
			got = append(got, a.Slug)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	p, err := db.Articles(ctx, "acme", ArticleFilter{}, "", 2)
	if err != nil || len(p.Items) != 2 || p.Next == "" {
		t.Fatalf("got %d items, next %q, %v, want 2 and a cursor", len(p.Items), p.Next, err)
	}
	p, err = db.Articles(ctx, "acme", ArticleFilter{}, p.Next, 2)
	if err != nil || len(p.Items) != 1 || p.Items[0].Slug != "a-a" || p.Next != "" {
		t.Errorf("got %+v, %v on the second page, want a-a only", p, err)
	}
}

// TestDB_Articles_ConcurrentWrites publishes, unpublishes, renames and
// deletes articles from many goroutines at once, then checks that search
// finds exactly the published articles the store holds: the index follows
// the commits in their order.
func TestDB_Articles_ConcurrentWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openArticleDB(t, filepath.Join(t.TempDir(), "portal.db"))
	ids := make([]string, 8)
	for i := range ids {
		a := data.Article{Title: "Invoices " + string(rune('a'+i)), Slug: "invoices-" + string(rune('a'+i)),
			Body: "About invoices.", Status: data.ArticleDraft}
		if err := db.CreateArticle(ctx, "acme", "t", &a); err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
	}
	errs := make(chan error, len(ids)*20)
	done := make(chan struct{})
	for w, id := range ids {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 20 {
				status := []data.ArticleStatus{data.ArticlePublished, data.ArticleDraft}[(w+j)%2]
				body := "About invoices, take " + string(rune('a'+j)) + "."
				if _, err := db.UpdateArticle(ctx, "acme", "t", id, data.ArticlePatch{Status: &status, Body: &body}); err != nil {
					errs <- err
				}
			}
			if w%3 == 0 {
				if err := db.DeleteArticle(ctx, "acme", "t", id); err != nil {
					errs <- err
				}
			}
		}()
	}
	for range ids {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p, err := db.Articles(ctx, "acme", ArticleFilter{Status: data.ArticlePublished}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range p.Items {
		want = append(want, a.Slug)
	}
	got := searchIDs(t, db, "acme", "invoice")
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("got %v found, want the published articles %v", got, want)
	}
	if n, err := db.kb.Count("acme"); err != nil || int(n) != len(want) {
		t.Errorf("got %d indexed, %v, want %d", n, err, len(want))
	}
}
