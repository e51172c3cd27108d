//go:build etcd

package etcdkv

// What several portal processes on one installation coordinate with,
// beside the tree: a lead that one process holds at a time (for the
// background work that must run once: the mail sender, the sweeper), and
// watches on buckets (so the process that holds the lead hears of mail
// queued by another at once).
//
//	P 00 l <name> ...   the election of the lead called name
//
// (P 00 is DB.prefix; the tree, revision, chunk and owner spaces are
// t, r, c and o, see keys.go.)

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const spaceLead = 'l'

// LeadTTL is how long a lead outlives the process that held it (its
// lease's time to live): a process that dies without resigning is replaced
// after at most this long.
const LeadTTL = 10 * time.Second

// Lead runs fn while this process holds the lead called name, and
// campaigns again whenever it loses it, until ctx ends. fn's context ends
// when the lead is lost (its lease expired: the process could not reach the
// cluster for LeadTTL) or ctx ends; fn must then stop promptly, since
// another process may take over. standby, when not nil, is told whether
// this process is waiting for the lead (true) or holds it (false), at each
// change. Lead returns when ctx has ended and fn has returned.
func (db *DB) Lead(ctx context.Context, name string, standby func(bool), fn func(context.Context)) {
	if standby == nil {
		standby = func(bool) {}
	}
	key := string(append(append([]byte{}, db.prefix...), spaceLead)) + name + "/"
	for attempt := 0; ctx.Err() == nil; attempt++ {
		standby(true)
		if err := db.leadOnce(ctx, key, standby, fn); err == nil {
			attempt = 0
		}
		// After a failure (no cluster), wait before campaigning again.
		wait := time.Duration(min(attempt, 6)) * 250 * time.Millisecond
		wait += rand.N(250 * time.Millisecond)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// leadOnce campaigns once and runs fn while the lead is held.
func (db *DB) leadOnce(ctx context.Context, key string, standby func(bool), fn func(context.Context)) error {
	s, err := concurrency.NewSession(db.cli, concurrency.WithTTL(int(LeadTTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return mapErr(err)
	}
	defer s.Close() // revokes the lease: the next campaigner takes over at once
	e := concurrency.NewElection(s, key)
	if err := e.Campaign(ctx, "held"); err != nil {
		return mapErr(err)
	}
	standby(false)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(lctx)
	}()
	select {
	case <-s.Done(): // the lease is gone: another process may lead now
	case <-ctx.Done():
	case <-done:
	}
	cancel()
	<-done
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer rcancel()
	_ = e.Resign(rctx)
	return nil
}

// Changes returns a channel that receives a value (at most one waiting)
// after each commit that writes an item of the bucket at path (a top-level
// bucket's name, then nested ones'), from any process, committed after
// Changes returned, until ctx ends. A
// watch that breaks (the cluster out of reach, a compaction) is opened
// again and sends one value, since a change may have been missed.
func (db *DB) Changes(ctx context.Context, path ...[]byte) <-chan struct{} {
	key := db.treeRoot()
	for _, seg := range path {
		key = appendEnc(append(key, sepBucket), seg)
	}
	key = append(key, sepItems) // the bucket's own items
	from := db.revision(ctx)
	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		for ctx.Err() == nil {
			wch := db.cli.Watch(clientv3.WithRequireLeader(ctx), string(key), watchFrom(from, clientv3.WithPrefix())...)
			from = 0
			for resp := range wch {
				if resp.Err() != nil && !errors.Is(resp.Err(), context.Canceled) {
					break
				}
				if len(resp.Events) > 0 {
					notify()
				}
			}
			if ctx.Err() != nil {
				return
			}
			notify()
			t := time.NewTimer(250*time.Millisecond + rand.N(250*time.Millisecond))
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}()
	return out
}

// ChangesBelow calls fn, from a goroutine of its own, after each commit
// that writes an item of a bucket at or below the bucket at path, with the
// written bucket's path below it (empty for the bucket itself), for every
// commit after ChangesBelow returned, until ctx ends. A watch that breaks is opened again, and fn is then called with a
// nil path: a change may have been missed, anywhere below.
func (db *DB) ChangesBelow(ctx context.Context, fn func(sub [][]byte), path ...[]byte) {
	key := db.treeRoot()
	for _, seg := range path {
		key = appendEnc(append(key, sepBucket), seg)
	}
	from := db.revision(ctx)
	go func() {
		for ctx.Err() == nil {
			wch := db.cli.Watch(clientv3.WithRequireLeader(ctx), string(key), watchFrom(from, clientv3.WithPrefix())...)
			from = 0
			for resp := range wch {
				if resp.Err() != nil {
					break
				}
				for _, ev := range resp.Events {
					if sub, ok := decodePath(ev.Kv.Key[len(key):]); ok {
						fn(sub)
					}
				}
			}
			if ctx.Err() != nil {
				return
			}
			fn(nil)
			t := time.NewTimer(250*time.Millisecond + rand.N(250*time.Millisecond))
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}()
}

// revision is the cluster's revision now, for a watch to start after it:
// a change committed after the call returns is then seen even if the watch
// is not yet open. 0 when the cluster cannot say (the watch then starts
// from whenever it opens).
func (db *DB) revision(ctx context.Context) int64 {
	rctx, cancel := context.WithTimeout(ctx, db.cfg.RequestTimeout)
	defer cancel()
	resp, err := db.cli.Get(rctx, db.genKey(), clientv3.WithCountOnly())
	if err != nil {
		return 0
	}
	return resp.Header.Revision
}

// watchFrom adds the start of a watch after revision rev, if rev is known.
func watchFrom(rev int64, opts ...clientv3.OpOption) []clientv3.OpOption {
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev+1))
	}
	return opts
}

// decodePath reads the segments of a bucket path as encoded in an item's
// key ({01 seg}* 02 item): the path of the bucket that holds the item. ok is
// false for bytes that are not such a key.
func decodePath(enc []byte) (path [][]byte, ok bool) {
	for len(enc) > 0 {
		if enc[0] == sepItems {
			return path, true
		}
		if enc[0] != sepBucket {
			return nil, false
		}
		enc = enc[1:]
		var seg []byte
		for {
			i := bytes.IndexByte(enc, 0x00)
			if i < 0 || i+1 >= len(enc) {
				return nil, false
			}
			seg = append(seg, enc[:i]...)
			switch enc[i+1] {
			case 0x01:
				enc = enc[i+2:]
				path = append(path, seg)
			case 0xff:
				seg = append(seg, 0x00)
				enc = enc[i+2:]
				continue
			default:
				return nil, false
			}
			break
		}
	}
	return path, true
}
