package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// TestAbuse_BruteForceNeverLocksOut: failed logins of one account meet 429
// with Retry-After (even the right password is refused while limited, so
// guessing gains nothing), and once the attacker stops and Retry-After has
// passed, the owner logs in: round after round, never locked out for good.
func TestAbuse_BruteForceNeverLocksOut(t *testing.T) {
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	login := func(email, password string) trustResp {
		return e.do(http.MethodPost, "/v1/portal/login", "", map[string]any{"portal": a.slug, "email": email, "password": password})
	}
	for round := 1; round <= 3; round++ {
		var limited trustResp
		tries := 0
		for tries = 1; tries <= 20; tries++ {
			r := login(a.userEmail, fmt.Sprintf("guess %d-%d", round, tries))
			if r.status == http.StatusTooManyRequests {
				limited = r
				break
			}
			if r.status != http.StatusUnauthorized {
				t.Fatalf("round %d, guess %d: got %d, want 401 or 429: %s", round, tries, r.status, r.body)
			}
		}
		if limited.status != http.StatusTooManyRequests {
			t.Fatalf("round %d: got no 429 after 20 wrong passwords", round)
		}
		wait, err := strconv.Atoi(limited.header.Get("Retry-After"))
		if err != nil || wait < 1 || wait > 3600 {
			t.Fatalf("round %d: got Retry-After %q, want a number of seconds", round, limited.header.Get("Retry-After"))
		}
		if typ, _ := limited.object(t)["type"].(string); typ != "https://salesos.dev/problems/rate-limited" {
			t.Errorf("round %d: got problem type %q, want rate-limited", round, typ)
		}
		if r := login(a.userEmail, trustPassword); r.status != http.StatusTooManyRequests {
			t.Errorf("round %d: the right password while limited: got %d, want 429", round, r.status)
		}
		t.Logf("round %d: 429 after %d wrong passwords, Retry-After %d s", round, tries-1, wait)
		e.clock.Advance(time.Duration(wait) * time.Second)
		if r := login(a.userEmail, trustPassword); r.status != http.StatusOK {
			t.Fatalf("round %d: the owner after Retry-After: got %d, want 200: %s", round, r.status, r.body)
		}
	}

	// One address spraying many accounts meets the address limit, which
	// also lifts with time.
	var limited trustResp
	for i := 0; i < 100; i++ {
		r := login(fmt.Sprintf("spray-%d@alpha-corp.example", i), "whatever password")
		if r.status == http.StatusTooManyRequests {
			limited = r
			break
		}
	}
	if limited.status != http.StatusTooManyRequests || limited.header.Get("Retry-After") == "" {
		t.Fatalf("100 accounts from one address: got no 429 with Retry-After")
	}
	wait, _ := strconv.Atoi(limited.header.Get("Retry-After"))
	e.clock.Advance(time.Duration(wait) * time.Second)
	if r := login(a.userEmail, trustPassword); r.status != http.StatusOK {
		t.Fatalf("the owner after the address limit lifted: got %d, want 200", r.status)
	}
}

