package store

import (
	"errors"
	"fmt"
	"sync"

	"github.com/salesos/portal/store/kv"
)

// boltGroup bounds how many writes share one commit on bbolt, which
// serializes writers and so never runs a group's transaction twice.
const boltGroup = 256

// committer is the store's group commit. Writers queue; the first one that
// finds no commit running becomes the leader and commits everything queued
// (up to its group size) in one kv.DB.Update, one fsync on bbolt. Then it
// hands the lead to the first writer still queued, which commits the next group, so no writer
// waits for more than its own group and the one before it. There is no
// timer: while one commit's fsync runs the next group gathers, so a group
// grows with the load instead of closing after a fixed delay.
type committer struct {
	kv kv.DB
	// group bounds how many writes share one transaction: an engine
	// property. bbolt takes boltGroup; an engine with optimistic
	// transactions takes 1, since a group there would conflict as one and
	// run again as one. With a group of one there is nothing to gather, so
	// writes do not queue at all: each runs its own Update at once,
	// concurrently with the others, as the engine's transactions allow.
	group   int
	fault   func() error // Options.CommitFault
	mu      sync.Mutex
	queue   []*pendingWrite
	leading bool
}

type pendingWrite struct {
	fn   func(tx kv.Tx) error // returns storage errors only
	err  error
	done chan struct{}
	turn chan struct{} // closed when this writer is to lead the next group
}

// errPanicked is what the writers of a group get when one of them panicked.
var errPanicked = errors.New("write panicked")

// do runs fn in a durable transaction, possibly shared with other writes.
// fn may run more than once (again alone when its group failed), so it must
// set its results afresh on every run.
func (c *committer) do(fn func(tx kv.Tx) error) error {
	if c.group == 1 {
		return c.update(fn)
	}
	w := &pendingWrite{fn: fn, done: make(chan struct{}), turn: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if c.leading {
		c.mu.Unlock()
		select {
		case <-w.done:
			return w.err
		case <-w.turn:
		}
	} else {
		c.leading = true
		c.mu.Unlock()
	}
	c.lead()
	<-w.done
	return w.err
}

// lead commits the group at the head of the queue, which holds the leader's
// own write, then passes the lead on or, with nothing queued, gives it up.
func (c *committer) lead() {
	c.mu.Lock()
	n := min(len(c.queue), max(c.group, 1))
	group := c.queue[:n:n]
	c.queue = append([]*pendingWrite(nil), c.queue[n:]...)
	c.mu.Unlock()
	c.commit(group)
	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].turn)
	} else {
		c.leading = false
	}
	c.mu.Unlock()
}

// commit runs a group in one kv.DB.Update. If a write fails or panics, the
// transaction rolls back and every write of the group runs again alone, so
// one bad write cannot take the others down with it. The engine itself may
// also run the group again in a fresh transaction (on a conflict), which
// each write allows for as it does for running again alone.
func (c *committer) commit(group []*pendingWrite) {
	err := c.update(func(tx kv.Tx) error {
		for _, w := range group {
			if err := w.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		for _, w := range group {
			w.err = err
			close(w.done)
		}
		return
	}
	for _, w := range group {
		w.err = c.update(w.fn)
		close(w.done)
	}
}

// update is the engine's Update, with a panic turned into an error so that the
// other writers of a group are answered rather than left waiting.
func (c *committer) update(fn func(tx kv.Tx) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", errPanicked, v)
		}
	}()
	if c.fault == nil {
		return c.kv.Update(fn)
	}
	return c.kv.Update(func(tx kv.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return c.fault()
	})
}
