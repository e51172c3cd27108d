//go:build etcd

package etcdkv_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/salesos/portal/store/kv/etcdkv"
)

// The package's three-member etcd cluster on loopback: started by the
// first test that needs it, shared by the others, stopped by TestMain. Fuzz
// targets and unit tests never start it (fuzz workers run TestMain too).
var (
	clusterOnce sync.Once
	shared      *testCluster
	sharedErr   error
)

type testCluster struct {
	dir     string
	cfgs    []*embed.Config
	members []*embed.Etcd
	// ranges counts Range requests of the clients made by client, so tests
	// can bound the round trips of a walk.
	ranges atomic.Int64
}

// theCluster starts the shared cluster on first use.
func theCluster(t *testing.T) *testCluster {
	t.Helper()
	clusterOnce.Do(func() { shared, sharedErr = startCluster() })
	if sharedErr != nil {
		t.Fatalf("etcd cluster: %v", sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.Exit(code)
}

func freeURL() (url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, err
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

func startCluster() (*testCluster, error) {
	dir, err := os.MkdirTemp("", "etcdkv-test-")
	if err != nil {
		return nil, err
	}
	c := &testCluster{dir: dir}
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
		cfg.InitialClusterToken = "etcdkv-test"
		initial = append(initial, cfg.Name+"="+peer.String())
		c.cfgs = append(c.cfgs, cfg)
	}
	for _, cfg := range c.cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.ClusterState = embed.ClusterStateFlagNew
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.members = append(c.members, e)
	}
	for _, e := range c.members {
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			c.stop()
			return nil, fmt.Errorf("member %s not ready", e.Config().Name)
		}
	}
	return c, nil
}

func (c *testCluster) stop() {
	for _, e := range c.members {
		if e != nil {
			e.Close()
		}
	}
	_ = os.RemoveAll(c.dir)
}

func (c *testCluster) endpoints() []string {
	var eps []string
	for _, cfg := range c.cfgs {
		eps = append(eps, cfg.AdvertiseClientUrls[0].String())
	}
	return eps
}

// client connects to every member; it is closed with the test.
func (c *testCluster) client(t *testing.T) *clientv3.Client {
	t.Helper()
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/Range") {
			c.ranges.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          c.endpoints(),
		DialTimeout:        5 * time.Second,
		Logger:             zap.NewNop(),
		DialOptions:        []grpc.DialOption{grpc.WithUnaryInterceptor(count)},
		MaxCallSendMsgSize: 4 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// prefixes makes installation prefixes unique across tests and runs.
var prefixes atomic.Int64

// prefix is a fresh installation prefix on the shared cluster.
func prefix(t *testing.T) string {
	return fmt.Sprintf("/test/%s-%d/", strings.ReplaceAll(t.Name(), "/", "_"), prefixes.Add(1))
}

// open opens installation cfg.Prefix, or a fresh one when it is empty.
func open(t *testing.T, cfg etcdkv.Config) *etcdkv.DB {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = prefix(t)
	}
	db := etcdkv.New(theCluster(t).client(t), cfg)
	t.Cleanup(func() { _ = db.Close() })
	return db
}
