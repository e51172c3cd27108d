package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
)

// trustSubstitute fills a route template's variables with organization
// o's IDs: the ID of the kind of record the route names.
func trustSubstitute(tpl string, o *trustOrg) string {
	p := strings.ReplaceAll(tpl, "{featureId}", "invoices")
	switch {
	case strings.HasPrefix(p, "/v1/customer-portal/users/"):
		p = strings.Replace(p, "{id}", o.userID, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/invitations/"):
		p = strings.Replace(p, "{id}", o.pendingInvID, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/sessions/"), strings.HasPrefix(p, "/v1/portal/sessions/"):
		p = strings.Replace(p, "{id}", o.sessionID, 1)
	case strings.HasPrefix(p, "/v1/contacts/"):
		p = strings.Replace(p, "{id}", o.contactID, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/tickets/"), strings.HasPrefix(p, "/v1/portal/tickets/"):
		p = strings.Replace(p, "{id}", o.ticketID, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/documents/"), strings.HasPrefix(p, "/v1/portal/documents/"):
		p = strings.Replace(p, "{id}", o.documentID, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/quotes/"):
		p = strings.Replace(p, "{externalId}", o.quoteExt, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/invoices/"):
		p = strings.Replace(p, "{externalId}", o.invoiceExt, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/orders/"):
		p = strings.Replace(p, "{externalId}", o.orderExt, 1)
	case strings.HasPrefix(p, "/v1/portal/quotes/"):
		p = strings.Replace(p, "{id}", o.quoteID, 1)
	case strings.HasPrefix(p, "/v1/portal/invoices/"):
		p = strings.Replace(p, "{id}", o.invoiceID, 1)
	case strings.HasPrefix(p, "/v1/portal/orders/"):
		p = strings.Replace(p, "{id}", o.orderID, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/webhooks/"):
		p = strings.Replace(p, "{id}", o.webhookID, 1)
		p = strings.Replace(p, "{deliveryId}", o.deliveryID, 1)
	case strings.HasPrefix(p, "/v1/customer-portal/kb/articles/"):
		p = strings.Replace(p, "{id}", o.articleID, 1)
	case strings.HasPrefix(p, "/v1/portal/kb/articles/"):
		p = strings.Replace(p, "{slug}", o.articleSlug, 1)
	}
	return p
}

// trustNoLeak fails if r's body holds any of owner's secrets other than
// those the caller sent itself (echo).
func trustNoLeak(t *testing.T, what string, r trustResp, owner *trustOrg, echo ...string) {
	t.Helper()
	for _, s := range trustLeaks(r, owner.secrets(), echo...) {
		t.Errorf("%s: got status %d with %q of organization %s in the body: %.400s", what, r.status, s, owner.org, r.body)
	}
}

// trustLeaks returns the secrets r's body holds, leaving out echo. A
// problem document's instance (the request's own path) is not searched;
// the JSON- and HTML-unescaped forms of the body are.
func trustLeaks(r trustResp, secrets []string, echo ...string) []string {
	body := string(r.body)
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		var p map[string]any
		if json.Unmarshal(r.body, &p) == nil {
			delete(p, "instance")
			raw, _ := json.Marshal(p)
			body = string(raw)
		}
	}
	unescape := strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">", "&#43;", "+", "&amp;", "&",
		"&#39;", "'", "&#34;", `"`, "&lt;", "<", "&gt;", ">", "&quot;", `"`, "%40", "@")
	forms := []string{strings.ToLower(body), strings.ToLower(unescape.Replace(body))}
	var found []string
	for _, s := range secrets {
		if s == "" || slices.Contains(echo, s) {
			continue
		}
		for _, f := range forms {
			if strings.Contains(f, strings.ToLower(s)) {
				found = append(found, s)
				break
			}
		}
	}
	return found
}

// TestTrustLeaks checks the leak detector itself: a secret is found raw,
// escaped or in another case, but not in a problem's echoed instance.
func TestTrustLeaks(t *testing.T) {
	secrets := []string{"ann.alpha@alpha-corp.example", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", "Alpha & Sons <Ltd>"}
	tests := []struct {
		name, ct, body string
		want           int
	}{
		{"raw", "application/json", `{"email":"ann.alpha@alpha-corp.example"}`, 1},
		{"upper case", "application/json", `{"email":"ANN.ALPHA@ALPHA-CORP.EXAMPLE"}`, 1},
		{"JSON escaped", "application/json", `{"name":"Alpha \u0026 Sons \u003cLtd\u003e"}`, 1},
		{"HTML escaped", "text/html", `<p>Alpha &amp; Sons &lt;Ltd&gt;</p>`, 1},
		{"URL escaped", "text/html", `<a href="?email=ann.alpha%40alpha-corp.example">`, 1},
		{"instance only", "application/problem+json", `{"status":404,"instance":"/v1/contacts/01JDQ2X3Y4Z5A6B7C8D9E0F1G2"}`, 0},
		{"detail of a problem", "application/problem+json", `{"status":409,"detail":"01JDQ2X3Y4Z5A6B7C8D9E0F1G2"}`, 1},
		{"nothing", "application/json", `{"data":[]}`, 0},
	}
	for _, tt := range tests {
		r := trustResp{status: 200, header: http.Header{"Content-Type": {tt.ct}}, body: []byte(tt.body)}
		if got := trustLeaks(r, secrets); len(got) != tt.want {
			t.Errorf("%s: got leaks %q, want %d", tt.name, got, tt.want)
		}
	}
	r := trustResp{header: http.Header{}, body: []byte(secrets[0])}
	if got := trustLeaks(r, secrets, secrets[0]); len(got) != 0 {
		t.Errorf("echo: got leaks %q, want none", got)
	}
}

// trustWantStatus fails unless r has one of want.
func trustWantStatus(t *testing.T, what string, r trustResp, want ...int) {
	t.Helper()
	if !slices.Contains(want, r.status) {
		t.Errorf("%s: got status %d, want %v: %.400s", what, r.status, want, r.body)
	}
}

// tenancyProbe is what organization b tries against organization a's
// records on one route; it asserts the answers itself.
type tenancyProbe func(t *testing.T, e *trustEnv, a, b *trustOrg)

// trustProbe is the common probe: b sends the request with a's IDs in the
// path and must get one of want, never a byte of a's data.
func trustProbe(method string, body any, want ...int) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			path := trustSubstitute(tpl, a)
			r := e.do(method, path, b.token, body)
			trustWantStatus(t, method+" "+path, r, want...)
			trustNoLeak(t, method+" "+path, r, a)
		}
	}
}

// trustSessionProbe is trustProbe for the customer API: b's customer
// session with a's IDs in the path.
func trustSessionProbe(method string, body any, want ...int) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			path := trustSubstitute(tpl, a)
			r := e.do(method, path, b.session, body)
			trustWantStatus(t, method+" "+path, r, want...)
			trustNoLeak(t, method+" "+path, r, a)
		}
	}
}

// trustList is a list probe: b lists (with a's emails as ?q=, a's cursor,
// and the list's filters) and gets only its own records.
func trustList(filters ...string) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			queries := []string{"", "?limit=100", "?q=" + url.QueryEscape(a.userEmail), "?q=" + url.QueryEscape(a.contactEmail)}
			for _, f := range filters {
				queries = append(queries, "?"+f)
			}
			// a's own cursor of the same list, replayed by b.
			if r := e.do(http.MethodGet, tpl+"?limit=1", a.token, nil); r.status == http.StatusOK {
				if c, ok := r.object(t)["nextCursor"].(string); ok && c != "" {
					queries = append(queries, "?cursor="+url.QueryEscape(c))
				}
			}
			for _, q := range queries {
				r := e.do(http.MethodGet, tpl+q, b.token, nil)
				trustWantStatus(t, "GET "+tpl+q, r, http.StatusOK, http.StatusBadRequest)
				trustNoLeak(t, "GET "+tpl+q, r, a)
			}
		}
	}
}

