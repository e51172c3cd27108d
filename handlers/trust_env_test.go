package handlers_test

// The trust tests (issue 7) run against a server wired like production:
// the API router, the customer pages and the console, one account service
// for both, a verifier that trusts an HS256 secret and a JWKS file of an
// ES256 and an RS256 key and checks iss and aud. Their helpers carry a
// trust prefix so they stay clear of the other black-box tests' names.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/web"
)

const (
	trustIssuer   = "https://idp.trust.example"
	trustAudience = "portal-api"
	trustPassword = "correct horse battery staple"
)

type trustEnv struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	db     *store.DB
	clock  *clock  // of the store, the verifier, the handlers and the login limits
	es256  jwk.Key // private, kid trust-es256
	rs256  jwk.Key // private, kid trust-rs256
	secret []byte  // HS256
	routes []string
	// operator is the operator token, the backup's credential.
	operator string
}

type trustEnvOptions struct {
	// hasher replaces the cheap test hasher; nil keeps it.
	hasher *auth.Hasher
}

func newTrustEnv(t *testing.T, o trustEnvOptions) *trustEnv {
	t.Helper()
	dir := t.TempDir()
	clk := &clock{t: fixedStart}
	db, err := store.Open(filepath.Join(dir, "portal.db"), clk.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	es := signingKey(t, ecPriv, "trust-es256", jwa.ES256)
	rs := signingKey(t, rsaPriv, "trust-rs256", jwa.RS256)
	jwksPath := writeJWKS(t, dir, es, rs)
	secret := []byte(strings.Repeat("t", 48))
	v, err := auth.NewVerifier(auth.Config{Secret: secret, JWKSPath: jwksPath, Issuer: trustIssuer,
		Audience: trustAudience, Now: clk.Now, CacheSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hasher := o.hasher
	if hasher == nil {
		hasher = cheapHasher() // the tests of hashing cost and timing pass the real one
	}
	accounts := account.New(db, log, account.Options{Hasher: hasher, Now: clk.Now})
	pages, err := web.New(log, db, web.Options{Accounts: accounts})
	if err != nil {
		t.Fatal(err)
	}
	operatorSecret := []byte("trust-operator-secret-0123456789abcdef")
	op, err := auth.NewOperator(operatorSecret)
	if err != nil {
		t.Fatal(err)
	}
	opts := handlers.Options{Now: clk.Now, CursorKey: []byte("trust-cursor-key-0123456789abcdef"),
		Accounts: accounts, Web: pages, Operator: op}
	routes, err := handlers.TrustRoutes(log, db, v, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.New(log, db, v, opts))
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	e := &trustEnv{t: t, srv: srv, client: client, db: db, clock: clk, es256: es, rs256: rs, secret: secret, routes: routes,
		operator: auth.OperatorToken(operatorSecret)}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		_ = db.Close()
	})
	return e
}

// claims are a valid staff token's claims for org at the env's clock.
func (e *trustEnv) claims(org, scope string) map[string]any {
	now := e.clock.Now()
	c := map[string]any{"sub": "staff-" + org, "org": org, "iss": trustIssuer, "aud": trustAudience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if scope != "" {
		c["scope"] = scope
	}
	return c
}

// sign signs claims with key (its kid in the header) as a compact JWT.
func (e *trustEnv) sign(alg jwa.SignatureAlgorithm, key jwk.Key, claims map[string]any) string {
	e.t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		if v == nil {
			continue
		}
		if err := tok.Set(k, v); err != nil {
			e.t.Fatal(err)
		}
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(signed)
}

// admin is a read-write staff token of org.
func (e *trustEnv) admin(org string) string {
	return e.sign(jwa.ES256, e.es256, e.claims(org, "portal:read portal:write"))
}

// trustResp is a finished request with its body read.
type trustResp struct {
	status int
	header http.Header
	body   []byte
}

func (r trustResp) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %.300s", err, r.body)
	}
	return m
}

