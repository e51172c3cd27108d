package openapi

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// security says which scheme guards an operation and with which scope.
type security struct {
	scheme string // "" for none
	scope  string
}

var (
	read     = security{"staffJWT", "portal:read"}
	write    = security{"staffJWT", "portal:write"}
	operator = security{"operatorToken", ""}
	session  = security{"portalSession", ""}
	none     = security{}
)

// endpoints is every route the service serves. Removing one from the
// document, or changing its guard, fails TestDocument_Endpoints.
var endpoints = []struct {
	method string
	path   string
	sec    security
}{
	{http.MethodGet, "/v1/customer-portal/config", read},
	{http.MethodPatch, "/v1/customer-portal/config", write},
	{http.MethodGet, "/v1/customer-portal/features", read},
	{http.MethodPatch, "/v1/customer-portal/features/{featureId}/toggle", write},
	{http.MethodGet, "/v1/customer-portal/users", read},
	{http.MethodGet, "/v1/customer-portal/users/{id}", read},
	{http.MethodDelete, "/v1/customer-portal/users/{id}", write},
	{http.MethodDelete, "/v1/customer-portal/users/{id}/access", write},
	{http.MethodPost, "/v1/customer-portal/users/invite", write},
	{http.MethodGet, "/v1/customer-portal/invitations", read},
	{http.MethodPost, "/v1/customer-portal/invitations", write},
	{http.MethodGet, "/v1/customer-portal/invitations/{id}", read},
	{http.MethodDelete, "/v1/customer-portal/invitations/{id}", write},
	{http.MethodPost, "/v1/customer-portal/invitations/{id}/resend", write},
	{http.MethodGet, "/v1/customer-portal/stats", read},
	{http.MethodGet, "/v1/customer-portal/sessions", read},
	{http.MethodDelete, "/v1/customer-portal/sessions/{id}", write},
	{http.MethodGet, "/v1/customer-portal/audit", read},
	{http.MethodGet, "/v1/contacts", read},
	{http.MethodPost, "/v1/contacts", write},
	{http.MethodGet, "/v1/contacts/{id}", read},
	{http.MethodPatch, "/v1/contacts/{id}", write},
	{http.MethodDelete, "/v1/contacts/{id}", write},
	{http.MethodPost, "/v1/contacts/import", write},
	{http.MethodPost, "/v1/portal/invitations/accept", none},
	{http.MethodPost, "/v1/portal/login", none},
	{http.MethodPost, "/v1/portal/logout", session},
	{http.MethodGet, "/v1/portal/me", session},
	{http.MethodGet, "/v1/portal/sessions", session},
	{http.MethodDelete, "/v1/portal/sessions/{id}", session},
	{http.MethodPost, "/v1/portal/password/forgot", none},
	{http.MethodPost, "/v1/portal/password/reset", none},
	{http.MethodGet, "/healthz", none},
	{http.MethodGet, "/readyz", none},
	{http.MethodGet, "/metrics", none},
	{http.MethodGet, "/openapi.yaml", none},
	{http.MethodGet, "/v1/admin/backup", operator},
	// Tickets, their attachments and documents (HEAD included).
	{http.MethodGet, "/v1/customer-portal/attachments/{id}", read},
	{http.MethodHead, "/v1/customer-portal/attachments/{id}", read},
	{http.MethodGet, "/v1/customer-portal/documents", read},
	{http.MethodHead, "/v1/customer-portal/documents", read},
	{http.MethodPost, "/v1/customer-portal/documents", write},
	{http.MethodDelete, "/v1/customer-portal/documents/{id}", write},
	{http.MethodGet, "/v1/customer-portal/documents/{id}", read},
	{http.MethodHead, "/v1/customer-portal/documents/{id}", read},
	{http.MethodGet, "/v1/customer-portal/tickets", read},
	{http.MethodHead, "/v1/customer-portal/tickets", read},
	{http.MethodGet, "/v1/customer-portal/tickets/{id}", read},
	{http.MethodHead, "/v1/customer-portal/tickets/{id}", read},
	{http.MethodPatch, "/v1/customer-portal/tickets/{id}", write},
	{http.MethodPost, "/v1/customer-portal/tickets/{id}/messages", write},
	{http.MethodGet, "/v1/portal/attachments/{id}", session},
	{http.MethodHead, "/v1/portal/attachments/{id}", session},
	{http.MethodGet, "/v1/portal/documents", session},
	{http.MethodHead, "/v1/portal/documents", session},
	{http.MethodGet, "/v1/portal/documents/{id}/content", session},
	{http.MethodHead, "/v1/portal/documents/{id}/content", session},
	{http.MethodGet, "/v1/portal/tickets", session},
	{http.MethodHead, "/v1/portal/tickets", session},
	{http.MethodPost, "/v1/portal/tickets", session},
	{http.MethodGet, "/v1/portal/tickets/{id}", session},
	{http.MethodHead, "/v1/portal/tickets/{id}", session},
	{http.MethodPatch, "/v1/portal/tickets/{id}", session},
	{http.MethodPost, "/v1/portal/tickets/{id}/messages", session},
	// Webhooks (HEAD included).
	{http.MethodGet, "/v1/customer-portal/webhooks", read},
	{http.MethodHead, "/v1/customer-portal/webhooks", read},
	{http.MethodPost, "/v1/customer-portal/webhooks", write},
	{http.MethodDelete, "/v1/customer-portal/webhooks/{id}", write},
	{http.MethodGet, "/v1/customer-portal/webhooks/{id}", read},
	{http.MethodHead, "/v1/customer-portal/webhooks/{id}", read},
	{http.MethodPatch, "/v1/customer-portal/webhooks/{id}", write},
	{http.MethodGet, "/v1/customer-portal/webhooks/{id}/deliveries", read},
	{http.MethodHead, "/v1/customer-portal/webhooks/{id}/deliveries", read},
	{http.MethodPost, "/v1/customer-portal/webhooks/{id}/deliveries/{deliveryId}/retry", write},
	{http.MethodPost, "/v1/customer-portal/webhooks/{id}/rotate-secret", write},
	// Knowledge base (HEAD included).
	{http.MethodGet, "/v1/customer-portal/kb/articles", read},
	{http.MethodHead, "/v1/customer-portal/kb/articles", read},
	{http.MethodPost, "/v1/customer-portal/kb/articles", write},
	{http.MethodDelete, "/v1/customer-portal/kb/articles/{id}", write},
	{http.MethodGet, "/v1/customer-portal/kb/articles/{id}", read},
	{http.MethodHead, "/v1/customer-portal/kb/articles/{id}", read},
	{http.MethodPatch, "/v1/customer-portal/kb/articles/{id}", write},
	{http.MethodPost, "/v1/customer-portal/kb/preview", read},
	{http.MethodGet, "/v1/portal/kb/articles", session},
	{http.MethodHead, "/v1/portal/kb/articles", session},
	{http.MethodGet, "/v1/portal/kb/articles/{slug}", session},
	{http.MethodHead, "/v1/portal/kb/articles/{slug}", session},
	// HEAD is served wherever GET is.
	{http.MethodHead, "/v1/customer-portal/config", read},
	{http.MethodHead, "/v1/customer-portal/features", read},
	{http.MethodHead, "/v1/customer-portal/users", read},
	{http.MethodHead, "/v1/customer-portal/users/{id}", read},
	{http.MethodHead, "/v1/customer-portal/invitations", read},
	{http.MethodHead, "/v1/customer-portal/invitations/{id}", read},
	{http.MethodHead, "/v1/customer-portal/stats", read},
	{http.MethodHead, "/v1/customer-portal/sessions", read},
	{http.MethodHead, "/v1/customer-portal/audit", read},
	{http.MethodHead, "/v1/contacts", read},
	{http.MethodHead, "/v1/contacts/{id}", read},
	{http.MethodHead, "/v1/portal/me", session},
	{http.MethodHead, "/v1/portal/sessions", session},
	{http.MethodHead, "/healthz", none},
	{http.MethodHead, "/readyz", none},
	{http.MethodHead, "/metrics", none},
	{http.MethodHead, "/openapi.yaml", none},
	{http.MethodHead, "/v1/admin/backup", operator},
	// Quotes, invoices and orders: the CRM's sync API and the customer API.
	{http.MethodGet, "/v1/customer-portal/quotes", read},
	{http.MethodHead, "/v1/customer-portal/quotes", read},
	{http.MethodGet, "/v1/customer-portal/quotes/{externalId}", read},
	{http.MethodHead, "/v1/customer-portal/quotes/{externalId}", read},
	{http.MethodPut, "/v1/customer-portal/quotes/{externalId}", write},
	{http.MethodDelete, "/v1/customer-portal/quotes/{externalId}", write},
	{http.MethodGet, "/v1/portal/quotes", session},
	{http.MethodHead, "/v1/portal/quotes", session},
	{http.MethodGet, "/v1/portal/quotes/{id}", session},
	{http.MethodHead, "/v1/portal/quotes/{id}", session},
	{http.MethodGet, "/v1/customer-portal/invoices", read},
	{http.MethodHead, "/v1/customer-portal/invoices", read},
	{http.MethodGet, "/v1/customer-portal/invoices/{externalId}", read},
	{http.MethodHead, "/v1/customer-portal/invoices/{externalId}", read},
	{http.MethodPut, "/v1/customer-portal/invoices/{externalId}", write},
	{http.MethodDelete, "/v1/customer-portal/invoices/{externalId}", write},
	{http.MethodGet, "/v1/portal/invoices", session},
	{http.MethodHead, "/v1/portal/invoices", session},
	{http.MethodGet, "/v1/portal/invoices/{id}", session},
	{http.MethodHead, "/v1/portal/invoices/{id}", session},
	{http.MethodGet, "/v1/customer-portal/orders", read},
	{http.MethodHead, "/v1/customer-portal/orders", read},
	{http.MethodGet, "/v1/customer-portal/orders/{externalId}", read},
	{http.MethodHead, "/v1/customer-portal/orders/{externalId}", read},
	{http.MethodPut, "/v1/customer-portal/orders/{externalId}", write},
	{http.MethodDelete, "/v1/customer-portal/orders/{externalId}", write},
	{http.MethodGet, "/v1/portal/orders", session},
	{http.MethodHead, "/v1/portal/orders", session},
	{http.MethodGet, "/v1/portal/orders/{id}", session},
	{http.MethodHead, "/v1/portal/orders/{id}", session},
	{http.MethodPost, "/v1/customer-portal/sync", write},
	{http.MethodPost, "/v1/portal/quotes/{id}/accept", session},
	{http.MethodPost, "/v1/portal/quotes/{id}/decline", session},
	{http.MethodGet, "/v1/portal/invoices/{id}/pdf", session},
	{http.MethodHead, "/v1/portal/invoices/{id}/pdf", session},
}

