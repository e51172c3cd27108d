package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/store"
)

// countingHasher is a cheap hasher that counts the hashes it starts.
func countingHasher(n *atomic.Int64, opt auth.HasherOptions) *auth.Hasher {
	opt.OnHash = func() { n.Add(1) }
	return auth.NewHasherWith(auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, opt)
}

// wantRetryAfter fails unless r says how many seconds to wait.
func wantRetryAfter(t *testing.T, r response) {
	t.Helper()
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("status %d: got Retry-After %q, want a number of seconds", r.status, r.header.Get("Retry-After"))
	}
}

// TestPortal_ConcurrentWrongLogins: 1,000 wrong passwords for one account
// sent at once reach the hasher at most as often as the account is allowed
// attempts; the others are 429 without a hash.
func TestPortal_ConcurrentWrongLogins(t *testing.T) {
	trustRaiseFileLimit(t, 4096)
	var hashed atomic.Int64
	e := newTestEnvWith(t, envOptions{hasher: countingHasher(&hashed, auth.HasherOptions{Concurrent: 4})})
	admin := e.admin("org-a")
	slug := e.slug(admin)
	e.activeUser(admin, "ada@example.com")
	hashed.Store(0)

	const n = 1000
	statuses := make([]response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], errs[i] = e.try(http.MethodPost, loginPath, "",
				map[string]any{"portal": slug, "email": "ada@example.com", "password": "wrong password " + strconv.Itoa(i)})
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, r := range statuses {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		count[r.status]++
		if r.status == http.StatusTooManyRequests {
			wantRetryAfter(t, r)
		}
	}
	t.Logf("%d concurrent wrong logins: statuses %v, %d hashed", n, count, hashed.Load())
	if h := hashed.Load(); h > account.AccountAttempts {
		t.Errorf("got %d passwords hashed, want at most %d", h, account.AccountAttempts)
	}
	if count[http.StatusUnauthorized] > account.AccountAttempts || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != n {
		t.Errorf("got statuses %v, want at most %d 401 and the rest 429", count, account.AccountAttempts)
	}
}

// TestPortal_AcceptBadNamesHashNothing: accepts that fail a cheap check
// (names, password rule, token) are answered before any hash.
func TestPortal_AcceptBadNamesHashNothing(t *testing.T) {
	t.Parallel()
	var hashed atomic.Int64
	e := newTestEnvWith(t, envOptions{hasher: countingHasher(&hashed, auth.HasherOptions{Concurrent: 2})})
	admin := e.admin("org-a")
	tok := acceptToken(t, e.invite(admin, "ada@example.com").AcceptURL)
	bodies := []map[string]any{
		{"token": tok, "password": goodPassword, "firstName": strings.Repeat("a", 101)},
		{"token": tok, "password": goodPassword, "lastName": "line\nbreak"},
		{"token": tok, "password": "short"},
		{"token": strings.Repeat("A", 51), "password": goodPassword},
	}
	const n = 50
	count := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.try(http.MethodPost, acceptPath, "", bodies[i%len(bodies)])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			count[r.status]++
		}()
	}
	wg.Wait()
	if h := hashed.Load(); h != 0 {
		t.Errorf("got %d passwords hashed for %d bad accepts (statuses %v), want none", h, n, count)
	}
	if count[http.StatusUnprocessableEntity]+count[http.StatusGone]+count[http.StatusTooManyRequests] != n || count[http.StatusTooManyRequests] == 0 {
		t.Errorf("got statuses %v, want 422 or 410 and then 429 from the one address", count)
	}
}

// loopbackClient sends from its own loopback address, so that the limits
// per client address see it as another client.
func loopbackClient(t *testing.T, srvURL string, i int) *http.Client {
	t.Helper()
	u, _ := url.Parse(srvURL)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/200), byte(10+i%200))}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, u.Host)
		}}}
}

