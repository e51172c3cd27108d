package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The contract test drives the service as a third party would, knowing
// nothing but the served document: for every operation it generates
// requests from the document's schemas, valid ones and ones the schemas
// forbid, sends them with the credential the operation names, and holds
// every answer to the document. Its properties:
//
//   - no answer is a 5xx;
//   - every answer's status, headers, content type and body are the ones the
//     document gives for the operation (openapi3filter.ValidateResponse, with
//     response objects closed as in checkResponse);
//   - a request the document forbids (openapi3filter.ValidateRequest fails,
//     or a rule of its conventions: an unknown or repeated query parameter,
//     an {id} of another form) is refused with a 4xx, never carried out;
//   - a guarded operation asked without a credential is 401.
//
// The budget is small and the seed fixed, so `go test ./...` stays quick and
// repeatable. PORTAL_CONTRACT_N sets the requests per operation and variant
// kind (default 3), and PORTAL_CONTRACT_SEED the seed, for longer local runs:
//
//	PORTAL_CONTRACT_N=200 PORTAL_CONTRACT_SEED=7 go test ./handlers -run TestContract

// contractWant is what a generated request must get.
type contractWant int

const (
	contractDocumented   contractWant = iota // a valid request: any documented answer but a 5xx
	contractRefused                          // a forbidden request: a documented 4xx
	contractNotFound                         // an {id} of another form: 404 (or 401/403 first)
	contractUnauthorized                     // no credential on a guarded operation: 401
)

func (w contractWant) String() string {
	return [...]string{"a documented answer", "a 4xx refusal", "404", "401"}[w]
}

// contractCase is one generated request.
type contractCase struct {
	op          string // "METHOD /template", for the report
	method      string
	path        string // with parameters substituted, escaped
	query       url.Values
	rawQuery    string // used instead of query when set
	header      http.Header
	body        []byte
	contentType string
	hasBody     bool
	what        string // the variant, for the report
	want        contractWant
}

func (c *contractCase) url(base string) string {
	u := base + c.path
	q := c.rawQuery
	if q == "" && len(c.query) > 0 {
		q = c.query.Encode()
	}
	if q != "" {
		u += "?" + q
	}
	return u
}

func (c *contractCase) request(base string) (*http.Request, error) {
	var rd io.Reader
	if c.hasBody {
		rd = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, c.url(base), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.hasBody && c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	return req, nil
}

func (c *contractCase) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s: %s)\n\t%s %s", c.op, c.what, c.want, c.method, c.url(""))
	for _, k := range []string{"If-Match", "If-None-Match"} {
		if v := c.header.Get(k); v != "" {
			fmt.Fprintf(&b, "\n\t%s: %s", k, v)
		}
	}
	if c.hasBody {
		fmt.Fprintf(&b, "\n\tContent-Type: %s\n\t%s", c.contentType, truncate(c.body, 400))
	}
	return b.String()
}

func contractEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, s)
	}
	return n
}

