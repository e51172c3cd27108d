package handlers

import (
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/salesos/portal/data"
)

var articleSlugForm = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// FuzzDecodeArticleRequest feeds the decoders of the article bodies: a new
// article, a patch and a preview. Errors are fine; a panic fails, so does a success
// that does not survive a re-encode, and so does an article the rules
// accept with a slug, title or body outside the documented bounds.
func FuzzDecodeArticleRequest(f *testing.F) {
	for _, seed := range []string{
		`{"title": "Invoices", "slug": "invoices", "category": "Billing", "body": "# Hi\n*there*", "status": "published"}`,
		`{"title": "Invoices", "slug": "Invoices"}`,
		`{"title": "Invoices", "slug": "a--b"}`,
		`{"title": "Invoices", "slug": "-a"}`,
		`{"title": "", "slug": "a"}`,
		`{"title": "\u202e", "slug": "a"}`,
		`{"title": "t", "slug": "a", "status": null}`,
		`{"title": "t", "slug": "a", "html": "<script>"}`,
		`{"status": "draft"}`,
		`{"body": null}`,
		`{"body": "<script>alert(1)</script> [x](javascript:alert(1))"}`,
		"{\"body\": \"a\\u0000b\"}",
		`{"slug": "a"} {}`,
		"{\"title\": \"J\xf6rg\", \"slug\": \"a\"}",
		`{"title": `,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeBytes[articleRequest](body); err == nil {
			roundTrip(t, req)
			a := data.Article{Title: req.Title, Slug: req.Slug, Category: req.Category, Body: req.Body, Status: data.ArticleDraft}
			if req.Status != nil {
				a.Status = *req.Status
			}
			if a.Validate() == nil && (!articleSlugForm.MatchString(a.Slug) || len(a.Slug) > data.MaxArticleSlug ||
				!data.SingleLine(a.Title) || utf8.RuneCountInString(a.Title) > data.MaxArticleTitle ||
				!data.SingleLine(a.Category) || len(a.Body) > data.MaxArticleBody || !data.MultiLine(a.Body) || !a.Status.Valid()) {
				t.Fatalf("article %+v passes the rules, want it refused", a)
			}
		}
		if req, err := decodeBytes[articlePatchRequest](body); err == nil {
			roundTrip(t, req)
		}
		if req, err := decodeBytes[articlePreviewRequest](body); err == nil {
			roundTrip(t, req)
			if data.ArticleBodyProblem(req.Body) == "" && (len(req.Body) > data.MaxArticleBody || !data.MultiLine(req.Body)) {
				t.Fatalf("preview body %q passes the rules, want it refused", req.Body)
			}
		}
	})
}
