package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
)

const (
	invitationsPath = "/v1/customer-portal/invitations"
	usersPath       = "/v1/customer-portal/users"
	sessionsPath    = "/v1/customer-portal/sessions"
	statsPath       = "/v1/customer-portal/stats"
	auditPath       = "/v1/customer-portal/audit"
	acceptPath      = "/v1/portal/invitations/accept"
	loginPath       = "/v1/portal/login"
	mePath          = "/v1/portal/me"
	mySessionsPath  = "/v1/portal/sessions"

	// goodPassword satisfies the default passwordMinLength of 12.
	goodPassword = "correct horse battery staple"
)

// invitationJSON is an invitation as the API returns it.
type invitationJSON struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	UserID     string     `json:"userId"`
	ContactID  string     `json:"contactId"`
	AccountID  string     `json:"accountId"`
	Role       string     `json:"role"`
	Status     string     `json:"status"`
	InvitedBy  string     `json:"invitedBy"`
	Message    string     `json:"message"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  time.Time  `json:"expiresAt"`
	AcceptedAt *time.Time `json:"acceptedAt"`
	AcceptURL  string     `json:"acceptUrl"`
}

// userJSON is a portal user as the API returns it.
type userJSON struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	FirstName   string     `json:"firstName"`
	LastName    string     `json:"lastName"`
	ContactID   string     `json:"contactId"`
	AccountID   string     `json:"accountId"`
	Role        string     `json:"role"`
	Status      string     `json:"status"`
	InvitedAt   *time.Time `json:"invitedAt"`
	ActivatedAt *time.Time `json:"activatedAt"`
	LastLoginAt *time.Time `json:"lastLoginAt"`
	RevokedAt   *time.Time `json:"revokedAt"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// sessionJSON is a customer session as the API returns it.
type sessionJSON struct {
	ID         string    `json:"id"`
	UserID     string    `json:"userId"`
	Email      string    `json:"email"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"userAgent"`
	Current    bool      `json:"current"`
}

