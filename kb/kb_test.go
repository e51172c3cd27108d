package kb_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/kb"
)

func article(r *kb.Renderer, id, title, body string, status data.ArticleStatus) data.Article {
	return data.Article{ID: id, Title: title, Slug: id, Body: body, Status: status, HTML: r.HTML(body)}
}

func TestIndex_Stemming(t *testing.T) {
	r := kb.NewRenderer()
	x := kb.NewIndex()
	t.Cleanup(func() { _ = x.Close() })
	if err := x.Put("acme", article(r, "a1", "Billing", "How to download your **invoices** as PDF.", data.ArticlePublished)); err != nil {
		t.Fatal(err)
	}
	if err := x.Put("acme", article(r, "a2", "Passwords", "Reset a forgotten password.", data.ArticlePublished)); err != nil {
		t.Fatal(err)
	}
	if err := x.Put("acme", article(r, "a3", "Invoice draft", "Unpublished invoices.", data.ArticleDraft)); err != nil {
		t.Fatal(err)
	}
	hits, err := x.Search("acme", "invoice", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].ID != "a1" {
		t.Fatalf("got %+v, want only a1", hits)
	}
	if !strings.Contains(hits[0].Snippet, "<mark>invoices</mark>") {
		t.Errorf("got snippet %q, want <mark>invoices</mark> in it", hits[0].Snippet)
	}
	other, err := x.Search("globex", "invoice", "", 10)
	if err != nil || len(other) != 0 {
		t.Errorf("got %v, %v for another organization, want nothing", other, err)
	}
	if err := x.Delete("acme", "a1"); err != nil {
		t.Fatal(err)
	}
	if hits, _ := x.Search("acme", "invoice", "", 10); len(hits) != 0 {
		t.Errorf("got %+v after delete, want nothing", hits)
	}
}

func TestIndex_SnippetEscapes(t *testing.T) {
	r := kb.NewRenderer()
	x := kb.NewIndex()
	t.Cleanup(func() { _ = x.Close() })
	body := "Invoices: `<script>alert(1)</script>` and <img src=x onerror=alert(1)> text"
	if err := x.Put("acme", article(r, "a1", "T", body, data.ArticlePublished)); err != nil {
		t.Fatal(err)
	}
	hits, err := x.Search("acme", "invoices script", "", 10)
	if err != nil || len(hits) != 1 {
		t.Fatalf("got %v, %v, want one hit", hits, err)
	}
	s := strings.ReplaceAll(strings.ReplaceAll(hits[0].Snippet, "<mark>", ""), "</mark>", "")
	if strings.ContainsAny(s, "<>") {
		t.Errorf("got snippet %q, want no markup but <mark>", hits[0].Snippet)
	}
}

func TestIndex_Category(t *testing.T) {
	r := kb.NewRenderer()
	x := kb.NewIndex()
	t.Cleanup(func() { _ = x.Close() })
	a := article(r, "a1", "Invoices", "About invoices.", data.ArticlePublished)
	a.Category = "Billing"
	b := article(r, "a2", "Invoices", "About invoices.", data.ArticlePublished)
	b.Category = "Other"
	if err := x.Reset("acme", []data.Article{a, b}); err != nil {
		t.Fatal(err)
	}
	hits, err := x.Search("acme", "invoice", "Billing", 10)
	if err != nil || len(hits) != 1 || hits[0].ID != "a1" {
		t.Fatalf("got %v, %v, want a1 only", hits, err)
	}
}

// benchCorpus makes n published articles of about 150 words each. Words
// follow Zipf's law over a vocabulary of 5,000, as the words of real text
// do: a handful are in most articles, most are in few.
func benchCorpus(r *kb.Renderer, n int) ([]data.Article, []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	domain := strings.Fields("account billing invoice payment refund password login export report " +
		"integration webhook contract renewal subscription plan upgrade team member role permission " +
		"document upload download ticket support email notification calendar meeting quote order")
	vocab := make([]string, 5000)
	for i := range vocab {
		if i < len(domain) {
			vocab[i] = domain[(i*7)%len(domain)]
			continue
		}
		vocab[i] = fmt.Sprintf("w%dx%s", i, string(rune('a'+i%26)))
	}
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(vocab)-1))
	arts := make([]data.Article, n)
	for i := range arts {
		var body strings.Builder
		for j := 0; j < 150; j++ {
			body.WriteString(vocab[zipf.Uint64()])
			if j%12 == 11 {
				body.WriteString(".\n\n")
			} else {
				body.WriteByte(' ')
			}
		}
		title := vocab[zipf.Uint64()] + " " + vocab[zipf.Uint64()] + " guide"
		arts[i] = article(r, fmt.Sprintf("a%05d", i), title, body.String(), data.ArticlePublished)
	}
	return arts, []string{"invoices", "reset password", "upgrading plans", "webhook integration",
		"download documents", vocab[40], vocab[400] + " " + vocab[41]}
}

// BenchmarkSearch measures one search in an organization of 5,000
// published articles, with snippets, and reports the 99th percentile
// latency (p99-ms) and the CPU time of one search (cpu-ms/op);
// docs/performance.md records them.
func BenchmarkSearch(b *testing.B) {
	r := kb.NewRenderer()
	arts, queries := benchCorpus(r, 5000)
	x := kb.NewIndex()
	b.Cleanup(func() { _ = x.Close() })
	if err := x.Reset("acme", arts); err != nil {
		b.Fatal(err)
	}
	runtime.GC() // the build's garbage is the start-up's, not the searches'
	var lat latencies
	cpu0, n := cpuSeconds(), 0
	for i := 0; b.Loop(); i++ {
		n++
		start := nowNano()
		hits, err := x.Search("acme", queries[i%len(queries)], "", 20)
		lat.add(nowNano() - start)
		if err != nil || len(hits) == 0 {
			b.Fatalf("query %q: got %d hits, %v", queries[i%len(queries)], len(hits), err)
		}
	}
	b.ReportMetric(lat.p99()/1e6, "p99-ms")
	b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(n), "cpu-ms/op")
}

// BenchmarkIndexBuild measures building an organization's index of 5,000
// published articles, as a server does for each organization when it
// starts.
func BenchmarkIndexBuild(b *testing.B) {
	r := kb.NewRenderer()
	arts, _ := benchCorpus(r, 5000)
	for b.Loop() {
		x := kb.NewIndex()
		if err := x.Reset("acme", arts); err != nil {
			b.Fatal(err)
		}
		_ = x.Close()
	}
}

// TestIndex_CloseLeavesNoGoroutine: each organization's index runs
// goroutines of its own, which Close ends, as a server's shutdown needs.
func TestIndex_CloseLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	r := kb.NewRenderer()
	x := kb.NewIndex()
	for _, org := range []data.TenantID{"acme", "globex"} {
		if err := x.Put(org, article(r, "a1", "Invoices", "About invoices.", data.ArticlePublished)); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Reset("acme", []data.Article{article(r, "a2", "Billing", "Billing.", data.ArticlePublished)}); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}