// TestPortal_LoginDuringAcceptFlood: with both hashing slots held by
// accepts, 200 more accepts with valid shapes find the short line of new
// passwords full and get 503 with Retry-After at once; a login that comes
// after them is served by the next free slot, ahead of the accepts still
// waiting.
func TestPortal_LoginDuringAcceptFlood(t *testing.T) {
	trustRaiseFileLimit(t, 4096)
	const concurrent, line, n = 2, 2, 200
	var started atomic.Int64
	hold := make(chan struct{}) // each send lets one held hash go on
	held := make(chan struct{}, concurrent)
	var armed atomic.Bool
	waitingAtThird := make(chan int, 1)
	var hasher *auth.Hasher
	hasher = auth.NewHasherWith(auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		auth.HasherOptions{Concurrent: concurrent, HashQueue: line, OnHash: func() {
			if !armed.Load() {
				return
			}
			switch k := started.Add(1); {
			case k <= concurrent:
				held <- struct{}{}
				<-hold
			case k == concurrent+1:
				w, _ := hasher.Waiting()
				waitingAtThird <- w
			}
		}})
	e := newTestEnvWith(t, envOptions{hasher: hasher})
	admin := e.admin("org-a")
	slug := e.slug(admin)
	e.activeUser(admin, "ada@example.com")
	tok := acceptToken(t, e.invite(admin, "grace@example.com").AcceptURL)
	if c, err := loopbackClient(t, e.srv.URL, 0).Transport.(*http.Transport).DialContext(t.Context(), "tcp", ""); err != nil {
		t.Skipf("cannot dial from another loopback address (%v): the limit per address would turn the accepts away", err)
	} else {
		c.Close()
	}
	armed.Store(true)

	post := func(c *http.Client, path string, body any) (response, error) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		if err != nil {
			return response{}, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return response{status: res.StatusCode, header: res.Header, body: b}, err
	}
	type result struct {
		r   response
		err error
	}
	results := make(chan result, n)
	for i := range n {
		c := loopbackClient(t, e.srv.URL, i)
		go func() {
			r, err := post(c, acceptPath, map[string]any{"token": tok, "password": goodPassword})
			results <- result{r, err}
		}()
	}
	// Two accepts hash (held), two wait, and the other 196 are shed at
	// once: all of that before any slot is given back.
	for range concurrent {
		<-held
	}
	count := map[int]int{}
	for range n - concurrent - line {
		res := <-results
		if res.err != nil {
			t.Fatal(res.err)
		}
		count[res.r.status]++
		if res.r.status == http.StatusServiceUnavailable {
			wantRetryAfter(t, res.r)
			if ct := res.r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("got Content-Type %q on 503, want application/problem+json", ct)
			}
		}
	}
	if count[http.StatusServiceUnavailable] != n-concurrent-line {
		t.Fatalf("with the slots held: got statuses %v, want %d 503", count, n-concurrent-line)
	}
	login := make(chan result, 1)
	go func() {
		r, err := post(loopbackClient(t, e.srv.URL, n), loginPath, map[string]any{"portal": slug, "email": "ada@example.com", "password": goodPassword})
		login <- result{r, err}
	}()
	waitFor(t, func() bool { h, c := hasher.Waiting(); return h == line && c == 1 })
	hold <- struct{}{} // one slot comes free
	res := <-login
	if res.err != nil || res.r.status != http.StatusOK {
		t.Fatalf("login during the flood: got %d, %v: %s, want 200", res.r.status, res.err, res.r.body)
	}
	if w := <-waitingAtThird; w != line {
		t.Errorf("when the next hash began, %d accepts were waiting, want %d: the login goes first", w, line)
	}
	hold <- struct{}{}
	for range concurrent + line {
		res := <-results
		if res.err != nil {
			t.Fatal(res.err)
		}
		count[res.r.status]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusGone] != concurrent+line-1 {
		t.Errorf("got statuses %v, want one 201 and %d 410 besides the 503", count, concurrent+line-1)
	}
}

// waitFor polls cond until it holds, for at most ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPortal_RateLimitBeforeBody: once an address is over its limit, login,
// accept, forgot and reset answer 429 without waiting for the body, so a
// flood of large bodies costs no memory.
func TestPortal_RateLimitBeforeBody(t *testing.T) {
	tests := []struct {
		name, path string
		budget     int
	}{
		{"login", loginPath, 30},
		{"forgot", "/v1/portal/password/forgot", 30},
		{"accept", acceptPath, 10},
		{"reset", "/v1/portal/password/reset", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			for i := 0; ; i++ {
				// Another email each time, so that only the address limit applies.
				r := e.do(http.MethodPost, tt.path, "", fmt.Sprintf(`{"email": "probe-%d@example.com"}`, i))
				if r.status == http.StatusTooManyRequests {
					break
				}
				if i > tt.budget {
					t.Fatalf("got no 429 after %d requests", i)
				}
			}
			u, _ := url.Parse(e.srv.URL)
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Headers announce a 1 MiB body that never comes: only an answer
			// given before reading it arrives within the safety deadline.
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
				tt.path, u.Host, 1<<20)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("got %v, want a 429 before the body is sent", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
				t.Errorf("got %d with Retry-After %q, want 429 with a wait", res.StatusCode, res.Header.Get("Retry-After"))
			}
		})
	}
}