// trustPublic is a probe of a route that needs no token and names no
// organization's records: whatever b's token, nothing of a comes back.
func trustPublic(method string, body any, want ...int) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			for _, tok := range []string{"", b.token, b.session} {
				r := e.do(method, tpl, tok, body)
				trustWantStatus(t, method+" "+tpl, r, want...)
				trustNoLeak(t, method+" "+tpl, r, a)
			}
		}
	}
}

// trustHead is the probe of a HEAD route: b asks with its own credential
// (none on the public routes) and a's IDs in the path, gets one of want and
// no body, so nothing of a.
func trustHead(want ...int) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			path := trustSubstitute(tpl, a)
			tok := ""
			switch {
			case trustStaffRoute(tpl):
				tok = b.token
			case strings.HasPrefix(tpl, "/v1/portal/"):
				tok = b.session
			}
			r := e.do(http.MethodHead, path, tok, nil)
			trustWantStatus(t, "HEAD "+path, r, want...)
			if len(r.body) != 0 {
				t.Errorf("HEAD %s: got a body of %d bytes, want none", path, len(r.body))
			}
		}
	}
}

// trustCustomerProbe is trustProbe on the customer API: b's customer, with
// b's session, asks for a's IDs in the path.
func trustCustomerProbe(want ...int) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			path := trustSubstitute(tpl, a)
			r := e.do(http.MethodGet, path, b.session, nil)
			trustWantStatus(t, "GET "+path, r, want...)
			trustNoLeak(t, "GET "+path, r, a)
		}
	}
}

