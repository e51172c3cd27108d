//go:build etcd

package etcdkv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/etcdkv"
)

// compactAll compacts the cluster's history up to now and waits until
// every member refuses reads at older revisions.
func compactAll(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	resp, err := cli.Get(ctx, "compact-probe")
	if err != nil {
		t.Fatal(err)
	}
	rev := resp.Header.Revision
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	for _, ep := range theCluster(t).Endpoints() {
		m, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		poll(t, 10*time.Second, "member "+ep+" to compact", func() bool {
			_, err := m.Get(ctx, "compact-probe", clientv3.WithRev(rev-1), clientv3.WithSerializable())
			return errors.Is(err, rpctypes.ErrCompacted)
		})
		_ = m.Close()
	}
}

// TestCompactedMidRun: when the revision a run pinned is compacted before
// its next read, View and Update run fn again at a fresh revision, so fn
// never sees two revisions mixed; what a run read ahead stays at its
// revision.
func TestCompactedMidRun(t *testing.T) {
	tests := []struct {
		name  string
		ahead bool // k2 read ahead with the first read
		runs  int
		k2    string
	}{
		{"second read after compaction", false, 2, "new"},
		{"second read from read-ahead", true, 1, "old"},
	}
	for _, tt := range tests {
		for _, engine := range []string{"View", "Update"} {
			t.Run(tt.name+"/"+engine, func(t *testing.T) {
				cfg := etcdkv.Config{Prefix: prefix(t)}
				a, other := open(t, cfg), open(t, cfg)
				mustUpdate(t, a, func(tx kv.Tx) error {
					b, err := tx.CreateBucket([]byte("b"))
					if err != nil {
						return err
					}
					if err := b.Put([]byte("k1"), []byte("old")); err != nil {
						return err
					}
					return b.Put([]byte("k2"), []byte("old"))
				})
				runs := 0
				var k1, k2 string
				run := a.View
				if engine == "Update" {
					run = a.Update
				}
				err := run(func(tx kv.Tx) error {
					runs++
					b := tx.Bucket([]byte("b"))
					if tt.ahead {
						b.(kv.Prefetcher).Prefetch([]byte("k2"))
					}
					k1 = string(b.Get([]byte("k1")))
					if runs == 1 {
						mustUpdate(t, other, func(tx kv.Tx) error {
							b := tx.Bucket([]byte("b"))
							if err := b.Put([]byte("k1"), []byte("new")); err != nil {
								return err
							}
							return b.Put([]byte("k2"), []byte("new"))
						})
						compactAll(t, theCluster(t).client(t))
					}
					k2 = string(b.Get([]byte("k2")))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if runs != tt.runs || k1 != tt.k2 || k2 != tt.k2 {
					t.Errorf("ran %d times, read k1 %q and k2 %q; want %d runs reading %q for both", runs, k1, k2, tt.runs, tt.k2)
				}
			})
		}
	}
}
