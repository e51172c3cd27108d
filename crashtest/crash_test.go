package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

const (
	kills        = 20
	workers      = 6
	secret       = "crash-test-secret-0123456789abcdef0123456789"
	org          = "crash-org"
	slug         = "crash-portal"
	demoEmail    = "demo@crash.example"
	demoPassword = "crash test passphrase"
	importRows   = 5
)

// ledger is what the server acknowledged (answered 2xx to), and what was
// attempted without an answer.
type ledger struct {
	mu          sync.Mutex
	invitations map[string]string // id -> email
	pending     []string          // acknowledged invitations not (yet) cancelled
	cancelled   map[string]bool
	contacts    map[string]string // id -> email
	imports     map[string]bool   // tag -> acknowledged; every attempted import is here
	sessions    map[string]int    // session token -> cycle of the login
	maxVersion  int64             // the highest config version acknowledged
	welcome     map[int64]string  // config version -> the welcome message patched in
	acked       map[string]int    // acknowledged writes by kind
	unanswered  map[string]int    // writes sent without an answer (in flight at the kill)
	refused     map[string]int    // writes answered with another status
	problems    []string          // those answers
	killed      atomic.Bool       // set just before the kill: later requests never reach a server
}

func newLedger() *ledger {
	return &ledger{invitations: map[string]string{}, cancelled: map[string]bool{}, contacts: map[string]string{},
		imports: map[string]bool{}, sessions: map[string]int{}, welcome: map[int64]string{},
		acked: map[string]int{}, unanswered: map[string]int{}, refused: map[string]int{}}
}

func (l *ledger) total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// binary is one run of the portal binary.
type binary struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	errs *bytes.Buffer
}

// TestCrash_KillNine builds the binary, then 20 times: starts it on the
// same database file, drives concurrent writes over loopback HTTP for a
// random 0.5-1.5 s, kills it with SIGKILL mid-write, runs `portal check` on
// the file, and checks every write acknowledged so far (and that every
// multi-key write is whole: record, indexes, counters, audit entry and
// outbox message). It reports acknowledged writes and losses; the bar for
// losses is zero.
func TestCrash_KillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it 20 times: skipped with -short")
	}
	started := time.Now()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASHTEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d (set CRASHTEST_SEED to repeat the kill moments)", seed)

	dir := t.TempDir()
	bin := filepath.Join(dir, "portal")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goTool(), "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built the binary in %v", time.Since(started).Round(time.Millisecond))
	dbPath := filepath.Join(dir, "portal.db")

	l := newLedger()
	setup(t, bin, dbPath, l)

	var loadTime time.Duration
	phases := map[string]time.Duration{}
	mark := time.Now()
	phase := func(name string) {
		phases[name] += time.Since(mark)
		mark = time.Now()
	}
	for cycle := 1; cycle <= kills; cycle++ {
		mark = time.Now()
		b := start(t, bin, dbPath)
		phase("start")
		verifySessions(t, b, l, cycle)
		phase("sessions")
		d := 500*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second)))
		loadTime += d
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { work(ctx, b.addr, l, cycle, w, rand.New(rand.NewPCG(seed+uint64(cycle), uint64(w)))) })
		}
		time.Sleep(d)
		l.killed.Store(true)
		kill(t, b)
		cancel()
		wg.Wait()
		l.killed.Store(false)
		phase("load and kill")
		checkFile(t, bin, dbPath, cycle)
		phase("portal check")
		verifyDB(t, dbPath, l, cycle)
		phase("verify")
		for _, p := range l.problems {
			t.Errorf("cycle %d: %s", cycle, p)
		}
		l.problems = nil
		if t.Failed() {
			t.Fatalf("cycle %d: stopping after the failures above", cycle)
		}
	}
	// One last start: every acknowledged session still works.
	b := start(t, bin, dbPath)
	verifySessions(t, b, l, kills+1)
	stop(t, b)
	checkFile(t, bin, dbPath, kills+1)

	kinds := make([]string, 0, len(l.acked))
	for k := range l.acked {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, l.acked[k]))
	}
	t.Logf("time by phase: %v", phases)
	t.Logf("%d kills after %v of load in all: %d acknowledged writes (%s), %d in flight at a kill, %d refused; "+
		"losses 0, partial writes 0, portal check clean %d times; took %v",
		kills, loadTime.Round(time.Millisecond), l.total(l.acked), strings.Join(parts, ", "),
		l.total(l.unanswered), l.total(l.refused), kills+1, time.Since(started).Round(time.Second))
}