// tenancyMatrix maps every route the router serves to its probe. A route
// without an entry fails TestTenancy_EveryRoute.
var tenancyMatrix = map[string]func(tpl string) tenancyProbe{
	"GET /healthz":      trustPublic(http.MethodGet, nil, http.StatusOK),
	"GET /readyz":       trustPublic(http.MethodGet, nil, http.StatusOK),
	"GET /openapi.yaml": trustPublic(http.MethodGet, nil, http.StatusOK),
	"GET /metrics":      trustPublic(http.MethodGet, nil, http.StatusOK, http.StatusNotFound),
	// The backup holds every organization: only the installation's operator
	// token opens it, never an organization's staff token.
	"GET /v1/admin/backup": trustProbe(http.MethodGet, nil, http.StatusUnauthorized),

	"HEAD /healthz":                             trustHead(http.StatusOK),
	"HEAD /readyz":                              trustHead(http.StatusOK),
	"HEAD /openapi.yaml":                        trustHead(http.StatusOK),
	"HEAD /metrics":                             trustHead(http.StatusOK, http.StatusNotFound),
	"HEAD /v1/admin/backup":                     trustHead(http.StatusUnauthorized),
	"HEAD /v1/customer-portal/config":           trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/features":         trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/audit":            trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/users":            trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/users/{id}":       trustHead(http.StatusNotFound),
	"HEAD /v1/customer-portal/invitations":      trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/invitations/{id}": trustHead(http.StatusNotFound),
	"HEAD /v1/customer-portal/stats":            trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/sessions":         trustHead(http.StatusOK),
	"HEAD /v1/contacts":                         trustHead(http.StatusOK),
	"HEAD /v1/contacts/{id}":                    trustHead(http.StatusNotFound),
	"HEAD /v1/portal/me":                        trustHead(http.StatusOK),
	"HEAD /v1/portal/sessions":                  trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/tickets":          trustHead(http.StatusOK),
	"HEAD /v1/customer-portal/tickets/{id}":     trustHead(http.StatusNotFound),
	"HEAD /v1/portal/tickets":                   trustHead(http.StatusOK),
	"HEAD /v1/portal/tickets/{id}":              trustHead(http.StatusNotFound),
	"HEAD /v1/portal/attachments/{id}":          trustHead(http.StatusNotFound),
	"HEAD /v1/customer-portal/attachments/{id}": trustHead(http.StatusNotFound),
	"GET /v1/portal/attachments/{id}":           trustSessionProbe(http.MethodGet, nil, http.StatusNotFound),
	"GET /v1/customer-portal/attachments/{id}":  trustProbe(http.MethodGet, nil, http.StatusNotFound),

	// Tickets: b's staff and b's customer against a's ticket.
	"GET /v1/customer-portal/tickets":                trustList("status=open", "accountId=acct-1", "priority=normal"),
	"GET /v1/customer-portal/tickets/{id}":           trustProbe(http.MethodGet, nil, http.StatusNotFound),
	"PATCH /v1/customer-portal/tickets/{id}":         trustProbe(http.MethodPatch, map[string]any{"status": "closed"}, http.StatusNotFound),
	"POST /v1/customer-portal/tickets/{id}/messages": trustProbe(http.MethodPost, map[string]any{"body": "hijack"}, http.StatusNotFound),
	"GET /v1/portal/tickets":                         trustSessionProbe(http.MethodGet, nil, http.StatusOK),
	"POST /v1/portal/tickets":                        trustSessionProbe(http.MethodPost, map[string]any{"subject": "b's", "body": "b's"}, http.StatusCreated),
	"GET /v1/portal/tickets/{id}":                    trustSessionProbe(http.MethodGet, nil, http.StatusNotFound),
	"PATCH /v1/portal/tickets/{id}":                  trustSessionProbe(http.MethodPatch, map[string]any{"status": "solved"}, http.StatusNotFound),
	"POST /v1/portal/tickets/{id}/messages":          trustSessionProbe(http.MethodPost, map[string]any{"body": "hijack"}, http.StatusNotFound),

	"GET /v1/customer-portal/config": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodGet, tpl, b.token, nil)
			trustWantStatus(t, "GET config", r, http.StatusOK)
			trustNoLeak(t, "GET config", r, a)
			if got := r.object(t)["slug"]; got != b.slug {
				t.Errorf("GET config: got slug %v, want the caller's %s", got, b.slug)
			}
		}
	},
	"PATCH /v1/customer-portal/config": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodPatch, tpl, b.token, map[string]any{"welcomeMessage": "changed by b"}, "If-Match", "*")
			trustWantStatus(t, "PATCH config", r, http.StatusOK)
			trustNoLeak(t, "PATCH config", r, a)
			// Slugs are unique across organizations (the contract's 409);
			// the answer names no organization.
			r = e.do(http.MethodPatch, tpl, b.token, map[string]any{"slug": a.slug})
			trustWantStatus(t, "PATCH config with a's slug", r, http.StatusConflict)
			trustNoLeak(t, "PATCH config with a's slug", r, a, a.slug)
		}
	},
	"GET /v1/customer-portal/features": trustProbe(http.MethodGet, nil, http.StatusOK),
	"PATCH /v1/customer-portal/features/{featureId}/toggle": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodPatch, strings.ReplaceAll(tpl, "{featureId}", "chat"), b.token, nil)
			trustWantStatus(t, "toggle", r, http.StatusOK)
			trustNoLeak(t, "toggle", r, a)
		}
	},
	"GET /v1/customer-portal/audit":      trustList(),
	"GET /v1/customer-portal/users":      trustList("status=active", "status=invited", "accountId=acct-1"),
	"GET /v1/customer-portal/users/{id}": trustUserIDs(http.MethodGet),
	"DELETE /v1/customer-portal/users/{id}": func(tpl string) tenancyProbe {
		return trustUserIDs(http.MethodDelete)(tpl)
	},
	"DELETE /v1/customer-portal/users/{id}/access": func(tpl string) tenancyProbe {
		return trustUserIDs(http.MethodDelete)(tpl)
	},
	"POST /v1/customer-portal/users/invite": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodPost, tpl, b.token, map[string]any{"contactId": a.contactID})
			trustWantStatus(t, "invite a's contact", r, http.StatusNotFound)
			trustNoLeak(t, "invite a's contact", r, a, a.contactID)
		}
	},
	"GET /v1/customer-portal/invitations": trustList("status=pending", "status=accepted", "status=cancelled", "status=expired"),
	"POST /v1/customer-portal/invitations": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// Emails are unique per organization: b may invite a's user,
			// and the answer neither refuses (which would tell that a has
			// the address) nor touches a's user.
			r := e.do(http.MethodPost, tpl, b.token, map[string]any{"email": a.userEmail})
			trustWantStatus(t, "invite a's user's email", r, http.StatusCreated)
			trustNoLeak(t, "invite a's user's email", r, a, a.userEmail)
		}
	},
	"GET /v1/customer-portal/invitations/{id}":         trustInvitationIDs(http.MethodGet, nil),
	"DELETE /v1/customer-portal/invitations/{id}":      trustInvitationIDs(http.MethodDelete, nil),
	"POST /v1/customer-portal/invitations/{id}/resend": trustInvitationIDs(http.MethodPost, nil),
	"GET /v1/customer-portal/stats": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodGet, tpl, b.token, nil)
			trustWantStatus(t, "stats", r, http.StatusOK)
			trustNoLeak(t, "stats", r, a)
		}
	},
	"GET /v1/customer-portal/sessions": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			trustList()(tpl)(t, e, a, b)
			r := e.do(http.MethodGet, tpl+"?userId="+a.userID, b.token, nil)
			trustWantStatus(t, "sessions of a's user", r, http.StatusOK, http.StatusNotFound)
			trustNoLeak(t, "sessions of a's user", r, a, a.userID)
			if r.status == http.StatusOK {
				if n := len(r.object(t)["data"].([]any)); n != 0 {
					t.Errorf("sessions of a's user: got %d sessions, want none", n)
				}
			}
		}
	},
	"DELETE /v1/customer-portal/sessions/{id}": trustProbe(http.MethodDelete, nil, http.StatusNotFound),

	"GET /v1/customer-portal/documents":         trustList("accountId=acct-1"),
	"HEAD /v1/customer-portal/documents":        trustHead(http.StatusOK),
	"GET /v1/customer-portal/documents/{id}":    trustProbe(http.MethodGet, nil, http.StatusNotFound),
	"HEAD /v1/customer-portal/documents/{id}":   trustHead(http.StatusNotFound),
	"DELETE /v1/customer-portal/documents/{id}": trustProbe(http.MethodDelete, nil, http.StatusNotFound),
	"HEAD /v1/portal/documents":                 trustHead(http.StatusOK),
	"HEAD /v1/portal/documents/{id}/content":    trustHead(http.StatusNotFound),
	"GET /v1/portal/documents":                  trustCustomerProbe(http.StatusOK),
	"GET /v1/portal/documents/{id}/content":     trustCustomerProbe(http.StatusNotFound),
	"POST /v1/customer-portal/documents": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// b uploads for an account of the same name as a's: b's own
			// document, and nothing of a's in the answer.
			body, ct := multipartBody(t, formPart{name: "title", body: []byte("An upload of b")},
				formPart{name: "accountId", body: []byte("acct-1")}, formPart{name: "file", fileName: "b.txt", body: []byte("b's file")})
			r := e.do(http.MethodPost, tpl, b.token, body, "Content-Type", ct)
			trustWantStatus(t, "upload", r, http.StatusCreated)
			trustNoLeak(t, "upload", r, a)
		}
	},

	// Quotes, invoices and orders: b's staff and b's customer against a's
	// records, by the CRM's IDs and the portal's.
	"GET /v1/customer-portal/quotes":                   trustList("status=sent", "accountId=acct-1"),
	"HEAD /v1/customer-portal/quotes":                  trustHead(http.StatusOK),
	"GET /v1/customer-portal/quotes/{externalId}":      trustByRef(http.MethodGet),
	"HEAD /v1/customer-portal/quotes/{externalId}":     trustHead(http.StatusNotFound, http.StatusOK),
	"PUT /v1/customer-portal/quotes/{externalId}":      trustUpsert(func(o *trustOrg) (string, map[string]any) { return o.quoteExt, quoteBody("acct-1", "N-b", 9) }),
	"DELETE /v1/customer-portal/quotes/{externalId}":   trustByRef(http.MethodDelete),
	"GET /v1/customer-portal/invoices":                 trustList("status=open", "accountId=acct-1"),
	"HEAD /v1/customer-portal/invoices":                trustHead(http.StatusOK),
	"GET /v1/customer-portal/invoices/{externalId}":    trustByRef(http.MethodGet),
	"HEAD /v1/customer-portal/invoices/{externalId}":   trustHead(http.StatusNotFound, http.StatusOK),
	"PUT /v1/customer-portal/invoices/{externalId}":    trustUpsert(func(o *trustOrg) (string, map[string]any) { return o.invoiceExt, invoiceBody("acct-1", "N-b", 9) }),
	"DELETE /v1/customer-portal/invoices/{externalId}": trustByRef(http.MethodDelete),
	"GET /v1/customer-portal/orders":                   trustList("status=placed", "accountId=acct-1"),
	"HEAD /v1/customer-portal/orders":                  trustHead(http.StatusOK),
	"GET /v1/customer-portal/orders/{externalId}":      trustByRef(http.MethodGet),
	"HEAD /v1/customer-portal/orders/{externalId}":     trustHead(http.StatusNotFound, http.StatusOK),
	"PUT /v1/customer-portal/orders/{externalId}":      trustUpsert(func(o *trustOrg) (string, map[string]any) { return o.orderExt, orderBody("acct-1", "N-b", 9) }),
	"DELETE /v1/customer-portal/orders/{externalId}":   trustByRef(http.MethodDelete),
	"GET /v1/portal/quotes":                            trustCustomerProbe(http.StatusOK),
	"HEAD /v1/portal/quotes":                           trustHead(http.StatusOK),
	"GET /v1/portal/quotes/{id}":                       trustCustomerProbe(http.StatusNotFound),
	"HEAD /v1/portal/quotes/{id}":                      trustHead(http.StatusNotFound),
	"POST /v1/portal/quotes/{id}/accept":               trustSessionProbe(http.MethodPost, map[string]any{"signerName": "Mallory"}, http.StatusNotFound),
	"POST /v1/portal/quotes/{id}/decline":              trustSessionProbe(http.MethodPost, map[string]any{"reason": "no"}, http.StatusNotFound),
	"GET /v1/portal/invoices":                          trustCustomerProbe(http.StatusOK),
	"HEAD /v1/portal/invoices":                         trustHead(http.StatusOK),
	"GET /v1/portal/invoices/{id}":                     trustCustomerProbe(http.StatusNotFound),
	"HEAD /v1/portal/invoices/{id}":                    trustHead(http.StatusNotFound),
	"GET /v1/portal/invoices/{id}/pdf":                 trustCustomerProbe(http.StatusNotFound),
	"HEAD /v1/portal/invoices/{id}/pdf":                trustHead(http.StatusNotFound),
	"GET /v1/portal/orders":                            trustCustomerProbe(http.StatusOK),
	"HEAD /v1/portal/orders":                           trustHead(http.StatusOK),
	"GET /v1/portal/orders/{id}":                       trustCustomerProbe(http.StatusNotFound),
	"HEAD /v1/portal/orders/{id}":                      trustHead(http.StatusNotFound),
	"POST /v1/customer-portal/sync": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// b syncs records under a's external IDs: b's own records.
			body := map[string]any{"items": []map[string]any{
				{"kind": "quote", "externalId": a.quoteExt, "record": quoteBody("acct-1", "N-b", 9)},
				{"kind": "order", "externalId": a.orderExt, "record": orderBody("acct-1", "N-b", 9)}}}
			r := e.do(http.MethodPost, tpl, b.token, body)
			trustWantStatus(t, "sync with a's external IDs", r, http.StatusOK)
			trustNoLeak(t, "sync with a's external IDs", r, a, a.quoteExt, a.orderExt)
		}
	},
	"GET /v1/customer-portal/webhooks":                                     trustList(),
	"HEAD /v1/customer-portal/webhooks":                                    trustHead(http.StatusOK),
	"GET /v1/customer-portal/webhooks/{id}":                                trustProbe(http.MethodGet, nil, http.StatusNotFound),
	"HEAD /v1/customer-portal/webhooks/{id}":                               trustHead(http.StatusNotFound),
	"PATCH /v1/customer-portal/webhooks/{id}":                              trustProbe(http.MethodPatch, map[string]any{"enabled": false}, http.StatusNotFound),
	"DELETE /v1/customer-portal/webhooks/{id}":                             trustProbe(http.MethodDelete, nil, http.StatusNotFound),
	"POST /v1/customer-portal/webhooks/{id}/rotate-secret":                 trustProbe(http.MethodPost, nil, http.StatusNotFound),
	"GET /v1/customer-portal/webhooks/{id}/deliveries":                     trustProbe(http.MethodGet, nil, http.StatusNotFound),
	"HEAD /v1/customer-portal/webhooks/{id}/deliveries":                    trustHead(http.StatusNotFound),
	"POST /v1/customer-portal/webhooks/{id}/deliveries/{deliveryId}/retry": trustProbe(http.MethodPost, nil, http.StatusNotFound),
	"POST /v1/customer-portal/webhooks": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// b registers a's URL: b's own webhook, and nothing of a's.
			r := e.do(http.MethodPost, tpl, b.token, map[string]any{"url": a.webhookURL, "eventTypes": []string{"ticket.created"}})
			trustWantStatus(t, "register a's URL", r, http.StatusCreated)
			trustNoLeak(t, "register a's URL", r, a, a.webhookURL)
		}
	},
	// Knowledge base: b's staff and b's customers against a's articles.
	"GET /v1/customer-portal/kb/articles":         trustList("status=published", "status=draft", "category=Guides"),
	"HEAD /v1/customer-portal/kb/articles":        trustHead(http.StatusOK),
	"GET /v1/customer-portal/kb/articles/{id}":    trustProbe(http.MethodGet, nil, http.StatusNotFound),
	"HEAD /v1/customer-portal/kb/articles/{id}":   trustHead(http.StatusNotFound),
	"PATCH /v1/customer-portal/kb/articles/{id}":  trustProbe(http.MethodPatch, map[string]any{"title": "Hijacked"}, http.StatusNotFound),
	"DELETE /v1/customer-portal/kb/articles/{id}": trustProbe(http.MethodDelete, nil, http.StatusNotFound),
	"HEAD /v1/portal/kb/articles":                 trustHead(http.StatusOK),
	"HEAD /v1/portal/kb/articles/{slug}":          trustHead(http.StatusNotFound),
	"GET /v1/portal/kb/articles/{slug}": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			for _, slug := range []string{a.articleSlug, a.draftSlug} {
				path := strings.Replace(tpl, "{slug}", slug, 1)
				r := e.do(http.MethodGet, path, b.session, nil)
				trustWantStatus(t, "GET "+path, r, http.StatusNotFound)
				trustNoLeak(t, "GET "+path, r, a, slug)
			}
		}
	},
	"GET /v1/portal/kb/articles": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// b's customer browses and searches with a's words: b's own
			// published article only, nothing of a's.
			for _, q := range []string{"", "?q=invoices", "?q=" + url.QueryEscape(a.articleTitle), "?category=Guides", "?limit=100"} {
				r := e.do(http.MethodGet, tpl+q, b.session, nil)
				trustWantStatus(t, "GET "+tpl+q, r, http.StatusOK)
				trustNoLeak(t, "GET "+tpl+q, r, a)
			}
		}
	},
	"POST /v1/customer-portal/kb/articles": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// Slugs are unique per organization: b may take a's, and the
			// answer neither refuses nor shows anything of a's article.
			r := e.do(http.MethodPost, tpl, b.token, map[string]any{"title": "b's copy", "slug": a.articleSlug})
			trustWantStatus(t, "write an article with a's slug", r, http.StatusCreated)
			trustNoLeak(t, "write an article with a's slug", r, a, a.articleSlug)
		}
	},
	"POST /v1/customer-portal/kb/preview": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// A preview reads nothing of an organization: the same Markdown
			// renders the same for a's staff and b's, and shows nothing of a's.
			md := map[string]any{"body": "# Invoices\n\nOpen **Billing**."}
			rb := e.do(http.MethodPost, tpl, b.token, md)
			trustWantStatus(t, "preview by b", rb, http.StatusOK)
			trustNoLeak(t, "preview by b", rb, a)
			ra := e.do(http.MethodPost, tpl, a.token, md)
			trustWantStatus(t, "preview by a", ra, http.StatusOK)
			if hb, ha := rb.object(t)["html"], ra.object(t)["html"]; hb != ha || hb == "" {
				t.Errorf("preview: b got %q, a got %q, want the same HTML", hb, ha)
			}
		}
	},

	"GET /v1/contacts": trustList(),
	"POST /v1/contacts": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodPost, tpl, b.token, map[string]any{"email": a.contactEmail, "firstName": "Other"})
			trustWantStatus(t, "create a contact with a's contact's email", r, http.StatusCreated)
			trustNoLeak(t, "create a contact with a's contact's email", r, a, a.contactEmail)
		}
	},
	"POST /v1/contacts/import": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			rows := []map[string]any{{"email": a.inviteOnlyEmail}, {"email": a.userEmail, "firstName": "Imported"}}
			r := e.do(http.MethodPost, tpl, b.token, rows)
			trustWantStatus(t, "import a's emails", r, http.StatusOK)
			trustNoLeak(t, "import a's emails", r, a)
			if m := r.object(t); m["created"] != float64(2) {
				t.Errorf("import a's emails into b: got %v, want 2 created in b", m)
			}
			// A row naming a's contact's ID neither reaches nor reveals it.
			r = e.do(http.MethodPost, tpl, b.token, []map[string]any{{"id": a.contactID, "email": "x@b-corp.example", "firstName": "Hijack"}})
			trustWantStatus(t, "import with a's contact ID", r, http.StatusOK, http.StatusUnprocessableEntity)
			trustNoLeak(t, "import with a's contact ID", r, a, a.contactID)
			csv := "email,firstName\n" + a.contactEmail + ",ViaCSV\n"
			r = e.do(http.MethodPost, tpl, b.token, csv, "Content-Type", "text/csv")
			trustWantStatus(t, "CSV import of a's email", r, http.StatusOK)
			trustNoLeak(t, "CSV import of a's email", r, a)
		}
	},
	"GET /v1/contacts/{id}":    trustProbe(http.MethodGet, nil, http.StatusNotFound),
	"PATCH /v1/contacts/{id}":  trustProbe(http.MethodPatch, map[string]any{"firstName": "Hijacked"}, http.StatusNotFound),
	"DELETE /v1/contacts/{id}": trustProbe(http.MethodDelete, nil, http.StatusNotFound),

	// The customer API: b's customer session against a's records and portal.
	"POST /v1/portal/invitations/accept": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodPost, tpl, b.session, map[string]any{"token": strings.Repeat("x", 43), "password": trustPassword})
			trustWantStatus(t, "accept an unknown token", r, http.StatusGone)
			trustNoLeak(t, "accept an unknown token", r, a)
		}
	},
	"POST /v1/portal/login": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// b's user at a's portal is nobody there.
			r := e.do(http.MethodPost, tpl, "", map[string]any{"portal": a.slug, "email": b.userEmail, "password": trustPassword})
			trustWantStatus(t, "b's user logs in at a's portal", r, http.StatusUnauthorized)
			trustNoLeak(t, "b's user logs in at a's portal", r, a, a.slug)
		}
	},
	"POST /v1/portal/password/forgot": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodPost, tpl, "", map[string]any{"portal": a.slug, "email": b.userEmail})
			trustWantStatus(t, "forgot at a's portal", r, http.StatusAccepted)
			trustNoLeak(t, "forgot at a's portal", r, a, a.slug)
		}
	},
	"POST /v1/portal/password/reset": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodPost, tpl, b.session, map[string]any{"token": strings.Repeat("y", 43), "password": trustPassword})
			trustWantStatus(t, "reset with an unknown token", r, http.StatusGone)
			trustNoLeak(t, "reset with an unknown token", r, a)
		}
	},
	"POST /v1/portal/logout": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			// A second session of b's user, so the other probes keep theirs.
			login := e.do(http.MethodPost, "/v1/portal/login", "", map[string]any{"portal": b.slug, "email": b.userEmail, "password": trustPassword})
			trustWantStatus(t, "b logs in", login, http.StatusOK)
			tok, _ := login.object(t)["accessToken"].(string)
			r := e.do(http.MethodPost, tpl, tok, nil)
			trustWantStatus(t, "b logs out", r, http.StatusNoContent)
			trustNoLeak(t, "b logs out", r, a)
		}
	},
	"GET /v1/portal/me": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodGet, tpl, b.session, nil)
			trustWantStatus(t, "me", r, http.StatusOK)
			trustNoLeak(t, "me", r, a)
		}
	},
	"GET /v1/portal/sessions": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			r := e.do(http.MethodGet, tpl, b.session, nil)
			trustWantStatus(t, "my sessions", r, http.StatusOK)
			trustNoLeak(t, "my sessions", r, a)
		}
	},
	"DELETE /v1/portal/sessions/{id}": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			path := trustSubstitute(tpl, a)
			r := e.do(http.MethodDelete, path, b.session, nil)
			trustWantStatus(t, "end a's session with b's", r, http.StatusNotFound)
			trustNoLeak(t, "end a's session with b's", r, a)
		}
	},

	// The customer pages: b's session cookie on a's portal is no session
	// there (the browser goes to a's login page, which shows a's public
	// branding only); the console is static.
	"* /p/": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			public := []string{a.slug, a.portalName, a.hello, a.supportEmail}
			for _, page := range []string{"", "profile", "sessions"} {
				path := "/p/" + a.slug + "/" + page
				r := e.do(http.MethodGet, path, "", nil, "Cookie", "portal_session="+b.session)
				trustWantStatus(t, "GET "+path+" with b's cookie", r, http.StatusOK, http.StatusSeeOther, http.StatusFound)
				if r.status == http.StatusOK && page != "" {
					t.Errorf("GET %s with b's session cookie: got 200, want a redirect to the login page", path)
				}
				trustNoLeak(t, "GET "+path+" with b's cookie", r, a, public...)
			}
		}
	},
	"* /admin": func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			for _, path := range []string{"/admin", "/admin/"} {
				r := e.do(http.MethodGet, path, b.token, nil)
				trustWantStatus(t, "GET "+path, r, http.StatusOK, http.StatusMovedPermanently)
				trustNoLeak(t, "GET "+path, r, a)
			}
		}
	},
}