// authJSON is the answer of accept and login.
type authJSON struct {
	AccessToken string    `json:"accessToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
	User        userJSON  `json:"user"`
}

// statsJSON is GET /stats.
type statsJSON struct {
	Users struct {
		Total, Invited, Active, Revoked int64
	} `json:"users"`
	Invitations struct {
		Pending, Accepted, Expired, Cancelled int64
	} `json:"invitations"`
	Sessions struct {
		Active int64
	} `json:"sessions"`
	Logins struct {
		Last24h int64 `json:"last24h"`
		Last7d  int64 `json:"last7d"`
		Last30d int64 `json:"last30d"`
	} `json:"logins"`
	AcceptanceRate float64 `json:"acceptanceRate"`
	Features       struct {
		Enabled, Total int
	} `json:"features"`
	GeneratedAt time.Time `json:"generatedAt"`
}

// cheapHasher is an argon2id hasher cheap enough for tests that hash often.
func cheapHasher() *auth.Hasher {
	return auth.NewHasher(auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 4)
}

// newFastEnv is newTestEnv with a cheap password hasher.
func newFastEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvWith(t, envOptions{hasher: cheapHasher()})
}

// try sends a request like do but reports failures as errors, so that it
// can run on goroutines other than the test's.
func (e *testEnv) try(method, path, token string, body any, headers ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: raw}, err
}

// invite creates an invitation of email for the token's organization.
func (e *testEnv) invite(token, email string, extra ...map[string]any) invitationJSON {
	e.t.Helper()
	body := map[string]any{"email": email}
	for _, m := range extra {
		for k, v := range m {
			body[k] = v
		}
	}
	r := e.do(http.MethodPost, invitationsPath, token, body)
	wantStatus(e.t, r, http.StatusCreated)
	var inv invitationJSON
	r.decode(e.t, &inv)
	return inv
}

// acceptToken returns the token of an accept link.
func acceptToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	tok := u.Query().Get("token")
	if len(tok) != 51 {
		t.Fatalf("got token %q in %q, want 51 characters of base64url", tok, link)
	}
	return tok
}

// accept accepts an invitation link with goodPassword and returns the session.
func (e *testEnv) accept(link string) authJSON {
	e.t.Helper()
	r := e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(e.t, link), "password": goodPassword},
		"User-Agent", "first-browser")
	wantStatus(e.t, r, http.StatusCreated)
	var a authJSON
	r.decode(e.t, &a)
	if a.AccessToken == "" || a.User.Status != "active" {
		e.t.Fatalf("got accept answer %s, want an access token and an active user", r.body)
	}
	return a
}

// activeUser invites email and accepts the invitation: an active user
// with one session.
func (e *testEnv) activeUser(token, email string) (invitationJSON, authJSON) {
	e.t.Helper()
	inv := e.invite(token, email)
	return inv, e.accept(inv.AcceptURL)
}

// slug returns the portal slug of the token's organization.
func (e *testEnv) slug(token string) string {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/customer-portal/config", token, nil)
	wantStatus(e.t, r, http.StatusOK)
	return r.json(e.t)["slug"].(string)
}

// patchConfig applies a merge patch to the token's organization's config.
func (e *testEnv) patchConfig(token string, patch any) {
	e.t.Helper()
	r := e.do(http.MethodPatch, "/v1/customer-portal/config", token, patch)
	wantStatus(e.t, r, http.StatusOK)
}

// login logs in to the portal at slug.
func (e *testEnv) login(slug, email, password string, headers ...string) response {
	e.t.Helper()
	return e.do(http.MethodPost, loginPath, "", map[string]any{"portal": slug, "email": email, "password": password}, headers...)
}

// mustLogin logs in and returns the session.
func (e *testEnv) mustLogin(slug, email, password string, headers ...string) authJSON {
	e.t.Helper()
	r := e.login(slug, email, password, headers...)
	wantStatus(e.t, r, http.StatusOK)
	var a authJSON
	r.decode(e.t, &a)
	return a
}

// stats returns GET /stats.
func (e *testEnv) stats(token string) statsJSON {
	e.t.Helper()
	r := e.do(http.MethodGet, statsPath, token, nil)
	wantStatus(e.t, r, http.StatusOK)
	var s statsJSON
	r.decode(e.t, &s)
	return s
}

// user returns GET /users/{id}.
func (e *testEnv) user(token, id string) userJSON {
	e.t.Helper()
	r := e.do(http.MethodGet, usersPath+"/"+id, token, nil)
	wantStatus(e.t, r, http.StatusOK)
	var u userJSON
	r.decode(e.t, &u)
	return u
}

// listAll pages through a list (path may carry filters) and returns every
// item, failing if any appears twice.
func listAll[T any](e *testEnv, token, path string) []T {
	e.t.Helper()
	return listPages[T](e, e.do, token, path)
}

// listAllQuick is listAll without checking each page against the OpenAPI
// document, for tests that list a great deal.
func listAllQuick[T any](e *testEnv, token, path string) []T {
	e.t.Helper()
	return listPages[T](e, e.mustTry, token, path)
}

// mustTry is try that fails the test on a transport error; unlike do it does
// not check the response against the OpenAPI document.
func (e *testEnv) mustTry(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	r, err := e.try(method, path, token, body, headers...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func listPages[T any](e *testEnv, send func(method, path, token string, body any, headers ...string) response, token, path string) []T {
	e.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []T
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			e.t.Fatalf("%s: more than 1000 pages", path)
		}
		q := path + sep + "limit=100"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := send(http.MethodGet, q, token, nil)
		wantStatus(e.t, r, http.StatusOK)
		var p struct {
			Data       []json.RawMessage `json:"data"`
			NextCursor *string           `json:"nextCursor"`
		}
		r.decode(e.t, &p)
		for _, raw := range p.Data {
			var id struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &id); err != nil {
				e.t.Fatal(err)
			}
			if seen[id.ID] {
				e.t.Fatalf("%s: got %s twice", path, id.ID)
			}
			seen[id.ID] = true
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				e.t.Fatal(err)
			}
			all = append(all, v)
		}
		if p.NextCursor == nil {
			return all
		}
		cursor = *p.NextCursor
	}
}

// rawItems returns the items of one list page as generic objects.
func rawItems(t *testing.T, r response) []map[string]any {
	t.Helper()
	var p struct {
		Data []map[string]any `json:"data"`
	}
	r.decode(t, &p)
	return p.Data
}

func TestInvitations_Create(t *testing.T) {
	tests := []struct {
		name      string
		body      map[string]any
		wantHours int
		wantRole  string
	}{
		{name: "defaults", body: map[string]any{"email": "ada@example.com"}, wantHours: 72, wantRole: "member"},
		{name: "every field", body: map[string]any{"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
			"accountId": "acc-1", "role": "admin", "message": "Welcome aboard", "expiresInHours": 5}, wantHours: 5, wantRole: "admin"},
		{name: "longest expiry and message", body: map[string]any{"email": "ada@example.com",
			"message": strings.Repeat("é", 2000), "expiresInHours": 720}, wantHours: 720, wantRole: "member"},
		{name: "shortest expiry", body: map[string]any{"email": "ada@example.com", "expiresInHours": 1}, wantHours: 1, wantRole: "member"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			tok := e.admin("org-a")
			r := e.do(http.MethodPost, invitationsPath, tok, tt.body)
			wantStatus(t, r, http.StatusCreated)
			var inv invitationJSON
			r.decode(t, &inv)
			if got, want := r.header.Get("Location"), invitationsPath+"/"+inv.ID; got != want {
				t.Errorf("got Location %q, want %q", got, want)
			}
			if inv.Status != "pending" || inv.Email != "ada@example.com" || inv.Role != tt.wantRole || inv.InvitedBy != "staff-1" {
				t.Errorf("got %+v, want a pending %s invitation of ada@example.com by staff-1", inv, tt.wantRole)
			}
			if want := fixedStart.Add(time.Duration(tt.wantHours) * time.Hour); !inv.ExpiresAt.Equal(want) || !inv.CreatedAt.Equal(fixedStart) {
				t.Errorf("got createdAt %v expiresAt %v, want %v and %v", inv.CreatedAt, inv.ExpiresAt, fixedStart, want)
			}
			wantPrefix := "http://localhost:8080/p/" + e.slug(tok) + "/accept?token="
			if !strings.HasPrefix(inv.AcceptURL, wantPrefix) {
				t.Errorf("got acceptUrl %q, want it to start with %q", inv.AcceptURL, wantPrefix)
			}
			acceptToken(t, inv.AcceptURL)
			for _, internal := range []string{"tokenHash", "resendTimes", "outboxId"} {
				if strings.Contains(string(r.body), internal) {
					t.Errorf("got %s, want no %s", r.body, internal)
				}
			}

			// acceptUrl is in the create answer only: never in a list or the user.
			list := e.do(http.MethodGet, invitationsPath, tok, nil)
			wantStatus(t, list, http.StatusOK)
			items := rawItems(t, list)
			if len(items) != 1 || items[0]["id"] != inv.ID {
				t.Fatalf("got list %s, want the one invitation", list.body)
			}
			if _, ok := items[0]["acceptUrl"]; ok || strings.Contains(string(list.body), "token") || strings.Contains(string(list.body), "outbox") {
				t.Errorf("got list item %v, want no acceptUrl and no token", items[0])
			}
			g := e.do(http.MethodGet, invitationsPath+"/"+inv.ID, tok, nil)
			wantStatus(t, g, http.StatusOK)
			if m := g.json(t); m["id"] != inv.ID || m["status"] != "pending" || m["acceptUrl"] != nil || strings.Contains(string(g.body), "token") || strings.Contains(string(g.body), "outbox") {
				t.Errorf("got GET %s, want the pending invitation without acceptUrl or token", g.body)
			}
			u := e.do(http.MethodGet, usersPath+"/"+inv.UserID, tok, nil)
			wantStatus(t, u, http.StatusOK)
			var user userJSON
			u.decode(t, &user)
			if user.Status != "invited" || user.Email != "ada@example.com" || user.Role != tt.wantRole ||
				user.InvitedAt == nil || user.ActivatedAt != nil || strings.Contains(string(u.body), "password") {
				t.Errorf("got user %s, want an invited %s without a password", u.body, tt.wantRole)
			}
			if want, ok := tt.body["firstName"]; ok && user.FirstName != want {
				t.Errorf("got firstName %q, want %q", user.FirstName, want)
			}

			s := e.stats(tok)
			if s.Users.Invited != 1 || s.Users.Total != 1 || s.Invitations.Pending != 1 || s.AcceptanceRate != 0 {
				t.Errorf("got stats %+v, want one invited user and one pending invitation", s)
			}
			msgs, err := e.db.DueMessages(t.Context(), e.clock.Now(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || msgs[0].To != "ada@example.com" || msgs[0].Data.Link != inv.AcceptURL {
				t.Errorf("got outbox %+v, want one message to ada@example.com with the accept link", msgs)
			}
			audit := e.do(http.MethodGet, auditPath, tok, nil)
			wantStatus(t, audit, http.StatusOK)
			if a := rawItems(t, audit); len(a) == 0 || a[0]["action"] != "invitation.create" || a[0]["targetId"] != inv.ID {
				t.Errorf("got audit %s, want invitation.create of %s first", audit.body, inv.ID)
			}
			if strings.Contains(string(audit.body), "ada@example.com") {
				t.Errorf("got audit %s, want the email masked", audit.body)
			}
		})
	}
}

func TestInvitations_CreateValidation(t *testing.T) {
	tests := []struct {
		name    string
		body    any
		headers []string
		status  int
		fields  []string
	}{
		{name: "no email", body: `{}`, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "bad email", body: map[string]any{"email": "not-an-email"}, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "email with display name", body: map[string]any{"email": "Ada <ada@example.com>"}, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "email with spaces", body: map[string]any{"email": " ada@example.com"}, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "role owner", body: map[string]any{"email": "ada@example.com", "role": "owner"}, status: http.StatusUnprocessableEntity, fields: []string{"role"}},
		{name: "message too long", body: map[string]any{"email": "ada@example.com", "message": strings.Repeat("x", 2001)},
			status: http.StatusUnprocessableEntity, fields: []string{"message"}},
		{name: "expiresInHours 0", body: map[string]any{"email": "ada@example.com", "expiresInHours": 0},
			status: http.StatusUnprocessableEntity, fields: []string{"expiresInHours"}},
		{name: "expiresInHours 721", body: map[string]any{"email": "ada@example.com", "expiresInHours": 721},
			status: http.StatusUnprocessableEntity, fields: []string{"expiresInHours"}},
		{name: "expiresInHours negative", body: map[string]any{"email": "ada@example.com", "expiresInHours": -1},
			status: http.StatusUnprocessableEntity, fields: []string{"expiresInHours"}},
		{name: "expiresInHours fraction", body: `{"email": "ada@example.com", "expiresInHours": 1.5}`,
			status: http.StatusUnprocessableEntity, fields: []string{"expiresInHours"}},
		{name: "first name too long", body: map[string]any{"email": "ada@example.com", "firstName": strings.Repeat("a", 101)},
			status: http.StatusUnprocessableEntity, fields: []string{"firstName"}},
		{name: "bad account id", body: map[string]any{"email": "ada@example.com", "accountId": "a b"},
			status: http.StatusUnprocessableEntity, fields: []string{"accountId"}},
		{name: "every field bad at once", body: map[string]any{"email": "x", "role": "root", "expiresInHours": 721},
			status: http.StatusUnprocessableEntity, fields: []string{"email", "role", "expiresInHours"}},
		{name: "unknown field", body: map[string]any{"email": "ada@example.com", "status": "active"},
			status: http.StatusUnprocessableEntity, fields: []string{"status"}},
		{name: "userId is not writable", body: map[string]any{"email": "ada@example.com", "userId": "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"},
			status: http.StatusUnprocessableEntity, fields: []string{"userId"}},
		{name: "wrong type", body: `{"email": 5}`, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "malformed", body: `{"email": `, status: http.StatusBadRequest},
		{name: "trailing data", body: `{"email": "ada@example.com"} {}`, status: http.StatusBadRequest},
		{name: "not JSON", body: `email=ada@example.com`, headers: []string{"Content-Type", "text/plain"}, status: http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			tok := e.admin("org-a")
			p := wantProblem(t, e.do(http.MethodPost, invitationsPath, tok, tt.body, tt.headers...), tt.status)
			wantFields(t, p, tt.fields...)
			if users := listAll[userJSON](e, tok, usersPath); len(users) != 0 {
				t.Errorf("got users %+v, want none after a refused invitation", users)
			}
			if invs := listAll[invitationJSON](e, tok, invitationsPath); len(invs) != 0 {
				t.Errorf("got invitations %+v, want none", invs)
			}
		})
	}
}

func TestInvitations_Conflicts(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *testEnv, tok string)
		email  string
		status int
		field  string
	}{
		{name: "pending invitation", setup: func(e *testEnv, tok string) { e.invite(tok, "ada@example.com") },
			email: "ada@example.com", status: http.StatusConflict},
		{name: "pending invitation, other case", setup: func(e *testEnv, tok string) { e.invite(tok, "Ada@Example.COM") },
			email: "aDA@example.com", status: http.StatusConflict},
		{name: "active user", setup: func(e *testEnv, tok string) { e.activeUser(tok, "ada@example.com") },
			email: "ADA@example.com", status: http.StatusConflict},
		{name: "domain not allowed", setup: func(e *testEnv, tok string) {
			e.patchConfig(tok, map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{"example.com"}}})
		}, email: "ada@example.org", status: http.StatusUnprocessableEntity, field: "email"},
		{name: "subdomain not allowed", setup: func(e *testEnv, tok string) {
			e.patchConfig(tok, map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{"example.com"}}})
		}, email: "ada@mail.example.com", status: http.StatusUnprocessableEntity, field: "email"},
		{name: "allowed domain, other case", setup: func(e *testEnv, tok string) {
			e.patchConfig(tok, map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{"example.com"}}})
		}, email: "ada@EXAMPLE.com", status: http.StatusCreated},
		{name: "cancelled invitation may be renewed", setup: func(e *testEnv, tok string) {
			inv := e.invite(tok, "ada@example.com")
			wantStatus(e.t, e.do(http.MethodDelete, invitationsPath+"/"+inv.ID, tok, nil), http.StatusNoContent)
		}, email: "ada@example.com", status: http.StatusCreated},
		{name: "expired invitation may be renewed", setup: func(e *testEnv, tok string) {
			e.invite(tok, "ada@example.com", map[string]any{"expiresInHours": 1})
			e.clock.Advance(time.Hour)
		}, email: "ada@example.com", status: http.StatusCreated},
		{name: "same email in another organization", setup: func(e *testEnv, tok string) {
			e.activeUser(e.admin("org-b"), "ada@example.com")
		}, email: "ada@example.com", status: http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			tok := e.admin("org-a")
			tt.setup(e, tok)
			before := e.stats(tok)
			r := e.do(http.MethodPost, invitationsPath, tok, map[string]any{"email": tt.email})
			if tt.status == http.StatusCreated {
				wantStatus(t, r, http.StatusCreated)
				after := e.stats(tok)
				if after.Invitations.Pending != 1 || after.Users.Total != before.Users.Total+boolInt(before.Users.Total == 0) {
					t.Errorf("got stats %+v after %+v, want one pending invitation", after, before)
				}
				return
			}
			p := wantProblem(t, r, tt.status)
			if tt.field != "" {
				wantFields(t, p, tt.field)
			}
			if after := e.stats(tok); after != withTime(before, after.GeneratedAt) {
				t.Errorf("got stats %+v, want them unchanged from %+v", after, before)
			}
		})
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// withTime is s with generatedAt set to at, for comparing counts only.
func withTime(s statsJSON, at time.Time) statsJSON {
	s.GeneratedAt = at
	return s
}

func TestInvitations_InviteContact(t *testing.T) {
	tests := []struct {
		name    string
		contact map[string]any // created first, unless nil
		body    func(contactID string) any
		status  int
		field   string
	}{
		{name: "contact with email", contact: map[string]any{"email": "Grace@Example.com", "firstName": "Grace", "lastName": "Hopper", "accountId": "acc-7"},
			body: func(id string) any { return map[string]any{"contactId": id, "role": "admin", "message": "Hi"} }, status: http.StatusCreated},
		{name: "unknown contact", body: func(string) any { return map[string]any{"contactId": "01JDQ2X3Y4Z5A6B7C8D9E0F1G2"} },
			status: http.StatusNotFound},
		{name: "not an id", body: func(string) any { return map[string]any{"contactId": "../etc"} }, status: http.StatusNotFound},
		{name: "contact without email", contact: map[string]any{"firstName": "Nomail"},
			body: func(id string) any { return map[string]any{"contactId": id} }, status: http.StatusUnprocessableEntity, field: "contactId"},
		{name: "no contactId", body: func(string) any { return map[string]any{"role": "member"} },
			status: http.StatusUnprocessableEntity, field: "contactId"},
		{name: "bad role", contact: map[string]any{"email": "grace@example.com"},
			body: func(id string) any { return map[string]any{"contactId": id, "role": "owner"} }, status: http.StatusUnprocessableEntity, field: "role"},
		{name: "expiresInHours 0", contact: map[string]any{"email": "grace@example.com"},
			body: func(id string) any { return map[string]any{"contactId": id, "expiresInHours": 0} }, status: http.StatusUnprocessableEntity, field: "expiresInHours"},
		{name: "unknown field", contact: map[string]any{"email": "grace@example.com"},
			body: func(id string) any { return map[string]any{"contactId": id, "email": "x@example.com"} }, status: http.StatusUnprocessableEntity, field: "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			tok := e.admin("org-a")
			var c contactJSON
			if tt.contact != nil {
				c = e.mustCreateContact(tok, tt.contact)
			}
			r := e.do(http.MethodPost, usersPath+"/invite", tok, tt.body(c.ID))
			if tt.status != http.StatusCreated {
				p := wantProblem(t, r, tt.status)
				if tt.field != "" {
					wantFields(t, p, tt.field)
				}
				if users := listAll[userJSON](e, tok, usersPath); len(users) != 0 {
					t.Errorf("got users %+v, want none", users)
				}
				return
			}
			wantStatus(t, r, http.StatusCreated)
			var inv invitationJSON
			r.decode(t, &inv)
			if inv.Email != "Grace@Example.com" || inv.ContactID != c.ID || inv.AccountID != "acc-7" || inv.Role != "admin" || inv.AcceptURL == "" {
				t.Errorf("got %+v, want an admin invitation of the contact with its account and a link", inv)
			}
			u := e.user(tok, inv.UserID)
			if u.FirstName != "Grace" || u.LastName != "Hopper" || u.ContactID != c.ID || u.Status != "invited" {
				t.Errorf("got user %+v, want invited Grace Hopper linked to the contact", u)
			}
			// The same person again is a conflict, whichever way it comes.
			wantProblem(t, e.do(http.MethodPost, usersPath+"/invite", tok, tt.body(c.ID)), http.StatusConflict)
			wantProblem(t, e.do(http.MethodPost, invitationsPath, tok, map[string]any{"email": "grace@example.com"}), http.StatusConflict)
			// Another organization cannot invite this organization's contact.
			wantProblem(t, e.do(http.MethodPost, usersPath+"/invite", e.admin("org-b"), tt.body(c.ID)), http.StatusNotFound)
		})
	}
}

func TestInvitations_ReinviteRevoked(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	inv, _ := e.activeUser(tok, "ada@example.com")
	r := e.do(http.MethodDelete, usersPath+"/"+inv.UserID+"/access", tok, nil)
	wantStatus(t, r, http.StatusOK)
	if s := e.stats(tok); s.Users.Revoked != 1 || s.Users.Active != 0 || s.Users.Total != 1 {
		t.Fatalf("got stats %+v, want one revoked user", s)
	}
	again := e.invite(tok, "ADA@example.com")
	if again.UserID != inv.UserID {
		t.Errorf("got user %s, want the revoked user %s invited again", again.UserID, inv.UserID)
	}
	if u := e.user(tok, inv.UserID); u.Status != "invited" {
		t.Errorf("got status %q, want invited", u.Status)
	}
	s := e.stats(tok)
	if s.Users.Invited != 1 || s.Users.Revoked != 0 || s.Users.Active != 0 || s.Users.Total != 1 ||
		s.Invitations.Pending != 1 || s.Invitations.Accepted != 1 {
		t.Errorf("got stats %+v, want one invited user, one pending and one accepted invitation", s)
	}
	if invited := listAll[userJSON](e, tok, usersPath+"?status=invited"); len(invited) != 1 {
		t.Errorf("got %d invited users, want 1", len(invited))
	}
	a := e.accept(again.AcceptURL)
	if a.User.ID != inv.UserID || a.User.RevokedAt != nil {
		t.Errorf("got user %+v, want the same user active again without revokedAt", a.User)
	}
	if s := e.stats(tok); s.Users.Active != 1 || s.Users.Total != 1 || s.Invitations.Accepted != 2 {
		t.Errorf("got stats %+v, want one active user and two accepted invitations", s)
	}
}

func TestInvitations_Resend(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	inv := e.invite(tok, "ada@example.com")
	e.clock.Advance(10 * time.Minute)
	r := e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", tok, nil)
	wantStatus(t, r, http.StatusOK)
	var re invitationJSON
	r.decode(t, &re)
	if re.ID != inv.ID || re.Status != "pending" || re.AcceptURL == "" || re.AcceptURL == inv.AcceptURL {
		t.Fatalf("got %+v, want the same pending invitation with a new link", re)
	}
	if want := fixedStart.Add(10*time.Minute + 72*time.Hour); !re.ExpiresAt.Equal(want) {
		t.Errorf("got expiresAt %v, want %v", re.ExpiresAt, want)
	}
	msgs, err := e.db.DueMessages(t.Context(), e.clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Data.Link != re.AcceptURL {
		t.Errorf("got outbox %+v, want only the new link queued", msgs)
	}
	// The old link is dead.
	old := e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL), "password": goodPassword})
	wantProblem(t, old, http.StatusGone)
	if s := e.stats(tok); s.Invitations.Pending != 1 || s.Users.Invited != 1 {
		t.Errorf("got stats %+v, want still one pending invitation", s)
	}

	// Four more resends within the hour are allowed; the sixth is not.
	for i := 2; i <= 5; i++ {
		wantStatus(t, e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", tok, nil), http.StatusOK)
	}
	limited := e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", tok, nil)
	wantProblem(t, limited, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(limited.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 3601 {
		t.Errorf("got Retry-After %q, want 1..3601 seconds", limited.header.Get("Retry-After"))
	}
	e.clock.Advance(time.Duration(secs) * time.Second)
	tok = e.admin("org-a") // the first token has expired meanwhile
	r = e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", tok, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &re)
	e.accept(re.AcceptURL)
	// An accepted invitation is not resent.
	wantProblem(t, e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", tok, nil), http.StatusConflict)
	wantProblem(t, e.do(http.MethodPost, invitationsPath+"/01JDQ2X3Y4Z5A6B7C8D9E0F1G2/resend", tok, nil), http.StatusNotFound)
}

func TestInvitations_Cancel(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	inv := e.invite(tok, "ada@example.com")
	wantStatus(t, e.do(http.MethodDelete, invitationsPath+"/"+inv.ID, tok, nil), http.StatusNoContent)
	wantProblem(t, e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL), "password": goodPassword}),
		http.StatusGone)
	wantProblem(t, e.do(http.MethodDelete, invitationsPath+"/"+inv.ID, tok, nil), http.StatusConflict)
	wantProblem(t, e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", tok, nil), http.StatusConflict)
	wantProblem(t, e.do(http.MethodDelete, invitationsPath+"/01JDQ2X3Y4Z5A6B7C8D9E0F1G2", tok, nil), http.StatusNotFound)
	wantProblem(t, e.do(http.MethodDelete, invitationsPath+"/nope", tok, nil), http.StatusNotFound)

	cancelled := listAll[invitationJSON](e, tok, invitationsPath+"?status=cancelled")
	if len(cancelled) != 1 || cancelled[0].ID != inv.ID || cancelled[0].Status != "cancelled" {
		t.Errorf("got cancelled list %+v, want the invitation", cancelled)
	}
	if pending := listAll[invitationJSON](e, tok, invitationsPath); len(pending) != 0 {
		t.Errorf("got pending list %+v, want it empty", pending)
	}
	s := e.stats(tok)
	if s.Invitations.Pending != 0 || s.Invitations.Cancelled != 1 || s.Users.Invited != 1 || s.AcceptanceRate != 0 {
		t.Errorf("got stats %+v, want one cancelled invitation and the user still invited", s)
	}
	msgs, err := e.db.DueMessages(t.Context(), e.clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 {
		t.Errorf("got outbox %+v, want the dead link's email dropped", msgs)
	}
}

func TestInvitations_ListStatus(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	pending := e.invite(tok, "pending@example.com")
	accepted, _ := e.activeUser(tok, "accepted@example.com")
	cancelled := e.invite(tok, "cancelled@example.com")
	wantStatus(t, e.do(http.MethodDelete, invitationsPath+"/"+cancelled.ID, tok, nil), http.StatusNoContent)
	expired := e.invite(tok, "expired@example.com", map[string]any{"expiresInHours": 1})
	e.clock.Advance(time.Hour)

	tests := []struct {
		query string
		want  string // id
	}{
		{query: "", want: pending.ID},
		{query: "?status=pending", want: pending.ID},
		{query: "?status=accepted", want: accepted.ID},
		{query: "?status=cancelled", want: cancelled.ID},
		{query: "?status=expired", want: expired.ID},
		{query: "?status=pending&q=PENDING@", want: pending.ID},
	}
	for _, tt := range tests {
		got := listAll[invitationJSON](e, tok, invitationsPath+tt.query)
		if len(got) != 1 || got[0].ID != tt.want {
			t.Errorf("%q: got %+v, want only %s", tt.query, got, tt.want)
		}
		for _, inv := range got {
			if inv.AcceptURL != "" {
				t.Errorf("%q: got acceptUrl %q in a list, want none", tt.query, inv.AcceptURL)
			}
		}
	}
	if got := listAll[invitationJSON](e, tok, invitationsPath+"?q=nobody"); len(got) != 0 {
		t.Errorf("got %+v for q=nobody, want none", got)
	}
	for _, bad := range []string{"?status=done", "?limit=0", "?limit=101", "?cursor=AAAA", "?userId=x", "?status=pending&status=accepted"} {
		wantProblem(t, e.do(http.MethodGet, invitationsPath+bad, tok, nil), http.StatusBadRequest)
	}
}

func TestInvitations_ConcurrentSameEmail(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	const n = 50
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Vary the case: the email is one address however it is written.
			email := "ada@example.com"
			if i%2 == 1 {
				email = "ADA@example.com"
			}
			r, err := e.try(http.MethodPost, invitationsPath, tok, map[string]any{"email": email})
			statuses[i], errs[i] = r.status, err
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, st := range statuses {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		count[st]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
		t.Errorf("got statuses %v, want one 201 and %d 409", count, n-1)
	}
	if s := e.stats(tok); s.Users.Total != 1 || s.Invitations.Pending != 1 {
		t.Errorf("got stats %+v, want one user and one pending invitation", s)
	}
	if got := listAll[invitationJSON](e, tok, invitationsPath); len(got) != 1 {
		t.Errorf("got %d invitations, want 1", len(got))
	}
}

func TestInvitations_PagingWhileCreating(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	tok := e.admin("org-a")
	var before []string
	for i := range 20 {
		before = append(before, e.invite(tok, fmt.Sprintf("before-%d@example.com", i)).ID)
	}
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 10)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := e.try(http.MethodPost, invitationsPath, tok, map[string]any{"email": fmt.Sprintf("during-%d@example.com", i)})
			if err == nil && r.status != http.StatusCreated {
				err = fmt.Errorf("got status %d: %s", r.status, r.body)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Page through again and again while the invitations are being created.
	passes := 0
	for creating := true; creating; passes++ {
		select {
		case <-done:
			creating = false
		default:
		}
		seen := map[string]bool{}
		cursor := ""
		prev := ""
		for {
			q := invitationsPath + "?limit=7"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			r := e.mustTry(http.MethodGet, q, tok, nil)
			wantStatus(t, r, http.StatusOK)
			var p struct {
				Data       []invitationJSON `json:"data"`
				NextCursor *string          `json:"nextCursor"`
			}
			r.decode(t, &p)
			if len(p.Data) > 7 {
				t.Fatalf("got %d items, want at most 7", len(p.Data))
			}
			for _, inv := range p.Data {
				if seen[inv.ID] {
					t.Fatalf("pass %d: got %s twice", passes, inv.ID)
				}
				if prev != "" && inv.ID >= prev {
					t.Fatalf("pass %d: got %s after %s, want newest first", passes, inv.ID, prev)
				}
				seen[inv.ID], prev = true, inv.ID
			}
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
		}
		for _, id := range before {
			if !seen[id] {
				t.Fatalf("pass %d: missed %s, made before paging began", passes, id)
			}
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := listAllQuick[invitationJSON](e, tok, invitationsPath); len(got) != 20+n {
		t.Errorf("got %d invitations, want %d", len(got), 20+n)
	}
}