// goTool is the go command that runs this test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// start runs the binary on dbPath and waits for its serving line.
func start(t *testing.T, bin, dbPath string) *binary {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "PORTAL_ADDR=127.0.0.1:0", "PORTAL_DB="+dbPath, "PORTAL_JWT_SECRET="+secret,
		"PORTAL_LOG_LEVEL=info", "PORTAL_LOG_FORMAT=json", "PORTAL_METRICS_ADDR=off",
		// Every worker may import at once: the cap (503 past it) is not
		// what this test is about, and no write of its load may be refused.
		"PORTAL_MAX_IMPORTS="+strconv.Itoa(workers))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &binary{cmd: cmd, done: make(chan error, 1), errs: &bytes.Buffer{}}
	cmd.Stderr = b.errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "serving" {
				addr <- m.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		b.done <- cmd.Wait()
	}()
	select {
	case b.addr = <-addr:
	case err := <-b.done:
		t.Fatalf("the binary exited before serving: %v\n%s", err, b.errs)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the binary did not log its address within 20 s\n%s", b.errs)
	}
	return b
}

// kill is kill -9.
func kill(t *testing.T, b *binary) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the killed process did not exit")
	}
}

// stop is SIGTERM, for the last run.
func stop(t *testing.T, b *binary) {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("SIGTERM: the binary exited with %v, want 0\n%s", err, b.errs)
		}
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Kill()
		t.Error("SIGTERM: the binary did not exit within 20 s")
	}
}

// checkFile runs `portal check` on the file, as an operator would after a
// crash.
func checkFile(t *testing.T, bin, dbPath string, cycle int) {
	t.Helper()
	out, err := exec.Command(bin, "check", "--db", dbPath).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("OK")) {
		t.Fatalf("cycle %d: portal check after kill -9: %v\n%s", cycle, err, out)
	}
}

func token() string {
	tok, err := auth.Mint([]byte(secret), auth.Claims{Subject: "crash-admin", Tenant: org,
		Scope: "portal:read portal:write", TTL: 2 * time.Hour}, time.Now())
	if err != nil {
		panic(err)
	}
	return tok
}

// call sends a request; ok reports a 2xx answer whose body was read whole.
func call(ctx context.Context, c *http.Client, method, u, tok string, body any) (status int, resp map[string]any, err error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, err
	}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &resp); err != nil {
			return res.StatusCode, nil, err
		}
	}
	return res.StatusCode, resp, nil
}

// setup makes the portal and its demo user through the API.
func setup(t *testing.T, bin, dbPath string, l *ledger) {
	t.Helper()
	b := start(t, bin, dbPath)
	c := &http.Client{Timeout: 30 * time.Second}
	base, tok, ctx := "http://"+b.addr, token(), context.Background()
	if st, r, err := call(ctx, c, http.MethodPatch, base+"/v1/customer-portal/config", tok, map[string]any{"slug": slug}); err != nil || st != 200 {
		t.Fatalf("set slug: %d %v %v", st, r, err)
	}
	st, r, err := call(ctx, c, http.MethodPost, base+"/v1/customer-portal/invitations", tok, map[string]any{"email": demoEmail})
	if err != nil || st != 201 {
		t.Fatalf("invite the demo user: %d %v %v", st, r, err)
	}
	u, _ := url.Parse(r["acceptUrl"].(string))
	st, r, err = call(ctx, c, http.MethodPost, base+"/v1/portal/invitations/accept", "",
		map[string]any{"token": u.Query().Get("token"), "password": demoPassword})
	if err != nil || st != 201 {
		t.Fatalf("accept: %d %v %v", st, r, err)
	}
	c.CloseIdleConnections()
	stop(t, b)
}

