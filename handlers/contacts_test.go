package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// contactJSON is a contact as the API returns it.
type contactJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	FirstName string    `json:"firstName"`
	LastName  string    `json:"lastName"`
	Phone     string    `json:"phone"`
	Company   string    `json:"company"`
	AccountID string    `json:"accountId"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type contactPage struct {
	Data       []contactJSON `json:"data"`
	NextCursor *string       `json:"nextCursor"`
}

// mustCreateContact creates a contact for the token's organization.
func (e *testEnv) mustCreateContact(token string, body any) contactJSON {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/contacts", token, body)
	wantStatus(e.t, r, http.StatusCreated)
	var c contactJSON
	r.decode(e.t, &c)
	return c
}

// listContacts returns one page of GET /v1/contacts with query.
func (e *testEnv) listContacts(token, query string) contactPage {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/contacts"+query, token, nil)
	wantStatus(e.t, r, http.StatusOK)
	var p contactPage
	r.decode(e.t, &p)
	return p
}

// importContacts posts body to the import endpoint as contentType.
func (e *testEnv) importContacts(token, contentType, body string) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/v1/contacts/import", token, body, "Content-Type", contentType)
}

// wantFields fails unless the validation problem p names every field.
func wantFields(t *testing.T, p map[string]any, fields ...string) {
	t.Helper()
	got := fieldErrors(t, p)
	for _, f := range fields {
		if _, ok := got[f]; !ok {
			t.Errorf("got error fields %v, want %q among them", got, f)
		}
	}
}

func TestContacts_Create(t *testing.T) {
	tests := []struct {
		name    string
		body    any
		headers []string
		status  int
		fields  []string // for 422
	}{
		{name: "full", body: map[string]any{"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
			"phone": "+44 20 1234", "company": "Engines", "accountId": "acc-1"}, status: http.StatusCreated},
		{name: "email only", body: map[string]any{"email": "ada@example.com"}, status: http.StatusCreated},
		{name: "name only", body: map[string]any{"firstName": "Ada"}, status: http.StatusCreated},
		{name: "null member", body: `{"firstName": "Ada", "phone": null}`, status: http.StatusUnprocessableEntity, fields: []string{"phone"}},
		{name: "empty object", body: `{}`, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "bad fields", body: map[string]any{"email": "nope", "phone": strings.Repeat("1", 41), "accountId": "a b"},
			status: http.StatusUnprocessableEntity, fields: []string{"email", "phone", "accountId"}},
		{name: "unknown field", body: map[string]any{"email": "ada@example.com", "nickname": "A"},
			status: http.StatusUnprocessableEntity, fields: []string{"nickname"}},
		{name: "id is not writable", body: map[string]any{"email": "ada@example.com", "id": "x"},
			status: http.StatusUnprocessableEntity, fields: []string{"id"}},
		{name: "wrong type", body: `{"email": 5}`, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "not an object", body: `["ada@example.com"]`, status: http.StatusUnprocessableEntity},
		{name: "malformed", body: `{"email": `, status: http.StatusBadRequest},
		{name: "trailing data", body: `{"email": "ada@example.com"} {}`, status: http.StatusBadRequest},
		{name: "not JSON", body: `email=ada@example.com`, headers: []string{"Content-Type", "application/x-www-form-urlencoded"},
			status: http.StatusUnsupportedMediaType},
		{name: "too large", body: `{"company": "` + strings.Repeat("x", 1<<20) + `"}`, status: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			r := e.do(http.MethodPost, "/v1/contacts", e.admin("org-a"), tt.body, tt.headers...)
			if tt.status != http.StatusCreated {
				p := wantProblem(t, r, tt.status)
				wantFields(t, p, tt.fields...)
				if n := len(e.listContacts(e.admin("org-a"), "").Data); n != 0 {
					t.Errorf("got %d contacts, want none", n)
				}
				return
			}
			wantStatus(t, r, http.StatusCreated)
			var c contactJSON
			r.decode(t, &c)
			if c.ID == "" || !c.CreatedAt.Equal(fixedStart) || !c.UpdatedAt.Equal(fixedStart) {
				t.Errorf("got %+v, want an id and timestamps at %v", c, fixedStart)
			}
			if got, want := r.header.Get("Location"), "/v1/contacts/"+c.ID; got != want {
				t.Errorf("got Location %q, want %q", got, want)
			}
			g := e.do(http.MethodGet, "/v1/contacts/"+c.ID, e.admin("org-a"), nil)
			wantStatus(t, g, http.StatusOK)
			var got contactJSON
			g.decode(t, &got)
			if got != c {
				t.Errorf("got %+v, want %+v", got, c)
			}
		})
	}
}

func TestContacts_Create_DuplicateEmail(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	e.mustCreateContact(tok, map[string]any{"email": "ada@example.com"})
	r := e.do(http.MethodPost, "/v1/contacts", tok, map[string]any{"email": "ADA@Example.COM", "firstName": "Other"})
	p := wantProblem(t, r, http.StatusConflict)
	if p["detail"] != "a contact with this email exists" {
		t.Errorf("got detail %v, want the reason", p["detail"])
	}
	// Another organization may hold the same email.
	e.mustCreateContact(e.admin("org-b"), map[string]any{"email": "ada@example.com"})
}

func TestContacts_Get(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	c := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com"})
	tests := []struct {
		name, id string
		status   int
	}{
		{"known", c.ID, http.StatusOK},
		{"unknown", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", http.StatusNotFound},
		{"not an id", "nope", http.StatusNotFound},
		{"lower-case id", strings.ToLower(c.ID), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/v1/contacts/"+tt.id, tok, nil)
			if tt.status != http.StatusOK {
				wantProblem(t, r, tt.status)
				return
			}
			wantStatus(t, r, tt.status)
		})
	}
}

func TestContacts_Patch(t *testing.T) {
	tests := []struct {
		name   string
		body   any
		status int
		fields []string
		check  func(t *testing.T, c contactJSON)
	}{
		{name: "set one field", body: `{"company": "Engines"}`, status: http.StatusOK, check: func(t *testing.T, c contactJSON) {
			if c.Company != "Engines" || c.FirstName != "Ada" || c.Phone != "123" {
				t.Errorf("got %+v, want company set and the rest kept", c)
			}
		}},
		{name: "null clears", body: `{"phone": null, "lastName": null}`, status: http.StatusOK, check: func(t *testing.T, c contactJSON) {
			if c.Phone != "" || c.LastName != "" || c.FirstName != "Ada" {
				t.Errorf("got %+v, want phone and last name cleared", c)
			}
		}},
		{name: "change email", body: `{"email": "ada@new.example"}`, status: http.StatusOK, check: func(t *testing.T, c contactJSON) {
			if c.Email != "ada@new.example" {
				t.Errorf("got email %q, want ada@new.example", c.Email)
			}
		}},
		{name: "empty patch", body: `{}`, status: http.StatusOK, check: func(t *testing.T, c contactJSON) {
			if c.Email != "ada@example.com" || !c.UpdatedAt.Equal(fixedStart) {
				t.Errorf("got %+v, want unchanged", c)
			}
		}},
		{name: "clearing email and names", body: `{"email": null, "firstName": null, "lastName": ""}`,
			status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "invalid email", body: `{"email": "nope"}`, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "unknown field", body: `{"nickname": "A"}`, status: http.StatusUnprocessableEntity, fields: []string{"nickname"}},
		{name: "read-only field", body: `{"createdAt": "2020-01-01T00:00:00Z"}`, status: http.StatusUnprocessableEntity, fields: []string{"createdAt"}},
		{name: "wrong type", body: `{"phone": 123}`, status: http.StatusUnprocessableEntity, fields: []string{"phone"}},
		{name: "not an object", body: `[]`, status: http.StatusUnprocessableEntity},
		{name: "malformed", body: `{`, status: http.StatusBadRequest},
		{name: "duplicate email", body: `{"email": "BABBAGE@example.com"}`, status: http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			tok := e.admin("org-a")
			c := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "phone": "123"})
			e.mustCreateContact(tok, map[string]any{"email": "babbage@example.com"})
			e.clock.Advance(time.Minute)
			r := e.do(http.MethodPatch, "/v1/contacts/"+c.ID, tok, tt.body)
			if tt.status != http.StatusOK {
				p := wantProblem(t, r, tt.status)
				wantFields(t, p, tt.fields...)
				var after contactJSON
				e.do(http.MethodGet, "/v1/contacts/"+c.ID, tok, nil).decode(t, &after)
				if after != c {
					t.Errorf("got %+v after a refused patch, want %+v", after, c)
				}
				return
			}
			wantStatus(t, r, http.StatusOK)
			var got contactJSON
			r.decode(t, &got)
			tt.check(t, got)
			if !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
				t.Errorf("got id %s created %v, want %s %v", got.ID, got.CreatedAt, c.ID, c.CreatedAt)
			}
		})
	}
	t.Run("unknown id", func(t *testing.T) {
		e := newTestEnv(t)
		r := e.do(http.MethodPatch, "/v1/contacts/01JDQ2X3Y4Z5A6B7C8D9E0F1G2", e.admin("org-a"), `{"firstName": "X"}`)
		wantProblem(t, r, http.StatusNotFound)
	})
	t.Run("email freed by a change", func(t *testing.T) {
		e := newTestEnv(t)
		tok := e.admin("org-a")
		c := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com"})
		wantStatus(t, e.do(http.MethodPatch, "/v1/contacts/"+c.ID, tok, `{"email": "ada@new.example"}`), http.StatusOK)
		e.mustCreateContact(tok, map[string]any{"email": "ADA@example.com"})
		wantProblem(t, e.do(http.MethodPost, "/v1/contacts", tok, `{"email": "Ada@New.Example"}`), http.StatusConflict)
	})
}

func TestContacts_Delete(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	c := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com"})
	r := e.do(http.MethodDelete, "/v1/contacts/"+c.ID, tok, nil)
	wantStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("got body %q, want none", r.body)
	}
	wantProblem(t, e.do(http.MethodGet, "/v1/contacts/"+c.ID, tok, nil), http.StatusNotFound)
	wantProblem(t, e.do(http.MethodDelete, "/v1/contacts/"+c.ID, tok, nil), http.StatusNotFound)
	wantProblem(t, e.do(http.MethodDelete, "/v1/contacts/nope", tok, nil), http.StatusNotFound)
	// The email is free again.
	e.mustCreateContact(tok, map[string]any{"email": "ada@example.com"})
}

func TestContacts_List(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	for _, c := range []map[string]any{
		{"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "accountId": "acc-1"},
		{"email": "charles@example.com", "firstName": "Charles", "lastName": "Babbage", "company": "Difference Engines", "accountId": "acc-1"},
		{"firstName": "Mary", "lastName": "Somerville", "accountId": "acc-2"},
	} {
		e.mustCreateContact(tok, c)
	}
	tests := []struct {
		name, query string
		want        []string // first names, newest first
	}{
		{"all", "", []string{"Mary", "Charles", "Ada"}},
		{"q email", "?q=CHARLES%40", []string{"Charles"}},
		{"q full name", "?q=" + url.QueryEscape("ada lovelace"), []string{"Ada"}},
		{"q company", "?q=engines", []string{"Charles"}},
		{"q none", "?q=zzz", nil},
		{"account", "?accountId=acc-1", []string{"Charles", "Ada"}},
		{"account and q", "?accountId=acc-1&q=ada", []string{"Ada"}},
		{"limit", "?limit=1", []string{"Mary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.listContacts(tok, tt.query)
			var got []string
			for _, c := range p.Data {
				got = append(got, c.FirstName)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	bad := []struct{ name, query string }{
		{"limit 0", "?limit=0"},
		{"limit 101", "?limit=101"},
		{"limit not a number", "?limit=ten"},
		{"tampered cursor", "?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"garbage cursor", "?cursor=not*a*cursor"},
		{"unknown parameter", "?status=active"},
		{"bad accountId", "?accountId=" + url.QueryEscape("a b")},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(http.MethodGet, "/v1/contacts"+tt.query, tok, nil), http.StatusBadRequest)
		})
	}
	t.Run("cursor of another list", func(t *testing.T) {
		a := e.do(http.MethodGet, "/v1/customer-portal/audit?limit=1", tok, nil)
		wantStatus(t, a, http.StatusOK)
		next, _ := a.json(t)["nextCursor"].(string)
		if next == "" {
			t.Skip("audit list has one page")
		}
		wantProblem(t, e.do(http.MethodGet, "/v1/contacts?cursor="+next, tok, nil), http.StatusBadRequest)
	})
}

func TestContacts_Paging(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	var created []string
	for i := 0; i < 45; i++ {
		c := e.mustCreateContact(tok, map[string]any{"email": fmt.Sprintf("p%02d@example.com", i)})
		created = append(created, c.ID)
	}
	var seen []string
	query, pages := "?limit=20", 0
	for {
		p := e.listContacts(tok, query)
		pages++
		for _, c := range p.Data {
			seen = append(seen, c.ID)
		}
		if p.NextCursor == nil {
			break
		}
		if pages > 3 {
			t.Fatalf("got more than 3 pages")
		}
		query = "?limit=20&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	if pages != 3 {
		t.Errorf("got %d pages, want 3", pages)
	}
	if len(seen) != len(created) {
		t.Fatalf("got %d contacts, want %d", len(seen), len(created))
	}
	for i, id := range seen {
		if want := created[len(created)-1-i]; id != want {
			t.Fatalf("item %d: got %s, want %s (each once, newest first)", i, id, want)
		}
	}
}

func TestContacts_Tenancy(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.admin("org-a"), e.admin("org-b")
	c := e.mustCreateContact(a, map[string]any{"email": "ada@example.com", "firstName": "Ada"})
	tests := []struct {
		name, method string
		body         any
	}{
		{"get", http.MethodGet, nil},
		{"patch", http.MethodPatch, `{"firstName": "Mallory"}`},
		{"delete", http.MethodDelete, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(tt.method, "/v1/contacts/"+c.ID, b, tt.body), http.StatusNotFound)
		})
	}
	var got contactJSON
	r := e.do(http.MethodGet, "/v1/contacts/"+c.ID, a, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if got != c {
		t.Errorf("got %+v, want unchanged %+v", got, c)
	}
	if n := len(e.listContacts(b, "").Data); n != 0 {
		t.Errorf("org B list: got %d contacts, want 0", n)
	}
	if n := len(e.listContacts(b, "?q=ada").Data); n != 0 {
		t.Errorf("org B search: got %d contacts, want 0", n)
	}
	// An import by B with A's email creates B's own contact.
	res := e.importContacts(b, "application/json", `[{"email": "ada@example.com", "firstName": "Bee"}]`)
	wantStatus(t, res, http.StatusOK)
	if m := res.json(t); m["created"] != float64(1) || m["updated"] != float64(0) {
		t.Errorf("got %v, want created 1, updated 0", m)
	}
	e.do(http.MethodGet, "/v1/contacts/"+c.ID, a, nil).decode(t, &got)
	if got != c {
		t.Errorf("got %+v after B's import, want unchanged %+v", got, c)
	}
}

func TestContacts_ReadOnlyToken(t *testing.T) {
	e := newTestEnv(t)
	c := e.mustCreateContact(e.admin("org-a"), map[string]any{"email": "ada@example.com"})
	ro := e.tokenFor("org-a", "portal:read")
	tests := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
	}{
		{"list", http.MethodGet, "/v1/contacts", nil, nil, http.StatusOK},
		{"get", http.MethodGet, "/v1/contacts/" + c.ID, nil, nil, http.StatusOK},
		{"create", http.MethodPost, "/v1/contacts", `{"email": "b@example.com"}`, nil, http.StatusForbidden},
		{"patch", http.MethodPatch, "/v1/contacts/" + c.ID, `{"firstName": "X"}`, nil, http.StatusForbidden},
		{"delete", http.MethodDelete, "/v1/contacts/" + c.ID, nil, nil, http.StatusForbidden},
		{"import", http.MethodPost, "/v1/contacts/import", "email\nb@example.com\n", []string{"Content-Type", "text/csv"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, ro, tt.body, tt.headers...)
			if tt.status == http.StatusOK {
				wantStatus(t, r, tt.status)
				return
			}
			wantProblem(t, r, tt.status)
		})
	}
	if n := len(e.listContacts(ro, "").Data); n != 1 {
		t.Errorf("got %d contacts, want 1 (nothing changed)", n)
	}
	wantProblem(t, e.do(http.MethodGet, "/v1/contacts", "", nil), http.StatusUnauthorized)
}

func TestContacts_Import_CSV(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	existing := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com", "firstName": "Ada", "phone": "123"})
	body := "\ufeffEMAIL,FirstName,lastname,Company\r\n" +
		"ADA@example.com,,Lovelace,Engines\r\n" +
		"charles@example.com,Charles,Babbage,\r\n" +
		"\"\",\"Mary, Jane\",Somerville,\"The \"\"Society\"\"\"\r\n"
	r := e.importContacts(tok, "text/csv; charset=utf-8", body)
	wantStatus(t, r, http.StatusOK)
	if m := r.json(t); m["created"] != float64(2) || m["updated"] != float64(1) {
		t.Fatalf("got %v, want created 2, updated 1", m)
	}
	var ada contactJSON
	e.do(http.MethodGet, "/v1/contacts/"+existing.ID, tok, nil).decode(t, &ada)
	if ada.FirstName != "Ada" || ada.LastName != "Lovelace" || ada.Company != "Engines" || ada.Phone != "123" {
		t.Errorf("got %+v, want the row's fields over the kept ones", ada)
	}
	p := e.listContacts(tok, "?q=somerville")
	if len(p.Data) != 1 || p.Data[0].FirstName != "Mary, Jane" || p.Data[0].Company != `The "Society"` || p.Data[0].Email != "" {
		t.Errorf("got %+v, want the quoted fields", p.Data)
	}
	if n := len(e.listContacts(tok, "").Data); n != 3 {
		t.Errorf("got %d contacts, want 3", n)
	}
	// The same file again updates the two rows with email and creates the
	// one without.
	r = e.importContacts(tok, "text/csv", body)
	wantStatus(t, r, http.StatusOK)
	if m := r.json(t); m["created"] != float64(1) || m["updated"] != float64(2) {
		t.Errorf("got %v, want created 1, updated 2", m)
	}
}

func TestContacts_Import_JSON(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	existing := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com", "firstName": "Ada"})
	r := e.importContacts(tok, "application/json", `[
		{"email": "Ada@Example.com", "company": "Engines"},
		{"email": "charles@example.com", "firstName": "Charles", "accountId": "acc-1"},
		{"firstName": "Mary", "phone": ""}
	]`)
	wantStatus(t, r, http.StatusOK)
	if m := r.json(t); m["created"] != float64(2) || m["updated"] != float64(1) {
		t.Fatalf("got %v, want created 2, updated 1", m)
	}
	var ada contactJSON
	e.do(http.MethodGet, "/v1/contacts/"+existing.ID, tok, nil).decode(t, &ada)
	if ada.Company != "Engines" || ada.FirstName != "Ada" {
		t.Errorf("got %+v, want company set and first name kept", ada)
	}
	if p := e.listContacts(tok, "?accountId=acc-1"); len(p.Data) != 1 || p.Data[0].Email != "charles@example.com" {
		t.Errorf("got %+v, want charles", p.Data)
	}
	audit := e.do(http.MethodGet, "/v1/customer-portal/audit?limit=1", tok, nil)
	wantStatus(t, audit, http.StatusOK)
	var ap struct {
		Data []struct{ Action, Detail string } `json:"data"`
	}
	audit.decode(t, &ap)
	if len(ap.Data) != 1 || ap.Data[0].Action != "contacts.import" || ap.Data[0].Detail != "created 2, updated 1" {
		t.Errorf("got audit %+v, want one contacts.import entry", ap.Data)
	}
}

func TestContacts_Import_Rejected(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		status                  int
		fields                  []string
	}{
		{"csv bad rows", "text/csv", "email,firstName,phone\nok@example.com,Ok,\nnope,Bad,\n,," + "\n,Long," + strings.Repeat("9", 41) + "\n",
			422, []string{"rows[1].email", "rows[2].email", "rows[3].phone"}},
		{"csv duplicate email names both rows", "text/csv", "email\na@example.com\nb@example.com\nA@EXAMPLE.com\n",
			422, []string{"rows[0].email", "rows[2].email"}},
		{"csv unknown column", "text/csv", "email,nickname\na@example.com,A\n", 422, []string{"header[1]"}},
		{"csv repeated column", "text/csv", "email,Email\na@example.com,b@example.com\n", 422, []string{"header[1]"}},
		{"csv wrong field count", "text/csv", "email,firstName\na@example.com,A\nb@example.com\nc@example.com,C,extra\nbad,D\n",
			422, []string{"rows[1]", "rows[2]", "rows[3].email"}},
		{"csv bare quote", "text/csv", "email,firstName\na@example.com,A\nb@example.com,Jo\"hn\n", 422, []string{"rows[1]"}},
		{"csv unclosed quote", "text/csv", "email,firstName\na@example.com,\"A\n", 422, []string{"rows[0]"}},
		{"csv not utf-8", "text/csv", "email,firstName\na@example.com,J\xf6rg\n", 422, []string{""}},
		{"csv empty", "text/csv", "", 422, []string{""}},
		{"csv only bom", "text/csv", "\ufeff", 422, []string{""}},
		{"csv header only", "text/csv", "email,firstName\n", 422, []string{"rows"}},
		{"json bad rows", "application/json", `[{"email": "ok@example.com"}, {"email": "nope"}, {"email": 5}, {"nick": "x"}, 7]`,
			422, []string{"rows[1].email", "rows[2].email", "rows[3].nick", "rows[4]"}},
		{"json duplicate email", "application/json", `[{"email": "a@example.com"}, {"email": "A@example.com"}]`,
			422, []string{"rows[0].email", "rows[1].email"}},
		{"json not an array", "application/json", `{"email": "a@example.com"}`, 422, []string{""}},
		{"json empty array", "application/json", `[]`, 422, []string{"rows"}},
		{"json malformed", "application/json", `[{"email": "a@example.com"`, 400, nil},
		{"json empty body", "application/json", ``, 400, nil},
		{"wrong content type", "text/plain", "email\na@example.com\n", 415, nil},
		{"no content type", "", "email\na@example.com\n", 415, nil},
		{"too large", "text/csv", "email\n" + strings.Repeat("a", 8<<20) + "\n", 413, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			tok := e.admin("org-a")
			e.mustCreateContact(tok, map[string]any{"email": "ok@example.com", "firstName": "Before"})
			r := e.importContacts(tok, tt.contentType, tt.body)
			p := wantProblem(t, r, tt.status)
			wantFields(t, p, tt.fields...)
			// Nothing is written: the one contact from before is unchanged.
			page := e.listContacts(tok, "")
			if len(page.Data) != 1 || page.Data[0].FirstName != "Before" {
				t.Errorf("got %+v, want only the unchanged contact from before", page.Data)
			}
		})
	}
}

func TestContacts_Import_ErrorCap(t *testing.T) {
	e := newTestEnv(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := 0; i < 500; i++ {
		b.WriteString("not-an-email\n")
	}
	p := wantProblem(t, e.importContacts(e.admin("org-a"), "text/csv", b.String()), http.StatusUnprocessableEntity)
	got := fieldErrors(t, p)
	if len(got) != 100 {
		t.Errorf("got %d errors, want 100", len(got))
	}
	wantFields(t, p, "rows[0].email")
	if p["errorCount"] != float64(500) {
		t.Errorf("got errorCount %v, want 500", p["errorCount"])
	}
}

// realisticContactsCSV returns a CSV of n contact rows of about 120 bytes each.
func realisticContactsCSV(n int) string {
	var b strings.Builder
	b.WriteString("email,firstName,lastName,phone,company,accountId\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "firstname.lastname%05d@customer-domain.example,Firstname%d,Lastname-%d,+1 (555) 010-%04d,\"Company %d, Incorporated\",acct-%07d\n",
			i, i, i, i%10000, i%300, i%500)
	}
	return b.String()
}

func TestContacts_Import_10000Rows(t *testing.T) {
	e := newTestEnv(t)
	tok := e.admin("org-a")
	body := realisticContactsCSV(10000)
	if len(body) <= 1<<20 {
		t.Fatalf("got a %d-byte body, want more than 1 MiB to test the import limit", len(body))
	}
	start := time.Now()
	r := e.importContacts(tok, "text/csv", body)
	d := time.Since(start)
	wantStatus(t, r, http.StatusOK)
	if m := r.json(t); m["created"] != float64(10000) || m["updated"] != float64(0) {
		t.Fatalf("got %v, want created 10000", m)
	}
	t.Logf("imported 10,000 rows (%d bytes) in %v", len(body), d)
	// About 2s under -race on an idle machine; the bound is loose because
	// test machines are shared, and still catches a quadratic import.
	if d > 30*time.Second {
		t.Errorf("import took %v, want a few seconds", d)
	}
	p := e.listContacts(tok, "?q=firstname.lastname09999%40")
	if len(p.Data) != 1 || p.Data[0].Company != "Company 99, Incorporated" {
		t.Errorf("got %+v, want the last row", p.Data)
	}
	// Importing the file again updates every row.
	r = e.importContacts(tok, "text/csv", body)
	wantStatus(t, r, http.StatusOK)
	if m := r.json(t); m["created"] != float64(0) || m["updated"] != float64(10000) {
		t.Fatalf("got %v, want updated 10000", m)
	}
}

func TestContacts_Import_TooManyRows(t *testing.T) {
	tests := []struct{ name, contentType, body string }{
		{"csv", "text/csv", realisticContactsCSV(10001)},
		{"json", "application/json", "[" + strings.TrimSuffix(strings.Repeat(`{"firstName":"x"},`, 10001), ",") + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			tok := e.admin("org-a")
			p := wantProblem(t, e.importContacts(tok, tt.contentType, tt.body), http.StatusUnprocessableEntity)
			wantFields(t, p, "rows")
			if n := len(e.listContacts(tok, "").Data); n != 0 {
				t.Errorf("got %d contacts, want none", n)
			}
		})
	}
}