// TestPortal_ForgotFlood: asking again and again for a reset link sends one
// email a minute to the account, and each new link kills the older ones.
func TestPortal_ForgotFlood(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	slug := e.slug(admin)
	e.activeUser(admin, "ada@example.com")
	forgot := func() {
		t.Helper()
		wantStatus(t, e.forgot(map[string]any{"portal": slug, "email": "ada@example.com"}), http.StatusAccepted)
	}
	for range 25 { // under the address limit: only the account's rule applies
		forgot()
	}
	if n := e.resetMails(); n != 1 {
		t.Fatalf("got %d reset emails after 25 requests in a second, want 1", n)
	}
	first := e.resetToken("ada@example.com")
	e.clock.Advance(59 * time.Second)
	forgot()
	if n := e.resetMails(); n != 1 {
		t.Fatalf("got %d reset emails within the minute, want 1", n)
	}
	e.clock.Advance(time.Second)
	forgot()
	if n := e.resetMails(); n != 2 {
		t.Fatalf("got %d reset emails a minute later, want 2", n)
	}
	second := e.resetToken("ada@example.com")
	if second == first {
		t.Fatal("got the same token twice, want a new link")
	}
	const newPassword = "a much better passphrase"
	wantProblem(t, e.do(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": first, "password": newPassword}),
		http.StatusGone)
	wantStatus(t, e.do(http.MethodPost, "/v1/portal/password/reset", "", map[string]any{"token": second, "password": newPassword}),
		http.StatusNoContent)
}

// TestPortal_AllowedDomainsRechecked: narrowing auth.allowedEmailDomains
// after an invitation or an activation shuts the other domains out of
// accept, login, forgot-password and resend, with the answers every other
// failure gets.
func TestPortal_AllowedDomainsRechecked(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	slug := e.slug(admin)
	inv := e.invite(admin, "ada@example.com")
	e.activeUser(admin, "bob@example.com")
	e.activeUser(admin, "cy@partner.example")
	e.patchConfig(admin, map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{"partner.example"}}})
	probe := []string{"X-Request-Id", "domain-probe"}

	// Accept: the same 410 as an unknown token.
	gone := e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL), "password": goodPassword}, probe...)
	wantProblem(t, gone, http.StatusGone)
	unknown := e.do(http.MethodPost, acceptPath, "", map[string]any{"token": strings.Repeat("A", 51), "password": goodPassword}, probe...)
	if string(gone.body) != string(unknown.body) {
		t.Errorf("accept: got %s, want the body of an unknown token %s", gone.body, unknown.body)
	}
	// Login: the same 401 as an unknown email.
	refused := e.login(slug, "bob@example.com", goodPassword, probe...)
	wantProblem(t, refused, http.StatusUnauthorized)
	nobody := e.login(slug, "nobody@partner.example", goodPassword, probe...)
	if string(refused.body) != string(nobody.body) {
		t.Errorf("login: got %s, want the body of an unknown email %s", refused.body, nobody.body)
	}
	e.mustLogin(slug, "cy@partner.example", goodPassword)
	// Forgot: the same 202, and no email.
	wantStatus(t, e.forgot(map[string]any{"portal": slug, "email": "bob@example.com"}), http.StatusAccepted)
	if n := e.resetMails(); n != 0 {
		t.Errorf("got %d reset emails for a shut-out domain, want 0", n)
	}
	// Resend: refused like a new invitation of that email.
	wantFields(t, wantProblem(t, e.do(http.MethodPost, invitationsPath+"/"+inv.ID+"/resend", admin, nil), http.StatusUnprocessableEntity), "email")
	// Widening the list again lets them back in.
	e.patchConfig(admin, map[string]any{"auth": map[string]any{"allowedEmailDomains": []string{}}})
	e.mustLogin(slug, "bob@example.com", goodPassword)
	wantStatus(t, e.do(http.MethodPost, acceptPath, "", map[string]any{"token": acceptToken(t, inv.AcceptURL), "password": goodPassword}),
		http.StatusCreated)
}

