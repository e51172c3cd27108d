//go:build etcd

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/etcdkv"
)

// openEtcd connects to the etcd cluster s names and opens the store there.
func openEtcd(ctx context.Context, s string, now func() time.Time, opt store.Options) (*engine, error) {
	cfg, err := etcdkv.ParseURL(s)
	if err != nil {
		return nil, err
	}
	e, err := etcdkv.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	name := redactURL(s)
	db, err := store.OpenKV(e, name, now, opt)
	if err != nil {
		_ = e.Close()
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	return &engine{db: db, name: name, lead: e.Lead, shared: true,
		changes: func(ctx context.Context, bucket string) <-chan struct{} { return e.Changes(ctx, []byte(bucket)) },
		changesBelow: func(ctx context.Context, bucket string, fn func(sub [][]byte)) {
			e.ChangesBelow(ctx, fn, []byte(bucket))
		}}, nil
}

// openEtcdBare connects to the etcd cluster s names, without the store.
func openEtcdBare(ctx context.Context, s string) (kv.DB, error) {
	cfg, err := etcdkv.ParseURL(s)
	if err != nil {
		return nil, err
	}
	return etcdkv.Open(ctx, cfg)
}

// etcdBuilt reports whether this binary can run on etcd.
const etcdBuilt = true
