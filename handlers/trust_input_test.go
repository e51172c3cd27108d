package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// trustBodyless are the write routes that take no body: they never read
// one, so the size and shape of what is sent does not matter to them.
var trustBodyless = map[string]bool{
	"POST /v1/portal/logout":                                               true,
	"POST /v1/customer-portal/invitations/{id}/resend":                     true,
	"POST /v1/customer-portal/webhooks/{id}/rotate-secret":                 true,
	"POST /v1/customer-portal/webhooks/{id}/deliveries/{deliveryId}/retry": true,
}

// trustMultipart are the routes that take a multipart/form-data upload
// rather than JSON: their limits and refusals are tested with the feature
// (documents_test.go, FuzzReadDocumentForm).
var trustMultipart = map[string]bool{
	"POST /v1/customer-portal/documents": true,
}

// trustBodyLimit is the body limit of a route: 1 MiB, except the contact
// import, which takes up to 8 MiB so that 10,000 rows fit.
func trustBodyLimit(route string) int {
	switch route {
	case "POST /v1/contacts/import":
		return 8 << 20
	case "POST /v1/customer-portal/sync":
		return 32 << 20
	}
	return 1 << 20
}

// trustBodyRoutes are the API routes that read a JSON body, with the
// credential each needs and the path with a's IDs.
type trustBodyRoute struct {
	route, method, path, token string
}

func trustBodyRoutes(t *testing.T, e *trustEnv, a *trustOrg) []trustBodyRoute {
	t.Helper()
	var out []trustBodyRoute
	for _, route := range e.routes {
		method, tpl, _ := strings.Cut(route, " ")
		if (method != http.MethodPost && method != http.MethodPatch && method != http.MethodPut) ||
			!strings.HasPrefix(tpl, "/v1/") || trustBodyless[route] || trustMultipart[route] {
			continue
		}
		tok := ""
		switch {
		case trustStaffRoute(tpl):
			tok = a.token
		case !trustPublicRoutes[route]:
			tok = a.session
		}
		out = append(out, trustBodyRoute{route: route, method: method, path: trustSubstitute(tpl, a), token: tok})
	}
	if len(out) < 11 {
		t.Fatalf("found %d routes that take a body, want every POST and PATCH of the API", len(out))
	}
	return out
}

// TestInput_BodyTooLarge: a body over the limit is 413 on every route that
// reads one, whether or not Content-Length announces it.
func TestInput_BodyTooLarge(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	for _, br := range trustBodyRoutes(t, e, a) {
		limit := trustBodyLimit(br.route)
		pad := strings.Repeat("x", limit)
		body := `{"email":"big@alpha-corp.example","message":"` + pad + `"}`
		if br.route == "POST /v1/contacts/import" {
			body = `[{"email":"big@alpha-corp.example","firstName":"` + pad + `"}]`
		}
		r := e.do(br.method, br.path, br.token, body)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a %d-byte body: got %d, want 413: %.200s", br.route, len(body), r.status, r.body)
		}
		// Chunked, without a Content-Length to refuse up front.
		req, _ := http.NewRequest(br.method, e.srv.URL+br.path, struct{ *strings.Reader }{strings.NewReader(body)})
		req.Header.Set("Content-Type", "application/json")
		if br.token != "" {
			req.Header.Set("Authorization", "Bearer "+br.token)
		}
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatalf("%s chunked: %v", br.route, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a chunked %d-byte body: got %d, want 413", br.route, len(body), res.StatusCode)
		}
	}
}