func load(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return doc
}

func TestLoad(t *testing.T) {
	doc := load(t)
	if got, want := doc.OpenAPI, "3.1.0"; got != want {
		t.Errorf("openapi = %q, want %q", got, want)
	}
	// Validate again, with every error reported, so a failure shows them all.
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestDocument_IsACopy(t *testing.T) {
	a := Document()
	if !bytes.HasPrefix(a, []byte("openapi: 3.1.0\n")) {
		t.Fatalf("Document starts with %q, want the openapi version line", a[:min(len(a), 20)])
	}
	a[0] = 'X'
	if b := Document(); b[0] != 'o' {
		t.Errorf("changing one Document() result changed the next one: got %q", b[:1])
	}
}

func TestDocument_Endpoints(t *testing.T) {
	doc := load(t)
	for _, tt := range endpoints {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			item := doc.Paths.Value(tt.path)
			if item == nil {
				t.Fatalf("path %s is not documented", tt.path)
			}
			op := item.GetOperation(tt.method)
			if op == nil {
				t.Fatalf("%s %s is not documented", tt.method, tt.path)
			}
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", tt.method, tt.path)
			}
			if op.Security == nil {
				t.Fatalf("%s %s: security not stated, want it explicit", tt.method, tt.path)
			}
			got := securityOf(*op.Security)
			want := []string{}
			if tt.sec.scheme != "" {
				want = []string{tt.sec.scheme + ":" + tt.sec.scope}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %s security = %v, want %v", tt.method, tt.path, got, want)
			}
			if _, ok := op.Responses.Map()["500"]; !ok {
				t.Errorf("%s %s does not list 500", tt.method, tt.path)
			}
			if tt.sec.scheme != "" {
				for _, code := range []string{"401", "403"} {
					if (tt.sec.scheme == "portalSession" || tt.sec.scheme == "operatorToken") && code == "403" {
						continue
					}
					if _, ok := op.Responses.Map()[code]; !ok {
						t.Errorf("%s %s is guarded but does not list %s", tt.method, tt.path, code)
					}
				}
			}
		})
	}
}

