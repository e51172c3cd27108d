package data

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ArticleStatus says whether customers see a knowledge base article.
type ArticleStatus string

// Article statuses.
const (
	// ArticleDraft is staff's alone: customers never see it, by list,
	// search or slug.
	ArticleDraft     ArticleStatus = "draft"
	ArticlePublished ArticleStatus = "published"
)

// Valid reports whether s is a known status.
func (s ArticleStatus) Valid() bool { return s == ArticleDraft || s == ArticlePublished }

// Knowledge base limits.
const (
	MaxArticleTitle    = 200
	MaxArticleCategory = 100
	MaxArticleSlug     = 100
	// MaxArticleBody is the size of an article's Markdown in bytes (200 KiB).
	MaxArticleBody = 200 << 10
	MaxArticleList = 100
)

// articleSlugRE is an article slug: lowercase letters and digits in words
// joined by single hyphens, such as "reset-your-password".
var articleSlugRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Article is a knowledge base article: Markdown written by staff, shown to
// customers as HTML once published. HTML is rendered from Body and
// sanitized when the article is written; it is never taken from a client.
type Article struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Slug     string        `json:"slug"`
	Category string        `json:"category"`
	Body     string        `json:"body"`
	Status   ArticleStatus `json:"status"`
	HTML     string        `json:"html"`
	// CreatedBy is the staff member who wrote the article.
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Published reports whether customers see a.
func (a Article) Published() bool { return a.Status == ArticlePublished }

// Validate reports every invalid field at once.
func (a Article) Validate() error {
	bad := &FieldErrors{}
	if strings.TrimSpace(a.Title) == "" {
		bad.Add("title", "is required")
	}
	checkText(bad, "title", a.Title, MaxArticleTitle, false)
	if p := ArticleSlugProblem(a.Slug); p != "" {
		bad.Add("slug", p)
	}
	if p := ArticleCategoryProblem(a.Category); p != "" {
		bad.Add("category", p)
	}
	if p := ArticleBodyProblem(a.Body); p != "" {
		bad.Add("body", p)
	}
	if !a.Status.Valid() {
		bad.Add("status", "must be draft or published")
	}
	return bad.Err()
}

// ArticleSlugProblem says what is wrong with an article slug, or "".
func ArticleSlugProblem(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > MaxArticleSlug:
		return "must be at most " + strconv.Itoa(MaxArticleSlug) + " characters"
	case !articleSlugRE.MatchString(s):
		return "must be lowercase letters and digits in words joined by single hyphens, such as reset-your-password"
	}
	return ""
}

// ArticleBodyProblem says what is wrong with an article's Markdown, or "":
// at most MaxArticleBody bytes of valid text, line breaks allowed.
func ArticleBodyProblem(body string) string {
	if len(body) > MaxArticleBody {
		return "must be at most " + strconv.Itoa(MaxArticleBody) + " bytes"
	}
	// The body is counted in bytes above, so the character bound here never
	// binds first.
	return textRule(body, MaxArticleBody, true)
}

// ArticleCategoryProblem says what is wrong with an article category, or
// "": it is one line of at most MaxArticleCategory characters, and may be
// empty.
func ArticleCategoryProblem(c string) string { return textRule(c, MaxArticleCategory, false) }

// ValidArticleSlug reports whether s is a well-formed article slug.
func ValidArticleSlug(s string) bool { return ArticleSlugProblem(s) == "" }

// ArticlePatch is a partial update of an article: nil fields stay as they
// are.
type ArticlePatch struct {
	Title    *string
	Slug     *string
	Category *string
	Body     *string
	Status   *ArticleStatus
}

// Apply copies the set fields into a.
func (p ArticlePatch) Apply(a *Article) {
	if p.Title != nil {
		a.Title = *p.Title
	}
	if p.Slug != nil {
		a.Slug = *p.Slug
	}
	if p.Category != nil {
		a.Category = *p.Category
	}
	if p.Body != nil {
		a.Body = *p.Body
	}
	if p.Status != nil {
		a.Status = *p.Status
	}
}

// SlugTaken reports an article slug another article of the organization
// holds.
func SlugTaken(slug string) error {
	return Conflict("the slug " + strconv.Quote(slug) + " is taken by another article")
}