// work drives writes until ctx ends. Each acknowledged write goes into the
// ledger; a write without an answer is counted as in flight.
func work(ctx context.Context, addr string, l *ledger, cycle, w int, rng *rand.Rand) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	defer c.CloseIdleConnections()
	base, tok := "http://"+addr, token()
	for n := 0; ctx.Err() == nil; n++ {
		tag := fmt.Sprintf("c%02d-w%d-n%03d", cycle, w, n)
		kind := ""
		late := l.killed.Load()
		var st int
		var r map[string]any
		var err error
		switch p := rng.IntN(100); {
		case p < 30:
			kind = "invitation"
			email := tag + "@crash.example"
			st, r, err = call(ctx, c, http.MethodPost, base+"/v1/customer-portal/invitations", tok, map[string]any{"email": email})
			if err == nil && st == http.StatusCreated {
				id, _ := r["id"].(string)
				l.mu.Lock()
				l.invitations[id] = email
				l.pending = append(l.pending, id)
				l.mu.Unlock()
			}
		case p < 55:
			kind = "contact"
			email := "contact-" + tag + "@crash.example"
			st, r, err = call(ctx, c, http.MethodPost, base+"/v1/contacts", tok, map[string]any{"email": email, "firstName": "Crash", "lastName": tag})
			if err == nil && st == http.StatusCreated {
				id, _ := r["id"].(string)
				l.mu.Lock()
				l.contacts[id] = email
				l.mu.Unlock()
			}
		case p < 65:
			kind = "import"
			imp := "imp-" + tag
			rows := make([]map[string]any, importRows)
			for i := range rows {
				rows[i] = map[string]any{"email": fmt.Sprintf("%s-%d@crash.example", imp, i), "company": imp}
			}
			l.mu.Lock()
			l.imports[imp] = false
			l.mu.Unlock()
			st, _, err = call(ctx, c, http.MethodPost, base+"/v1/contacts/import", tok, rows)
			if err == nil && st == http.StatusOK {
				l.mu.Lock()
				l.imports[imp] = true
				l.mu.Unlock()
			}
		case p < 80:
			kind = "config"
			msg := "welcome " + tag
			st, r, err = call(ctx, c, http.MethodPatch, base+"/v1/customer-portal/config", tok, map[string]any{"welcomeMessage": msg})
			if err == nil && st == http.StatusOK {
				v := int64(r["version"].(float64))
				l.mu.Lock()
				l.welcome[v] = msg
				l.maxVersion = max(l.maxVersion, v)
				l.mu.Unlock()
			}
		case p < 85:
			kind = "toggle"
			st, _, err = call(ctx, c, http.MethodPatch, base+"/v1/customer-portal/features/chat/toggle", tok, nil)
		case p < 93:
			kind = "login"
			st, r, err = call(ctx, c, http.MethodPost, base+"/v1/portal/login", "",
				map[string]any{"portal": slug, "email": demoEmail, "password": demoPassword})
			if err == nil && st == http.StatusOK {
				l.mu.Lock()
				l.sessions[r["accessToken"].(string)] = cycle
				l.mu.Unlock()
			}
			if err == nil && st == http.StatusTooManyRequests {
				continue // the per-address login limit: not a write
			}
		default:
			kind = "cancel"
			l.mu.Lock()
			if len(l.pending) == 0 {
				l.mu.Unlock()
				continue
			}
			i := rng.IntN(len(l.pending))
			id := l.pending[i]
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			l.mu.Unlock()
			st, _, err = call(ctx, c, http.MethodDelete, base+"/v1/customer-portal/invitations/"+id, tok, nil)
			if err == nil && st == http.StatusNoContent {
				l.mu.Lock()
				l.cancelled[id] = true
				l.mu.Unlock()
			}
		}
		l.mu.Lock()
		switch {
		case err != nil && late:
			// sent after the kill: it never reached a server
		case err != nil:
			l.unanswered[kind]++
		case st >= 200 && st < 300:
			l.acked[kind]++
		default: // no write of this load may be refused
			l.refused[kind]++
			l.problems = append(l.problems, fmt.Sprintf("%s %s: answered %d %v", kind, tag, st, r))
		}
		l.mu.Unlock()
	}
}

// verifySessions checks, against the restarted server, that every session
// a login acknowledged still works.
func verifySessions(t *testing.T, b *binary, l *ledger, cycle int) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	for tok, at := range l.sessions {
		if at != cycle-1 && cycle <= kills {
			continue // checked after the crash that followed it
		}
		st, r, err := call(context.Background(), c, http.MethodGet, "http://"+b.addr+"/v1/portal/me", tok, nil)
		if err != nil || st != http.StatusOK {
			t.Errorf("cycle %d: the session of an acknowledged login (cycle %d): got %d %v %v, want 200 (lost)", cycle, at, st, r, err)
		}
	}
}