// trustMedian is the median of ds.
func trustMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestAbuse_LoginIndistinguishable: an unknown email, an unknown portal, a
// revoked user and a wrong password get the same answer, byte for byte but
// the request ID, and (one password hash either way) the same median
// latency within 10 % over 50 tries each.
func TestAbuse_LoginIndistinguishable(t *testing.T) {
	if testing.Short() {
		t.Skip("timing measurement: skipped with -short")
	}
	hasher := auth.NewHasher(auth.Argon2Params{MemoryKiB: 16 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	e := newTrustEnv(t, trustEnvOptions{hasher: hasher})
	a := e.newOrg("org-alpha-7c1", "alpha")
	// A second active user, then revoked.
	acc := e.must(201, http.MethodPost, "/v1/portal/invitations/accept", "", map[string]any{"token": a.inviteToken, "password": trustPassword})
	revokedID := acc["user"].(map[string]any)["id"].(string)
	e.must(200, http.MethodDelete, "/v1/customer-portal/users/"+revokedID+"/access", a.token, nil)

	login := func(portal, email, password string) (trustResp, time.Duration) {
		e.clock.Advance(2 * time.Minute) // every try starts with full rate-limit buckets
		// Every try starts from a collected heap. Otherwise the collector's
		// rhythm, which follows the 16 MiB of each hash, can fall in step
		// with the tries' fixed order, so that one kind's hash keeps
		// getting memory fresh from the system (about 4,000 page faults,
		// some 6 ms here) and the other's reused memory, for a whole run.
		runtime.GC()
		start := time.Now()
		r := e.do(http.MethodPost, "/v1/portal/login", "", map[string]any{"portal": portal, "email": email, "password": password})
		return r, time.Since(start)
	}
	norm := func(r trustResp) string {
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("login answer is not JSON: %s", r.body)
		}
		delete(m, "requestId")
		raw, _ := json.Marshal(m)
		return fmt.Sprintf("%d %s %s %s", r.status, r.header.Get("Content-Type"), r.header.Get("WWW-Authenticate"), raw)
	}
	cases := map[string][3]string{
		"wrong password": {a.slug, a.userEmail, "not the password at all"},
		"unknown email":  {a.slug, "nobody@alpha-corp.example", "not the password at all"},
		"unknown portal": {"no-such-portal", a.userEmail, "not the password at all"},
		"revoked user":   {a.slug, a.pendingEmail, trustPassword},
	}
	var want string
	for name, c := range cases {
		r, _ := login(c[0], c[1], c[2])
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%s: got %d, want 401: %s", name, r.status, r.body)
		}
		if got := norm(r); want == "" {
			want = got
		} else if got != want {
			t.Errorf("%s: got answer\n%s\nwant the same as the others\n%s", name, got, want)
		}
	}

	if raceEnabled {
		t.Log("timing not compared under the race detector, whose instrumentation weighs on the two paths unequally; " +
			".ci/run compares it in a build without -race")
		return
	}
	// 50 tries of each, interleaved so that drift in the machine's load hits
	// both alike. On a busy machine one round of 50 can miss by chance, so
	// up to two more rounds are pooled with it before the test gives up.
	const tries = 50
	var unknown, wrong []time.Duration
	for round := 1; round <= 3; round++ {
		for i := range tries {
			// The order alternates, so that whatever follows a request (a
			// garbage collection after its 16 MiB hash) falls on both kinds.
			for k := range 2 {
				if (i+k)%2 == 0 {
					_, d := login(a.slug, fmt.Sprintf("nobody-%d-%d@alpha-corp.example", round, i), "not the password at all")
					unknown = append(unknown, d)
				} else {
					_, d := login(a.slug, a.userEmail, fmt.Sprintf("wrong password %d-%d", round, i))
					wrong = append(wrong, d)
				}
			}
		}
		mu, mw := trustMedian(unknown), trustMedian(wrong)
		diff := float64(mu-mw) / float64(max(mu, mw))
		t.Logf("%d tries each: median latency unknown email %v, wrong password %v (difference %+.1f %%)",
			len(unknown), mu.Round(10*time.Microsecond), mw.Round(10*time.Microsecond), 100*diff)
		if diff <= 0.10 && diff >= -0.10 {
			return
		}
	}
	t.Errorf("median latencies of unknown email and wrong password differ by more than 10 %% over %d tries each", len(unknown))
}

// TestAbuse_ThousandConcurrentAccepts: 1,000 simultaneous accepts of one
// invitation make exactly one account and one session; the other 999 are
// turned away (410, 429 or 503).
func TestAbuse_ThousandConcurrentAccepts(t *testing.T) {
	trustRaiseFileLimit(t, 4096)
	e := newTrustEnv(t, trustEnvOptions{})
	a := e.newOrg("org-alpha-7c1", "alpha")
	before := e.must(200, http.MethodGet, "/v1/customer-portal/stats", a.token, nil)

	const n = 1000
	u, _ := url.Parse(e.srv.URL)
	body := fmt.Sprintf(`{"token":%q,"password":%q}`, a.inviteToken, trustPassword)
	req := fmt.Sprintf("POST /v1/portal/invitations/accept HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", u.Host, len(body), body)
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns[i] = c
	}
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			<-start
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := io.WriteString(c, req); err != nil {
				statuses[i] = -1
				return
			}
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				statuses[i] = -2
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	t.Logf("1,000 concurrent accepts of one invitation: %v", count)
	// The others find the token spent (410), their address over its limit
	// (429) or the hashing line full (503): never a second account.
	if count[http.StatusCreated] != 1 || count[http.StatusGone]+count[http.StatusTooManyRequests]+count[http.StatusServiceUnavailable] != n-1 {
		t.Fatalf("got statuses %v, want exactly one 201 and %d of 410, 429 or 503", count, n-1)
	}
	after := e.must(200, http.MethodGet, "/v1/customer-portal/stats", a.token, nil)
	num := func(m map[string]any, group, key string) float64 { return m[group].(map[string]any)[key].(float64) }
	if d := num(after, "users", "active") - num(before, "users", "active"); d != 1 {
		t.Errorf("active users grew by %v, want 1", d)
	}
	if d := num(after, "sessions", "active") - num(before, "sessions", "active"); d != 1 {
		t.Errorf("active sessions grew by %v, want 1", d)
	}
	if d := num(after, "invitations", "accepted") - num(before, "invitations", "accepted"); d != 1 {
		t.Errorf("accepted invitations grew by %v, want 1", d)
	}
}

