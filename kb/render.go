// Package kb is the knowledge base's text machinery: Markdown rendered to
// sanitized HTML, and the full-text index customers search. It holds no
// records of its own: the store is the source of truth and keeps the index
// in step with it.
package kb

import (
	"bytes"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"golang.org/x/net/html"
)

// Renderer turns article Markdown into HTML safe to serve to customers. It
// is safe for concurrent use.
type Renderer struct {
	md      goldmark.Markdown
	policy  *bluemonday.Policy
	snippet *bluemonday.Policy
}

// NewRenderer returns a renderer of GitHub-flavoured Markdown. Raw HTML in
// the Markdown is dropped by goldmark (its safe default), and what goldmark
// writes passes bluemonday's UGC policy besides: no script, no event
// handler attribute and no javascript: URL can reach a page.
func NewRenderer() *Renderer {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	return &Renderer{
		md:      goldmark.New(goldmark.WithExtensions(extension.GFM)),
		policy:  p,
		snippet: bluemonday.NewPolicy().AllowElements("mark"),
	}
}

// HTML renders markdown and sanitizes the result.
func (r *Renderer) HTML(markdown string) string {
	var buf bytes.Buffer
	if err := r.md.Convert([]byte(markdown), &buf); err != nil {
		// goldmark's renderer fails only when its writer does, and a
		// bytes.Buffer does not: show the text, escaped, all the same.
		return "<p>" + html.EscapeString(markdown) + "</p>"
	}
	return r.policy.Sanitize(buf.String())
}

// Snippet sanitizes a search snippet: text with <mark> around the terms
// that matched, and no other markup.
func (r *Renderer) Snippet(s string) string { return r.snippet.Sanitize(s) }

// blockElements end a run of text: their text is not glued to the next.
var blockElements = map[string]bool{
	"p": true, "br": true, "li": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"pre": true, "blockquote": true, "tr": true, "td": true, "th": true, "div": true, "hr": true,
	"ul": true, "ol": true, "table": true, "dd": true, "dt": true,
}

// Text is the readable text of rendered HTML, as the index holds it and
// snippets quote it: tags dropped, entities decoded, whitespace collapsed.
func Text(rendered string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(rendered))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.Join(strings.Fields(b.String()), " ")
		case html.TextToken:
			b.Write(z.Text())
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			if blockElements[string(name)] {
				b.WriteByte(' ')
			}
		}
	}
}

// excerptLength is how much of an article's text an excerpt shows.
const excerptLength = 200

// Excerpt is the start of rendered HTML's text, escaped for HTML: what a
// list shows of an article that no search term picked a snippet from.
func Excerpt(rendered string) string {
	return html.EscapeString(truncate(Text(rendered), excerptLength))
}
