//go:build etcd

package etcdkv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/salesos/portal/store/kv"
)

// Config says how to reach the cluster and how to use it. The zero values
// of the limits are etcd's defaults.
type Config struct {
	// Endpoints are the members' client URLs (http://host:2379, or https
	// with TLS).
	Endpoints []string
	// CAFile, CertFile and KeyFile turn on TLS: the CA that signed the
	// members' certificates, and a client certificate and key if the
	// cluster asks for one.
	CAFile, CertFile, KeyFile string
	// Username and Password log in when the cluster has auth enabled.
	Username, Password string
	// Prefix holds the installation's keys (default "/portal/"), so one
	// cluster can hold several.
	Prefix string
	// DialTimeout bounds connecting (default 5s), RequestTimeout every
	// request (default 5s). A request that runs out of time fails with
	// kv.ErrUnavailable.
	DialTimeout, RequestTimeout time.Duration
	// MaxTxnOps is the cluster's --max-txn-ops (default 128): a commit has
	// at most this many compares and this many operations.
	MaxTxnOps int
	// MaxRequestBytes is the cluster's --max-request-bytes (default 1.5 MiB).
	// Values that do not fit in a commit are stored in chunks.
	MaxRequestBytes int
	// Attempts bounds how often Update runs its function (default 16).
	Attempts int
	// PageSize is how many keys a cursor reads per request (default 256).
	PageSize int
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "/portal/"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.MaxTxnOps <= 0 {
		c.MaxTxnOps = 128
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 3 << 19 // 1.5 MiB
	}
	if c.Attempts <= 0 {
		c.Attempts = 16
	}
	if c.PageSize <= 0 {
		c.PageSize = 256
	}
}

// DB is the bucket tree of one installation in an etcd cluster.
type DB struct {
	cli    *clientv3.Client
	own    bool // Close closes cli
	cfg    Config
	prefix []byte
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	// markers are the nested buckets the process has seen (read.go).
	markers markerCache
	spread  atomic.Uint32 // the last transaction's kv.Spreader number
	hints   hints         // where walks down from each bucket's end found its top
	batch   batcher       // first reads waiting to share a request (batch.go)
}

// Open connects to the cluster and checks that it answers.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg.defaults()
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	cc := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Context:     ctx,
		// The client's own log (retries it makes and recovers from) is
		// not the service's: errors reach the store as kv errors.
		Logger: zap.NewNop(),
		// A request may carry a whole commit plus gRPC's framing.
		MaxCallSendMsgSize: cfg.MaxRequestBytes + 1<<20,
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		tlsInfo := transport.TLSInfo{TrustedCAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}
		tc, err := tlsInfo.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd tls: %w", err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd connect: %w", mapErr(err))
	}
	db := New(cli, cfg)
	db.own = true
	rctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(rctx, string(db.prefix), clientv3.WithCountOnly()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(cfg.Endpoints, ","), mapErr(err))
	}
	return db, nil
}

// New puts the installation cfg.Prefix of an already connected client
// behind the seam. Close leaves cli open.
func New(cli *clientv3.Client, cfg Config) *DB {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	// The 00 after the prefix keeps installations whose prefixes nest
	// (/portal/ and /portal/eu/) out of each other's ranges.
	prefix := append([]byte(cfg.Prefix), 0x00)
	db := &DB{cli: cli, cfg: cfg, prefix: prefix, ctx: ctx, cancel: cancel}
	db.batch.stall = stall
	// Processes start at different points, so their runs spread too.
	db.spread.Store(rand.Uint32())
	return db
}

// MaxWrites is how many writes one transaction carries at most: the
// cluster's max-txn-ops (kv.Limited).
func (db *DB) MaxWrites() int { return db.cfg.MaxTxnOps }

// Close ends requests under way and, when Open made the client, closes it.
func (db *DB) Close() error {
	db.cancel()
	if db.own {
		return db.cli.Close()
	}
	return nil
}

// ParseURL reads a store URL of the form
//
//	etcd://[user:password@]host1:2379,host2:2379[/prefix][?ca=FILE&cert=FILE&key=FILE&dial_timeout=5s&request_timeout=5s&max_txn_ops=128&max_request_bytes=1572864]
//
// The prefix defaults to /portal/. With ca, cert or key (or the scheme
// etcds) the endpoints are spoken to over TLS.
func ParseURL(s string) (Config, error) {
	var cfg Config
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "etcd" && scheme != "etcds") {
		return cfg, fmt.Errorf("store url %q: want etcd://host:port[,host:port...][/prefix]", redact(s))
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		ui, err := url.PathUnescape(hosts[:at])
		if err != nil {
			return cfg, fmt.Errorf("store url %q: user info: %w", redact(s), err)
		}
		cfg.Username, cfg.Password, _ = strings.Cut(ui, ":")
		hosts = hosts[at+1:]
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return cfg, fmt.Errorf("store url %q: %w", redact(s), err)
	}
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = q.Get("ca"), q.Get("cert"), q.Get("key")
	tls := scheme == "etcds" || cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != ""
	for _, h := range strings.Split(hosts, ",") {
		if h == "" || strings.ContainsAny(h, " /") || !strings.Contains(h, ":") {
			return cfg, fmt.Errorf("store url %q: endpoint %q: want host:port", redact(s), h)
		}
		if tls {
			cfg.Endpoints = append(cfg.Endpoints, "https://"+h)
		} else {
			cfg.Endpoints = append(cfg.Endpoints, "http://"+h)
		}
	}
	if path != "" {
		p, err := url.PathUnescape(path)
		if err != nil {
			return cfg, fmt.Errorf("store url %q: prefix: %w", redact(s), err)
		}
		cfg.Prefix = "/" + strings.Trim(p, "/") + "/"
	}
	for name, dst := range map[string]*time.Duration{"dial_timeout": &cfg.DialTimeout, "request_timeout": &cfg.RequestTimeout} {
		if v := q.Get(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return cfg, fmt.Errorf("store url %q: %s %q: want a positive duration", redact(s), name, v)
			}
			*dst = d
		}
	}
	for name, dst := range map[string]*int{"max_txn_ops": &cfg.MaxTxnOps, "max_request_bytes": &cfg.MaxRequestBytes} {
		if v := q.Get(name); v != "" {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil || n < 16 {
				return cfg, fmt.Errorf("store url %q: %s %q: want a number of at least 16", redact(s), name, v)
			}
			*dst = n
		}
	}
	for name := range q {
		switch name {
		case "ca", "cert", "key", "dial_timeout", "request_timeout", "max_txn_ops", "max_request_bytes":
		default:
			return cfg, fmt.Errorf("store url %q: unknown parameter %q", redact(s), name)
		}
	}
	return cfg, nil
}