// trustUpsert is the probe of a PUT by the CRM's ID: b upserts under a's
// external ID and gets a record of its own (201 the first time), with
// nothing of a's in the answer but the ID b sent.
func trustUpsert(body func(o *trustOrg) (string, map[string]any)) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			ext, rec := body(a)
			path := trustSubstitute(tpl, a)
			r := e.do(http.MethodPut, path, b.token, rec)
			trustWantStatus(t, "PUT "+path, r, http.StatusCreated, http.StatusOK)
			trustNoLeak(t, "PUT "+path, r, a, ext)
		}
	}
}

// trustByRef is the probe of a route by the CRM's ID: external IDs are
// the organization's own, so b reaches a record only if it stored one
// under a's external ID itself (the PUT and sync probes do): 404, or b's
// own record (its number N-b), never a's.
func trustByRef(method string) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			t.Helper()
			path := trustSubstitute(tpl, a)
			ext := path[strings.LastIndex(path, "/")+1:]
			r := e.do(method, path, b.token, nil)
			trustWantStatus(t, method+" "+path, r, http.StatusNotFound, http.StatusOK, http.StatusNoContent)
			if r.status == http.StatusOK && !strings.Contains(string(r.body), `"number":"N-b"`) {
				t.Errorf("%s %s: got %s, want b's own record", method, path, r.body)
			}
			trustNoLeak(t, method+" "+path, r, a, ext)
		}
	}
}