// TestAbuse_ConcurrentLoginsBoundedMemory: 100 logins at once, each from
// its own address (so no rate limit turns them away), all succeed while
// the heap stays bounded: the hasher runs two argon2id hashes of 19 MiB at
// a time, where 100 at once would need about 1.9 GB.
func TestAbuse_ConcurrentLoginsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 argon2id hashes of 19 MiB: skipped with -short")
	}
	trustRaiseFileLimit(t, 1024)
	// The production memory cost (OWASP: 19 MiB) and concurrency (2); one
	// pass instead of two keeps the test quick and costs the same memory.
	const n = 100
	params := auth.OWASPParams()
	params.Time = 1
	// A line long enough for every login: this test is about memory, not
	// about turning logins away.
	hasher := auth.NewHasherWith(params, auth.HasherOptions{Concurrent: 2, CheckQueue: n})
	e := newTrustEnv(t, trustEnvOptions{hasher: hasher})
	a := e.newOrg("org-alpha-7c1", "alpha")
	u, _ := url.Parse(e.srv.URL)
	// One account per login: concurrent attempts on one account beyond its
	// allowance are turned away before they hash.
	emails := trustAccounts(t, e, a, hasher, n)
	// The growth of the heap over what it was before, so that other tests
	// of the package running at the same time do not count. Two hashes in
	// flight plus the garbage of finished ones until the collector runs
	// (it lets the heap double) stay far under 100 at once (1.9 GB).
	const bound = 256 << 20
	clients := make([]*http.Client, n)
	for i := range clients {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/200), byte(10+i%200))}
		d := &net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
		clients[i] = &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, u.Host)
			}}}
	}
	if c, err := clients[0].Transport.(*http.Transport).DialContext(context.Background(), "tcp", u.Host); err != nil {
		t.Skipf("cannot dial from another loopback address (%v): the per-address limit would turn the logins away", err)
	} else {
		c.Close()
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	statuses := make([]int, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"portal": a.slug, "email": emails[i], "password": trustPassword})
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/portal/login", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := c.Do(req)
			if err != nil {
				statuses[i] = -1
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	<-sampled
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	ok := 0
	for _, s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	t.Logf("100 concurrent logins: %d succeeded in %v; heap in use %d MiB before, peak %d MiB (bound on growth %d MiB)",
		ok, took.Round(time.Millisecond), base.HeapInuse>>20, peak.Load()>>20, bound>>20)
	if ok != n {
		t.Errorf("got %d of %d logins through, want all (statuses %v)", ok, n, statuses)
	}
	if p := peak.Load(); p > base.HeapInuse && p-base.HeapInuse > bound {
		t.Errorf("heap in use grew by %d MiB during 100 concurrent logins, want under %d MiB", (p-base.HeapInuse)>>20, bound>>20)
	}
}

// trustAccounts makes n active users of org a with trustPassword, through
// the store and with one hash, and returns their emails.
func trustAccounts(t *testing.T, e *trustEnv, a *trustOrg, h *auth.Hasher, n int) []string {
	t.Helper()
	hash, err := h.Hash(t.Context(), trustPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("load-%d@alpha-corp.example", i)
		inv, err := e.db.CreateInvitation(t.Context(), data.TenantID(a.org), "staff-1", data.InvitationRequest{Email: emails[i]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.AcceptInvitation(t.Context(), trustAcceptToken(t, inv.AcceptURL), hash, "", "", store.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	return emails
}
