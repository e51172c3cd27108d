package main

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// benchTenant is the organization the bench seeds and its token names.
const benchTenant data.TenantID = "bench"

// fixture is a seeded database, closed and ready for the server.
type fixture struct {
	users    int
	ids      []string // every seeded user's ID
	seedTime time.Duration
	fileSize int64 // bytes on disk after seeding
	dataSize int64 // bbolt's high-water mark: pages in use or free
	freeSize int64 // bytes in free pages below the high-water mark
	buckets  []bucketSize
}

// bucketSize is the space one bucket without sub-buckets takes.
type bucketSize struct {
	path       string
	keys       int
	alloc      int64 // bytes of its pages (leaf and branch)
	leafFill   float64
	inlineOnly bool
}

// prepare seeds dbPath through the store (not HTTP): n users in
// transactions of 10,000, contacts in one import, and pending invitations
// through CreateInvitation (group commits), so stats and the outbox have
// something in them. It closes the database before the server opens it.
func prepare(ctx context.Context, dbPath string, n, invitations, contacts int) (f fixture, err error) {
	db, err := store.Open(dbPath, time.Now, store.Options{})
	if err != nil {
		return f, err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	f.users = n
	start := time.Now()
	if err := db.SeedUsers(ctx, benchTenant, n); err != nil {
		return f, err
	}
	f.seedTime = time.Since(start)
	if contacts > 0 {
		rows := make([]data.Contact, contacts)
		for i := range rows {
			rows[i] = data.Contact{Email: "contact." + strconv.Itoa(i) + "@example.org", FirstName: "Con", LastName: "Tact",
				Company: "Example Org", AccountID: "acct-" + strconv.Itoa(i/50), Phone: "+1 555 0100"}
		}
		if _, _, err := db.ImportContacts(ctx, benchTenant, "portal-bench", rows); err != nil {
			return f, fmt.Errorf("import contacts: %w", err)
		}
	}
	if err := seedInvitations(ctx, db, invitations); err != nil {
		return f, err
	}
	f.ids = make([]string, 0, n)
	for after := ""; ; {
		p, err := db.Users(ctx, benchTenant, store.UserFilter{}, after, 100)
		if err != nil {
			return f, err
		}
		for _, u := range p.Items {
			f.ids = append(f.ids, u.ID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	f.dataSize = db.Size()
	f.freeSize = int64(db.EngineStats().FreeBytes)
	if fi, err := os.Stat(dbPath); err == nil {
		f.fileSize = fi.Size()
	}
	return f, nil
}

// bucketSizes walks the file read-only and returns its innermost buckets,
// largest first. It knows nothing of the store's layout, only bbolt's.
func bucketSizes(path string) ([]bucketSize, error) {
	db, err := bbolt.Open(path, 0o600, store.BoltOptions(true))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []bucketSize
	var walk func(b *bbolt.Bucket, path string) error
	walk = func(b *bbolt.Bucket, path string) error {
		nested := false
		err := b.ForEachBucket(func(k []byte) error {
			nested = true
			return walk(b.Bucket(k), path+"/"+string(k))
		})
		if err != nil || nested {
			return err
		}
		st := b.Stats()
		bs := bucketSize{path: path, keys: st.KeyN, alloc: int64(st.LeafAlloc + st.BranchAlloc), inlineOnly: st.InlineBucketN > 0}
		if st.LeafAlloc > 0 {
			bs.leafFill = float64(st.LeafInuse) / float64(st.LeafAlloc)
		}
		out = append(out, bs)
		return nil
	}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error { return walk(b, string(name)) })
	})
	slices.SortFunc(out, func(a, b bucketSize) int { return cmp.Compare(b.alloc, a.alloc) })
	return out, err
}

// seedInvitations invites n new emails with 32 concurrent callers.
func seedInvitations(ctx context.Context, db *store.DB, n int) error {
	var next atomic.Int64
	errs := make([]error, 32)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				req := data.InvitationRequest{Email: "seed-invite-" + strconv.FormatInt(i, 10) + "@example.net", FirstName: "Invited"}
				if _, err := db.CreateInvitation(ctx, benchTenant, "portal-bench", req); err != nil {
					errs[w] = fmt.Errorf("seed invitation %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// commitRate measures bbolt's sequential durable commit rate at path: one
// Put of a 100-byte value per Update, each commit fsynced, for d. It opens
// the file with the store's own options.
func commitRate(path string, d time.Duration) (float64, error) {
	db, err := bbolt.Open(path, 0o600, store.BoltOptions(false))
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer db.Close()
	value := make([]byte, 100)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		err := db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("bench"))
			if err != nil {
				return err
			}
			return b.Put(binary.BigEndian.AppendUint64(nil, uint64(n)), value)
		})
		if err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// sizeRun is the measurement of one number of users.
type sizeRun struct {
	fx          fixture
	commits     []float64 // bbolt sequential durable commits per second, before and after the server ran
	bare        []result
	endpoints   []result
	final       memory      // the server's memory at the end
	peaks       memoryPeaks // sampled through every phase: RssAnon (heap, stacks), RssFile (mmap of the database, binary)
	memErr      error
	fileAfter   int64        // database file size after the run
	invitations int          // invitations the run created
	store       string       // storeBolt or storeEtcd
	etcd        *etcdFigures // with storeEtcd

	// majorFaults is how many pages the server read back from disk on a
	// fault, -1 if unknown (it had exited).
	majorFaults int64

	// With --memory-limit: how it was applied, the cgroup's usage (where
	// there was one).
	limit    limitInfo
	usage    cgroupUsage
	limitErr error

	// exited is set when the server exited before the run ended, as it
	// does when the OOM killer ends it; exitErr is how it exited.
	exited  bool
	exitErr error
	stopErr error // the server did not stop cleanly on SIGTERM
}

// benchSize seeds a database of n users in dir, starts the server over it
// and measures every endpoint, with the bare handler before and after.
// With a cluster the seeded file is copied into a fresh prefix of it, and
// the server runs there.
func benchSize(ctx context.Context, opt options, bin string, cl cluster, dir string, n int, bareURL string, progress io.Writer) (r sizeRun, err error) {
	r.store = storeBolt
	if cl != nil {
		r.store = storeEtcd
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return r, err
	}
	dbPath := filepath.Join(dir, "portal.db")
	fmt.Fprintf(progress, "%d users: seeding...\n", n)
	if r.fx, err = prepare(ctx, dbPath, n, opt.invitations, opt.contacts); err != nil {
		return r, err
	}
	if r.fx.buckets, err = bucketSizes(dbPath); err != nil {
		return r, err
	}
	fmt.Fprintf(progress, "%d users: seeded in %v; measuring bbolt sequential durable commits for %v...\n",
		n, r.fx.seedTime.Round(time.Millisecond), opt.commitTime)
	commitPath := filepath.Join(dir, "commit.db")
	c, err := commitRate(commitPath, opt.commitTime)
	if err != nil {
		return r, fmt.Errorf("commit rate: %w", err)
	}
	r.commits = append(r.commits, c)
	storeURL := ""
	if cl != nil {
		r.etcd = &etcdFigures{cluster: cl.describe(), prefix: "/portal-bench/" + filepath.Base(dir) + "/"}
		fmt.Fprintf(progress, "%d users: copying the seeded file into etcd %s...\n", n, r.etcd.prefix)
		start := time.Now()
		if storeURL, r.etcd.keys, err = cl.load(ctx, dbPath, r.etcd.prefix); err != nil {
			return r, err
		}
		r.etcd.copyTime = time.Since(start)
		fmt.Fprintf(progress, "%d users: measuring etcd alone for %v...\n", n, 2*opt.commitTime)
		if r.etcd.txns, r.etcd.gets, err = cl.yardsticks(ctx, opt.concurrency, opt.commitTime); err != nil {
			return r, err
		}
	}
	if err := r.serve(ctx, opt, bin, dbPath, cl, storeURL, n, bareURL, progress); err != nil {
		return r, err
	}
	// Again once the server has stopped: the disk is shared with whatever
	// else the machine runs, and the mean of the two is the yardstick.
	fmt.Fprintf(progress, "%d users: measuring bbolt sequential durable commits again...\n", n)
	if c, err = commitRate(commitPath, opt.commitTime); err != nil {
		return r, fmt.Errorf("commit rate: %w", err)
	}
	r.commits = append(r.commits, c)
	return r, nil
}

// serve starts the server over dbPath (or storeURL on cl, see
// startServer) and measures the bare handler, the endpoints and the bare
// handler again.
func (r *sizeRun) serve(ctx context.Context, opt options, bin, dbPath string, cl cluster, storeURL string, n int, bareURL string, progress io.Writer) (err error) {
	secret := make([]byte, 32)
	_, _ = crand.Read(secret)
	secret = []byte(hex.EncodeToString(secret))
	srv, err := startServer(ctx, bin, dbPath, storeURL, secret, opt)
	if err != nil {
		return err
	}
	defer func() {
		// A server that would not stop is reported with the figures it
		// gave, not in their place.
		r.stopErr = srv.stop()
		if fi, statErr := os.Stat(dbPath); statErr == nil && storeURL == "" {
			r.fileAfter = fi.Size()
		}
	}()
	tok, err := auth.Mint(secret, auth.Claims{Subject: "portal-bench", Tenant: string(benchTenant),
		Scope: auth.ScopeRead + " " + auth.ScopeWrite, TTL: 2 * time.Hour}, time.Now())
	if err != nil {
		return err
	}
	client := newClient(opt.concurrency)
	defer client.CloseIdleConnections()
	var seq atomic.Uint64
	run := func(t target) (result, error) {
		fmt.Fprintf(progress, "%d users: %s...\n", n, t.name)
		srv.startPhase()
		if opt.warmup > 0 {
			if _, err := load(ctx, client, t, opt.concurrency, opt.warmup, &seq); err != nil {
				return result{}, err
			}
		}
		var before etcdRequests
		if cl != nil {
			before = cl.requests()
		}
		res, err := load(ctx, client, t, opt.concurrency, opt.duration, &seq)
		if err != nil {
			return res, err
		}
		if cl != nil {
			res.etcd = cl.requests().minus(before)
		}
		res.mem, _ = srv.memory()
		res.peaks = srv.phasePeaks()
		return res, nil
	}
	bare := target{name: "bare net/http JSON", method: "GET", url: fixed(bareURL + "/")}
	res, err := run(bare)
	if err != nil {
		return err
	}
	r.bare = append(r.bare, res)
	// The second bare measurement comes after the reads but before the
	// write: after a burst of invitations the server goes on sending their
	// emails for minutes, which would slow the bare handler and so flatter
	// every ratio.
	bare.name = "bare net/http JSON (again)"
	again := func() error {
		res, err := run(bare)
		r.bare = append(r.bare, res)
		return err
	}
	for _, t := range targets(srv.url, tok, r.fx.ids, opt.endpoints) {
		if t.writes() && len(r.bare) == 1 {
			if err := again(); err != nil {
				return err
			}
		}
		res, err := run(t)
		if err != nil {
			return err
		}
		r.endpoints = append(r.endpoints, res)
		r.invitations += res.created
	}
	if len(r.bare) == 1 {
		if err := again(); err != nil {
			return err
		}
	}
	r.final, r.memErr = srv.memory()
	r.peaks = srv.peaks()
	if r.memErr == nil && r.peaks.samples == 0 {
		r.memErr = errors.New("no sample of /proc/<pid>/status had RssAnon")
	}
	r.exitErr, r.exited = srv.exited()
	r.majorFaults = srv.faults()
	if opt.memoryLimit > 0 {
		r.limit = srv.limit
		r.usage, r.limitErr = srv.limited()
	}
	return nil
}

// mixedName is the mixed load's row.
const mixedName = "mixed 80% GET/20% POST"

func fixed(url string) func(*rand.Rand) string { return func(*rand.Rand) string { return url } }

// targets are the measured endpoints among names, in endpointNames order.
func targets(base, tok string, ids []string, names []string) []target {
	api := base + "/v1/customer-portal"
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	all := map[string]target{
		"config": {name: "GET /config", method: "GET", url: fixed(api + "/config")},
		"user": {name: "GET /users/{id}", method: "GET", url: func(rng *rand.Rand) string {
			return api + "/users/" + ids[rng.IntN(len(ids))]
		}},
		"list":  {name: "GET /users?limit=20", method: "GET", url: fixed(api + "/users?limit=20")},
		"stats": {name: "GET /stats", method: "GET", url: fixed(api + "/stats")},
		"invite": {name: "POST /invitations", method: "POST", url: fixed(api + "/invitations"),
			body: func(seq uint64) []byte {
				return []byte(`{"email":"bench-` + run + `-` + strconv.FormatUint(seq, 10) + `@example.com","firstName":"Bench"}`)
			}},
	}
	// The mixed load: four reads in five, the same requests as the
	// endpoints' own.
	all["mixed"] = target{name: mixedName, mix: []target{all["config"], all["config"], all["user"], all["user"],
		all["user"], all["user"], all["list"], all["stats"], all["invite"], all["invite"]}}
	var out []target
	for _, name := range endpointNames {
		for _, want := range names {
			if want == name {
				t := all[name]
				t.token = tok
				for i := range t.mix {
					t.mix[i].token = tok
				}
				out = append(out, t)
			}
		}
	}
	return out
}