// redact hides a password in a URL shown in an error.
func redact(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	hosts, tail, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(hosts, "@")
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(hosts[:at], ":")
	if !hasPass {
		return s
	}
	out := scheme + "://" + user + ":xxxxx@" + hosts[at+1:]
	if tail != "" || strings.Contains(rest, "/") {
		out += "/" + tail
	}
	return out
}

// errConflict is a commit whose compares failed; Update runs fn again.
var errConflict = errors.New("etcd: conflicting commit")

// mapErr gives the client's errors the seam's meaning.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, errConflict), errors.Is(err, kv.ErrUnavailable), errors.Is(err, kv.ErrTooLarge),
		errors.Is(err, rpctypes.ErrCompacted):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrNotLeader),
		errors.Is(err, rpctypes.ErrLeaderChanged), errors.Is(err, rpctypes.ErrStopped),
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, rpctypes.ErrTimeoutWaitAppliedIndex),
		errors.Is(err, rpctypes.ErrUnhealthy), errors.Is(err, rpctypes.ErrTooManyRequests),
		errors.Is(err, rpctypes.ErrNotCapable):
		return fmt.Errorf("%w: %v", kv.ErrUnavailable, err)
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%w: %v", kv.ErrTooLarge, err)
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
			return fmt.Errorf("%w: %v", kv.ErrUnavailable, err)
		}
	}
	return err
}

// View runs fn at one revision with linearizable reads. fn runs again (up
// to three times) only when that revision was compacted while it ran, or
// when a bucket the process remembered was gone at it.
// A read that fails makes View fail even if fn returned nil, since fn saw an
// absent value where there may have been one.
func (db *DB) View(fn func(kv.Tx) error) error {
	var err error
	for range 3 {
		t := db.begin(false)
		err = fn(t)
		t.settle() // fn's result may rest on assumed markers
		if t.err != nil {
			err = t.err
		}
		if !retryable(err) {
			return err
		}
	}
	return fmt.Errorf("%w: %v", kv.ErrUnavailable, err)
}

// Update runs fn and commits its writes in one etcd Txn that holds only if
// nothing fn read changed meanwhile; otherwise fn runs again, at most
// Config.Attempts times in all, then Update fails with kv.ErrConflict. A
// commit with more operations or compares than Config.MaxTxnOps fails with
// kv.ErrTooLarge: a transaction is never split.
func (db *DB) Update(fn func(kv.Tx) error) error {
	for attempt := range db.cfg.Attempts {
		t := db.begin(true)
		err := fn(t)
		if err != nil || (len(t.writes) == 0 && len(t.dels) == 0) {
			// fn's result may rest on assumed markers; a commit with
			// writes checks them in its compares instead.
			t.settle()
		}
		if t.err != nil {
			err = t.err // fn worked on a failed read
		}
		if err == nil {
			err = t.commit()
		}
		if !errors.Is(err, errConflict) && !retryable(err) {
			return err
		}
		if attempt == db.cfg.Attempts-1 {
			break
		}
		if err := db.backoff(attempt); err != nil {
			return err
		}
	}
	return kv.ErrConflict
}

// retryable is a run that saw the cluster wrongly through no fault of fn:
// its revision was compacted, or a remembered bucket was gone.
func retryable(err error) bool {
	return errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, errStaleMarker)
}

// backoff waits a jittered, growing pause before attempt+1, so that
// colliding writers spread out.
func (db *DB) backoff(attempt int) error {
	d := min(time.Millisecond<<attempt, 100*time.Millisecond)
	d = d/2 + rand.N(d/2+1)
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-db.ctx.Done():
		return fmt.Errorf("%w: database closed", kv.ErrUnavailable)
	}
}

func (db *DB) begin(writable bool) *txn {
	t := &txn{db: db, writable: writable, cache: map[string]*entry{}, spread: db.spread.Add(1)}
	if writable {
		t.reads = map[string]read{}
		t.scans = map[string]bool{}
		t.writes = map[string]*write{}
		t.bumps = map[string]bool{}
	}
	t.root = t.bucketAt(db.treeRoot())
	return t
}

func (db *DB) treeRoot() []byte {
	return append(append([]byte{}, db.prefix...), spaceTree)
}
