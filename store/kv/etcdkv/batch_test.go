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
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
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
	// holdAnswer, like hold, holds the next read, but once the cluster
	// has answered it: the answer is made and not yet delivered.
	holdAnswer atomic.Pointer[chan struct{}]
	// failTxns read-only Txns fail as a leader change fails them.
	failTxns atomic.Int32
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
			if rc.failTxns.Add(-1) >= 0 {
				rc.requests.Add(1)
				return rpctypes.ErrGRPCLeaderChanged
			}
		default:
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		rc.requests.Add(1)
		if gate := rc.hold.Swap(nil); gate != nil {
			rc.held <- struct{}{}
			<-*gate
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		if gate := rc.holdAnswer.Swap(nil); gate != nil {
			rc.held <- struct{}{}
			<-*gate
		}
		return err
	}
	rc.cli = etcdtest.Shared(t).Client(t, grpc.WithUnaryInterceptor(count))
	return rc
}

// openOn opens the installation at pfx through rc's client.
func openOn(t *testing.T, rc *readCounter, pfx string) *DB {
	t.Helper()
	db := New(rc.cli, Config{Prefix: pfx})
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// putB puts key/value pairs kvs into bucket b, made if need be, in one
// Update.
func putB(t *testing.T, db kv.DB, kvs ...string) {
	t.Helper()
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(kvs); i += 2 {
			if err := b.Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
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
	db := openOn(t, rc, etcdtest.Prefix(t))
	const n = 40
	var kvs []string
	for i := range n + 1 {
		kvs = append(kvs, fmt.Sprint("k", i), fmt.Sprint("v", i))
	}
	putB(t, db, kvs...)
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
	// One first read of several gets, which must come back as its own.
	var pair [2]string
	var pairErr error
	wg.Add(1)
	readPair := func() {
		defer wg.Done()
		pairErr = db.View(func(tx kv.Tx) error {
			b := tx.Bucket([]byte("b"))
			b.(kv.Prefetcher).Prefetch([]byte("k7"), []byte("k3"))
			pair = [2]string{string(b.Get([]byte("k7"))), string(b.Get([]byte("k3")))}
			return nil
		})
	}
	wg.Add(1)
	go read(0)
	<-rc.held // the first read is under way, and held
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go read(i)
	}
	go readPair()
	for range n + 1 {
		<-queued
	}
	close(gate)
	wg.Wait()

	for i := range n + 1 {
		if want := fmt.Sprint("v", i); errs[i] != nil || got[i] != want {
			t.Errorf("read %d: %q, %v; want %q", i, got[i], errs[i], want)
		}
	}
	if pairErr != nil || pair != [2]string{"v7", "v3"} {
		t.Errorf("read of two keys: %q, %v; want v7 and v3", pair, pairErr)
	}
	// The gets are the reads' keys, and for the read of two keys the
	// generation key that checks its bucket (read.go).
	if r, g := rc.requests.Load()-before, rc.gets.Load()-beforeGets; r != 2 || g < n+3 {
		t.Errorf("%d reads took %d requests of %d gets, want 2 of at least %d", n+2, r, g, n+3)
	}
}

// TestStalledRequest: reads made while a request has been under way for
// longer than the stall bound do not wait for it.
func TestStalledRequest(t *testing.T) {
	rc := newReadCounter(t)
	db := openOn(t, rc, etcdtest.Prefix(t))
	putB(t, db, "k", "v")
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

// TestNoAnswerFromAnEarlierRequest: a read made while a request is under
// way, after a write was acknowledged, is not answered by that request,
// whose answer the cluster made before the write.
func TestNoAnswerFromAnEarlierRequest(t *testing.T) {
	pfx := etcdtest.Prefix(t)
	rc := newReadCounter(t)
	db := openOn(t, rc, pfx)
	writer := openOn(t, newReadCounter(t), pfx)
	put := func(v string) { putB(t, writer, "k", v) }
	put("old")
	if v, err := readKey(db, "b", "k"); err != nil || v != "old" {
		t.Fatalf("read: %q, %v", v, err)
	}
	queued := make(chan struct{}, 1)
	db.batch.mu.Lock()
	db.batch.queued = func() { queued <- struct{}{} }
	db.batch.stall = time.Hour
	db.batch.mu.Unlock()

	gate := make(chan struct{})
	rc.holdAnswer.Store(&gate)
	first := make(chan string, 1)
	go func() {
		v, _ := readKey(db, "b", "k")
		first <- v
	}()
	<-rc.held // answered "old", not yet delivered
	put("new")
	second := make(chan string, 1)
	go func() {
		v, err := readKey(db, "b", "k")
		if err != nil {
			v = err.Error()
		}
		second <- v
	}()
	<-queued
	close(gate)
	if v := <-first; v != "old" {
		t.Errorf("the held read: %q, want old", v)
	}
	if v := <-second; v != "new" {
		t.Errorf("a read made after the write was acknowledged: %q, want new", v)
	}
}

// TestReadRetriedThroughLeaderChange: a batched read that the cluster turns
// away for a leader change is sent again, as the client does for a Range.
func TestReadRetriedThroughLeaderChange(t *testing.T) {
	rc := newReadCounter(t)
	db := openOn(t, rc, etcdtest.Prefix(t))
	putB(t, db, "x", "1", "y", "2")
	if v, err := readKey(db, "b", "x"); err != nil || v != "1" {
		t.Fatalf("read: %q, %v", v, err) // the process has seen the bucket
	}
	rc.failTxns.Store(2)
	before := rc.requests.Load()
	var got [2]string
	err := db.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.(kv.Prefetcher).Prefetch([]byte("x"), []byte("y"))
		got = [2]string{string(b.Get([]byte("x"))), string(b.Get([]byte("y")))}
		return nil
	})
	if err != nil || got != [2]string{"1", "2"} {
		t.Fatalf("read through two leader changes: %q, %v", got, err)
	}
	if n := rc.requests.Load() - before; n != 3 {
		t.Errorf("took %d requests, want 3 (two turned away)", n)
	}
}

// TestBatchesAreLinearizable: under a stream of concurrent reads that keeps
// the process's first reads batched, a read made after a write was
// acknowledged (through another client) sees it.
func TestBatchesAreLinearizable(t *testing.T) {
	pfx := etcdtest.Prefix(t)
	rc := newReadCounter(t)
	readers := openOn(t, rc, pfx)
	readers.batch.stall = time.Hour // batches however slow the machine
	writer := openOn(t, newReadCounter(t), pfx)
	put := func(i int) { putB(t, writer, "n", strconv.Itoa(i)) }
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
