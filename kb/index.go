package kb

import (
	"errors"
	"html"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/salesos/portal/data"
)

// Index is the full-text index of the published articles, one in-memory
// bleve index per organization, so no query can reach another
// organization's articles. Drafts are never in it. It is safe for
// concurrent use; the store is the only writer.
type Index struct {
	// english analyzes titles and bodies, and marks the terms of a snippet.
	english analysis.Analyzer
	mu      sync.RWMutex
	orgs    map[data.TenantID]bleve.Index
	// built holds the organizations whose index Reset has filled; an
	// organization without published articles is built but has no index.
	built   map[data.TenantID]bool
	mapping mapping.IndexMapping
	render  *Renderer
}

// Fields of an indexed article.
const (
	fieldTitle    = "title"
	fieldBody     = "body"
	fieldCategory = "category"
)

// document is an article as the index holds it: its text, not its Markdown.
type document struct {
	Title    string `json:"title"`
	Body     string `json:"body"`
	Category string `json:"category"`
}

// NewIndex returns an empty index. Titles and bodies are analyzed in
// English (lower case, stop words, Porter stemming, so "invoice" finds
// "invoices"); the category is kept whole, for exact filtering.
func NewIndex() *Index {
	// Snippets are cut from the body's stored text (see snippet), so the
	// index keeps no term vectors: collecting the matches of a common term
	// then reads no positions.
	title := bleve.NewTextFieldMapping()
	title.Analyzer = en.AnalyzerName
	title.Store = false
	title.IncludeTermVectors = false
	body := bleve.NewTextFieldMapping()
	body.Analyzer = en.AnalyzerName
	body.IncludeTermVectors = false
	cat := bleve.NewTextFieldMapping()
	cat.Analyzer = keyword.Name
	cat.Store = false
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fieldTitle, title)
	doc.AddFieldMappingsAt(fieldBody, body)
	doc.AddFieldMappingsAt(fieldCategory, cat)
	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = en.AnalyzerName
	return &Index{orgs: map[data.TenantID]bleve.Index{}, built: map[data.TenantID]bool{}, mapping: m, render: NewRenderer(),
		english: m.AnalyzerNamed(en.AnalyzerName)}
}

// newMemIndex makes an index held in memory only: scorch, bleve's current
// index format, without a path, which keeps its segments in memory and
// persists nothing. (bleve.NewMemOnly builds the older upsidedown format
// on a treap, whose searches at 5,000 articles miss the 10 ms target.)
func newMemIndex(m mapping.IndexMapping) (bleve.Index, error) {
	return bleve.NewUsing("", m, scorch.Name, scorch.Name, nil)
}

func (x *Index) documentOf(a data.Article) document {
	return document{Title: a.Title, Body: Text(a.HTML), Category: a.Category}
}

