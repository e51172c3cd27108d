package mail

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// Sender defaults.
const (
	DefaultPollInterval = 5 * time.Second
	DefaultBackoffBase  = 30 * time.Second
	DefaultBackoffMax   = time.Hour
	DefaultMaxAttempts  = 12
	DefaultConnections  = 4
)

// fetchBatch is how many due messages one store read returns; the next read
// starts when fewer than half of them are left to send.
const fetchBatch = 256

// maxRecordBatch bounds the outcomes one commit records.
const maxRecordBatch = 512

// maxReason is the longest failure reason stored on a message; SMTP servers
// can be wordy, and the reason is shown on the invitation.
const maxReason = 500

// Sender delivers the outbox over several connections at once, retrying
// failures with exponential backoff, and records outcomes in batches: one
// commit for all the messages delivered while the previous commit ran. Its
// exported fields may be changed only before Run.
type Sender struct {
	// PollInterval is how often the outbox is read when Wake is not called
	// and no retry falls due sooner. Other processes' writes are not
	// expected, so it is a safety net.
	PollInterval time.Duration
	// BackoffBase is the delay after a first failed attempt; it doubles with
	// every further failure, up to BackoffMax, less up to a fifth at random
	// so that messages that failed together do not retry together.
	BackoffBase time.Duration
	// BackoffMax caps the delay between attempts.
	BackoffMax time.Duration
	// MaxAttempts is how many attempts a message gets before it is given up.
	MaxAttempts int
	// SendTimeout bounds one delivery.
	SendTimeout time.Duration
	// Connections is how many messages are delivered at once, each over
	// its own connection when the Transport is a SessionTransport; the
	// connections stay open while there is mail due. One organization
	// holds at most all but one of them while another has mail waiting.
	// Below 1 means 1.
	Connections int

	db   *store.DB
	t    Transport
	log  *slog.Logger
	now  func() time.Time
	wake chan struct{}

	running               atomic.Bool
	sent, failed, givenUp atomic.Uint64
}

// SenderStats are a Sender's counters since it was made, for metrics.
type SenderStats struct {
	Sent    uint64 // messages the transport accepted
	Failed  uint64 // failed attempts, whether retried or not
	GivenUp uint64 // messages removed from the outbox undelivered
}

// NewSender returns a Sender that delivers db's outbox through t. now is
// the clock for due times and backoff; nil means time.Now. A nil log
// discards the Sender's own records; t must not be nil.
func NewSender(db *store.DB, t Transport, log *slog.Logger, now func() time.Time) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Sender{
		PollInterval: DefaultPollInterval,
		BackoffBase:  DefaultBackoffBase,
		BackoffMax:   DefaultBackoffMax,
		MaxAttempts:  DefaultMaxAttempts,
		SendTimeout:  DefaultSendTimeout,
		Connections:  DefaultConnections,
		db:           db,
		t:            t,
		log:          log,
		now:          now,
		wake:         make(chan struct{}, 1),
	}
}

// Wake asks a running Sender to look at the outbox now, as after a commit
// that enqueued mail. It never blocks, and wakes coalesce.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Running reports whether Run is delivering, for readiness checks.
func (s *Sender) Running() bool { return s.running.Load() }

// Stats returns the counters.
func (s *Sender) Stats() SenderStats {
	return SenderStats{Sent: s.sent.Load(), Failed: s.failed.Load(), GivenUp: s.givenUp.Load()}
}

