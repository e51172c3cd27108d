package handlers_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	articlesPath   = "/v1/customer-portal/kb/articles"
	myArticlesPath = "/v1/portal/kb/articles"
)

type articleJSON struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Slug      string    `json:"slug"`
	Category  string    `json:"category"`
	Body      string    `json:"body"`
	Status    string    `json:"status"`
	HTML      string    `json:"html"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type articleItemJSON struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Slug     string `json:"slug"`
	Category string `json:"category"`
	Snippet  string `json:"snippet"`
}

// writeArticle creates an article as staff.
func (e *testEnv) writeArticle(token string, body map[string]any) articleJSON {
	e.t.Helper()
	r := e.do(http.MethodPost, articlesPath, token, body)
	wantStatus(e.t, r, http.StatusCreated)
	var a articleJSON
	r.decode(e.t, &a)
	if loc := r.header.Get("Location"); loc != articlesPath+"/"+a.ID {
		e.t.Fatalf("got Location %q, want %s/%s", loc, articlesPath, a.ID)
	}
	return a
}

// searchSlugs lists or searches the published articles as a customer and
// returns the slugs found, in order.
func (e *testEnv) searchSlugs(session, query string) []string {
	e.t.Helper()
	r := e.do(http.MethodGet, myArticlesPath+query, session, nil)
	wantStatus(e.t, r, http.StatusOK)
	var p struct {
		Data []articleItemJSON `json:"data"`
	}
	r.decode(e.t, &p)
	slugs := []string{}
	for _, a := range p.Data {
		slugs = append(slugs, a.Slug)
	}
	return slugs
}

func TestArticles_StaffLifecycle(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	a := e.writeArticle(acme, map[string]any{"title": "Paying invoices", "slug": "paying-invoices", "category": "Billing",
		"body": "# Invoices\n\nPay your **invoices** online. <script>alert(1)</script> [bad](javascript:alert(1))"})
	if a.Status != "draft" || a.CreatedBy == "" || a.ID == "" || !a.CreatedAt.Equal(fixedStart) {
		t.Errorf("got %+v, want a draft by the token's subject, created now", a)
	}
	if !strings.Contains(a.HTML, "<strong>invoices</strong>") || strings.Contains(a.HTML, "<script") || strings.Contains(a.HTML, "javascript:") {
		t.Errorf("got html %q, want rendered Markdown without script", a.HTML)
	}
	r := e.do(http.MethodGet, articlesPath+"/"+a.ID, acme, nil)
	wantStatus(t, r, http.StatusOK)
	var got articleJSON
	r.decode(t, &got)
	if got != a {
		t.Errorf("got %+v, want %+v", got, a)
	}
	e.clock.Advance(time.Minute)
	r = e.do(http.MethodPatch, articlesPath+"/"+a.ID, acme, map[string]any{"status": "published", "title": "Paying your invoices"})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if got.Status != "published" || got.Title != "Paying your invoices" || !got.UpdatedAt.Equal(fixedStart.Add(time.Minute)) || got.Body != a.Body {
		t.Errorf("got %+v after the patch, want it published and retitled, the body kept", got)
	}
	r = e.do(http.MethodPatch, articlesPath+"/"+a.ID, acme, `{"body":"*new*"}`, "Content-Type", "application/merge-patch+json")
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if got.HTML != "<p><em>new</em></p>\n" {
		t.Errorf("got html %q after a body patch, want it rendered again", got.HTML)
	}
	e.writeArticle(acme, map[string]any{"title": "Draft", "slug": "a-draft", "category": "Other", "status": "draft"})

	tests := []struct {
		name, query string
		want        []string
	}{
		{"all, newest first", "", []string{"a-draft", "paying-invoices"}},
		{"published", "?status=published", []string{"paying-invoices"}},
		{"draft", "?status=draft", []string{"a-draft"}},
		{"category", "?category=Billing", []string{"paying-invoices"}},
		{"no match", "?category=None", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodGet, articlesPath+tt.query, acme, nil)
			wantStatus(t, r, http.StatusOK)
			var p struct {
				Data []articleJSON `json:"data"`
			}
			r.decode(t, &p)
			var slugs []string
			for _, a := range p.Data {
				slugs = append(slugs, a.Slug)
			}
			if !slices.Equal(slugs, tt.want) {
				t.Errorf("got %v, want %v", slugs, tt.want)
			}
		})
	}
	r = e.do(http.MethodGet, articlesPath+"?limit=1", acme, nil)
	wantStatus(t, r, http.StatusOK)
	next, _ := r.json(t)["nextCursor"].(string)
	if next == "" {
		t.Fatalf("got no nextCursor on a page of 1 of 2: %s", r.body)
	}
	r = e.do(http.MethodGet, articlesPath+"?limit=1&cursor="+url.QueryEscape(next), acme, nil)
	wantStatus(t, r, http.StatusOK)
	if d := r.json(t)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["slug"] != "paying-invoices" {
		t.Errorf("got %v on the second page, want paying-invoices", d)
	}

	wantStatus(t, e.do(http.MethodDelete, articlesPath+"/"+a.ID, acme, nil), http.StatusNoContent)
	wantProblem(t, e.do(http.MethodGet, articlesPath+"/"+a.ID, acme, nil), http.StatusNotFound)
	wantProblem(t, e.do(http.MethodDelete, articlesPath+"/"+a.ID, acme, nil), http.StatusNotFound)
}

func TestArticles_StaffErrors(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	a := e.writeArticle(acme, map[string]any{"title": "Taken", "slug": "taken"})
	other := e.writeArticle(acme, map[string]any{"title": "Other", "slug": "other"})
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		field  string
	}{
		{"taken slug", http.MethodPost, articlesPath, map[string]any{"title": "T", "slug": "taken"}, http.StatusConflict, ""},
		{"rename to a taken slug", http.MethodPatch, articlesPath + "/" + other.ID, map[string]any{"slug": "taken"}, http.StatusConflict, ""},
		{"no title", http.MethodPost, articlesPath, map[string]any{"slug": "x"}, http.StatusUnprocessableEntity, "title"},
		{"no slug", http.MethodPost, articlesPath, map[string]any{"title": "x"}, http.StatusUnprocessableEntity, "slug"},
		{"upper-case slug", http.MethodPost, articlesPath, map[string]any{"title": "x", "slug": "Hello"}, http.StatusUnprocessableEntity, "slug"},
		{"slug with a double hyphen", http.MethodPost, articlesPath, map[string]any{"title": "x", "slug": "a--b"}, http.StatusUnprocessableEntity, "slug"},
		{"slug too long", http.MethodPost, articlesPath, map[string]any{"title": "x", "slug": strings.Repeat("a", 101)}, http.StatusUnprocessableEntity, "slug"},
		{"title too long", http.MethodPost, articlesPath, map[string]any{"title": strings.Repeat("t", 201), "slug": "x"}, http.StatusUnprocessableEntity, "title"},
		{"category on two lines", http.MethodPost, articlesPath, map[string]any{"title": "x", "slug": "x", "category": "a\nb"}, http.StatusUnprocessableEntity, "category"},
		{"body too large", http.MethodPost, articlesPath, map[string]any{"title": "x", "slug": "x", "body": strings.Repeat("b", 200<<10+1)}, http.StatusUnprocessableEntity, "body"},
		{"unknown status", http.MethodPost, articlesPath, map[string]any{"title": "x", "slug": "x", "status": "hidden"}, http.StatusUnprocessableEntity, "status"},
		{"empty status", http.MethodPatch, articlesPath + "/" + a.ID, map[string]any{"status": ""}, http.StatusUnprocessableEntity, "status"},
		{"unknown member", http.MethodPost, articlesPath, map[string]any{"title": "x", "slug": "x", "html": "<b>"}, http.StatusUnprocessableEntity, "html"},
		{"html is read-only", http.MethodPatch, articlesPath + "/" + a.ID, map[string]any{"html": "<script>"}, http.StatusUnprocessableEntity, "html"},
		{"unknown article", http.MethodPatch, articlesPath + "/01ARZ3NDEKTSV4RRFFQ69G5FAV", map[string]any{"title": "x"}, http.StatusNotFound, ""},
		{"not an ID", http.MethodGet, articlesPath + "/taken", nil, http.StatusNotFound, ""},
		{"bad status filter", http.MethodGet, articlesPath + "?status=gone", nil, http.StatusBadRequest, ""},
		{"unknown filter", http.MethodGet, articlesPath + "?q=x", nil, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, e.do(tt.method, tt.path, acme, tt.body), tt.status)
			if tt.field != "" {
				if _, ok := fieldErrors(t, p)[tt.field]; !ok {
					t.Errorf("got %v, want an error for %s", p, tt.field)
				}
			}
		})
	}
	// A reader may read but not write.
	reader := e.tokenFor("acme", "portal:read")
	wantStatus(t, e.do(http.MethodGet, articlesPath, reader, nil), http.StatusOK)
	wantProblem(t, e.do(http.MethodPost, articlesPath, reader, map[string]any{"title": "x", "slug": "x"}), http.StatusForbidden)
	wantProblem(t, e.do(http.MethodDelete, articlesPath+"/"+a.ID, reader, nil), http.StatusForbidden)
}

func TestArticles_Preview(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	reader := e.tokenFor("acme", "portal:read")
	const previewPath = "/v1/customer-portal/kb/preview"
	md := "# Invoices\n\nPay your **invoices** online. <script>alert(1)</script> [bad](javascript:alert(1)) <img src=x onerror=alert(1)>"

	// A reader may preview: it writes nothing.
	r := e.do(http.MethodPost, previewPath, reader, map[string]any{"body": md})
	wantStatus(t, r, http.StatusOK)
	var got struct {
		HTML string `json:"html"`
	}
	r.decode(t, &got)
	for _, bad := range []string{"<script", "javascript:", "onerror", "<img"} {
		if strings.Contains(got.HTML, bad) {
			t.Errorf("preview holds %q: %q", bad, got.HTML)
		}
	}
	if !strings.Contains(got.HTML, "<strong>invoices</strong>") || !strings.Contains(got.HTML, ">Invoices</h1>") {
		t.Errorf("got preview %q, want the Markdown formatted", got.HTML)
	}
	var list struct {
		Data []articleJSON `json:"data"`
	}
	r = e.do(http.MethodGet, articlesPath, acme, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &list)
	if len(list.Data) != 0 {
		t.Errorf("after a preview got articles %+v, want none", list.Data)
	}
	// The preview is exactly the HTML the article gets when written.
	a := e.writeArticle(acme, map[string]any{"title": "Paying invoices", "slug": "paying-invoices", "body": md})
	if a.HTML != got.HTML {
		t.Errorf("article html %q, preview %q: want the same", a.HTML, got.HTML)
	}

	tests := []struct {
		name   string
		token  string
		body   any
		status int
		field  string
	}{
		{"empty body", acme, map[string]any{"body": ""}, http.StatusOK, ""},
		{"body at the limit", acme, map[string]any{"body": strings.Repeat("b", 200<<10)}, http.StatusOK, ""},
		{"body too large for an article", acme, map[string]any{"body": strings.Repeat("b", 200<<10+1)}, http.StatusUnprocessableEntity, "body"},
		{"NUL in the body", acme, map[string]any{"body": "a\x00b"}, http.StatusUnprocessableEntity, "body"},
		{"body missing", acme, map[string]any{}, http.StatusUnprocessableEntity, "body"},
		{"unknown member", acme, map[string]any{"body": "x", "title": "t"}, http.StatusUnprocessableEntity, "title"},
		{"request too large", acme, map[string]any{"body": strings.Repeat("b", 1<<20)}, http.StatusRequestEntityTooLarge, ""},
		{"no token", "", map[string]any{"body": "x"}, http.StatusUnauthorized, ""},
		{"no scope", e.tokenFor("acme", "profile"), map[string]any{"body": "x"}, http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPost, previewPath, tt.token, tt.body)
			if tt.status == http.StatusOK {
				wantStatus(t, r, http.StatusOK)
				return
			}
			p := wantProblem(t, r, tt.status)
			if tt.field != "" {
				if _, ok := fieldErrors(t, p)[tt.field]; !ok {
					t.Errorf("got %v, want an error for %s", p, tt.field)
				}
			}
		})
	}
	// GET is no preview.
	wantProblem(t, e.do(http.MethodGet, previewPath, acme, nil), http.StatusMethodNotAllowed)
}

func TestArticles_Search(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	session := e.customer(acme, "c@example.com", nil)
	e.writeArticle(acme, map[string]any{"title": "Billing", "slug": "billing", "category": "Billing", "status": "published",
		"body": "Download all your **invoices** as PDF from the billing page."})
	e.writeArticle(acme, map[string]any{"title": "Passwords", "slug": "passwords", "category": "Account", "status": "published",
		"body": "Reset a forgotten password from the login page."})
	draft := e.writeArticle(acme, map[string]any{"title": "Invoice changes", "slug": "invoice-changes", "category": "Billing",
		"body": "Upcoming changes to invoices."})

	r := e.do(http.MethodGet, myArticlesPath+"?q=invoice", session, nil)
	wantStatus(t, r, http.StatusOK)
	var p struct {
		Data       []articleItemJSON `json:"data"`
		NextCursor *string           `json:"nextCursor"`
	}
	r.decode(t, &p)
	if len(p.Data) != 1 || p.Data[0].Slug != "billing" || p.NextCursor != nil {
		t.Fatalf("got %+v for q=invoice, want the published billing article only", p)
	}
	if s := p.Data[0].Snippet; !strings.Contains(s, "<mark>invoices</mark>") || strings.Contains(s, "<strong>") {
		t.Errorf("got snippet %q, want the text with <mark>invoices</mark> and no other markup", s)
	}
	if r.json(t)["data"].([]any)[0].(map[string]any)["body"] != nil {
		t.Errorf("got a body member in a customer's list item: %s", r.body)
	}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"list, newest first", "", []string{"passwords", "billing"}},
		{"list by category", "?category=Billing", []string{"billing"}},
		{"search by category", "?q=page&category=Account", []string{"passwords"}},
		{"stemmed title", "?q=passwords", []string{"passwords"}},
		{"no match", "?q=refund", []string{}},
		{"draft never found", "?q=upcoming", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.searchSlugs(session, tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	wantProblem(t, e.do(http.MethodGet, myArticlesPath+"/invoice-changes", session, nil), http.StatusNotFound)
	wantProblem(t, e.do(http.MethodGet, myArticlesPath+"?status=draft", session, nil), http.StatusBadRequest)

	// Publishing brings the draft into search and to its slug; deleting
	// takes it out again.
	wantStatus(t, e.do(http.MethodPatch, articlesPath+"/"+draft.ID, acme, map[string]any{"status": "published"}), http.StatusOK)
	if got := e.searchSlugs(session, "?q=invoice"); len(got) != 2 {
		t.Errorf("got %v after publishing, want both billing articles", got)
	}
	r = e.do(http.MethodGet, myArticlesPath+"/invoice-changes", session, nil)
	wantStatus(t, r, http.StatusOK)
	art := r.json(t)
	if art["html"] != "<p>Upcoming changes to invoices.</p>\n" || art["body"] != nil || art["status"] != nil || art["createdBy"] != nil {
		t.Errorf("got %v, want the customer's view: html, without body, status or author", art)
	}
	wantStatus(t, e.do(http.MethodDelete, articlesPath+"/"+draft.ID, acme, nil), http.StatusNoContent)
	if got := e.searchSlugs(session, "?q=invoice"); !slices.Equal(got, []string{"billing"}) {
		t.Errorf("got %v after delete, want [billing]", got)
	}
	wantProblem(t, e.do(http.MethodGet, myArticlesPath+"/invoice-changes", session, nil), http.StatusNotFound)
}

func TestArticles_SearchSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newTestEnvWith(t, envOptions{hasher: cheapHasher(), dir: dir})
	acme := e.admin("acme")
	session := e.customer(acme, "c@example.com", nil)
	e.writeArticle(acme, map[string]any{"title": "Billing", "slug": "billing", "status": "published",
		"body": "Where to find your invoices."})
	e.stop()

	e2 := newTestEnvWith(t, envOptions{hasher: cheapHasher(), dir: dir})
	if got := e2.searchSlugs(session, "?q=invoice"); !slices.Equal(got, []string{"billing"}) {
		t.Errorf("got %v after a restart, want [billing]: the index is rebuilt from the store", got)
	}
}

// TestArticles_Visibility is the knowledge base's visibility matrix: every
// customer of the organization reads its published articles, whatever
// their account or role; drafts and other organizations' articles are 404;
// staff read both through the admin API.
func TestArticles_Visibility(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme, globex := e.admin("acme"), e.admin("globex")
	pub := e.writeArticle(acme, map[string]any{"title": "Public guide", "slug": "public-guide", "status": "published", "body": "Guide to invoices."})
	draft := e.writeArticle(acme, map[string]any{"title": "Secret draft", "slug": "secret-draft", "body": "Invoices soon."})
	member, _ := e.customerOf(acme, "member@example.com", "acct-1", "member")
	admin, _ := e.customerOf(acme, "admin@example.com", "acct-1", "admin")
	otherAccount, _ := e.customerOf(acme, "other@example.com", "acct-2", "member")
	otherOrg, _ := e.customerOf(globex, "g@example.com", "acct-1", "admin")
	tests := []struct {
		name          string
		token         string
		path          string
		pub, draft    int
		wantListed    bool
		wantSearchHit bool
	}{
		{"member", member, myArticlesPath + "/", http.StatusOK, http.StatusNotFound, true, true},
		{"customer admin", admin, myArticlesPath + "/", http.StatusOK, http.StatusNotFound, true, true},
		{"other account", otherAccount, myArticlesPath + "/", http.StatusOK, http.StatusNotFound, true, true},
		{"other organization", otherOrg, myArticlesPath + "/", http.StatusNotFound, http.StatusNotFound, false, false},
		{"staff", acme, articlesPath + "/", http.StatusOK, http.StatusOK, true, false},
		{"other organization's staff", globex, articlesPath + "/", http.StatusNotFound, http.StatusNotFound, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pubKey, draftKey := pub.Slug, draft.Slug
			if strings.HasPrefix(tt.path, articlesPath) {
				pubKey, draftKey = pub.ID, draft.ID
			}
			for _, c := range []struct {
				key  string
				want int
			}{{pubKey, tt.pub}, {draftKey, tt.draft}} {
				r := e.do(http.MethodGet, tt.path+c.key, tt.token, nil)
				wantStatus(t, r, c.want)
				if c.want == http.StatusNotFound && strings.Contains(string(r.body), "Secret") {
					t.Errorf("GET %s: got %s, want nothing of the article", tt.path+c.key, r.body)
				}
			}
			list := strings.TrimSuffix(tt.path, "/")
			r := e.do(http.MethodGet, list, tt.token, nil)
			wantStatus(t, r, http.StatusOK)
			if got := strings.Contains(string(r.body), pub.ID); got != tt.wantListed {
				t.Errorf("list: got the published article listed %v, want %v", got, tt.wantListed)
			}
			if strings.HasPrefix(tt.path, myArticlesPath) {
				if strings.Contains(string(r.body), draft.ID) {
					t.Errorf("list: got the draft listed to a customer: %s", r.body)
				}
				r = e.do(http.MethodGet, list+"?q=invoices", tt.token, nil)
				wantStatus(t, r, http.StatusOK)
				if got := strings.Contains(string(r.body), pub.ID); got != tt.wantSearchHit {
					t.Errorf("search: got the published article found %v, want %v", got, tt.wantSearchHit)
				}
				if strings.Contains(string(r.body), draft.ID) {
					t.Errorf("search: got the draft found by a customer: %s", r.body)
				}
			}
		})
	}
}

func TestArticles_FeatureDisabled(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	acme := e.admin("acme")
	a := e.writeArticle(acme, map[string]any{"title": "Guide", "slug": "guide", "status": "published", "body": "Invoices."})
	tok := e.customer(acme, "c@example.com", nil)
	routes := []string{myArticlesPath, myArticlesPath + "?q=invoice", myArticlesPath + "/guide", myArticlesPath + "/missing"}
	for _, path := range routes {
		wantStatus(t, e.do(http.MethodGet, path, tok, nil), map[bool]int{true: http.StatusNotFound, false: http.StatusOK}[strings.HasSuffix(path, "missing")])
	}
	e.setFeature(acme, "knowledge_base", false)
	for _, path := range routes {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			r := e.do(method, path, tok, nil)
			if method == http.MethodHead {
				wantStatus(t, r, http.StatusNotFound)
				continue
			}
			if p := wantProblem(t, r, http.StatusNotFound); p["type"] != "https://salesos.dev/problems/feature-disabled" {
				t.Errorf("%s %s: got problem type %v, want feature-disabled", method, path, p["type"])
			}
		}
		wantProblem(t, e.do(http.MethodGet, path, "", nil), http.StatusUnauthorized)
	}
	// Staff keep writing while the feature is off.
	wantStatus(t, e.do(http.MethodGet, articlesPath+"/"+a.ID, acme, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodPatch, articlesPath+"/"+a.ID, acme, map[string]any{"title": "Guide 2"}), http.StatusOK)
	e.setFeature(acme, "knowledge_base", true)
	wantStatus(t, e.do(http.MethodGet, myArticlesPath+"/guide", tok, nil), http.StatusOK)
}
