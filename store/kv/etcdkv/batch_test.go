//go:build etcd

package etcdkv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/etcdkv/etcdtest"
)

// readCounter is a client of the shared cluster that counts its read
// requests and their gets, and can hold its next read until released.
type readCounter struct {
	cli      *clientv3.Client
	requests atomic.Int64
	gets     atomic.Int64
	hold     atomic.Pointer[chan struct{}] // the next read waits for it
	held     chan struct{}                 // a read is being held
}

func newReadCounter(t *testing.T) *readCounter {
	t.Helper()
	rc := &readCounter{held: make(chan struct{}, 1)}
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		switch {
		case strings.HasSuffix(method, "/Range"):
			rc.gets.Add(1)
		case strings.HasSuffix(method, "/Txn"):
			tr := req.(*pb.TxnRequest)
			if len(tr.Compare) > 0 || tr.Success[0].GetRequestRange() == nil {
				return invoker(ctx, method, req, reply, cc, opts...) // a commit
			}
			rc.gets.Add(int64(len(tr.Success)))
		default:
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		rc.requests.Add(1)
		if gate := rc.hold.Swap(nil); gate != nil {
			rc.held <- struct{}{}
			<-*gate
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   etcdtest.Shared(t).Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithUnaryInterceptor(count)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	rc.cli = cli
	return rc
}

func update(t *testing.T, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// readKey reads key of bucket b in a View of its own.
func readKey(db kv.DB, b, key string) (string, error) {
	var v string
	err := db.View(func(tx kv.Tx) error {
		bk := tx.Bucket([]byte(b))
		if bk == nil {
			return fmt.Errorf("no bucket %s", b)
		}
		v = string(bk.Get([]byte(key)))
		return nil
	})
	return v, err
}

// TestFirstReadsShareRequests: first reads made while one is under way wait
// for it and then go together in one request, each with its own answer.
func TestFirstReadsShareRequests(t *testing.T) {
	rc := newReadCounter(t)
	db := New(rc.cli, Config{Prefix: etcdtest.Prefix(t)})
	t.Cleanup(func() { _ = db.Close() })
	const n = 40
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range n + 1 {
			if err := b.Put([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("v", i))); err != nil {
				return err
			}
		}
		return nil
	})
	// The process has seen the bucket: each View below is one get.
	if v, err := readKey(db, "b", "k0"); err != nil || v != "v0" {
		t.Fatalf("read: %q, %v", v, err)
	}

	queued := make(chan struct{}, n)
	db.batch.mu.Lock()
	db.batch.queued = func() { queued <- struct{}{} }
	db.batch.stall = time.Hour // the held read is not stalled
	db.batch.mu.Unlock()
	gate := make(chan struct{})
	rc.hold.Store(&gate)
	before, beforeGets := rc.requests.Load(), rc.gets.Load()

	var wg sync.WaitGroup
	got := make([]string, n+1)
	errs := make([]error, n+1)
	read := func(i int) {
		defer wg.Done()
		got[i], errs[i] = readKey(db, "b", fmt.Sprint("k", i))
	}
	wg.Add(1)
	go read(0)
	<-rc.held // the first read is under way, and held
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go read(i)
	}
	for range n {
		<-queued
	}
	close(gate)
	wg.Wait()

	for i := range n + 1 {
		if want := fmt.Sprint("v", i); errs[i] != nil || got[i] != want {
			t.Errorf("read %d: %q, %v; want %q", i, got[i], errs[i], want)
		}
	}
	if r, g := rc.requests.Load()-before, rc.gets.Load()-beforeGets; r != 2 || g != n+1 {
		t.Errorf("%d reads took %d requests of %d gets, want 2 of %d", n+1, r, g, n+1)
	}
}

// TestStalledRequest: reads made while a request has been under way for
// longer than the stall bound do not wait for it.
func TestStalledRequest(t *testing.T) {
	rc := newReadCounter(t)
	db := New(rc.cli, Config{Prefix: etcdtest.Prefix(t)})
	t.Cleanup(func() { _ = db.Close() })
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if _, err := readKey(db, "b", "k"); err != nil {
		t.Fatal(err)
	}
	db.batch.mu.Lock()
	db.batch.stall = 0 // every request under way counts as stalled
	db.batch.mu.Unlock()
	gate := make(chan struct{})
	rc.hold.Store(&gate)
	held := make(chan error, 1)
	go func() {
		_, err := readKey(db, "b", "k")
		held <- err
	}()
	<-rc.held
	// The held request is still under way; these reads go past it.
	past := make(chan error, 1)
	go func() {
		for range 5 {
			if v, err := readKey(db, "b", "k"); err != nil || v != "v" {
				past <- fmt.Errorf("a read behind a stalled request: %q, %v", v, err)
				return
			}
		}
		past <- nil
	}()
	select {
	case err := <-past:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second):
		t.Error("reads waited for the stalled request")
	}
	close(gate)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// TestBatchesAreLinearizable: under a stream of concurrent reads that keeps
// the process's first reads batched, a read made after a write was
// acknowledged (through another client) sees it.
func TestBatchesAreLinearizable(t *testing.T) {
	rc := newReadCounter(t)
	pfx := etcdtest.Prefix(t)
	readers := New(rc.cli, Config{Prefix: pfx})
	t.Cleanup(func() { _ = readers.Close() })
	writer := New(newReadCounter(t).cli, Config{Prefix: pfx})
	t.Cleanup(func() { _ = writer.Close() })
	put := func(i int) {
		update(t, writer, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte("n"), []byte(strconv.Itoa(i)))
		})
	}
	put(0)

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := readKey(readers, "b", "n"); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	before, beforeGets := rc.requests.Load(), rc.gets.Load()
	const writes = 200
	for i := 1; i <= writes; i++ {
		put(i)
		v, err := readKey(readers, "b", "n")
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := strconv.Atoi(v); got < i {
			t.Fatalf("a read after write %d was acknowledged saw %d", i, got)
		}
	}
	stop()
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(*err)
	}
	// Requests carried more gets than there were requests: reads were
	// batched, so the checks above ran on batches.
	if r, g := rc.requests.Load()-before, rc.gets.Load()-beforeGets; g <= r {
		t.Errorf("%d requests carried %d gets: nothing was batched", r, g)
	}
}