func TestContract(t *testing.T) {
	t.Parallel()
	n := contractEnvInt(t, "PORTAL_CONTRACT_N", 3)
	seed := uint64(contractEnvInt(t, "PORTAL_CONTRACT_SEED", 1))
	e := newFastEnv(t)
	// The document as the service serves it, like any client would read it.
	served := e.do(http.MethodGet, "/openapi.yaml", "", nil)
	wantStatus(t, served, http.StatusOK)
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(served.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served document is not valid OpenAPI: %v", err)
	}
	doc.Servers = nil // the test server listens elsewhere
	closeResponseSchemas(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	fx := newContractFixtures(e)
	g := &contractGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	client := *e.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	var paths []string
	for p := range doc.Paths.Map() {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var failures []string
	sent := 0
	for _, path := range paths {
		item := doc.Paths.Value(path)
		var methods []string
		for m := range item.Operations() {
			methods = append(methods, m)
		}
		slices.Sort(methods)
		for _, method := range methods {
			op := item.GetOperation(method)
			statuses := map[string]int{}
			for _, c := range g.cases(fx, path, method, item, op, n) {
				sent++
				if method == http.MethodPatch && path == "/v1/customer-portal/config" {
					fx.configChanged = true
				}
				status, msg := runContractCase(e, &client, router, c)
				if msg != "" {
					failures = append(failures, c.String()+"\n\t"+msg)
				}
				statuses[fmt.Sprintf("%s %d", c.want, status)]++
			}
			if testing.Verbose() {
				t.Logf("%s %s: %v", method, path, statuses)
			}
		}
	}
	t.Logf("%d requests over %d paths (seed %d, %d per variant)", sent, len(paths), seed, n)
	for i, f := range failures {
		if i == 40 {
			t.Errorf("... and %d more", len(failures)-i)
			break
		}
		t.Errorf("%s", f)
	}
}

// runContractCase sends c and returns the status and what is wrong with the
// answer ("" when nothing is).
func runContractCase(e *testEnv, client *http.Client, router routers.Router, c *contractCase) (int, string) {
	// Classify the request against the document first.
	vreq, err := c.request("http://localhost")
	if err != nil {
		return 0, "build request: " + err.Error()
	}
	route, params, findErr := router.FindRoute(vreq)
	if c.want == contractDocumented {
		if findErr != nil {
			c.want = contractNotFound
		} else if err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route, Options: validationOptions,
		}); err != nil {
			c.want = contractRefused
		}
	}

	req, err := c.request(e.srv.URL)
	if err != nil {
		return 0, "build request: " + err.Error()
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, "send: " + err.Error()
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return res.StatusCode, "read answer: " + err.Error()
	}
	got := fmt.Sprintf("got %d %s", res.StatusCode, truncate(body, 300))
	switch {
	case res.StatusCode >= 500:
		return res.StatusCode, got + ": want no 5xx"
	case c.want == contractRefused && (res.StatusCode < 400 || res.StatusCode >= 500):
		return res.StatusCode, got + ": want a 4xx, the document forbids this request"
	case c.want == contractNotFound && !slices.Contains([]int{http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden}, res.StatusCode):
		return res.StatusCode, got + ": want 404"
	case c.want == contractUnauthorized && res.StatusCode != http.StatusUnauthorized:
		return res.StatusCode, got + ": want 401 without a credential"
	}
	if c.method == http.MethodHead && len(body) != 0 {
		return res.StatusCode, got + ": want no body on HEAD"
	}
	if findErr != nil {
		// No operation there: the router's own 404 or 405 answer.
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			return res.StatusCode, got + ": want 404 or 405 where the document has no operation"
		}
		return res.StatusCode, ""
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: validationOptions,
		},
		Status:  res.StatusCode,
		Header:  res.Header,
		Options: validationOptions,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return res.StatusCode, got + ": does not match the document: " + err.Error()
	}
	return res.StatusCode, ""
}

// contractFixtures are the records and credentials the generated requests
// name: an organization with a contact, an active user with a session and a
// pending invitation, and tokens of every kind.
type contractFixtures struct {
	e                             *testEnv
	admin, reader, operator       string
	customer                      string // a session token of user
	contactID, userID, sessionID  string
	invitationID, customerSession string
	ticketID                      string // a ticket of customer
	webhookID                     string // a webhook of the organization
	articleID                     string // a published article, slug getting-started
	seq                           int
	// configChanged is set when a request may have changed the
	// configuration, so settle has something to undo.
	configChanged bool
}

func newContractFixtures(e *testEnv) *contractFixtures {
	fx := &contractFixtures{e: e, admin: e.admin("acme"), reader: e.tokenFor("acme", "portal:read"),
		operator: e.tokenFor("acme", "portal:operator")}
	fx.contactID = fx.newContact()
	fx.userID, fx.customer, fx.customerSession = fx.newCustomer()
	fx.sessionID = fx.customerSession
	fx.invitationID = fx.newInvitation()
	r := e.do(http.MethodPost, "/v1/portal/tickets", fx.customer, map[string]any{"subject": "Contract", "body": "A ticket to act on"})
	wantStatus(e.t, r, http.StatusCreated)
	fx.ticketID = r.json(e.t)["id"].(string)
	fx.webhookID = fx.newWebhook()
	fx.articleID = fx.newArticle("getting-started") // the slug the document's example names
	return fx
}

