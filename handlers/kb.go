package handlers

// Knowledge base: staff write Markdown articles, draft or published;
// customers list, search and read the published ones. The HTML of an
// article is rendered and sanitized by the store when it is written.

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/kb"
	"github.com/salesos/portal/store"
)

// articleRequest is the body of POST /v1/customer-portal/kb/articles.
type articleRequest struct {
	Title    string              `json:"title"`
	Slug     string              `json:"slug"`
	Category string              `json:"category"`
	Body     string              `json:"body"`
	Status   *data.ArticleStatus `json:"status,omitempty"`
}

func (articleRequest) requiredMembers() []string { return []string{"title", "slug"} }

// articlePatchRequest is the body of PATCH
// /v1/customer-portal/kb/articles/{id}: members present change the article.
type articlePatchRequest struct {
	Title    *string             `json:"title,omitempty"`
	Slug     *string             `json:"slug,omitempty"`
	Category *string             `json:"category,omitempty"`
	Body     *string             `json:"body,omitempty"`
	Status   *data.ArticleStatus `json:"status,omitempty"`
}

func (p articlePatchRequest) patch() data.ArticlePatch {
	return data.ArticlePatch{Title: p.Title, Slug: p.Slug, Category: p.Category, Body: p.Body, Status: p.Status}
}

// portalArticle is a published article as customers read it.
type portalArticle struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Slug      string    `json:"slug"`
	Category  string    `json:"category"`
	HTML      string    `json:"html"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// portalArticleItem is an article in a customer's list or search results:
// Snippet is HTML, the text around the terms that matched (with <mark>
// around them) or, in a list, the start of the text.
type portalArticleItem struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Slug      string    `json:"slug"`
	Category  string    `json:"category"`
	Snippet   string    `json:"snippet"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// categoryFilter reads the category filter of the article lists: absent or
// empty is no filter.
func categoryFilter(r *http.Request) (string, error) {
	c := r.URL.Query().Get("category")
	if p := data.ArticleCategoryProblem(c); p != "" {
		return "", &paramError{name: "category", msg: p}
	}
	return c, nil
}

func (s *server) handleArticleCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		req, err := decode[articleRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a := data.Article{Title: req.Title, Slug: req.Slug, Category: req.Category, Body: req.Body, Status: data.ArticleDraft}
		if req.Status != nil {
			a.Status = *req.Status // given, it must be valid: "" is not the default
		}
		if err := s.db.CreateArticle(r.Context(), p.Tenant, p.Subject, &a); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.Header().Set("Location", "/v1/customer-portal/kb/articles/"+a.ID)
		encode(w, r, s.log, http.StatusCreated, a)
	})
}

// articlePreviewRequest is the body of POST /v1/customer-portal/kb/preview.
type articlePreviewRequest struct {
	Body string `json:"body"`
}

func (articlePreviewRequest) requiredMembers() []string { return []string{"body"} }

// articlePreview is the answer of POST /v1/customer-portal/kb/preview.
type articlePreview struct {
	HTML string `json:"html"`
}

// handleArticlePreview renders Markdown as an article's HTML, the way
// customers will read it, and stores nothing.
func (s *server) handleArticlePreview() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[articlePreviewRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		html, err := s.db.PreviewArticle(req.Body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, articlePreview{HTML: html})
	})
}

func (s *server) handleArticleList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "kb-articles", "status", "category")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		status, err := statusFilter(r, "", data.ArticleStatus.Valid, "must be draft or published")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		category, err := categoryFilter(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		pg, err := s.db.Articles(r.Context(), principal(r).Tenant, store.ArticleFilter{Status: status, Category: category}, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(pg.Items, s.cursors.encode(r, "kb-articles", pg.Next)))
	})
}

func (s *server) handleArticleGet() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (data.Article, error) {
		return s.db.Article(ctx, p.Tenant, id)
	})
}

func (s *server) handleArticlePatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		body, err := readBody(w, r, "application/json", "application/merge-patch+json")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		req, err := decodeBytes[articlePatchRequest](body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a, err := s.db.UpdateArticle(r.Context(), p.Tenant, p.Subject, id, req.patch())
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, a)
	})
}

func (s *server) handleArticleDelete() http.Handler {
	return byIDNoContent(s, func(ctx context.Context, p auth.Principal, id string) error {
		return s.db.DeleteArticle(ctx, p.Tenant, p.Subject, id)
	})
}

// handleMyArticles lists the published articles, newest first, or with q
// searches them: the best matches first, with highlighted snippets, in one
// page of at most limit (a search has no next page).
func (s *server) handleMyArticles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "portal-kb-articles", "q", "category")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		category, err := categoryFilter(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		tenant := portalAuth(r).Tenant
		if lp.q != "" {
			if lp.after != "" {
				writeError(w, r, s.log, &paramError{name: "cursor", msg: "does not apply to a search, which returns its best matches only"})
				return
			}
			hits, err := s.db.SearchArticles(r.Context(), tenant, lp.q, category, lp.limit)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			items := make([]portalArticleItem, len(hits))
			for i, h := range hits {
				items[i] = articleItem(h.Article, h.Snippet)
			}
			encode(w, r, s.log, http.StatusOK, newPage(items, ""))
			return
		}
		f := store.ArticleFilter{Status: data.ArticlePublished, Category: category}
		pg, err := s.db.Articles(r.Context(), tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		items := make([]portalArticleItem, len(pg.Items))
		for i, a := range pg.Items {
			items[i] = articleItem(a, kb.Excerpt(a.HTML))
		}
		encode(w, r, s.log, http.StatusOK, newPage(items, s.cursors.encode(r, "portal-kb-articles", pg.Next)))
	})
}

func articleItem(a data.Article, snippet string) portalArticleItem {
	return portalArticleItem{ID: a.ID, Title: a.Title, Slug: a.Slug, Category: a.Category, Snippet: snippet, UpdatedAt: a.UpdatedAt}
}

func (s *server) handleMyArticle() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.db.PublishedArticle(r.Context(), portalAuth(r).Tenant, mux.Vars(r)["slug"])
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, portalArticle{ID: a.ID, Title: a.Title, Slug: a.Slug, Category: a.Category,
			HTML: a.HTML, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt})
	})
}