// trustUserIDs tries both of a's users (active and invited).
func trustUserIDs(method string) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			for _, id := range []string{a.userID, a.pendingUserID} {
				path := strings.Replace(tpl, "{id}", id, 1)
				r := e.do(method, path, b.token, nil)
				trustWantStatus(t, method+" "+path, r, http.StatusNotFound)
				trustNoLeak(t, method+" "+path, r, a)
			}
		}
	}
}

// trustInvitationIDs tries both of a's pending invitations.
func trustInvitationIDs(method string, body any) func(tpl string) tenancyProbe {
	return func(tpl string) tenancyProbe {
		return func(t *testing.T, e *trustEnv, a, b *trustOrg) {
			for _, id := range []string{a.pendingInvID, a.inviteOnlyID} {
				path := strings.Replace(tpl, "{id}", id, 1)
				r := e.do(method, path, b.token, body)
				trustWantStatus(t, method+" "+path, r, http.StatusNotFound)
				trustNoLeak(t, method+" "+path, r, a)
			}
		}
	}
}

// trustSnapshot is everything a's own token can read, to prove b changed
// nothing of it.
func trustSnapshot(t *testing.T, e *trustEnv, a *trustOrg) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, path := range []string{"/v1/customer-portal/config", "/v1/customer-portal/features",
		"/v1/customer-portal/users?limit=100", "/v1/customer-portal/invitations?limit=100",
		"/v1/customer-portal/invitations?limit=100&status=cancelled", "/v1/customer-portal/sessions?limit=100",
		"/v1/contacts?limit=100", "/v1/customer-portal/audit?limit=100", "/v1/customer-portal/stats",
		"/v1/customer-portal/users/" + a.userID, "/v1/customer-portal/invitations/" + a.pendingInvID,
		"/v1/contacts/" + a.contactID, "/v1/customer-portal/documents/" + a.documentID,
		"/v1/customer-portal/quotes/" + a.quoteExt, "/v1/customer-portal/invoices/" + a.invoiceExt,
		"/v1/customer-portal/orders/" + a.orderExt,
		"/v1/customer-portal/webhooks?limit=100", "/v1/customer-portal/webhooks/" + a.webhookID,
		"/v1/customer-portal/webhooks/" + a.webhookID + "/deliveries?limit=100"} {
		r := e.do(http.MethodGet, path, a.token, nil)
		if r.status != http.StatusOK {
			t.Fatalf("a reads %s: got %d: %s", path, r.status, r.body)
		}
		var v map[string]any
		_ = json.Unmarshal(r.body, &v)
		delete(v, "generatedAt")
		raw, _ := json.Marshal(v)
		out[path] = string(raw)
	}
	return out
}

