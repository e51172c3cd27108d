//go:build etcd

package main

// The etcd mode's cluster: three etcd members on loopback in this process
// (go.etcd.io/etcd/server/v3/embed), each with its own data directory under
// the work directory and fsync on every commit, as a production member
// does. All three share the machine's disk and cores with the server and
// the load, so the figures are ratios to the bbolt mode of the same run.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/version"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv/etcdkv"
)

// etcdBuilt reports whether this portal-bench can run the etcd mode.
const etcdBuilt = true

// etcdCluster is the three members and a client of theirs.
type etcdCluster struct {
	dir     string
	members []*embed.Etcd
	hosts   []string // the members' client addresses, host:port
	cli     *clientv3.Client
}

// loopbackURL is an http URL on a loopback port no one listens on now.
func loopbackURL() (url.URL, error) {
	addr, err := freeAddr()
	return url.URL{Scheme: "http", Host: addr}, err
}

// startCluster starts three etcd members with their data in dir and waits
// until they are ready.
func startCluster(ctx context.Context, dir string) (cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &etcdCluster{dir: dir}
	var cfgs []*embed.Config
	var initial []string
	for i := range 3 {
		cfg := embed.NewConfig()
		cfg.Name = "m" + strconv.Itoa(i)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		peer, err := loopbackURL()
		if err != nil {
			return nil, err
		}
		client, err := loopbackURL()
		if err != nil {
			return nil, err
		}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.Logger, cfg.LogLevel = "zap", "error"
		cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
		cfg.InitialClusterToken = "portal-bench"
		// Durable: every member fsyncs its WAL before it acknowledges
		// (UnsafeNoFsync stays false), with etcd's default tick, election
		// timeout and limits.
		initial = append(initial, cfg.Name+"="+peer.String())
		cfgs = append(cfgs, cfg)
		c.hosts = append(c.hosts, client.Host)
	}
	for _, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.ClusterState = embed.ClusterStateFlagNew
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("start etcd member %s: %w", cfg.Name, err), c.close())
		}
		c.members = append(c.members, e)
	}
	for _, e := range c.members {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			return nil, errors.Join(fmt.Errorf("etcd member %s: %w", e.Config().Name, err), c.close())
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), c.close())
		case <-time.After(30 * time.Second):
			return nil, errors.Join(fmt.Errorf("etcd member %s not ready after 30s", e.Config().Name), c.close())
		}
	}
	var eps []string
	for _, h := range c.hosts {
		eps = append(eps, "http://"+h)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, errors.Join(err, c.close())
	}
	c.cli = cli
	return c, nil
}

// describe says what the cluster is, for the report.
func (c *etcdCluster) describe() string {
	return fmt.Sprintf("etcd %s, 3 members on loopback in the bench process, fsync on, data in %s", version.Version, c.dir)
}

// url is the store URL of the installation under prefix.
func (c *etcdCluster) url(prefix string) string {
	return "etcd://" + strings.Join(c.hosts, ",") + prefix
}

// load copies the bbolt file at path into the unused prefix with
// store.CopyTree, as `portal migrate` does, and returns the store URL
// the server is given.
func (c *etcdCluster) load(ctx context.Context, path, prefix string) (string, int, error) {
	src, err := store.OpenFile(path, true)
	if err != nil {
		return "", 0, err
	}
	defer src.Close()
	u := c.url(prefix)
	cfg, err := etcdkv.ParseURL(u)
	if err != nil {
		return "", 0, err
	}
	dst, err := etcdkv.Open(ctx, cfg)
	if err != nil {
		return "", 0, err
	}
	n, err := store.CopyTree(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", n, fmt.Errorf("copy %s into %s: %w", path, u, err)
	}
	return u, n, nil
}

// yardsticks measures the cluster itself, each for d at concurrency
// clients: transactions of three 100-byte puts (the shape of a small
// durable write), and linearizable gets of one key (a store read's round
// trip).
func (c *etcdCluster) yardsticks(ctx context.Context, concurrency int, d time.Duration) (txns, gets float64, err error) {
	value := strings.Repeat("v", 100)
	key := func(w int, i int64, k int) string {
		return "/portal-bench-yardstick/" + strconv.Itoa(w) + "/" + strconv.FormatInt(i, 10) + "/" + strconv.Itoa(k)
	}
	txns, err = c.rate(ctx, concurrency, d, func(ctx context.Context, w int, i int64) error {
		_, err := c.cli.Txn(ctx).Then(clientv3.OpPut(key(w, i, 0), value), clientv3.OpPut(key(w, i, 1), value),
			clientv3.OpPut(key(w, i, 2), value)).Commit()
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("etcd transactions: %w", err)
	}
	gets, err = c.rate(ctx, concurrency, d, func(ctx context.Context, w int, i int64) error {
		_, err := c.cli.Get(ctx, key(w, i%100, int(i%3)))
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("etcd gets: %w", err)
	}
	return txns, gets, nil
}

// rate runs op with concurrency workers for d and returns ops per second.
func (c *etcdCluster) rate(ctx context.Context, concurrency int, d time.Duration, op func(ctx context.Context, w int, i int64) error) (float64, error) {
	var done atomic.Int64
	errs := make([]error, concurrency)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			for i := int64(0); time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := op(rctx, w, i)
				cancel()
				if err != nil {
					errs[w] = err
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// close stops the members.
func (c *etcdCluster) close() error {
	var err error
	if c.cli != nil {
		err = c.cli.Close()
	}
	for _, e := range c.members {
		e.Close()
	}
	return err
}

// requests sums grpc_server_handled_total of the members (they share the
// process's default Prometheus registry) for Range and Txn.
func (c *etcdCluster) requests() etcdRequests {
	var out etcdRequests
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "grpc_method" {
					continue
				}
				switch l.GetValue() {
				case "Range":
					out.ranges += m.GetCounter().GetValue()
				case "Txn":
					out.txns += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
