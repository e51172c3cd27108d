package handlers_test

import (
	"net/http"
	"testing"
)

// TestDecode_NullAndNonObjectBodies checks that a body of null, or a null
// member where the schema allows none, is a 422 naming it, where it used to
// decode to nothing and be carried out (a 202, a 200 that changed nothing).
func TestDecode_NullAndNonObjectBodies(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	c := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com"})
	tests := []struct {
		name, method, path, body, field, message string
	}{
		{"forgot, null body", http.MethodPost, "/v1/portal/password/forgot", `null`, "", "must be a JSON object"},
		{"login, null body", http.MethodPost, "/v1/portal/login", ` null `, "", "must be a JSON object"},
		{"contact patch, null body", http.MethodPatch, "/v1/contacts/" + c.ID, `null`, "", "must be a JSON object"},
		{"contact create, string body", http.MethodPost, "/v1/contacts", `"ada@example.com"`, "", "must be a JSON object"},
		{"contact create, null member", http.MethodPost, "/v1/contacts", `{"email": "bea@example.com", "firstName": null}`, "firstName", "must not be null"},
		{"invitation, null email", http.MethodPost, "/v1/customer-portal/invitations", `{"email": null}`, "email", "must not be null"},
		{"invitation, null expiry", http.MethodPost, "/v1/customer-portal/invitations", `{"email": "cy@example.com", "expiresInHours": null}`, "expiresInHours", "must not be null"},
		{"forgot, null member", http.MethodPost, "/v1/portal/password/forgot", `{"portal": "acme", "email": null}`, "email", "must not be null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, e.do(tt.method, tt.path, tok, tt.body), http.StatusUnprocessableEntity)
			if got := fieldErrors(t, p)[tt.field]; got != tt.message {
				t.Errorf("got errors %v, want %q for field %q", p["errors"], tt.message, tt.field)
			}
		})
	}
	// A contact patch's null still clears a member: its field decodes null itself.
	r := e.do(http.MethodPatch, "/v1/contacts/"+c.ID, tok, `{"firstName": null}`)
	wantStatus(t, r, http.StatusOK)
}

// TestDecode_RequiredMembers checks that a member the schema requires and
// the body leaves out is a 422 naming it, where a forgot-password without
// an email or portal was answered 202.
func TestDecode_RequiredMembers(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	tests := []struct {
		name, path, body string
		fields           []string
	}{
		{"forgot without email", "/v1/portal/password/forgot", `{"portal": "acme"}`, []string{"email"}},
		{"forgot without portal", "/v1/portal/password/forgot", `{"email": "ada@example.com"}`, []string{"portal"}},
		{"forgot empty", "/v1/portal/password/forgot", `{}`, []string{"email", "portal"}},
		{"invitation without email", "/v1/customer-portal/invitations", `{"firstName": "Ada"}`, []string{"email"}},
		{"contact invite without contact", "/v1/customer-portal/users/invite", `{"role": "member"}`, []string{"contactId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, e.do(http.MethodPost, tt.path, tok, tt.body), http.StatusUnprocessableEntity)
			got := fieldErrors(t, p)
			for _, f := range tt.fields {
				if got[f] != "is required" {
					t.Errorf("got errors %v, want %s: is required", got, f)
				}
			}
		})
	}
	// Present but empty is the schema's string, not a missing member: 202.
	wantStatus(t, e.do(http.MethodPost, "/v1/portal/password/forgot", "", `{"portal": "", "email": ""}`), http.StatusAccepted)
}

// TestDecode_EmptyEnum checks that an empty string for an enum member is
// refused like any value outside it, where an invitation with "role": ""
// was created as a member.
func TestDecode_EmptyEnum(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	c := e.mustCreateContact(tok, map[string]any{"email": "ada@example.com"})
	tests := []struct{ name, path, body string }{
		{"invitation", "/v1/customer-portal/invitations", `{"email": "bea@example.com", "role": ""}`},
		{"contact invitation", "/v1/customer-portal/users/invite", `{"contactId": "` + c.ID + `", "role": ""}`},
		{"invitation, unknown role", "/v1/customer-portal/invitations", `{"email": "cy@example.com", "role": "owner"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, e.do(http.MethodPost, tt.path, tok, tt.body), http.StatusUnprocessableEntity)
			if got := fieldErrors(t, p)["role"]; got != "must be member or admin" {
				t.Errorf("got errors %v, want role: must be member or admin", p["errors"])
			}
		})
	}
	// Left out, the role is member.
	inv := e.invite(tok, "dee@example.com")
	if inv.Role != "member" {
		t.Errorf("got role %q without one sent, want member", inv.Role)
	}
}
