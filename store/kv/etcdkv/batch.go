//go:build etcd

package etcdkv

import (
	"context"
	"errors"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The first read of every transaction is linearizable, and for a read of a
// few keys most of the cost is the request itself: the gRPC call on both
// sides and the member's wait for the leader's read index. So concurrent
// first reads share requests. While one is under way, the first reads made
// meanwhile wait, and when it comes back they go together as one Txn of
// their Ranges, which the cluster serves at one revision. A queue that holds
// a full batch (MaxTxnOps gets, or maxBatchKeys keys) goes at once, up to
// maxFlying requests under way. Each read still sees every write
// acknowledged before it was made, since the request that carries it is
// sent after that: a batch is as linearizable as a read of its own. A read
// made when none is under way is sent at once, so an idle process waits for
// nothing, and reads of many keys (more than maxBatchKeys, or a range
// without a limit) always go alone. Nor do reads wait long behind a request
// that stalls.

// maxFlying bounds the first reads, alone or in batches, under way at once.
// On the loopback cluster of cmd/portal-bench, one to two under way served
// 1.2–1.7 times the one-key reads of a request each; four did less well.
const maxFlying = 2

// maxBatchKeys bounds the keys one batch may return (a key get counts one,
// a page its limit), so that a read of a few keys does not wait for pages
// of others: reads of many keys gain little from sharing a request.
const maxBatchKeys = 128

// A read that has waited stall for a batch takes it for granted that the
// requests under way have met trouble (an election, a member gone): it sends
// the reads that wait, from the oldest and as many as one Txn takes, in a
// request of its own (up to maxStalled under way) rather than wait for the
// others to time out, so the process recovers as soon as the cluster does.
const (
	stall      = 100 * time.Millisecond
	maxStalled = 16
)

// firstRead is one transaction's first read waiting for its batch.
type firstRead struct {
	gets  []get
	resps []*pb.RangeResponse
	rev   int64
	err   error
	done  chan struct{}
	taken bool // in a batch; b.mu guards it
}

// batcher gathers first reads.
type batcher struct {
	mu     sync.Mutex
	flying int
	queue  []*firstRead
	// ops and keys are the queue's gets and the keys they may return.
	ops, keys int
	// stall is the package's stall, or a test's.
	stall time.Duration
	// queued, in tests, hears of every read that joins the queue.
	queued func()
}

// weight is the keys gets may return, or -1 when one has no limit.
func weight(gets []get) int {
	n := 0
	for _, g := range gets {
		switch {
		case g.end == "" || g.count:
			n++
		case g.limit > 0:
			n += int(g.limit)
		default:
			return -1
		}
	}
	return n
}

// first makes gets, a transaction's first read, linearizably: in a request
// of its own when none is under way, otherwise with the other first reads
// made meanwhile.
func (db *DB) first(gets []get) ([]*pb.RangeResponse, int64, error) {
	w := weight(gets)
	if w < 0 || w > maxBatchKeys || len(gets) > db.cfg.MaxTxnOps {
		return db.read(gets)
	}
	b := &db.batch
	b.mu.Lock()
	if b.flying == 0 {
		b.flying++
		b.mu.Unlock()
		defer db.next()
		return db.read(gets)
	}
	f := &firstRead{gets: gets, done: make(chan struct{})}
	b.queue = append(b.queue, f)
	b.ops, b.keys = b.ops+len(gets), b.keys+w
	if b.queued != nil {
		b.queued()
	}
	if b.full(db.cfg.MaxTxnOps) && b.flying < maxFlying {
		// A full batch need not wait for a request to come back.
		db.launch()
	}
	stall := b.stall
	b.mu.Unlock()
	tm := time.NewTimer(stall)
	defer tm.Stop()
	for {
		select {
		case <-f.done:
			return f.resps, f.rev, f.err
		case <-tm.C:
			// The requests under way have met trouble (an election, a
			// member gone): the reads waiting go in one of their own.
			b.mu.Lock()
			if !f.taken && b.flying < maxStalled {
				db.launch()
			}
			b.mu.Unlock()
			tm.Reset(stall)
		}
	}
}

// full reports whether the queue holds a whole batch. b.mu is held.
func (b *batcher) full(maxOps int) bool {
	return b.keys >= maxBatchKeys || b.ops >= maxOps
}

// launch sends the first batch of the queue in a request of its own. b.mu
// is held.
func (db *DB) launch() {
	db.batch.flying++
	go db.flush(db.take())
}

// take removes from the queue the first reads one Txn takes. b.mu is held.
func (db *DB) take() []*firstRead {
	b := &db.batch
	var batch []*firstRead
	ops, keys := 0, 0
	for len(b.queue) > 0 {
		f := b.queue[0]
		n, w := len(f.gets), weight(f.gets)
		if len(batch) > 0 && (ops+n > db.cfg.MaxTxnOps || keys+w > maxBatchKeys) {
			break
		}
		f.taken = true
		batch = append(batch, f)
		ops, keys = ops+n, keys+w
		b.queue[0] = nil
		b.queue = b.queue[1:]
	}
	if len(b.queue) == 0 {
		b.queue = nil // let the array go
	}
	b.ops, b.keys = b.ops-ops, b.keys-keys
	return batch
}

// next goes on with the first reads that waited, as many as one Txn takes,
// or ends a request's turn when none did, or when more than maxFlying are
// under way (after a stall) and the queue does not fill a batch.
func (db *DB) next() {
	b := &db.batch
	b.mu.Lock()
	if len(b.queue) == 0 || (b.flying > maxFlying && !b.full(db.cfg.MaxTxnOps)) {
		b.flying--
		b.mu.Unlock()
		return
	}
	batch := db.take()
	b.mu.Unlock()
	go db.flush(batch)
}

// flush makes a batch's reads in one request and hands each its responses,
// then goes on with the next batch.
func (db *DB) flush(batch []*firstRead) {
	defer db.next()
	var all []get
	for _, f := range batch {
		all = append(all, f.gets...)
	}
	resps, rev, err := db.read(all)
	for _, f := range batch {
		f.rev, f.err = rev, err
		if err == nil {
			f.resps, resps = resps[:len(f.gets):len(f.gets)], resps[len(f.gets):]
		}
		close(f.done)
	}
}

// read makes gets in one linearizable request: a plain Range for one, a
// Txn of Ranges (one revision for all) for several.
func (db *DB) read(gets []get) ([]*pb.RangeResponse, int64, error) {
	return db.do(gets, 0, false)
}

// do makes gets at revision rev (0: the newest) in one request.
func (db *DB) do(gets []get, rev int64, serializable bool) ([]*pb.RangeResponse, int64, error) {
	ctx, cancel := context.WithTimeout(db.ctx, db.cfg.RequestTimeout)
	defer cancel()
	if len(gets) == 1 {
		resp, err := db.cli.Do(ctx, gets[0].op(rev, serializable))
		if err != nil {
			return nil, 0, err
		}
		r := (*pb.RangeResponse)(resp.Get())
		return []*pb.RangeResponse{r}, r.Header.Revision, nil
	}
	ops := make([]clientv3.Op, len(gets))
	for i, g := range gets {
		ops[i] = g.op(rev, serializable)
	}
	resp, err := db.cli.Txn(ctx).Then(ops...).Commit()
	for err != nil && unavailable(err) {
		// The client retries a Range that finds the cluster unavailable
		// (no leader, a leader change), not a Txn, which may write; this
		// one only reads, so it is sent again, as a Range would be.
		t := time.NewTimer(readRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0, err
		case <-t.C:
		}
		resp, err = db.cli.Txn(ctx).Then(ops...).Commit()
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]*pb.RangeResponse, len(gets))
	for i, r := range resp.Responses {
		out[i] = r.GetResponseRange()
		if out[i] == nil {
			out[i] = &pb.RangeResponse{}
		}
	}
	return out, resp.Header.Revision, nil
}

// readRetry is the pause before a read-only Txn is sent again: the client's
// own pause between retries of a Range.
const readRetry = 25 * time.Millisecond

// unavailable reports whether err says the cluster could not serve a
// request for now (codes.Unavailable), as the client's retry of a Range
// reads it.
func unavailable(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	return status.Code(err) == codes.Unavailable
}