// newWebhook registers a webhook, making room when generated requests
// have registered as many as an organization may have.
func (fx *contractFixtures) newWebhook() string {
	body := map[string]any{"url": "https://crm.example.com/hooks", "eventTypes": []string{"ticket.created"}}
	r := fx.e.do(http.MethodPost, "/v1/customer-portal/webhooks", fx.admin, body)
	if r.status == http.StatusConflict {
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		fx.e.do(http.MethodGet, "/v1/customer-portal/webhooks?limit=100", fx.admin, nil).decode(fx.e.t, &list)
		for _, w := range list.Data {
			if w.ID != fx.webhookID {
				wantStatus(fx.e.t, fx.e.do(http.MethodDelete, "/v1/customer-portal/webhooks/"+w.ID, fx.admin, nil), http.StatusNoContent)
				break
			}
		}
		r = fx.e.do(http.MethodPost, "/v1/customer-portal/webhooks", fx.admin, body)
	}
	wantStatus(fx.e.t, r, http.StatusCreated)
	return r.json(fx.e.t)["id"].(string)
}

// newArticle writes a published article with slug.
func (fx *contractFixtures) newArticle(slug string) string {
	r := fx.e.do(http.MethodPost, "/v1/customer-portal/kb/articles", fx.admin,
		map[string]any{"title": "Getting started", "slug": slug, "body": "Find your *invoices*.", "status": "published"})
	wantStatus(fx.e.t, r, http.StatusCreated)
	return r.json(fx.e.t)["id"].(string)
}

func (fx *contractFixtures) email(kind string) string {
	fx.seq++
	return fmt.Sprintf("%s-%d@example.com", kind, fx.seq)
}

func (fx *contractFixtures) newContact() string {
	return fx.e.mustCreateContact(fx.admin, map[string]any{"email": fx.email("contact")}).ID
}

// settle undoes what generated config patches may have set that would make
// new fixtures fail: a disabled portal, allowed domains, longer passwords.
func (fx *contractFixtures) settle() {
	if fx.configChanged {
		fx.e.patchConfig(fx.admin, map[string]any{"enabled": true, "auth": nil, "invitations": nil})
		fx.configChanged = false
	}
}

func (fx *contractFixtures) newInvitation() string {
	fx.settle()
	return fx.e.invite(fx.admin, fx.email("invitee")).ID
}

// newCustomer returns an active user, a session token of theirs and its ID.
func (fx *contractFixtures) newCustomer() (userID, token, sessionID string) {
	fx.settle()
	// Accepting an invitation spends the client address's link budget (one
	// every 6 s after a burst), which the generated accept and reset
	// requests spend too: let the budget earn the fixture's accept.
	fx.e.clock.Advance(6 * time.Second)
	inv, a := fx.e.activeUser(fx.admin, fx.email("customer"))
	sessions := fx.e.mySessions(a.AccessToken)
	if len(sessions) != 1 {
		fx.e.t.Fatalf("got %d sessions of a new customer, want 1", len(sessions))
	}
	return inv.UserID, a.AccessToken, sessions[0].ID
}

// idFor returns an ID of the kind path names; fresh ones for requests that
// may end the record, so later requests still find theirs.
func (fx *contractFixtures) idFor(path, method string, acts bool) string {
	fresh := acts && method == http.MethodDelete
	switch {
	case strings.HasPrefix(path, "/v1/contacts/"):
		if fresh {
			return fx.newContact()
		}
		return fx.contactID
	case strings.HasPrefix(path, "/v1/customer-portal/users/"):
		if fresh {
			id, _, _ := fx.newCustomer()
			return id
		}
		return fx.userID
	case strings.HasPrefix(path, "/v1/customer-portal/invitations/"):
		if fresh {
			return fx.newInvitation()
		}
		return fx.invitationID
	case strings.HasPrefix(path, "/v1/customer-portal/sessions/"):
		if fresh {
			_, _, sid := fx.newCustomer()
			return sid
		}
		return fx.sessionID
	case strings.HasPrefix(path, "/v1/customer-portal/tickets/"), strings.HasPrefix(path, "/v1/portal/tickets/"):
		return fx.ticketID
	case strings.HasPrefix(path, "/v1/customer-portal/webhooks/"):
		if fresh {
			return fx.newWebhook()
		}
		return fx.webhookID
	case strings.HasPrefix(path, "/v1/customer-portal/kb/articles/"):
		if fresh {
			fx.seq++
			return fx.newArticle("fresh-" + strconv.Itoa(fx.seq))
		}
		return fx.articleID
	}
	return "01ARZ3NDEKTSV4RRFFQ69G5FAV"
}

