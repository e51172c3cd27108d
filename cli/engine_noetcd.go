//go:build !etcd

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv"
)

// openEtcd refuses: this binary has no etcd client (see engine).
func openEtcd(_ context.Context, s string, _ func() time.Time, _ store.Options) (*engine, error) {
	return nil, fmt.Errorf("store %s: this portal binary was built without etcd support; build it with: go build -tags etcd", redactURL(s))
}

// openEtcdBare refuses: this binary has no etcd client (see engine).
func openEtcdBare(ctx context.Context, s string) (kv.DB, error) {
	_, err := openEtcd(ctx, s, nil, store.Options{})
	return nil, err
}

// etcdBuilt reports whether this binary can run on etcd.
const etcdBuilt = false