// TestTenancy_EveryRoute walks every route the router serves and has
// organization b try each on organization a's records with b's staff token
// and b's customer session: a's IDs are 404, lists hold only b's records,
// no answer carries a byte of a's data, and afterwards a's data is as it
// was. A route without an entry in tenancyMatrix fails the test.
func TestTenancy_EveryRoute(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	b := e.newOrg("org-bravo-9d4", "bravo")
	before := trustSnapshot(t, e, a)

	served := map[string]bool{}
	for _, route := range e.routes {
		served[route] = true
		mk, ok := tenancyMatrix[route]
		if !ok {
			t.Errorf("route %s has no tenancy probe: add it to tenancyMatrix", route)
			continue
		}
		t.Run(route, func(t *testing.T) {
			tpl := route[strings.Index(route, " ")+1:]
			mk(tpl)(t, e, a, b)
		})
	}
	var stale []string
	for route := range tenancyMatrix {
		if !served[route] {
			stale = append(stale, route)
		}
	}
	sort.Strings(stale)
	for _, route := range stale {
		t.Errorf("tenancyMatrix has %s, which the router does not serve", route)
	}

	after := trustSnapshot(t, e, a)
	for path, want := range before {
		if got := after[path]; got != want {
			t.Errorf("a's %s changed while b probed:\nbefore %s\nafter  %s", path, want, got)
		}
	}
	// a's customer session still works.
	if r := e.do(http.MethodGet, "/v1/portal/me", a.session, nil); r.status != http.StatusOK {
		t.Errorf("a's session after b's probes: got %d, want 200", r.status)
	}
}

