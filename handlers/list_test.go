package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestList_QueryLengthInCharacters checks that q is limited to 200
// characters, not bytes, on every list that searches: 200 two-byte
// characters are taken, 201 are a 400.
func TestList_QueryLengthInCharacters(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	for _, list := range []string{"/v1/contacts", "/v1/customer-portal/users", "/v1/customer-portal/invitations"} {
		tests := []struct {
			name string
			q    string
			want int
		}{
			{"200 ASCII characters", strings.Repeat("a", 200), http.StatusOK},
			{"200 two-byte characters", strings.Repeat("é", 200), http.StatusOK},
			{"200 four-byte characters", strings.Repeat("😀", 200), http.StatusOK},
			{"200 characters and spaces around", "  " + strings.Repeat("é", 200) + "  ", http.StatusOK},
			{"201 characters", strings.Repeat("é", 201), http.StatusBadRequest},
		}
		for _, tt := range tests {
			t.Run(list+" "+tt.name, func(t *testing.T) {
				r := e.do(http.MethodGet, list+"?q="+url.QueryEscape(tt.q), tok, nil)
				if tt.want == http.StatusOK {
					wantStatus(t, r, http.StatusOK)
					return
				}
				p := wantProblem(t, r, tt.want)
				if d, _ := p["detail"].(string); !strings.Contains(d, "200 characters") {
					t.Errorf("got detail %q, want it to name the 200-character limit", d)
				}
			})
		}
	}
}

// TestList_Filters checks that every list checks its filters alike: a
// value the schema refuses, an empty one included, is a 400 naming the
// parameter, where the users list took any accountId and an empty status
// listed everything.
func TestList_Filters(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tok := e.admin("acme")
	long := strings.Repeat("a", 101)
	tests := []struct {
		path, param string
		want        int
	}{
		{"/v1/customer-portal/users?accountId=ACC-1", "", http.StatusOK},
		{"/v1/customer-portal/users?accountId=", "", http.StatusOK},
		{"/v1/customer-portal/users?accountId=" + long, "accountId", http.StatusBadRequest},
		{"/v1/customer-portal/users?accountId=a+b", "accountId", http.StatusBadRequest},
		{"/v1/contacts?accountId=" + long, "accountId", http.StatusBadRequest},
		{"/v1/contacts?accountId=a+b", "accountId", http.StatusBadRequest},
		{"/v1/customer-portal/users?status=active", "", http.StatusOK},
		{"/v1/customer-portal/users?status=", "status", http.StatusBadRequest},
		{"/v1/customer-portal/users?status=gone", "status", http.StatusBadRequest},
		{"/v1/customer-portal/invitations?status=accepted", "", http.StatusOK},
		{"/v1/customer-portal/invitations?status=", "status", http.StatusBadRequest},
		{"/v1/customer-portal/sessions?userId=01ARZ3NDEKTSV4RRFFQ69G5FAV", "", http.StatusOK},
		{"/v1/customer-portal/sessions?userId=", "userId", http.StatusBadRequest},
		{"/v1/customer-portal/sessions?userId=x", "userId", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := e.do(http.MethodGet, tt.path, tok, nil)
			if tt.want == http.StatusOK {
				wantStatus(t, r, http.StatusOK)
				return
			}
			p := wantProblem(t, r, tt.want)
			if d, _ := p["detail"].(string); !strings.HasPrefix(d, tt.param+" ") {
				t.Errorf("got detail %q, want it to name %s", d, tt.param)
			}
		})
	}
}
