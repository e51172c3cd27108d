package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

// roundTrip fails unless a decoded request survives a re-encode and decode.
func roundTrip[T any](t *testing.T, req T) {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("%T %+v does not encode: %v", req, req, err)
	}
	again, err := decodeBytes[T](raw)
	if err != nil || !reflect.DeepEqual(again, req) {
		t.Fatalf("%T %+v re-decodes from %s as %+v, %v", req, req, raw, again, err)
	}
}

// FuzzDecodeInvitationRequest feeds the bodies of POST /invitations and
// POST /users/invite. Errors are fine; a panic fails, and so does a success
// that does not survive a re-encode.
func FuzzDecodeInvitationRequest(f *testing.F) {
	for _, seed := range []string{
		`{"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "accountId": "acc-1", "role": "admin", "message": "Hi", "expiresInHours": 72}`,
		`{"contactId": "01JDQ2X3Y4Z5A6B7C8D9E0F1G2", "role": "member", "message": "", "expiresInHours": 1}`,
		`{"email": "ada@example.com", "expiresInHours": 0}`,
		`{"email": "ada@example.com", "expiresInHours": null}`,
		`{"expiresInHours": 1.5}`,
		`{"expiresInHours": 1e3}`,
		`{"expiresInHours": 99999999999999999999}`,
		`{"email": 5}`,
		`{"status": "active"}`,
		`{"email": "a@example.com"} {}`,
		`{"message": "\ud800"}`,
		"{\"firstName\": \"J\xf6rg\"}",
		`[]`,
		`null`,
		`{}`,
		`{"email": `,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeBytes[invitationRequest](body); err == nil {
			roundTrip(t, req)
			if req.ExpiresInHours != nil && expiryHours(req.ExpiresInHours) == 0 {
				t.Fatalf("explicit expiresInHours %d maps to the portal default", *req.ExpiresInHours)
			}
		}
		if req, err := decodeBytes[contactInviteRequest](body); err == nil {
			roundTrip(t, req)
		}
	})
}

// FuzzDecodeLoginRequest feeds the bodies of login, forgot and reset.
func FuzzDecodeLoginRequest(f *testing.F) {
	for _, seed := range []string{
		`{"portal": "acme", "email": "ada@example.com", "password": "correct horse battery staple"}`,
		`{"portal": "acme", "email": "ada@example.com"}`,
		`{"token": "` + strings.Repeat("A", 43) + `", "password": "x"}`,
		`{"portal": null, "email": null, "password": null}`,
		`{"password": 123}`,
		`{"portal": "acme", "admin": true}`,
		`{"password": "\u0000"}`,
		"{\"password\": \"\xff\xfe\"}",
		`{"email": "a"}{"email": "b"}`,
		`{}`,
		`"login"`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeBytes[loginRequest](body); err == nil {
			roundTrip(t, req)
		}
		if req, err := decodeBytes[forgotRequest](body); err == nil {
			roundTrip(t, req)
		}
		if req, err := decodeBytes[resetRequest](body); err == nil {
			roundTrip(t, req)
		}
	})
}

// FuzzDecodeAcceptRequest feeds the body of POST /v1/portal/invitations/accept.
func FuzzDecodeAcceptRequest(f *testing.F) {
	for _, seed := range []string{
		`{"token": "` + strings.Repeat("A", 43) + `", "password": "correct horse battery staple", "firstName": "Ada", "lastName": "L"}`,
		`{"token": "", "password": ""}`,
		`{"token": ["a"]}`,
		`{"token": "a", "role": "admin"}`,
		`{"firstName": "\ud83d\ude00"}`,
		`{"token": "a", "token": "b"}`,
		`{}`,
		`[{}]`,
		`{"token": `,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeBytes[acceptRequest](body); err == nil {
			roundTrip(t, req)
		}
	})
}

// FuzzCursor feeds arbitrary strings to the cursor parser: it never panics
// and accepts only a cursor that encode made for that list and organization.
func FuzzCursor(f *testing.F) {
	c := cursors{key: []byte("fuzz-cursor-key-0123456789abcdef")}
	r := requestOf("acme")
	for _, seed := range []string{
		c.encode(r, "users", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"),
		c.encode(r, "invitations", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"),
		c.encode(requestOf("globex"), "users", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"),
		c.encode(r, "users", "not-an-id"),
		c.encode(r, "users", "01JDQ2X3Y4Z5A6B7C8D9E0F1G2") + "A",
		"",
		"AAAA",
		"%00",
		strings.Repeat("A", 200),
		base64.RawURLEncoding.EncodeToString([]byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2")),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, list := range []string{"users", "invitations", "sessions", "audit"} {
			id, err := c.decode(r, list, s)
			if err != nil {
				continue
			}
			// decode reads base64 as leniently as encoding/base64 does (it
			// skips \r and \n, and ignores the unused low bits of the last
			// character), so several spellings name one cursor; compare
			// the canonical spelling of what was accepted.
			raw, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil {
				t.Fatalf("list %s accepted cursor %q that is not base64: %v", list, s, err)
			}
			if got, want := base64.RawURLEncoding.EncodeToString(raw), c.encode(r, list, id); got != want {
				t.Fatalf("list %s accepted cursor %q (%q) for id %q, which encode writes as %q", list, s, got, id, want)
			}
		}
	})
}

// requestOf is a request whose caller authentication found in org.
func requestOf(org data.TenantID) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	return r.WithContext(context.WithValue(r.Context(), keyAccess, &access{tenant: org}))
}

// TestCursor_BoundToTenant checks that a cursor is good only for the list
// and the organization it was made for.
func TestCursor_BoundToTenant(t *testing.T) {
	c := cursors{key: []byte("test-cursor-key-0123456789abcdef")}
	const id = "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"
	cur := c.encode(requestOf("acme"), "contacts", id)
	tests := []struct {
		name string
		org  data.TenantID
		list string
		ok   bool
	}{
		{"same organization and list", "acme", "contacts", true},
		{"other organization", "globex", "contacts", false},
		{"other list", "acme", "users", false},
		{"organization whose name ends the other's", "acm", "econtacts", false},
	}
	for _, tt := range tests {
		got, err := c.decode(requestOf(tt.org), tt.list, cur)
		if (err == nil) != tt.ok || (tt.ok && got != id) {
			t.Errorf("%s: got %q, %v, want ok %t", tt.name, got, err, tt.ok)
		}
	}
}
