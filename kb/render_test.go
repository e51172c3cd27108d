package kb_test

import (
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/kb"
)

// unsafeConstructs parses rendered HTML as a browser would and lists what
// could run script: script-capable elements, event handler attributes, and
// URLs with a script scheme.
func unsafeConstructs(rendered string) []string {
	var found []string
	z := html.NewTokenizer(strings.NewReader(rendered))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return found
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		switch tok.Data {
		case "script", "style", "iframe", "object", "embed", "frame", "frameset", "base", "meta", "link", "form", "svg", "math":
			found = append(found, "element "+tok.Data)
		}
		for _, a := range tok.Attr {
			key := strings.ToLower(a.Key)
			if strings.HasPrefix(key, "on") || key == "style" || key == "srcdoc" {
				found = append(found, "attribute "+key)
			}
			// Browsers drop whitespace and control characters inside a
			// scheme, and ignore its case.
			v := strings.Map(func(r rune) rune {
				if r <= ' ' {
					return -1
				}
				return r
			}, strings.ToLower(a.Val))
			if strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") || strings.HasPrefix(v, "data:text/html") {
				found = append(found, "URL "+a.Val+" in "+key)
			}
		}
	}
}

var renderSeeds = []string{
	"# Title\n\nSome *text* and a [link](https://example.com).",
	"<script>alert(1)</script>",
	"<img src=x onerror=alert(1)>",
	"[x](javascript:alert(1))",
	"[x](JaVaScRiPt:alert(1))",
	"[x](java\tscript:alert(1))",
	"[x](&#106;avascript:alert(1))",
	"![i](javascript:alert(1))",
	"<a href=\"javascript:alert(1)\">x</a>",
	"<svg onload=alert(1)>",
	"`<script>` in code and\n\n```html\n<script>alert(1)</script>\n```",
	"<https://example.com/?q=\"onmouseover=alert(1)>",
	"[x]: javascript:alert(1)\n\n[y][x]",
	"<details open ontoggle=alert(1)>",
	"| a | b |\n|---|---|\n| <b onclick=x>c</b> | d |",
	"www.example.com/javascript:alert(1)",
}

func TestRenderer_HTML(t *testing.T) {
	r := kb.NewRenderer()
	tests := []struct {
		name, md, want string
	}{
		{"emphasis", "Some *text*", "<em>text</em>"},
		{"link", "[docs](https://example.com/a)", `href="https://example.com/a"`},
		{"table", "| a |\n|---|\n| b |", "<table>"},
		{"code escaped", "`<b>`", "<code>&lt;b&gt;</code>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.HTML(tt.md); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
	for _, md := range renderSeeds {
		if bad := unsafeConstructs(r.HTML(md)); len(bad) > 0 {
			t.Errorf("%q rendered %q with %v", md, r.HTML(md), bad)
		}
	}
}

// FuzzRenderHTML asserts that no Markdown renders to HTML holding a script,
// an event handler or a script URL, and that snippets keep no markup but
// <mark>.
func FuzzRenderHTML(f *testing.F) {
	for _, s := range renderSeeds {
		f.Add(s)
	}
	r := kb.NewRenderer()
	f.Fuzz(func(t *testing.T, md string) {
		out := r.HTML(md)
		if bad := unsafeConstructs(out); len(bad) > 0 {
			t.Fatalf("%q rendered %q with %v", md, out, bad)
		}
		snippet := r.Snippet(md)
		z := html.NewTokenizer(strings.NewReader(snippet))
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			if tt == html.StartTagToken || tt == html.EndTagToken || tt == html.SelfClosingTagToken {
				name, hasAttr := z.TagName()
				if string(name) != "mark" || hasAttr {
					t.Fatalf("snippet of %q is %q, with <%s> (attributes: %v)", md, snippet, name, hasAttr)
				}
			}
		}
	})
}

// FuzzSearchSnippet indexes fuzzed Markdown and searches it with a fuzzed
// query: the snippets of whatever is found carry no markup but <mark>, and
// nothing panics on text that is not UTF-8 or on words at the edges.
func FuzzSearchSnippet(f *testing.F) {
	f.Add("Download your **invoices** as PDF.", "invoice")
	f.Add("<script>alert(1)</script> invoices & <b>bills</b>", "invoices bills")
	f.Add(strings.Repeat("word ", 100)+"invoices"+strings.Repeat(" éé", 100), "invoice")
	f.Add("J\xf6rg pays invoices", "j\xf6rg")
	r := kb.NewRenderer()
	x := kb.NewIndex()
	f.Cleanup(func() { _ = x.Close() })
	f.Fuzz(func(t *testing.T, md, q string) {
		a := data.Article{ID: "a1", Title: "T", Slug: "t", Body: md, Status: data.ArticlePublished, HTML: r.HTML(md)}
		if err := x.Put("acme", a); err != nil {
			t.Fatal(err)
		}
		hits, err := x.Search("acme", q, "", 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			z := html.NewTokenizer(strings.NewReader(h.Snippet))
			for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
				if tt == html.StartTagToken || tt == html.EndTagToken || tt == html.SelfClosingTagToken {
					if name, hasAttr := z.TagName(); string(name) != "mark" || hasAttr {
						t.Fatalf("snippet %q of %q for %q has <%s>", h.Snippet, md, q, name)
					}
				}
			}
		}
	})
}
