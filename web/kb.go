package web

// The Help pages: the knowledge base's published articles, browsed newest
// first or searched, and each article. Both are the knowledge_base
// feature's: while it is off they are "not available", as an unknown page.
// Article HTML was rendered and sanitized when staff wrote it, snippets
// when the index made them; the pages add no markup of their own to them.

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/kb"
	"github.com/salesos/portal/store"
)

// Help page limits.
const (
	articlesPerPage = 20
	maxHelpQuery    = 200
)

// helpItem is an article in the Help list or search results.
type helpItem struct {
	Title, Slug, Category string
	// Snippet is sanitized HTML: escaped text, with <mark> around the terms
	// a search matched.
	Snippet template.HTML
}

// helpData is the Help page.
type helpData struct {
	Query    string
	Articles []helpItem
	// Next continues the list after this article ID; empty on the last page
	// and for a search.
	Next string
}

// articleData is an article's page.
type articleData struct {
	Article data.Article
	// HTML is the article's sanitized HTML.
	HTML template.HTML
}

// helpPortal is requireSession for the Help pages: it also answers 404
// while the feature is off.
func (s *server) helpPortal(w http.ResponseWriter, r *http.Request, slug string) (portal, store.Auth, bool) {
	p, a, ok := s.requireSession(w, r, slug)
	if ok && !p.featureOn("knowledge_base") {
		s.renderMessage(w, r, http.StatusNotFound, s.userView(r, p, a, "Not available", ""), "Help is not available",
			"This portal does not offer help articles at the moment.")
		return p, a, false
	}
	return p, a, ok
}

// help serves /p/{slug}/help: the newest published articles, or with ?q=
// the best matches of a search, with snippets.
func (s *server) help(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.helpPortal(w, r, slug)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if !utf8.ValidString(q) || utf8.RuneCountInString(q) > maxHelpQuery {
		q = ""
	}
	d := helpData{Query: q, Articles: []helpItem{}}
	if q != "" {
		hits, err := s.db.SearchArticles(r.Context(), p.tenant, q, "", articlesPerPage)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		for _, h := range hits {
			d.Articles = append(d.Articles, helpItem{Title: h.Title, Slug: h.Slug, Category: h.Category,
				Snippet: template.HTML(h.Snippet)}) // sanitized by the index: <mark> only
		}
	} else {
		after := r.URL.Query().Get("after")
		if after != "" && !data.ValidID(after) {
			after = ""
		}
		pg, err := s.db.Articles(r.Context(), p.tenant, store.ArticleFilter{Status: data.ArticlePublished}, after, articlesPerPage)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		for _, art := range pg.Items {
			d.Articles = append(d.Articles, helpItem{Title: art.Title, Slug: art.Slug, Category: art.Category,
				Snippet: template.HTML(kb.Excerpt(art.HTML))}) // escaped text
		}
		d.Next = pg.Next
	}
	v := s.userView(r, p, a, "Help", "help")
	v.Data = d
	s.render(w, r, http.StatusOK, "help", v)
}

// helpArticle serves /p/{slug}/help/{articleSlug}: a published article.
// A draft or a missing article is the not-found page.
func (s *server) helpArticle(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.helpPortal(w, r, slug)
	if !ok {
		return
	}
	art, err := s.db.PublishedArticle(r.Context(), p.tenant, strings.TrimPrefix(r.URL.Path, "/p/"+slug+"/help/"))
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := s.userView(r, p, a, art.Title, "help")
	v.Data = articleData{Article: art, HTML: template.HTML(art.HTML)} // rendered and sanitized when written
	s.render(w, r, http.StatusOK, "help_article", v)
}