// credential returns the Authorization header for op, and for the
// customer API operations that end a session, a session of its own.
func (fx *contractFixtures) credential(path, method string, op *openapi3.Operation, acts bool) (auth string, sessionID string) {
	if op.Security == nil || len(*op.Security) == 0 {
		return "", ""
	}
	for _, req := range *op.Security {
		for scheme, scopes := range req {
			switch {
			case scheme == "portalSession":
				if acts && (method == http.MethodPost || method == http.MethodDelete) {
					_, tok, sid := fx.newCustomer()
					return "Bearer " + tok, sid
				}
				return "Bearer " + fx.customer, fx.customerSession
			case slices.Contains(scopes, "portal:operator"):
				return "Bearer " + fx.operator, ""
			case slices.Contains(scopes, "portal:write"):
				return "Bearer " + fx.admin, ""
			default:
				return "Bearer " + fx.reader, ""
			}
		}
	}
	return "", ""
}

// contractGen makes values and requests from the document's schemas.
type contractGen struct {
	rng *rand.Rand
}

var contractSchemaOpts = []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020(), openapi3.VisitAsRequest()}

// fits reports whether v is valid for s.
func fits(s *openapi3.Schema, v any) bool {
	return s.VisitJSON(v, contractSchemaOpts...) == nil
}

// value generates a value s accepts (ok false when none was found).
func (g *contractGen) value(s *openapi3.Schema, depth int) (any, bool) {
	if s == nil {
		return "x", true
	}
	if s.Const != nil {
		return s.Const, true
	}
	if len(s.Enum) > 0 {
		return s.Enum[g.rng.IntN(len(s.Enum))], true
	}
	for _, list := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf} {
		if len(list) > 0 {
			return g.value(list[g.rng.IntN(len(list))].Value, depth)
		}
	}
	if len(s.AllOf) == 1 {
		return g.value(s.AllOf[0].Value, depth)
	}
	var candidates []any
	for _, ex := range append(slices.Clone(s.Examples), s.Example, s.Default) {
		if ex != nil {
			candidates = append(candidates, ex)
		}
	}
	types := []string{}
	if s.Type != nil {
		for _, ty := range s.Type.Slice() {
			if ty != openapi3.TypeNull {
				types = append(types, ty)
			}
		}
	}
	if len(types) == 0 {
		switch {
		case len(s.Properties) > 0:
			types = []string{openapi3.TypeObject}
		case s.Items != nil:
			types = []string{openapi3.TypeArray}
		default:
			types = []string{openapi3.TypeString}
		}
	}
	switch ty := types[g.rng.IntN(len(types))]; ty {
	case openapi3.TypeString:
		candidates = append(g.strings(s), candidates...)
	case openapi3.TypeInteger, openapi3.TypeNumber:
		lo, hi := -5.0, 1000.0
		if s.Min != nil {
			lo = *s.Min
		}
		if s.Max != nil {
			hi = *s.Max
		}
		for range 3 {
			candidates = append(candidates, float64(int64(lo)+g.rng.Int64N(int64(hi-lo)+1)))
		}
		candidates = append(candidates, lo, hi)
	case openapi3.TypeBoolean:
		candidates = append(candidates, g.rng.IntN(2) == 0)
	case openapi3.TypeArray:
		if depth > 4 {
			return []any{}, fits(s, []any{})
		}
		n := int(s.MinItems) + g.rng.IntN(3)
		if s.MaxItems != nil && uint64(n) > *s.MaxItems {
			n = int(*s.MaxItems)
		}
		arr := []any{}
		for range n {
			v, ok := g.value(s.Items.Value, depth+1)
			if !ok {
				break
			}
			arr = append(arr, v)
		}
		candidates = append(candidates, arr)
	case openapi3.TypeObject:
		if depth > 4 {
			return map[string]any{}, fits(s, map[string]any{})
		}
		obj := map[string]any{}
		names := make([]string, 0, len(s.Properties))
		for name := range s.Properties {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			prop := s.Properties[name].Value
			if prop.ReadOnly {
				continue
			}
			if !slices.Contains(s.Required, name) && g.rng.IntN(2) == 0 {
				continue
			}
			if v, ok := g.value(prop, depth+1); ok {
				obj[name] = v
			}
		}
		candidates = append(candidates, obj)
	}
	// One of the candidates that fit: for a string of a format, the first
	// (made for the format), else any, so the values vary.
	var fitting []any
	for _, c := range candidates {
		if fits(s, c) {
			fitting = append(fitting, c)
		}
	}
	switch {
	case len(fitting) == 0 && len(candidates) > 0:
		return candidates[len(candidates)-1], false
	case len(fitting) == 0:
		return nil, false
	case s.Format != "":
		return fitting[0], true
	}
	return fitting[g.rng.IntN(len(fitting))], true
}