// Run delivers due messages until ctx is done, then returns nil. A message
// in flight when ctx ends is finished (within SendTimeout) and recorded, so
// that a restart does not send it again. Store errors are logged and the
// outbox is read again at the next poll. Only one Run may be active.
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("mail sender already running")
	}
	defer s.running.Store(false)
	for {
		wait := s.PollInterval // after a store error, the messages it left due wait a poll
		if err := s.drain(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "mail outbox store", "err", err)
			}
		} else {
			wait = s.untilNext(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// untilNext is how long to sleep: until the earliest retry, at most a poll.
func (s *Sender) untilNext(ctx context.Context) time.Duration {
	wait := s.PollInterval
	next, ok, err := s.db.NextDue(ctx)
	if err != nil || !ok {
		return wait
	}
	return max(min(next.Sub(s.now()), wait), 0)
}

// outcome is one attempt's result, to record and to count.
type outcome struct {
	a        store.Attempt
	counters []*atomic.Uint64
}

// drain delivers every message that is due when it looks. Fetching, the
// Connections workers and recording run at once: workers take messages from
// a fair queue, and the recorder commits what they report in batches. A
// message is held from when it is read until its outcome is recorded, so
// it is neither sent twice nor lost; one whose failure was recorded is not
// tried again within the call. When ctx ends the queued messages are left
// for later, and those in flight are finished and recorded.
func (s *Sender) drain(ctx context.Context) error {
	n := max(s.Connections, 1)
	q := newQueue(max(n-1, 1))
	defer context.AfterFunc(ctx, q.stop)()
	// Workers go on sending while a commit runs: its fsync takes longer
	// than a delivery.
	results := make(chan outcome, maxRecordBatch)
	var workers sync.WaitGroup
	for range n {
		workers.Go(func() { s.work(ctx, q, results) })
	}
	recorded := make(chan error, 1)
	go func() { recorded <- s.recordAll(ctx, q, results) }()

	fetchErr := s.fetch(ctx, q)
	if fetchErr != nil {
		q.stop()
	}
	q.close()
	workers.Wait()
	close(results)
	return errors.Join(fetchErr, <-recorded)
}

// fetch reads due messages into q until none is left that q does not hold.
func (s *Sender) fetch(ctx context.Context, q *queue) error {
	var after data.TenantID
	for q.waitBelow(fetchBatch / 2) {
		n, err := s.fetchOnce(ctx, q, &after)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}

// fetchOnce reads one batch of due messages into q, starting after the
// organization it took last from, and returns how many it read.
func (s *Sender) fetchOnce(ctx context.Context, q *queue, after *data.TenantID) (int, error) {
	q.reading.Lock()
	defer q.reading.Unlock()
	msgs, err := s.db.DueMessagesAfter(ctx, s.now(), fetchBatch, *after, q.holds)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	*after = msgs[len(msgs)-1].Tenant
	q.put(msgs)
	return len(msgs), nil
}

// work delivers messages from q until it is closed and empty, or stopped.
func (s *Sender) work(ctx context.Context, q *queue, results chan<- outcome) {
	t := s.t
	if st, ok := t.(SessionTransport); ok {
		ss := st.Session()
		defer ss.Close()
		t = ss
	}
	for {
		m, ok := q.take()
		if !ok {
			return
		}
		o := s.attempt(ctx, t, m)
		q.done(m.Tenant)
		results <- o
	}
}

// recordAll records outcomes as they come: each commit takes every outcome
// that arrived while the one before it ran. The counters move once the
// store has been told (whether or not that worked: the attempt happened),
// so a reader of Stats sees the outbox already updated. A store error stops
// the drain; it is returned once every outcome has been tried.
func (s *Sender) recordAll(ctx context.Context, q *queue, results <-chan outcome) error {
	rec := context.WithoutCancel(ctx) // attempts that happened are recorded
	var first error
	batch := make([]outcome, 0, maxRecordBatch)
	attempts := make([]store.Attempt, 0, maxRecordBatch)
	for o := range results {
		batch = append(batch[:0], o)
	more:
		for len(batch) < maxRecordBatch {
			select {
			case o, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		attempts = attempts[:0]
		for _, o := range batch {
			attempts = append(attempts, o.a)
		}
		err := s.db.RecordAttempts(rec, attempts)
		for _, o := range batch {
			for _, c := range o.counters {
				c.Add(1)
			}
		}
		if err != nil {
			if first == nil {
				first = err
			}
			q.stop() // what stays held is not sent again in this drain
			continue
		}
		q.release(attempts)
	}
	return first
}

// attempt makes one attempt at m through t. The outcome stands even when
// ctx has ended meanwhile, since the attempt happened.
func (s *Sender) attempt(ctx context.Context, t Transport, m data.OutboxMessage) outcome {
	rec := context.WithoutCancel(ctx)
	attempt := m.Attempts + 1
	log := s.log.With("id", m.ID, "kind", m.Kind, "tenant", m.Tenant, "attempt", attempt)
	if m.InvitationID != "" {
		log = log.With("invitation", m.InvitationID)
	}

	subject, text, html, err := Render(m)
	if err != nil {
		log.ErrorContext(ctx, "mail given up: cannot render", "err", err)
		return outcome{store.Attempt{ID: m.ID, Reason: reason(err)}, []*atomic.Uint64{&s.failed, &s.givenUp}}
	}

	sctx, cancel := context.WithTimeout(rec, s.SendTimeout)
	err = t.Send(sctx, m.To, subject, text, html)
	cancel()
	if err == nil {
		if _, logged := t.(*LogTransport); logged {
			log.InfoContext(ctx, "mail written to the log, not sent")
		} else {
			log.InfoContext(ctx, "mail sent")
		}
		return outcome{store.Attempt{ID: m.ID, SentAt: s.now().UTC()}, []*atomic.Uint64{&s.sent}}
	}
	if errors.Is(err, ErrPermanent) || attempt >= s.MaxAttempts {
		log.ErrorContext(ctx, "mail given up", "err", err)
		return outcome{store.Attempt{ID: m.ID, Reason: reason(err)}, []*atomic.Uint64{&s.failed, &s.givenUp}}
	}
	next := s.now().Add(backoff(attempt, s.BackoffBase, s.BackoffMax, rand.Float64())).UTC()
	log.WarnContext(ctx, "mail not sent, will retry", "err", err, "next", next)
	return outcome{store.Attempt{ID: m.ID, Reason: reason(err), Next: next}, []*atomic.Uint64{&s.failed}}
}

// backoff is the delay after the attempt-th failed attempt: base doubled
// for each earlier failure, capped at limit, less up to a fifth of it as
// jitter (r is uniform in [0, 1)).
func backoff(attempt int, base, limit time.Duration, r float64) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - time.Duration(float64(d)*0.2*r)
}

// reason is err as stored on the message: one line of bounded length.
func reason(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if utf8.RuneCountInString(s) > maxReason {
		s = string([]rune(s)[:maxReason]) + "…"
	}
	return s
}