// TestInput_DeepNesting: JSON nested 10,000 deep is a 400 on every route
// that reads JSON, before any decoder recurses into it.
func TestInput_DeepNesting(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	for _, br := range trustBodyRoutes(t, e, a) {
		for _, body := range []string{`{"email":` + deep + `}`, deep, `{"a":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat("}", 5001)} {
			r := e.do(br.method, br.path, br.token, body)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s with JSON nested 5,000+ deep: got %d, want 400: %.200s", br.route, r.status, r.body)
			}
		}
	}
}

// TestInput_InvalidUTF8: bytes that are not UTF-8 inside JSON strings are
// refused (400 or 422) on every route that reads JSON, never stored (as
// U+FFFD or otherwise) and never a 500.
func TestInput_InvalidUTF8(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	bad := "\xff\xfe\xc3\x28"
	bodies := map[string]string{
		"POST /v1/customer-portal/invitations":                  `{"email":"utf@alpha-corp.example","firstName":"` + bad + `"}`,
		"POST /v1/customer-portal/users/invite":                 `{"contactId":"` + a.contactID + `","message":"` + bad + `"}`,
		"PATCH /v1/customer-portal/config":                      `{"portalName":"` + bad + `"}`,
		"PATCH /v1/customer-portal/features/{featureId}/toggle": `{"enabled":true,"` + bad + `":1}`,
		"POST /v1/contacts":                                     `{"email":"utf8@alpha-corp.example","firstName":"` + bad + `"}`,
		"PATCH /v1/contacts/{id}":                               `{"lastName":"` + bad + `"}`,
		"POST /v1/contacts/import":                              `[{"email":"utf8i@alpha-corp.example","company":"` + bad + `"}]`,
		"POST /v1/portal/invitations/accept":                    `{"token":"` + a.inviteToken + `","password":"long enough password","firstName":"` + bad + `"}`,
		"POST /v1/portal/login":                                 `{"portal":"` + a.slug + `","email":"` + a.userEmail + `","password":"` + bad + `"}`,
		"POST /v1/portal/password/forgot":                       `{"portal":"` + a.slug + `","email":"ann` + bad + `@alpha-corp.example"}`,
		"POST /v1/portal/password/reset":                        `{"token":"` + bad + `","password":"long enough password"}`,
		"POST /v1/portal/tickets":                               `{"subject":"` + bad + `","body":"b"}`,
		"PATCH /v1/portal/tickets/{id}":                         `{"status":"` + bad + `"}`,
		"POST /v1/portal/tickets/{id}/messages":                 `{"body":"` + bad + `"}`,
		"PATCH /v1/customer-portal/tickets/{id}":                `{"assignee":"` + bad + `"}`,
		"POST /v1/customer-portal/tickets/{id}/messages":        `{"body":"` + bad + `"}`,
		"PUT /v1/customer-portal/quotes/{externalId}":           `{"number":"` + bad + `"}`,
		"PUT /v1/customer-portal/invoices/{externalId}":         `{"number":"` + bad + `"}`,
		"PUT /v1/customer-portal/orders/{externalId}":           `{"carrier":"` + bad + `"}`,
		"POST /v1/customer-portal/sync":                         `{"items":[{"kind":"quote","externalId":"` + bad + `","record":{}}]}`,
		"POST /v1/portal/quotes/{id}/accept":                    `{"signerName":"` + bad + `"}`,
		"POST /v1/portal/quotes/{id}/decline":                   `{"reason":"` + bad + `"}`,
		"POST /v1/customer-portal/webhooks":                     `{"url":"https://hooks.example.com/","eventTypes":["ticket.created"],"description":"` + bad + `"}`,
		"PATCH /v1/customer-portal/webhooks/{id}":               `{"description":"` + bad + `"}`,
		"POST /v1/customer-portal/kb/articles":                  `{"title":"t","slug":"s","body":"` + bad + `"}`,
		"PATCH /v1/customer-portal/kb/articles/{id}":            `{"title":"` + bad + `"}`,
		"POST /v1/customer-portal/kb/preview":                   `{"body":"` + bad + `"}`,
	}
	for _, br := range trustBodyRoutes(t, e, a) {
		body, ok := bodies[br.route]
		if !ok {
			t.Errorf("route %s has no invalid UTF-8 case: add one", br.route)
			continue
		}
		r := e.do(br.method, br.path, br.token, body)
		if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s with invalid UTF-8 in a string: got %d, want 400 or 422: %.300s", br.route, r.status, r.body)
		}
		if bytes.Contains(r.body, []byte("\uFFFD")) {
			t.Errorf("%s: the answer carries U+FFFD: the invalid bytes were decoded as text", br.route)
		}
	}
	// CSV too.
	csv := "email,firstName\nutf8csv@alpha-corp.example," + bad + "\n"
	r := e.do(http.MethodPost, "/v1/contacts/import", a.token, csv, "Content-Type", "text/csv")
	if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
		t.Errorf("CSV import with invalid UTF-8: got %d, want 400 or 422: %.300s", r.status, r.body)
	}
}

// TestInput_LimitAbuse: every list of the API refuses a limit that is not
// a whole number from 1 to 100 with a 400 invalid-parameter problem.
func TestInput_LimitAbuse(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	lists := 0
	for _, route := range e.routes {
		method, tpl, _ := strings.Cut(route, " ")
		if method != http.MethodGet || !strings.HasPrefix(tpl, "/v1/") || strings.Contains(tpl, "{") || tpl == "/v1/admin/backup" {
			continue
		}
		tok := a.token
		if !trustStaffRoute(tpl) {
			tok = a.session
		}
		r := e.do(method, tpl, tok, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: got %d: %s", tpl, r.status, r.body)
		}
		if _, isList := r.object(t)["nextCursor"]; !isList {
			continue
		}
		lists++
		for _, limit := range []string{"-1", "0", "101", "1e9", "abc", "", "1.5", "99999999999999999999", "0x10", "%00", "1,2"} {
			path := tpl + "?limit=" + limit
			if limit == "1,2" {
				path = tpl + "?limit=1&limit=2"
			}
			r := e.do(method, path, tok, nil)
			if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("GET %s: got %d %s, want a 400 problem: %.200s", path, r.status, r.header.Get("Content-Type"), r.body)
			}
		}
		for _, limit := range []string{"1", "100"} {
			if r := e.do(method, tpl+"?limit="+limit, tok, nil); r.status != http.StatusOK {
				t.Errorf("GET %s?limit=%s: got %d, want 200", tpl, limit, r.status)
			}
		}
		for _, c := range []string{"garbage", strings.Repeat("A", 5000), url.QueryEscape("../../etc/passwd"), "%FF%FE"} {
			if r := e.do(method, tpl+"?cursor="+c, tok, nil); r.status != http.StatusBadRequest {
				t.Errorf("GET %s?cursor=%.20s: got %d, want 400", tpl, c, r.status)
			}
		}
	}
	if lists < 5 {
		t.Fatalf("found %d lists, want every list of the API", lists)
	}
}