// strings are string candidates for s, by format and by a few patterns the
// document uses; the caller keeps the first that fits.
func (g *contractGen) strings(s *openapi3.Schema) []any {
	n := g.rng.IntN(1000)
	out := []any{}
	switch s.Format {
	case "email":
		out = append(out, fmt.Sprintf("gen%d@example.com", n))
	case "uri", "url":
		out = append(out, fmt.Sprintf("https://cdn.example.com/gen%d.png", n))
	case "date-time":
		out = append(out, "2026-11-26T12:00:00Z")
	case "hostname":
		out = append(out, fmt.Sprintf("portal%d.example.com", n))
	}
	out = append(out,
		fmt.Sprintf("gen-%d", n),
		fmt.Sprintf("#%06x", g.rng.IntN(1<<24)),
		"01ARZ3NDEKTSV4RRFFQ69G5FAV",
		fmt.Sprintf("https://cdn.example.com/gen%d.png", n),
		fmt.Sprintf("gen%d@example.com", n),
		fmt.Sprintf("Gen %d", n),
	)
	max := int(s.MinLength) + 12
	if s.MaxLength != nil && int(*s.MaxLength) < max {
		max = int(*s.MaxLength)
	}
	if max > 0 {
		length := int(s.MinLength) + g.rng.IntN(max-int(s.MinLength)+1)
		b := make([]byte, length)
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[g.rng.IntN(36)]
		}
		out = append(out, string(b))
	}
	return out
}

// invalidValues are values s refuses, each with what makes it so.
func (g *contractGen) invalidValues(s *openapi3.Schema) map[string]any {
	out := map[string]any{}
	try := func(what string, v any) {
		if !fits(s, v) {
			out[what] = v
		}
	}
	try("null", nil)
	try("a number for a string", 12)
	try("a string for a number", "twelve")
	try("an object", map[string]any{"x": 1})
	try("an array", []any{1})
	try("a boolean", true)
	if len(s.Enum) > 0 {
		try("an empty string for an enum", "")
		try("a value outside the enum", "not-in-the-enum")
	}
	if s.MaxLength != nil {
		try("one character too long", strings.Repeat("é", int(*s.MaxLength)+1))
	}
	if s.MinLength > 0 {
		try("too short", strings.Repeat("a", int(s.MinLength)-1))
	}
	if s.Pattern != "" {
		try("against the pattern", " !")
		try("only spaces", "   ")
	}
	if s.Format != "" {
		try("against the format", "http://not a "+s.Format)
	}
	if s.Max != nil {
		try("above the maximum", *s.Max+1)
	}
	if s.Min != nil {
		try("below the minimum", *s.Min-1)
	}
	return out
}

// pick returns up to n keys of m, chosen at random but repeatably.
func pick[V any](g *contractGen, m map[string]V, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	g.rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys[:min(n, len(keys))]
}