// TestDocument_NothingUndocumented fails when the document grows an
// operation that the table above (and so the router's test) does not know.
func TestDocument_NothingUndocumented(t *testing.T) {
	doc := load(t)
	want := map[string]bool{}
	for _, e := range endpoints {
		want[e.method+" "+e.path] = true
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !want[method+" "+path] {
				t.Errorf("%s %s is documented but not in the endpoint table", method, path)
			}
		}
	}
}

func securityOf(reqs openapi3.SecurityRequirements) []string {
	out := []string{}
	for _, req := range reqs {
		for scheme, scopes := range req {
			out = append(out, scheme+":"+strings.Join(scopes, " "))
		}
	}
	sort.Strings(out)
	return out
}

// TestDocument_Examples checks that every request body and every 2xx
// response with content has an example (Load has already checked that each
// example fits its schema), and that every response carries X-Request-Id.
func TestDocument_Examples(t *testing.T) {
	doc := load(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if rb := op.RequestBody; rb != nil {
				for mt, media := range rb.Value.Content {
					if media.Example == nil && len(media.Examples) == 0 {
						t.Errorf("%s: request body %s has no example", name, mt)
					}
				}
			}
			for code, resp := range op.Responses.Map() {
				if resp.Value.Headers["X-Request-Id"] == nil {
					t.Errorf("%s %s: no X-Request-Id header", name, code)
				}
				status, err := strconv.Atoi(code)
				if err != nil || status < 200 || status > 299 {
					continue
				}
				for mt, media := range resp.Value.Content {
					if media.Example == nil && len(media.Examples) == 0 {
						t.Errorf("%s %s: response %s has no example", name, code, mt)
					}
				}
			}
		}
	}
}

// TestDocument_RequestBodiesClosed checks that every JSON request body
// refuses unknown members, as the service does (422).
func TestDocument_RequestBodiesClosed(t *testing.T) {
	doc := load(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil {
				continue
			}
			for mt, media := range op.RequestBody.Value.Content {
				if !strings.Contains(mt, "json") {
					continue
				}
				s := media.Schema.Value
				if s.Items != nil {
					s = s.Items.Value
				}
				if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
					t.Errorf("%s %s %s: additionalProperties is not false", method, path, mt)
				}
			}
		}
	}
}