// verifyDB opens the file the killed process left and checks the ledger
// against it: every acknowledged write is there, and every multi-key write
// is whole (its audit entry and outbox message too; `portal check` covers
// indexes and counters).
func verifyDB(t *testing.T, dbPath string, l *ledger, cycle int) {
	t.Helper()
	db, err := store.Open(dbPath, time.Now, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("cycle %d: open after kill: %v", cycle, err)
	}
	defer db.Close()
	ctx := context.Background()
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := func(format string, args ...any) {
		t.Errorf("cycle %d: LOST: "+format, append([]any{cycle}, args...)...)
	}

	invs := map[string]data.Invitation{}
	for after := ""; ; {
		p, err := db.Invitations(ctx, org, store.InvitationFilter{}, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range p.Items {
			invs[inv.ID] = inv
		}
		if after = p.Next; after == "" {
			break
		}
	}
	for id, email := range l.invitations {
		inv, ok := invs[id]
		switch {
		case !ok:
			lost("acknowledged invitation %s (%s) is missing", id, email)
		case inv.Email != email:
			lost("invitation %s has email %s, want %s", id, inv.Email, email)
		case l.cancelled[id] && inv.Status != data.InvitationCancelled:
			lost("acknowledged cancel of invitation %s: status is %s", id, inv.Status)
		}
	}
	contacts := map[string]data.Contact{}
	rowsOf := map[string]int{} // import tag -> rows stored
	for after := ""; ; {
		p, err := db.Contacts(ctx, org, store.ContactFilter{}, after, data.MaxContactList)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Items {
			contacts[c.ID] = c
			if strings.HasPrefix(c.Company, "imp-") {
				rowsOf[c.Company]++
			}
		}
		if after = p.Next; after == "" {
			break
		}
	}
	for id, email := range l.contacts {
		if c, ok := contacts[id]; !ok || c.Email != email {
			lost("acknowledged contact %s (%s) is missing", id, email)
		}
	}
	for tag, acked := range l.imports {
		switch n := rowsOf[tag]; {
		case acked && n != importRows:
			lost("acknowledged import %s has %d of %d rows", tag, n, importRows)
		case n != 0 && n != importRows:
			t.Errorf("cycle %d: PARTIAL: import %s (in flight at a kill) has %d of %d rows", cycle, tag, n, importRows)
		}
	}
	cfg, err := db.Config(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version < l.maxVersion {
		lost("config version is %d, an acknowledged change made it %d", cfg.Version, l.maxVersion)
	}
	if msg, ok := l.welcome[cfg.Version]; ok && cfg.WelcomeMessage != msg {
		lost("config version %d has welcome %q, acknowledged %q", cfg.Version, cfg.WelcomeMessage, msg)
	}

	// Multi-key writes are whole: each record with its audit entry, the
	// config version with one entry per change, each queued email with its
	// outbox message.
	audited := map[string]bool{}
	configChanges := int64(0)
	for after := ""; ; {
		p, err := db.AuditTrail(ctx, org, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			audited[e.Action+" "+e.TargetID] = true
			if e.Action == "config.update" || e.Action == "feature.toggle" {
				configChanges++
			}
		}
		if after = p.Next; after == "" {
			break
		}
	}
	queued := 0
	for id, inv := range invs {
		if !audited["invitation.create "+id] {
			t.Errorf("cycle %d: PARTIAL: invitation %s has no audit entry", cycle, id)
		}
		if inv.Status == data.InvitationCancelled && l.cancelled[id] && !audited["invitation.cancel "+id] {
			t.Errorf("cycle %d: PARTIAL: cancelled invitation %s has no audit entry", cycle, id)
		}
		if inv.Status == data.InvitationPending && inv.Delivery.Status == data.DeliveryQueued {
			queued++
		}
	}
	for id := range l.contacts {
		if !audited["contact.create "+id] {
			t.Errorf("cycle %d: PARTIAL: contact %s has no audit entry", cycle, id)
		}
	}
	if configChanges != cfg.Version-1 { // the defaults are version 1
		t.Errorf("cycle %d: PARTIAL: config version %d but %d audited changes", cycle, cfg.Version, configChanges)
	}
	depth, err := db.OutboxDepth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if depth != queued {
		t.Errorf("cycle %d: PARTIAL: %d outbox messages for %d invitations queued for delivery", cycle, depth, queued)
	}
}
