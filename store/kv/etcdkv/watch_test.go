//go:build etcd

package etcdkv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/etcdkv"
)

// TestWatchFromCall: Changes and ChangesBelow report a commit made after
// they returned even when their watch opens only after it: here the watch
// stream is held back until the commit is acknowledged.
func TestWatchFromCall(t *testing.T) {
	for _, below := range []bool{false, true} {
		name := "Changes"
		if below {
			name = "ChangesBelow"
		}
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			hold := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				if strings.HasSuffix(method, "/Watch") {
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				return streamer(ctx, desc, cc, method, opts...)
			}
			cli := theCluster(t).Client(t, grpc.WithStreamInterceptor(hold))
			cfg := etcdkv.Config{Prefix: prefix(t)}
			watcher := etcdkv.New(cli, cfg)
			t.Cleanup(func() { _ = watcher.Close() })
			writer := open(t, cfg)
			mustUpdate(t, writer, func(tx kv.Tx) error {
				_, err := tx.CreateBucket([]byte("b"))
				return err
			})

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			seen := make(chan struct{}, 1)
			if below {
				watcher.ChangesBelow(ctx, func(sub [][]byte) {
					if sub != nil {
						select {
						case seen <- struct{}{}:
						default:
						}
					}
				})
			} else {
				ch := watcher.Changes(ctx, []byte("b"))
				go func() {
					select {
					case <-ch:
						seen <- struct{}{}
					case <-ctx.Done():
					}
				}()
			}
			mustUpdate(t, writer, func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v")) })
			close(release)
			select {
			case <-seen:
			case <-time.After(10 * time.Second):
				t.Fatal("a commit made after the call, before the watch opened, was not reported")
			}
		})
	}
}