// cases generates the requests for one operation.
func (g *contractGen) cases(fx *contractFixtures, path, method string, item *openapi3.PathItem, op *openapi3.Operation, n int) []*contractCase {
	params := openapi3.Parameters{}
	params = append(params, item.Parameters...)
	params = append(params, op.Parameters...)
	var query, headers []*openapi3.Parameter
	for _, p := range params {
		switch p.Value.In {
		case openapi3.ParameterInQuery:
			query = append(query, p.Value)
		case openapi3.ParameterInHeader:
			headers = append(headers, p.Value)
		}
	}
	mediaType, bodySchema := "", (*openapi3.Schema)(nil)
	if op.RequestBody != nil {
		var types []string
		for mt := range op.RequestBody.Value.Content {
			types = append(types, mt)
		}
		slices.Sort(types)
		for _, mt := range types {
			if strings.Contains(mt, "json") {
				mediaType, bodySchema = mt, op.RequestBody.Value.Content[mt].Schema.Value
				break
			}
		}
	}
	opName := method + " " + path

	// base builds a valid request: parameters from their schemas, a body
	// from its schema, the operation's credential. Only a request that acts
	// (a valid one) gets records and sessions of its own to end.
	base := func(what string, acts bool) *contractCase {
		c := &contractCase{op: opName, method: method, query: url.Values{}, header: http.Header{}, what: what}
		p := path
		for _, prm := range params {
			if prm.Value.In != openapi3.ParameterInPath {
				continue
			}
			// A path parameter is never empty; beyond the records of the
			// fixtures, the document's example names one that exists.
			v := fmt.Sprint(prm.Value.Example)
			if prm.Value.Name == "id" {
				v = fx.idFor(path, method, acts)
			} else if prm.Value.Schema != nil && g.rng.IntN(4) == 0 {
				if x, ok := g.value(prm.Value.Schema.Value, 0); ok && fmt.Sprint(x) != "" {
					v = fmt.Sprint(x)
				}
			}
			p = strings.Replace(p, "{"+prm.Value.Name+"}", url.PathEscape(v), 1)
		}
		c.path = p
		for _, prm := range query {
			if !prm.Required && g.rng.IntN(2) == 0 {
				continue
			}
			if prm.Name == "cursor" || prm.Schema == nil {
				continue // opaque: only the service makes one
			}
			if v, ok := g.value(prm.Schema.Value, 0); ok {
				c.query.Set(prm.Name, fmt.Sprint(v))
			}
		}
		for _, prm := range headers {
			if prm.Name == "If-Match" && g.rng.IntN(2) == 0 {
				c.header.Set("If-Match", "*")
			}
		}
		auth, sid := fx.credential(path, method, op, acts)
		if auth != "" {
			c.header.Set("Authorization", auth)
		}
		if sid != "" && strings.HasPrefix(path, "/v1/portal/sessions/") {
			c.path = strings.Replace(path, "{id}", sid, 1)
		}
		if bodySchema != nil && (op.RequestBody.Value.Required || g.rng.IntN(2) == 0) {
			v, _ := g.value(bodySchema, 0)
			raw, _ := json.Marshal(v)
			c.body, c.hasBody, c.contentType = raw, true, mediaType
		}
		return c
	}

	var out []*contractCase
	for range n {
		out = append(out, base("generated from the schemas", true))
	}
	if op.Security != nil && len(*op.Security) > 0 {
		c := base("no credential", false)
		c.header.Del("Authorization")
		c.want = contractUnauthorized
		out = append(out, c)
	}
	if strings.Contains(path, "{id}") && method != http.MethodHead {
		for _, bad := range []string{"not-an-id", "%2F" + fx.contactID, "01arz3ndektsv4rrffq69g5fav", ".."} {
			c := base("an {id} of another form", false)
			i := strings.LastIndex(path, "{id}")
			c.path = path[:i] + bad + path[i+len("{id}"):]
			c.want = contractNotFound
			out = append(out, c)
		}
	}
	if len(query) > 0 {
		c := base("an unknown query parameter", false)
		c.query.Set("unknownParameter", "1")
		c.want = contractRefused
		out = append(out, c)
		for _, prm := range query {
			if prm.Schema == nil || prm.Name == "cursor" {
				continue
			}
			if v, ok := g.value(prm.Schema.Value, 0); ok {
				c := base("the query parameter "+prm.Name+" given twice", false)
				c.query.Del(prm.Name)
				c.query.Add(prm.Name, fmt.Sprint(v))
				c.query.Add(prm.Name, fmt.Sprint(v))
				c.want = contractRefused
				out = append(out, c)
			}
			bad := g.invalidValues(prm.Schema.Value)
			delete(bad, "null") // a query string has no null
			for _, what := range pick(g, bad, n) {
				c := base("the query parameter "+prm.Name+": "+what, false)
				if bad[what] == nil {
					continue
				}
				c.query.Set(prm.Name, contractQueryValue(bad[what]))
				out = append(out, c) // ValidateRequest decides
			}
		}
	}
	for _, prm := range headers {
		if prm.Name != "If-Match" {
			continue
		}
		for _, v := range []string{"7", "W/", `"7`, "*, *x"} {
			c := base("If-Match "+v, false)
			c.header.Set("If-Match", v)
			out = append(out, c) // ValidateRequest decides
		}
	}
	if bodySchema != nil {
		for _, raw := range []string{`[]`, `"text"`, `12`, `null`, `true`} {
			c := base("a body that is not an object: "+raw, false)
			c.body, c.hasBody, c.contentType = []byte(raw), true, mediaType
			out = append(out, c)
		}
		v, _ := g.value(bodySchema, 0)
		for _, m := range g.mutations(bodySchema, v, "", n, 0) {
			c := base("a body with "+m.what, false)
			raw, _ := json.Marshal(m.body)
			c.body, c.hasBody, c.contentType = raw, true, mediaType
			out = append(out, c)
		}
	}
	return out
}

