//go:build etcd

package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestRun_BoltAndEtcd runs the whole command at a tiny size on both
// stores: seed, copy into a fresh three-member cluster, build the binary
// with -tags etcd, serve on each, compare.
func TestRun_BoltAndEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the portal binary and starts an etcd cluster")
	}
	var out, progress bytes.Buffer
	err := run(context.Background(), []string{"portal-bench", "--store", "bbolt,etcd", "--users", "40", "--dir", t.TempDir(),
		"--endpoints", "config,user,list,stats,invite", "--duration", "300ms", "--warmup", "0", "--commit-duration", "100ms",
		"--concurrency", "4", "--invitations", "3", "--contacts", "5", "--server-log-level", "warn"}, &out, &progress)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s\noutput:\n%s", err, progress.String(), out.String())
	}
	got := out.String()
	for _, want := range []string{"== 40 users on bbolt:", "== 40 users on etcd:", "etcd: etcd 3.6", "fsync on",
		"transactions of 3 puts/s", "== 40 users: etcd against bbolt", "targets (issue 16",
		"POST /invitations      ", "GET /users?limit=20    "} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The members served reads for every GET /users/{id}: the comparison's
	// row ends with the etcd gets and transactions per request.
	found := false
	for _, line := range strings.Split(got, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "GET" || f[1] != "/users/{id}" || f[len(f)-2] != "+" {
			continue
		}
		found = true
		var gets float64
		if _, err := fmt.Sscan(f[len(f)-3], &gets); err != nil || gets < 1 {
			t.Errorf("GET /users/{id}: got %q etcd gets per request, want at least 1", f[len(f)-3])
		}
	}
	if !found {
		t.Errorf("no GET /users/{id} row with etcd requests per request in:\n%s", got)
	}
	// An endpoint with any failed request prints its first error.
	if strings.Contains(got, "first error of") || strings.Contains(got, "SERVER") {
		t.Errorf("got failed requests or a server that did not run to the end:\n%s", got)
	}
}