// send sends a request. body is nil, a string or []byte (sent as is, with
// Content-Type application/json unless hdr sets one) or a value sent as
// JSON. hdr holds header name, value pairs.
func (e *trustEnv) send(method, path, token string, body any, hdr ...string) (trustResp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return trustResp{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return trustResp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		return trustResp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return trustResp{status: res.StatusCode, header: res.Header, body: raw}, err
}

func (e *trustEnv) do(method, path, token string, body any, hdr ...string) trustResp {
	e.t.Helper()
	r, err := e.send(method, path, token, body, hdr...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// must sends a request and fails unless it answers want.
func (e *trustEnv) must(want int, method, path, token string, body any, hdr ...string) map[string]any {
	e.t.Helper()
	r := e.do(method, path, token, body, hdr...)
	if r.status != want {
		e.t.Fatalf("%s %s: got status %d, want %d: %.500s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 || r.header.Get("Content-Type") == "" {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

// login starts a customer session and returns its token.
func (e *trustEnv) login(slug, email string) string {
	e.t.Helper()
	m := e.must(200, http.MethodPost, "/v1/portal/login", "", map[string]any{"portal": slug, "email": email, "password": trustPassword})
	return m["accessToken"].(string)
}

// trustOrg is an organization with one of everything, made through the API.
type trustOrg struct {
	org, token, slug                string
	userID, userEmail               string // active user with a session
	session, sessionID              string // that user's session token and ID
	pendingInvID, pendingUserID     string // a pending invitation (of the contact)
	pendingEmail, inviteToken       string
	contactID, contactEmail         string
	inviteOnlyID, inviteOnlyEmail   string // a pending invitation by email
	auditIDs                        []string
	portalName, supportEmail, hello string
	ticketID, ticketSubject         string // a ticket of the active user
	documentID, documentTitle       string // a document shared with every customer
	// A quote, an invoice and an order of account acct-1, by the CRM's IDs
	// and the portal's.
	quoteExt, quoteID, invoiceExt, invoiceID, orderExt, orderID string
	commerceNumber                                              string
	webhookID, webhookURL                                       string // a webhook for ticket.created
	deliveryID                                                  string // its delivery of the ticket's event
	articleID, articleSlug                                      string // a published article
	articleTitle, draftSlug                                     string // and a draft's slug
}

// newOrg fills organization org (name a short tag such as "alpha") with a
// config, a feature, a contact, an active user with a session, and pending
// invitations.
func (e *trustEnv) newOrg(org, tag string) *trustOrg {
	e.t.Helper()
	o := &trustOrg{org: org, token: e.admin(org), slug: tag + "-portal",
		portalName: "Portal of " + tag + " Secret Corp", supportEmail: "support@" + tag + "-corp.example",
		hello: "Welcome to the " + tag + " private portal"}
	e.must(200, http.MethodPatch, "/v1/customer-portal/config", o.token,
		map[string]any{"slug": o.slug, "portalName": o.portalName, "supportEmail": o.supportEmail, "welcomeMessage": o.hello},
		"Content-Type", "application/merge-patch+json")
	e.must(200, http.MethodPatch, "/v1/customer-portal/features/invoices/toggle", o.token, map[string]any{"enabled": true})
	e.must(200, http.MethodPatch, "/v1/customer-portal/features/documents/toggle", o.token, map[string]any{"enabled": true})
	e.must(200, http.MethodPatch, "/v1/customer-portal/features/quotes/toggle", o.token, map[string]any{"enabled": true})
	e.must(200, http.MethodPatch, "/v1/customer-portal/features/orders/toggle", o.token, map[string]any{"enabled": true})

	o.contactEmail = "carol." + tag + "@" + tag + "-corp.example"
	c := e.must(201, http.MethodPost, "/v1/contacts", o.token,
		map[string]any{"email": o.contactEmail, "firstName": "Carol" + tag, "lastName": "Contact" + tag, "company": tag + " Holdings"})
	o.contactID = c["id"].(string)

	o.userEmail = "ann." + tag + "@" + tag + "-corp.example"
	inv := e.must(201, http.MethodPost, "/v1/customer-portal/invitations", o.token,
		map[string]any{"email": o.userEmail, "firstName": "Ann" + tag})
	tok := trustAcceptToken(e.t, inv["acceptUrl"].(string))
	acc := e.must(201, http.MethodPost, "/v1/portal/invitations/accept", "",
		map[string]any{"token": tok, "password": trustPassword})
	o.session = acc["accessToken"].(string)
	o.userID = acc["user"].(map[string]any)["id"].(string)
	sessions := e.must(200, http.MethodGet, "/v1/portal/sessions", o.session, nil)
	o.sessionID = sessions["data"].([]any)[0].(map[string]any)["id"].(string)

	pend := e.must(201, http.MethodPost, "/v1/customer-portal/users/invite", o.token, map[string]any{"contactId": o.contactID})
	o.pendingInvID, o.pendingUserID, o.pendingEmail = pend["id"].(string), pend["userId"].(string), pend["email"].(string)
	o.inviteToken = trustAcceptToken(e.t, pend["acceptUrl"].(string))

	o.inviteOnlyEmail = "bob." + tag + "@" + tag + "-corp.example"
	only := e.must(201, http.MethodPost, "/v1/customer-portal/invitations", o.token, map[string]any{"email": o.inviteOnlyEmail})
	o.inviteOnlyID = only["id"].(string)

	o.webhookURL = "https://hooks." + tag + "-corp.example/portal"
	hook := e.must(201, http.MethodPost, "/v1/customer-portal/webhooks", o.token,
		map[string]any{"url": o.webhookURL, "eventTypes": []string{"ticket.created"}})
	o.webhookID = hook["id"].(string)
	o.ticketSubject = "Ticket of " + tag + " Secret Corp"
	tk := e.must(201, http.MethodPost, "/v1/portal/tickets", o.session, map[string]any{"subject": o.ticketSubject, "body": "Body of " + tag})
	o.ticketID = tk["id"].(string)
	deliveries := e.must(200, http.MethodGet, "/v1/customer-portal/webhooks/"+o.webhookID+"/deliveries", o.token, nil)
	o.deliveryID = deliveries["data"].([]any)[0].(map[string]any)["id"].(string)
	o.documentTitle = "Plans of " + tag + " Secret Corp"
	body, ct := multipartBody(e.t, formPart{name: "title", body: []byte(o.documentTitle)},
		formPart{name: "file", fileName: tag + "-plans.txt", body: []byte("the secret plans of " + tag)})
	doc := e.must(201, http.MethodPost, "/v1/customer-portal/documents", o.token, body, "Content-Type", ct)
	o.documentID = doc["id"].(string)
	o.articleTitle, o.articleSlug, o.draftSlug = "Guide of "+tag+" Secret Corp", tag+"-secret-guide", tag+"-secret-draft"
	art := e.must(201, http.MethodPost, "/v1/customer-portal/kb/articles", o.token, map[string]any{"title": o.articleTitle,
		"slug": o.articleSlug, "category": "Guides", "status": "published", "body": "How " + tag + " pays its invoices."})
	o.articleID = art["id"].(string)
	e.must(201, http.MethodPost, "/v1/customer-portal/kb/articles", o.token, map[string]any{"title": "Draft of " + tag,
		"slug": o.draftSlug, "body": "Invoices to come."})

	o.commerceNumber = "N-" + tag + "-Secret-Corp"
	o.quoteExt, o.invoiceExt, o.orderExt = "crm-q-"+tag, "crm-i-"+tag, "crm-o-"+tag
	o.quoteID = e.must(201, http.MethodPut, "/v1/customer-portal/quotes/"+o.quoteExt, o.token, quoteBody("acct-1", o.commerceNumber, 1))["id"].(string)
	o.invoiceID = e.must(201, http.MethodPut, "/v1/customer-portal/invoices/"+o.invoiceExt, o.token, invoiceBody("acct-1", o.commerceNumber, 1))["id"].(string)
	o.orderID = e.must(201, http.MethodPut, "/v1/customer-portal/orders/"+o.orderExt, o.token, orderBody("acct-1", o.commerceNumber, 1))["id"].(string)

	audit := e.must(200, http.MethodGet, "/v1/customer-portal/audit?limit=100", o.token, nil)
	for _, a := range audit["data"].([]any) {
		o.auditIDs = append(o.auditIDs, a.(map[string]any)["id"].(string))
	}
	return o
}

// secrets are strings only org o's own callers may ever see.
func (o *trustOrg) secrets() []string {
	s := []string{o.org, o.slug, o.portalName, o.supportEmail, o.hello, o.userID, o.userEmail, o.session,
		o.sessionID, o.pendingInvID, o.pendingUserID, o.pendingEmail, o.inviteToken, o.contactID,
		o.contactEmail, o.inviteOnlyID, o.inviteOnlyEmail, "Carol" + strings.TrimSuffix(o.slug, "-portal"),
		o.ticketID, o.ticketSubject, o.documentID, o.documentTitle, o.quoteExt, o.quoteID, o.invoiceExt, o.invoiceID,
		o.orderExt, o.orderID, o.commerceNumber, o.webhookID, o.webhookURL, o.deliveryID,
		o.articleID, o.articleSlug, o.articleTitle, o.draftSlug}
	return append(s, o.auditIDs...)
}

// trustAcceptToken returns the token of an accept link.
func trustAcceptToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get("token")
	if tok == "" {
		t.Fatalf("accept link %q has no token", link)
	}
	return tok
}