// orgIndex returns the organization's index, creating it when create is set.
func (x *Index) orgIndex(org data.TenantID, create bool) (bleve.Index, error) {
	x.mu.RLock()
	idx := x.orgs[org]
	x.mu.RUnlock()
	if idx != nil || !create {
		return idx, nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if idx := x.orgs[org]; idx != nil {
		return idx, nil
	}
	idx, err := newMemIndex(x.mapping)
	if err != nil {
		return nil, err
	}
	x.orgs[org] = idx
	return idx, nil
}

// Put brings article a of org into the index: a published article is
// (re)indexed, any other is removed.
func (x *Index) Put(org data.TenantID, a data.Article) error {
	if !a.Published() {
		return x.Delete(org, a.ID)
	}
	idx, err := x.orgIndex(org, true)
	if err != nil {
		return err
	}
	return idx.Index(a.ID, x.documentOf(a))
}

// Delete removes article id of org from the index; an absent one is no error.
func (x *Index) Delete(org data.TenantID, id string) error {
	idx, err := x.orgIndex(org, false)
	if err != nil || idx == nil {
		return err
	}
	return idx.Delete(id)
}

// Built reports whether Reset has filled the index of org.
func (x *Index) Built(org data.TenantID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.built[org]
}

// Reset replaces the index of org with articles (the published ones of
// them), as the store holds them.
func (x *Index) Reset(org data.TenantID, articles []data.Article) error {
	idx, err := x.fill(articles)
	if err != nil {
		return err
	}
	x.mu.Lock()
	old := x.orgs[org]
	if idx != nil {
		x.orgs[org] = idx
	} else {
		delete(x.orgs, org)
	}
	x.built[org] = true
	x.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// fill returns a new index of the published articles, or nil when there
// are none: an organization without them costs no index.
func (x *Index) fill(articles []data.Article) (bleve.Index, error) {
	var idx bleve.Index
	var b *bleve.Batch
	for _, a := range articles {
		if !a.Published() {
			continue
		}
		if idx == nil {
			var err error
			if idx, err = newMemIndex(x.mapping); err != nil {
				return nil, err
			}
			b = idx.NewBatch()
		}
		if err := b.Index(a.ID, x.documentOf(a)); err != nil {
			return nil, errors.Join(err, idx.Close())
		}
	}
	if idx == nil {
		return nil, nil
	}
	if err := idx.Batch(b); err != nil {
		return nil, errors.Join(err, idx.Close())
	}
	return idx, nil
}

// Count is the number of articles indexed for org.
func (x *Index) Count(org data.TenantID) (uint64, error) {
	idx, err := x.orgIndex(org, false)
	if err != nil || idx == nil {
		return 0, err
	}
	return idx.DocCount()
}

// Hit is one article a search found, best first.
type Hit struct {
	ID    string
	Score float64
	// Snippet is HTML: the article's text around the terms that matched,
	// escaped, with <mark> around the terms and no other markup.
	Snippet string
}

// Search finds org's published articles that match q (in the title or the
// body, the title weighing more), within category when it is not empty,
// and returns the best limit of them, best first.
func (x *Index) Search(org data.TenantID, q, category string, limit int) ([]Hit, error) {
	idx, err := x.orgIndex(org, false)
	if err != nil || idx == nil {
		return []Hit{}, err
	}
	title := bleve.NewMatchQuery(q)
	title.SetField(fieldTitle)
	title.SetBoost(2)
	body := bleve.NewMatchQuery(q)
	body.SetField(fieldBody)
	var qq query.Query = bleve.NewDisjunctionQuery(title, body)
	if category != "" {
		c := bleve.NewTermQuery(category)
		c.SetField(fieldCategory)
		qq = bleve.NewConjunctionQuery(qq, c)
	}
	req := bleve.NewSearchRequestOptions(qq, limit, 0, false)
	req.Fields = []string{fieldBody}
	res, err := idx.Search(req)
	if err != nil {
		return nil, err
	}
	terms := map[string]bool{}
	for _, t := range x.english.Analyze([]byte(q)) {
		terms[string(t.Term)] = true
	}
	hits := make([]Hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		text, _ := h.Fields[fieldBody].(string)
		hits = append(hits, Hit{ID: h.ID, Score: h.Score, Snippet: x.render.Snippet(x.snippet(text, terms))})
	}
	return hits, nil
}

// snippetBefore is how much text a snippet shows before its first match.
const snippetBefore = 60

// snippet is HTML: about excerptLength bytes of text around the first word
// whose analyzed term is one of terms, escaped, with <mark> around every
// such word in it; the start of text when no word of it matched (the terms
// were in the title).
func (x *Index) snippet(text string, terms map[string]bool) string {
	tokens := x.english.Analyze([]byte(text))
	first := -1
	for i, t := range tokens {
		if terms[string(t.Term)] {
			first = i
			break
		}
	}
	if first < 0 {
		return html.EscapeString(truncate(text, excerptLength))
	}
	start := runeStart(text, max(0, tokens[first].Start-snippetBefore))
	if i := strings.IndexByte(text[start:tokens[first].Start], ' '); start > 0 && i >= 0 {
		start += i + 1 // begin at a word
	}
	end := runeStart(text, min(len(text), start+excerptLength))
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	at := start
	for _, t := range tokens[first:] {
		if t.End > end {
			break
		}
		if !terms[string(t.Term)] || t.Start < at {
			continue
		}
		b.WriteString(html.EscapeString(text[at:t.Start]))
		b.WriteString("<mark>" + html.EscapeString(text[t.Start:t.End]) + "</mark>")
		at = t.End
	}
	b.WriteString(html.EscapeString(text[at:end]))
	if end < len(text) {
		b.WriteString("…")
	}
	return b.String()
}

// runeStart moves i back to the start of the UTF-8 sequence it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// truncate cuts s to at most n characters, at a rune boundary.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n {
			break
		}
		count++
	}
	return s[:i] + "…"
}

// Close releases every organization's index.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for org, idx := range x.orgs {
		errs = append(errs, idx.Close())
		delete(x.orgs, org)
	}
	clear(x.built)
	return errors.Join(errs...)
}
