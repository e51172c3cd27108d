//go:build etcd

package etcdkv_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/salesos/portal/store/kv/etcdkv"
	"github.com/salesos/portal/store/kv/etcdkv/etcdtest"
)

// theCluster is the package's shared cluster (etcdtest).
func theCluster(t testing.TB) *testCluster {
	t.Helper()
	return &testCluster{Cluster: etcdtest.Shared(t), ranges: &ranges}
}

// testCluster counts the read requests (Range, and Txn, which a read
// makes when it carries several gets) of the clients it makes, so tests can
// bound the round trips of a walk.
type testCluster struct {
	*etcdtest.Cluster
	ranges *atomic.Int64
}

var ranges atomic.Int64

// onRange, when set, sees every Range request of the package's clients and
// its response, so a test can check what a walk asks of the server.
var onRange atomic.Pointer[func(*pb.RangeRequest, *pb.RangeResponse)]

func TestMain(m *testing.M) {
	code := m.Run()
	etcdtest.Stop()
	os.Exit(code)
}

// client connects to every member; it is closed with the test.
func (c *testCluster) client(t testing.TB) *clientv3.Client {
	t.Helper()
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		isRange, isTxn := strings.HasSuffix(method, "/Range"), strings.HasSuffix(method, "/Txn")
		if !isRange && !isTxn {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		ranges.Add(1)
		err := invoker(ctx, method, req, reply, cc, opts...)
		f := onRange.Load()
		if f == nil || err != nil {
			return err
		}
		if isRange {
			(*f)(req.(*pb.RangeRequest), reply.(*pb.RangeResponse))
			return nil
		}
		// A read that carries several gets is a Txn of Ranges.
		tr, resp := req.(*pb.TxnRequest), reply.(*pb.TxnResponse)
		ops := tr.Success
		if !resp.Succeeded {
			ops = tr.Failure
		}
		for i, op := range ops {
			if r := op.GetRequestRange(); r != nil && i < len(resp.Responses) {
				(*f)(r, resp.Responses[i].GetResponseRange())
			}
		}
		return nil
	}
	return c.Client(t, grpc.WithUnaryInterceptor(count))
}

// prefix is a fresh installation prefix on the shared cluster.
func prefix(t testing.TB) string { return etcdtest.Prefix(t) }

// open opens installation cfg.Prefix, or a fresh one when it is empty.
func open(t testing.TB, cfg etcdkv.Config) *etcdkv.DB {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = prefix(t)
	}
	db := etcdkv.New(theCluster(t).client(t), cfg)
	t.Cleanup(func() { _ = db.Close() })
	return db
}
