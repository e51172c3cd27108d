package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/salesos/portal/data"
)

// Paging limits.
const (
	defaultLimit = 20
	maxLimit     = 100
	maxQuery     = 200
)

// accountFilter reads the accountId filter of the lists that take one, all
// alike: absent or empty is no filter; otherwise it must be a reference as
// records hold them (data.ValidRef).
func accountFilter(r *http.Request) (string, error) {
	account := r.URL.Query().Get("accountId")
	if !data.ValidRef(account) {
		return "", &paramError{name: "accountId", msg: "must be at most 100 printable characters without spaces"}
	}
	return account, nil
}

// statusFilter reads the status filter of a list: absent is def; given, it
// must be a status valid reports (an empty value is not one).
func statusFilter[S ~string](r *http.Request, def S, valid func(S) bool, msg string) (S, error) {
	q := r.URL.Query()
	if !q.Has("status") {
		return def, nil
	}
	s := S(q.Get("status"))
	if !valid(s) {
		return def, &paramError{name: "status", msg: msg}
	}
	return s, nil
}

// cursors encode and check the opaque list cursors: the last ID of a page,
// bound to the organization and the list by an HMAC so a tampered cursor,
// or one of another list or organization, is a 400.
type cursors struct{ key []byte }

// mac signs id for list of the organization of r (as authentication noted
// it for the access log).
func (c cursors) mac(r *http.Request, list, id string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(accessOf(r.Context()).tenant))
	m.Write([]byte{0})
	m.Write([]byte(list))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return m.Sum(nil)[:12]
}

// encode returns the cursor that continues list after id.
func (c cursors) encode(r *http.Request, list, id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(append([]byte(id), c.mac(r, list, id)...))
}

// decode returns the ID a cursor of list continues after.
func (c cursors) decode(r *http.Request, list, cursor string) (string, error) {
	bad := &paramError{name: "cursor", msg: "is not a cursor of this list"}
	if len(cursor) > 128 {
		return "", bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= 12 {
		return "", bad
	}
	id, mac := string(raw[:len(raw)-12]), raw[len(raw)-12:]
	if !hmac.Equal(mac, c.mac(r, list, id)) || !data.ValidID(id) {
		return "", bad
	}
	return id, nil
}

// listParams are the paging parameters every list takes, and q for those
// that search.
type listParams struct {
	limit int
	after string
	q     string
}

// parseList reads limit, cursor and (when allowed names it) q; allowed
// names the other parameters the list takes, and any other parameter is a
// 400.
func (c cursors) parseList(r *http.Request, list string, allowed ...string) (listParams, error) {
	qv, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return listParams{}, &paramError{name: "query", msg: "is not a well-formed query string"}
	}
	for name := range qv {
		if name != "limit" && name != "cursor" && !slices.Contains(allowed, name) {
			return listParams{}, &paramError{name: name, msg: "is not a parameter of this list"}
		}
		if len(qv[name]) > 1 {
			return listParams{}, &paramError{name: name, msg: "must be given once"}
		}
	}
	p := listParams{limit: defaultLimit}
	if s := qv.Get("limit"); s != "" || qv.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, &paramError{name: "limit", msg: "must be a whole number from 1 to 100"}
		}
		p.limit = n
	}
	if s := qv.Get("cursor"); s != "" {
		id, err := c.decode(r, list, s)
		if err != nil {
			return p, err
		}
		p.after = id
	}
	p.q = strings.TrimSpace(qv.Get("q"))
	if utf8.RuneCountInString(p.q) > maxQuery { // characters, as the schema's maxLength counts
		return p, &paramError{name: "q", msg: "must be at most 200 characters"}
	}
	return p, nil
}
