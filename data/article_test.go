package data_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

func TestArticle_Validate(t *testing.T) {
	t.Parallel()
	ok := data.Article{Title: "Paying invoices", Slug: "paying-invoices", Category: "Billing", Body: "# Hi\n\n*there*\t!", Status: data.ArticlePublished}
	tests := []struct {
		name   string
		change func(*data.Article)
		field  string // "" for valid
	}{
		{"valid", func(a *data.Article) {}, ""},
		{"draft without category or body", func(a *data.Article) { a.Category, a.Body, a.Status = "", "", data.ArticleDraft }, ""},
		{"blank title", func(a *data.Article) { a.Title = "  " }, "title"},
		{"title on two lines", func(a *data.Article) { a.Title = "a\nb" }, "title"},
		{"title too long", func(a *data.Article) { a.Title = strings.Repeat("é", data.MaxArticleTitle+1) }, "title"},
		{"title of the longest", func(a *data.Article) { a.Title = strings.Repeat("é", data.MaxArticleTitle) }, ""},
		{"no slug", func(a *data.Article) { a.Slug = "" }, "slug"},
		{"upper-case slug", func(a *data.Article) { a.Slug = "Paying" }, "slug"},
		{"slug with a leading hyphen", func(a *data.Article) { a.Slug = "-paying" }, "slug"},
		{"slug with a trailing hyphen", func(a *data.Article) { a.Slug = "paying-" }, "slug"},
		{"slug with a double hyphen", func(a *data.Article) { a.Slug = "pay--ing" }, "slug"},
		{"slug with a space", func(a *data.Article) { a.Slug = "pay ing" }, "slug"},
		{"slug with a slash", func(a *data.Article) { a.Slug = "pay/ing" }, "slug"},
		{"slug too long", func(a *data.Article) { a.Slug = strings.Repeat("a", data.MaxArticleSlug+1) }, "slug"},
		{"slug of the longest", func(a *data.Article) { a.Slug = strings.Repeat("a", data.MaxArticleSlug) }, ""},
		{"one-character slug", func(a *data.Article) { a.Slug = "a" }, ""},
		{"category on two lines", func(a *data.Article) { a.Category = "a\nb" }, "category"},
		{"category too long", func(a *data.Article) { a.Category = strings.Repeat("c", data.MaxArticleCategory+1) }, "category"},
		{"body too large", func(a *data.Article) { a.Body = strings.Repeat("b", data.MaxArticleBody+1) }, "body"},
		{"body of the largest", func(a *data.Article) { a.Body = strings.Repeat("b", data.MaxArticleBody) }, ""},
		{"body with an escape code", func(a *data.Article) { a.Body = "a\x1b[31m" }, "body"},
		{"body not UTF-8", func(a *data.Article) { a.Body = "J\xf6rg" }, "body"},
		{"unknown status", func(a *data.Article) { a.Status = "hidden" }, "status"},
		{"empty status", func(a *data.Article) { a.Status = "" }, "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.change(&a)
			err := a.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var ve *data.ValidationError
			if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
				t.Fatalf("got %v, want an error for %s", err, tt.field)
			}
		})
	}
}

func TestArticlePatch_Apply(t *testing.T) {
	t.Parallel()
	a := data.Article{Title: "T", Slug: "s", Category: "c", Body: "b", Status: data.ArticleDraft}
	title, pub := "New", data.ArticlePublished
	data.ArticlePatch{Title: &title, Status: &pub}.Apply(&a)
	if a.Title != "New" || a.Status != pub || a.Slug != "s" || a.Category != "c" || a.Body != "b" {
		t.Errorf("got %+v, want the title and status changed, the rest kept", a)
	}
}

var slugForm = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// FuzzArticleSlug checks the slug rule against its documented form: the
// pattern of the OpenAPI document, at most MaxArticleSlug characters.
func FuzzArticleSlug(f *testing.F) {
	for _, s := range []string{"a", "paying-invoices", "a-", "-a", "a--b", "A", "é", "a b", "a/b", "", strings.Repeat("a", 101)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := slugForm.MatchString(s) && len(s) <= data.MaxArticleSlug
		if got := data.ValidArticleSlug(s); got != want {
			t.Fatalf("ValidArticleSlug(%q) = %v, want %v", s, got, want)
		}
	})
}
