//go:build etcd

// Package etcdtest runs the three-member etcd cluster on loopback that a
// test package shares: started by the first test that asks for it, stopped
// by the package's TestMain through Stop. Each test takes an installation
// prefix of its own (Prefix), so tests share the cluster and not their
// data.
package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

var (
	once    sync.Once
	shared  *Cluster
	started error
)

// Cluster is three etcd members on loopback, on one temporary directory.
type Cluster struct {
	dir     string
	Configs []*embed.Config
	Members []*embed.Etcd
}

// Shared starts the package's cluster on first use and returns it.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	once.Do(func() {
		// A port picked free can be taken by another process before a
		// member binds it: start again on other ports.
		for range 5 {
			shared, started = start()
			if started == nil || !(errors.Is(started, syscall.EADDRINUSE) || strings.Contains(started.Error(), "address already in use")) {
				return
			}
		}
	})
	if started != nil {
		t.Fatalf("etcd cluster: %v", started)
	}
	return shared
}

// Stop stops the shared cluster if a test started it; TestMain calls it
// after the tests.
func Stop() {
	if shared != nil {
		shared.stop()
	}
}

func freeURL() (url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, err
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

func start() (*Cluster, error) {
	dir, err := os.MkdirTemp("", "etcd-test-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	var initial []string
	for i := range 3 {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = fmt.Sprintf("%s/%s", dir, cfg.Name)
		peer, err := freeURL()
		if err != nil {
			return nil, err
		}
		client, err := freeURL()
		if err != nil {
			return nil, err
		}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.LogLevel = "error"
		cfg.Logger = "zap"
		cfg.LogOutputs = []string{dir + "/etcd.log"} // shutdown logs errors of closed listeners
		cfg.UnsafeNoFsync = true                     // test data only
		cfg.TickMs, cfg.ElectionMs = 50, 500
		cfg.InitialClusterToken = "etcd-test"
		initial = append(initial, cfg.Name+"="+peer.String())
		c.Configs = append(c.Configs, cfg)
	}
	for _, cfg := range c.Configs {
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.ClusterState = embed.ClusterStateFlagNew
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.Members = append(c.Members, e)
	}
	for _, e := range c.Members {
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			c.stop()
			return nil, fmt.Errorf("member %s not ready", e.Config().Name)
		}
	}
	return c, nil
}

func (c *Cluster) stop() {
	for _, e := range c.Members {
		if e != nil {
			e.Close()
		}
	}
	_ = os.RemoveAll(c.dir)
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, cfg := range c.Configs {
		eps = append(eps, cfg.AdvertiseClientUrls[0].String())
	}
	return eps
}

// Client connects to every member with opts (interceptors a test counts or
// holds requests with); it is closed with the test. A request may carry up
// to 4 MiB, more than the members take, so tests can reach their limit.
func (c *Cluster) Client(t testing.TB, opts ...grpc.DialOption) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          c.Endpoints(),
		DialTimeout:        5 * time.Second,
		Logger:             zap.NewNop(),
		DialOptions:        opts,
		MaxCallSendMsgSize: 4 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

var prefixes atomic.Int64

// Prefix is a fresh installation prefix, unique in the run.
func Prefix(t testing.TB) string {
	return fmt.Sprintf("/test/%s-%d/", strings.ReplaceAll(t.Name(), "/", "_"), prefixes.Add(1))
}

// URL is a store URL (etcd://...) of a fresh installation on the shared
// cluster.
func URL(t testing.TB) string {
	var hosts []string
	for _, ep := range Shared(t).Endpoints() {
		hosts = append(hosts, strings.TrimPrefix(ep, "http://"))
	}
	return "etcd://" + strings.Join(hosts, ",") + Prefix(t)
}

// Leader is the index of the member that leads now, waiting for an
// election if none does.
func (c *Cluster) Leader(t testing.TB) int {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		var changed []<-chan struct{}
		for i, e := range c.Members {
			if e == nil {
				continue
			}
			if e.Server.Leader() == e.Server.MemberID() {
				return i
			}
			changed = append(changed, e.Server.LeaderChangedNotify())
		}
		// Wait for the next change of leader seen by any member.
		select {
		case <-changed[0]:
		case <-deadline:
			t.Fatal("no etcd member leads")
		}
	}
}

// StopLeader stops the member that leads and waits until another one
// does; it returns the stopped member's index, for Restart.
func (c *Cluster) StopLeader(t testing.TB) int {
	t.Helper()
	i := c.Leader(t)
	c.Members[i].Close()
	c.Members[i] = nil
	c.Leader(t)
	return i
}

// Restart starts member i again, after StopLeader, and waits until it is
// ready.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	cfg := c.Configs[i]
	cfg.ClusterState = embed.ClusterStateFlagExisting
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("restart member %d: %v", i, err)
	}
	c.Members[i] = e
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatalf("restarted member %d not ready", i)
	}
}