// TestTenancy_SessionTokensOnAdminRoutes: a customer session token is no
// credential for the admin API, on any of its routes.
func TestTenancy_SessionTokensOnAdminRoutes(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	n := 0
	for _, route := range e.routes {
		method, tpl, _ := strings.Cut(route, " ")
		if !trustStaffRoute(tpl) {
			continue
		}
		n++
		path := trustSubstitute(tpl, a)
		for _, tok := range []string{a.session, "Bearer-less"} {
			var r trustResp
			if tok == "Bearer-less" {
				r = e.do(method, path, "", map[string]any{}, "Authorization", a.session)
			} else {
				r = e.do(method, path, tok, map[string]any{})
			}
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with a customer session token: got %d, want 401: %.300s", method, path, r.status, r.body)
				continue
			}
			if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
				t.Errorf("%s %s: got WWW-Authenticate %q, want a Bearer challenge", method, path, ch)
			}
			trustNoLeak(t, route, r, a)
		}
	}
	if n < 20 {
		t.Fatalf("found %d staff routes, want the whole admin API", n)
	}
}

// trustStaffRoute reports whether a route template is of the admin API,
// which takes staff JWTs only.
func trustStaffRoute(tpl string) bool {
	return strings.HasPrefix(tpl, "/v1/customer-portal") || strings.HasPrefix(tpl, "/v1/contacts") ||
		strings.HasPrefix(tpl, "/v1/admin")
}

