//go:build !etcd

package main

import (
	"context"
	"errors"
)

// etcdBuilt reports whether this portal-bench can run the etcd mode: not
// without the etcd build tag, which keeps the etcd server and client out
// of the default build (see docs/storage-seam.md).
const etcdBuilt = false

// errNoEtcd says how to get a portal-bench that runs the etcd mode.
var errNoEtcd = errors.New("the etcd mode needs a portal-bench built with the etcd tag: go run -tags etcd ./cmd/portal-bench --store etcd")

// startCluster refuses: parseOptions already refuses --store etcd in this
// build, so this is reached only by a caller that skipped it.
func startCluster(context.Context, string) (cluster, error) { return nil, errNoEtcd }
