//go:build etcd

package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv/etcdkv"
	"github.com/salesos/portal/store/kv/etcdkv/etcdtest"
)

// Built with -tags etcd, the store's tests that open their database with
// openTestDB run on an installation of their own on the package's shared
// three-member etcd cluster (etcdtest), so the store's behaviour is tested
// on both engines.

func TestMain(m *testing.M) {
	code := m.Run()
	etcdtest.Stop()
	os.Exit(code)
}

// openTestDB opens a fresh installation on the shared cluster.
func openTestDB(t testing.TB, now func() time.Time, opt store.Options) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := etcdkv.Open(ctx, etcdkv.Config{Endpoints: etcdtest.Shared(t).Endpoints(), Prefix: etcdtest.Prefix(t)})
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	db, err := store.OpenKV(e, "etcd", now, opt)
	if err != nil {
		_ = e.Close()
		t.Fatalf("OpenKV: got %v, want nil", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestMigrate_RoundTrip: an installation copied from a bbolt file into
// etcd and back is the same tree, checks clean on etcd, and backs up from
// etcd as a file that checks clean.
func TestMigrate_RoundTrip(t *testing.T) {
	src := openBoltDB(t)
	fill(t, src)
	ctx := t.Context()
	e, err := etcdkv.Open(ctx, etcdkv.Config{Endpoints: etcdtest.Shared(t).Endpoints(), Prefix: etcdtest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CopyTree(e, src.Engine()); err != nil {
		t.Fatalf("CopyTree into etcd: %v", err)
	}
	onEtcd, err := store.OpenKV(e, "etcd", configNow, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer onEtcd.Close()
	if r, err := store.CheckKV(e, "etcd"); err != nil || !r.OK() || r.Records["contacts"] != 300 {
		t.Fatalf("check on etcd: got %v, %+v, %v", err, r.Breaches, r.Records)
	}
	back := filepath.Join(t.TempDir(), "back.db")
	dst, err := store.OpenFile(back, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CopyTree(dst, e); err != nil {
		t.Fatalf("CopyTree out of etcd: %v", err)
	}
	if got, want := dump(t, dst), dump(t, src.Engine()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the round trip differs: %d entries, want %d", len(got), len(want))
	}
	_ = dst.Close()
	var buf bytes.Buffer
	if _, err := onEtcd.Backup(ctx, &buf, nil); err != nil {
		t.Fatalf("Backup on etcd: %v", err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := store.Check(path); err != nil || !r.OK() || r.Records["users"] != 6 {
		t.Errorf("check of the etcd backup: got %v, %+v, %v", err, r.Breaches, r.Records)
	}
}

// TestArticles_TwoProcesses: two stores on one etcd installation, as two
// portal processes; an article published through one is found by the
// other's search once the watch (as serve wires it) has told it.
func TestArticles_TwoProcesses(t *testing.T) {
	ctx := t.Context()
	prefix := etcdtest.Prefix(t)
	open := func() (*store.DB, *etcdkv.DB) {
		e, err := etcdkv.Open(ctx, etcdkv.Config{Endpoints: etcdtest.Shared(t).Endpoints(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.OpenKV(e, "etcd", time.Now, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db, e
	}
	a, _ := open()
	b, eb := open()
	if err := b.BuildArticleIndex(ctx); err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 16)
	eb.ChangesBelow(ctx, func(sub [][]byte) {
		if len(sub) == 2 && string(sub[1]) == "kb_articles" {
			if err := b.ArticlesChanged(ctx, data.TenantID(sub[0])); err != nil {
				t.Error(err)
			}
			changed <- struct{}{}
		}
	}, []byte("orgs"))
	art := data.Article{Title: "Paying invoices", Slug: "paying-invoices", Body: "How to pay your invoices.", Status: data.ArticlePublished}
	if err := a.CreateArticle(ctx, "acme", "staff-1", &art); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatal("the other store heard of no change to the articles")
	}
	hits, err := b.SearchArticles(ctx, "acme", "invoice", "", 10)
	if err != nil || len(hits) != 1 || hits[0].Slug != "paying-invoices" {
		t.Errorf("search on the other store: got %+v, %v, want the new article", hits, err)
	}
}

// TestEtcd_RoundTrips: on etcd the hot paths take one read request (and a
// write its commit), whatever the number of buckets and keys they touch, once
// the process has seen the organization's buckets.
func TestEtcd_RoundTrips(t *testing.T) {
	var requests atomic.Int64
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/Range") || strings.HasSuffix(method, "/Txn") {
			requests.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli := etcdtest.Shared(t).Client(t, grpc.WithUnaryInterceptor(count))
	clk := &stClock{t: storeT0}
	db, err := store.OpenKV(etcdkv.New(cli, etcdkv.Config{Prefix: etcdtest.Prefix(t)}), "etcd", clk.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := t.Context()
	// The first writes make the organization and show the process its buckets.
	var inv data.Invitation
	for i := range 3 {
		if inv, err = db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: fmt.Sprintf("warm%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Stats(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		max  int64
		op   func() error
	}{
		{"invitation", 2, func() error {
			_, err := db.CreateInvitation(ctx, tenantA, "staff-1", data.InvitationRequest{Email: "new@example.com"})
			return err
		}},
		{"config", 1, func() error { _, err := db.Config(ctx, tenantA); return err }},
		{"user", 1, func() error { _, err := db.UserJSON(ctx, tenantA, inv.UserID); return err }},
		{"stats", 1, func() error { _, err := db.Stats(ctx, tenantA); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := requests.Load()
			if err := tt.op(); err != nil {
				t.Fatal(err)
			}
			if n := requests.Load() - before; n > tt.max {
				t.Errorf("took %d requests, want at most %d", n, tt.max)
			}
		})
	}
}