// TestCommerce_Visibility is the visibility matrix of the customer routes:
// a member and a customer admin of the account, an admin of another
// account, a customer of another organization, and staff.
func TestCommerce_Visibility(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff, other := e.admin("acme"), e.admin("globex")
	e.enableFeatures(staff, "quotes", "invoices", "orders")
	e.enableFeatures(other, "quotes", "invoices", "orders")
	member, _ := e.customerOf(staff, "mia@example.com", "ACC-1", "member")
	admin, _ := e.customerOf(staff, "ada@example.com", "ACC-1", "admin")
	otherAccount, _ := e.customerOf(staff, "oz@example.com", "ACC-2", "admin")
	otherOrg, _ := e.customerOf(other, "gil@example.com", "ACC-1", "admin")
	ids := map[string]string{}
	for kind, body := range map[string]map[string]any{"quotes": quoteBody("ACC-1", "N-1", 1),
		"invoices": invoiceBody("ACC-1", "N-1", 1), "orders": orderBody("ACC-1", "N-1", 1)} {
		r := e.do(http.MethodPut, "/v1/customer-portal/"+kind+"/ext-1", staff, body)
		wantStatus(t, r, http.StatusCreated)
		ids[kind] = r.json(t)["id"].(string)
	}
	callers := []struct {
		name  string
		token string
		sees  bool
	}{
		{"member", member, true}, {"customer admin", admin, true}, {"other account", otherAccount, false},
		{"other organization", otherOrg, false},
	}
	for _, kind := range []string{"quotes", "invoices", "orders"} {
		paths := []string{"/v1/portal/" + kind + "/" + ids[kind]}
		if kind == "invoices" {
			paths = append(paths, "/v1/portal/invoices/"+ids[kind]+"/pdf")
		}
		for _, c := range callers {
			want := http.StatusNotFound
			if c.sees {
				want = http.StatusOK
			}
			for _, p := range paths {
				if r := e.do(http.MethodGet, p, c.token, nil); r.status != want {
					t.Errorf("%s GET %s: got %d, want %d", c.name, p, r.status, want)
				}
			}
			list := e.do(http.MethodGet, "/v1/portal/"+kind, c.token, nil)
			wantStatus(t, list, http.StatusOK)
			if n, wantN := len(list.json(t)["data"].([]any)), map[bool]int{true: 1, false: 0}[c.sees]; n != wantN {
				t.Errorf("%s lists %d %s, want %d", c.name, n, kind, wantN)
			}
		}
		// Staff use the admin API; a staff token is no session here.
		if r := e.do(http.MethodGet, paths[0], staff, nil); r.status != http.StatusUnauthorized {
			t.Errorf("staff GET %s: got %d, want 401", paths[0], r.status)
		}
		if r := e.do(http.MethodGet, "/v1/customer-portal/"+kind+"/ext-1", staff, nil); r.status != http.StatusOK {
			t.Errorf("staff GET %s by the CRM's ID: got %d, want 200", kind, r.status)
		}
		if r := e.do(http.MethodGet, "/v1/customer-portal/"+kind+"/ext-1", other, nil); r.status != http.StatusNotFound {
			t.Errorf("other organization's staff GET %s: got %d, want 404", kind, r.status)
		}
	}
	// Deciding: the other account and organization see nothing; a member
	// may not decide unless the portal allows it.
	accept := "/v1/portal/quotes/" + ids["quotes"] + "/accept"
	sign := map[string]any{"signerName": "Ada Admin"}
	for _, c := range []struct {
		name, token string
		want        int
	}{{"other organization", otherOrg, http.StatusNotFound}, {"other account", otherAccount, http.StatusNotFound}, {"member", member, http.StatusForbidden}} {
		if r := e.do(http.MethodPost, accept, c.token, sign); r.status != c.want {
			t.Errorf("%s accepts: got %d, want %d", c.name, r.status, c.want)
		}
		if r := e.do(http.MethodPost, "/v1/portal/quotes/"+ids["quotes"]+"/decline", c.token, nil); r.status != c.want {
			t.Errorf("%s declines: got %d, want %d", c.name, r.status, c.want)
		}
	}
	e.patchConfig(staff, map[string]any{"quotesMemberAccept": true})
	r := e.do(http.MethodPost, accept, member, sign, "User-Agent", "visibility-test/1")
	wantStatus(t, r, http.StatusOK)
	a := r.json(t)["acceptance"].(map[string]any)
	if a["signerName"] != "Ada Admin" || a["userAgent"] != "visibility-test/1" || a["ip"] != "127.0.0.1" {
		t.Errorf("got acceptance %v, want the signer, user agent and client address", a)
	}
	wantProblem(t, e.do(http.MethodPost, accept, admin, sign), http.StatusConflict)
}