// mutation is a body broken in one place.
type mutation struct {
	what string
	body any
}

// mutations breaks v (a value for s) in every place, one place each: each
// required member left out, an unknown member added, and each writable
// member given up to n values its schema refuses (null and the empty
// string for an enum always among them), descending into nested objects
// and the first item of arrays.
func (g *contractGen) mutations(s *openapi3.Schema, v any, at string, n, depth int) []mutation {
	if s == nil || depth > 3 {
		return nil
	}
	name := func(member string) string { return strings.TrimPrefix(at+"."+member, ".") }
	var out []mutation
	switch x := v.(type) {
	case []any:
		if s.Items == nil || len(x) == 0 {
			break
		}
		for _, m := range g.mutations(s.Items.Value, x[0], at+"[0]", n, depth+1) {
			arr := slices.Clone(x)
			arr[0] = m.body
			out = append(out, mutation{m.what, arr})
		}
	case map[string]any:
		with := func(member string, val any, remove bool) map[string]any {
			cp := make(map[string]any, len(x)+1)
			for k, y := range x {
				cp[k] = y
			}
			if remove {
				delete(cp, member)
			} else {
				cp[member] = val
			}
			return cp
		}
		for _, r := range s.Required {
			if _, ok := x[r]; ok {
				out = append(out, mutation{"the required member " + name(r) + " left out", with(r, nil, true)})
			}
		}
		if len(s.Properties) > 0 {
			out = append(out, mutation{"an unknown member " + name("unknownMember"), with("unknownMember", "x", false)})
		}
		members := make([]string, 0, len(s.Properties))
		for m := range s.Properties {
			members = append(members, m)
		}
		slices.Sort(members)
		for _, m := range members {
			prop := s.Properties[m].Value
			if prop.ReadOnly {
				continue
			}
			cur, ok := x[m]
			if !ok {
				if cur, ok = g.value(prop, depth+1); !ok {
					continue
				}
			}
			for _, sub := range g.mutations(prop, cur, name(m), n, depth+1) {
				out = append(out, mutation{sub.what, with(m, sub.body, false)})
			}
			bad := g.invalidValues(prop)
			for _, what := range g.choose(bad, n) {
				out = append(out, mutation{what + " for " + name(m), with(m, bad[what], false)})
			}
		}
	}
	return out
}

// choose returns up to n kinds of invalid value: null and the empty string
// for an enum first when there are, then others at random.
func (g *contractGen) choose(bad map[string]any, n int) []string {
	var out []string
	for _, first := range []string{"null", "an empty string for an enum"} {
		if _, ok := bad[first]; ok && len(out) < n {
			out = append(out, first)
		}
	}
	for _, k := range pick(g, bad, len(bad)) {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// contractQueryValue writes a generated value as a query string value.
func contractQueryValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}
