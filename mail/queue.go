package mail

import (
	"slices"
	"sync"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// queue hands a drain's messages to its workers fairly: organizations take
// turns, and while another organization has mail waiting, none holds more
// than share workers, so a slow organization (its messages slow to send or
// many) cannot take every connection. It also remembers every message from
// when it is read until its outcome is recorded.
type queue struct {
	// reading is held by a fetch from before its read transaction starts
	// until it has put what it read, and by release: a fetch whose snapshot
	// predates a commit must not find the messages that commit recorded
	// already released, or it would send them again.
	reading sync.Mutex

	mu      sync.Mutex
	changed *sync.Cond
	share   int

	waiting map[data.TenantID][]data.OutboxMessage
	turns   []data.TenantID // organizations with mail waiting, next turn first
	busy    map[data.TenantID]int
	queued  int

	held    map[string]bool // read and not yet recorded
	retried map[string]bool // failed and recorded in this drain: not tried again

	closed, stopped bool
}

func newQueue(share int) *queue {
	q := &queue{share: share, waiting: map[data.TenantID][]data.OutboxMessage{}, busy: map[data.TenantID]int{},
		held: map[string]bool{}, retried: map[string]bool{}}
	q.changed = sync.NewCond(&q.mu)
	return q
}

// put queues freshly read messages.
func (q *queue) put(msgs []data.OutboxMessage) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		if q.held[m.ID] || q.retried[m.ID] || q.stopped {
			continue
		}
		q.held[m.ID] = true
		if len(q.waiting[m.Tenant]) == 0 {
			q.turns = append(q.turns, m.Tenant)
		}
		q.waiting[m.Tenant] = append(q.waiting[m.Tenant], m)
		q.queued++
	}
	q.changed.Broadcast()
}

// holds reports whether the message is read and not yet recorded, or was
// tried already: a fetch passes over it.
func (q *queue) holds(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held[id] || q.retried[id]
}

// take waits for the next message to send, and returns false once the
// queue is closed and empty, or stopped.
func (q *queue) take() (data.OutboxMessage, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.stopped {
			return data.OutboxMessage{}, false
		}
		if q.queued > 0 {
			return q.pick(), true
		}
		if q.closed {
			return data.OutboxMessage{}, false
		}
		q.changed.Wait()
	}
}

// pick takes the next message: from the first organization in turn below
// its share, or, when every organization waiting is at its share, from the
// first one (no other is waiting for a worker then). The organization goes
// to the back of the turns.
func (q *queue) pick() data.OutboxMessage {
	i := slices.IndexFunc(q.turns, func(t data.TenantID) bool { return q.busy[t] < q.share })
	if i < 0 {
		i = 0
	}
	t := q.turns[i]
	m := q.waiting[t][0]
	q.waiting[t] = q.waiting[t][1:]
	q.queued--
	q.busy[t]++
	q.turns = slices.Delete(q.turns, i, i+1)
	if len(q.waiting[t]) > 0 {
		q.turns = append(q.turns, t)
	} else {
		delete(q.waiting, t)
	}
	q.changed.Broadcast() // a fetch may be waiting for the queue to run low
	return m
}

// done tells the queue a worker has finished a message of tenant.
func (q *queue) done(tenant data.TenantID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.busy[tenant]--; q.busy[tenant] <= 0 {
		delete(q.busy, tenant)
	}
	q.changed.Broadcast()
}

// release forgets recorded messages; a failed one is not tried again in
// this drain, so a short backoff cannot become a tight loop.
func (q *queue) release(attempts []store.Attempt) {
	q.reading.Lock()
	defer q.reading.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, a := range attempts {
		delete(q.held, a.ID)
		if a.SentAt.IsZero() && !a.Next.IsZero() {
			q.retried[a.ID] = true
		}
	}
}

// waitBelow waits until fewer than n messages are queued, and reports
// false if the queue is stopped.
func (q *queue) waitBelow(n int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.queued >= n && !q.stopped {
		q.changed.Wait()
	}
	return !q.stopped
}

// close says no more messages will be put; workers finish what is queued.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.changed.Broadcast()
}

// stop drops what is queued and not yet taken (it stays in the outbox for a
// later drain) and ends take and waitBelow.
func (q *queue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	clear(q.waiting)
	q.turns, q.queued = nil, 0
	q.changed.Broadcast()
}