// TestPortal_SessionsFollowConfig: a session lives under the portal's rules
// as they are now: disabling the portal, or a shorter lifetime or idle
// timeout, applies to sessions that began before, in the checks, the lists
// and the counts alike.
func TestPortal_SessionsFollowConfig(t *testing.T) {
	tests := []struct {
		name   string
		before time.Duration // the clock moves before the change, the session unused
		patch  map[string]any
		undo   map[string]any // when set, the session is usable again after it
	}{
		{name: "portal disabled", patch: map[string]any{"enabled": false}, undo: map[string]any{"enabled": true}},
		{name: "shorter lifetime", before: 4 * time.Minute,
			patch: map[string]any{"auth": map[string]any{"sessionTtlMinutes": 5, "idleTimeoutMinutes": 5}}},
		{name: "lifetime already over", before: 30 * time.Minute,
			patch: map[string]any{"auth": map[string]any{"sessionTtlMinutes": 20, "idleTimeoutMinutes": 20}}},
		{name: "shorter idle timeout", before: 10 * time.Minute,
			patch: map[string]any{"auth": map[string]any{"idleTimeoutMinutes": 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t)
			admin := e.admin("org-a")
			_, a := e.activeUser(admin, "ada@example.com")
			e.clock.Advance(tt.before)
			admin = e.admin("org-a")
			e.patchConfig(admin, tt.patch)
			if tt.name != "shorter lifetime" {
				wantProblem(t, e.do(http.MethodGet, mePath, a.AccessToken, nil), http.StatusUnauthorized)
			} else {
				// Four minutes in, a five-minute lifetime has one left.
				wantStatus(t, e.do(http.MethodGet, mePath, a.AccessToken, nil), http.StatusOK)
				e.clock.Advance(time.Minute)
				admin = e.admin("org-a")
				wantProblem(t, e.do(http.MethodGet, mePath, a.AccessToken, nil), http.StatusUnauthorized)
			}
			if tt.undo != nil {
				e.patchConfig(admin, tt.undo)
				wantStatus(t, e.do(http.MethodGet, mePath, a.AccessToken, nil), http.StatusOK)
				return
			}
			if s := e.stats(admin); s.Sessions.Active != 0 {
				t.Errorf("got %d active sessions in stats, want 0", s.Sessions.Active)
			}
			if got := listAll[sessionJSON](e, admin, sessionsPath); len(got) != 0 {
				t.Errorf("got %d sessions listed, want 0", len(got))
			}
		})
	}
}

// gatedClock is a clock that, while a gate is set, blocks every reading
// until the gate opens, and says when a reading started waiting.
type gatedClock struct {
	clock
	gate    atomic.Pointer[chan struct{}]
	waiting chan struct{}
}

func (c *gatedClock) Now() time.Time {
	if g := c.gate.Load(); g != nil {
		select {
		case c.waiting <- struct{}{}:
		default:
		}
		<-*g
	}
	return c.clock.Now()
}

// TestPortal_ForgotAnswersBeforeWork: forgot-password answers before it
// does any work, for a known email and an unknown one alike, with the same
// bytes and on a connection that is not reused: the store's work (held
// here by its clock) cannot show in the answer's timing.
func TestPortal_ForgotAnswersBeforeWork(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	admin := e.admin("org-a")
	slug := e.slug(admin)
	e.activeUser(admin, "ada@example.com")
	// A second server over the same database, whose store work waits on a
	// gated clock.
	storeClock := &gatedClock{clock: clock{t: e.clock.Now()}, waiting: make(chan struct{}, 1)}
	path := e.db.Path()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path, storeClock.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(handlers.New(log, db, nil, handlers.Options{Now: e.clock.Now,
		Accounts: account.New(db, log, account.Options{Hasher: cheapHasher(), Now: e.clock.Now})}))
	t.Cleanup(srv.Close)

	type result struct {
		res  *http.Response
		body string
		err  error
	}
	var bodies []string
	for _, email := range []string{"nobody@example.com", "ada@example.com"} {
		drain(storeClock.waiting)
		gate := make(chan struct{})
		storeClock.gate.Store(&gate)
		done := make(chan result, 1)
		go func() {
			res, err := http.Post(srv.URL+"/v1/portal/password/forgot", "application/json",
				strings.NewReader(fmt.Sprintf(`{"portal": %q, "email": %q}`, slug, email)))
			if err != nil {
				done <- result{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			done <- result{res: res, body: string(b), err: err}
		}()
		<-storeClock.waiting // the store's work has begun and is held
		var got result
		select {
		case got = <-done:
		case <-time.After(10 * time.Second): // a safety bound only
			storeClock.gate.Store(nil)
			close(gate) // let the held request end, so the server can close
			t.Fatalf("%s: got no answer while the store's work was held, want the answer first", email)
		}
		storeClock.gate.Store(nil)
		close(gate)
		if got.err != nil || got.res.StatusCode != http.StatusAccepted || !got.res.Close {
			t.Fatalf("%s: got %v, %v, want 202 on a closing connection", email, got.res, got.err)
		}
		bodies = append(bodies, got.body)
	}
	if bodies[0] != bodies[1] {
		t.Errorf("got bodies %q and %q, want the same", bodies[0], bodies[1])
	}
	waitFor(t, func() bool {
		msgs, err := db.DueMessages(t.Context(), e.clock.Now().Add(24*time.Hour), 100)
		return err == nil && len(msgs) > 0 && msgs[len(msgs)-1].Kind == data.MailPasswordReset
	})
}

// drain empties c.
func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// forgot asks for a reset link and waits until the request's work, done
// after the answer, is over (it ends by waking the mail sender).
func (e *testEnv) forgot(body map[string]any) response {
	e.t.Helper()
	n := e.wakes.Load()
	r := e.do(http.MethodPost, "/v1/portal/password/forgot", "", body)
	if r.status == http.StatusAccepted {
		waitFor(e.t, func() bool { return e.wakes.Load() > n })
	}
	return r
}
