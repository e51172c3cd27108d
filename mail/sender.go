package mail

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
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
)

// batchSize is how many due messages one store read returns.
const batchSize = 32

// maxReason is the longest failure reason stored on a message; SMTP servers
// can be wordy, and the reason is shown on the invitation.
const maxReason = 500

// Sender delivers the outbox: one message at a time, retrying failures with
// exponential backoff. Its exported fields may be changed only before Run.
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

// drain delivers every message that is due, one at a time. A message is
// tried at most once per call, so one whose failure could not be recorded
// waits for the next poll instead of being retried in a tight loop.
func (s *Sender) drain(ctx context.Context) error {
	tried := map[string]bool{}
	for {
		msgs, err := s.db.DueMessages(ctx, s.now(), batchSize)
		if err != nil {
			return err
		}
		fresh := 0
		for _, m := range msgs {
			if tried[m.ID] {
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			tried[m.ID] = true
			fresh++
			if err := s.deliver(ctx, m); err != nil {
				return err
			}
		}
		if fresh == 0 || len(msgs) < batchSize {
			return nil
		}
	}
}

// deliver makes one attempt at m and records its outcome. The outcome is
// recorded even when ctx has ended meanwhile, since the attempt happened.
// Only store errors are returned; the message's own failure is recorded on it.
func (s *Sender) deliver(ctx context.Context, m data.OutboxMessage) error {
	rec := context.WithoutCancel(ctx)
	attempt := m.Attempts + 1
	log := s.log.With("id", m.ID, "kind", m.Kind, "tenant", m.Tenant, "attempt", attempt)
	if m.InvitationID != "" {
		log = log.With("invitation", m.InvitationID)
	}

	subject, text, html, err := Render(m)
	if err != nil {
		log.ErrorContext(ctx, "mail given up: cannot render", "err", err)
		return record(s.db.MessageFailed(rec, m.ID, reason(err), time.Time{}), &s.failed, &s.givenUp)
	}

	sctx, cancel := context.WithTimeout(rec, s.SendTimeout)
	err = s.t.Send(sctx, m.To, subject, text, html)
	cancel()
	if err == nil {
		log.InfoContext(ctx, "mail sent")
		return record(s.db.MessageSent(rec, m.ID, s.now().UTC()), &s.sent)
	}
	if errors.Is(err, ErrPermanent) || attempt >= s.MaxAttempts {
		log.ErrorContext(ctx, "mail given up", "err", err)
		return record(s.db.MessageFailed(rec, m.ID, reason(err), time.Time{}), &s.failed, &s.givenUp)
	}
	next := s.now().Add(backoff(attempt, s.BackoffBase, s.BackoffMax, rand.Float64())).UTC()
	log.WarnContext(ctx, "mail not sent, will retry", "err", err, "next", next)
	return record(s.db.MessageFailed(rec, m.ID, reason(err), next), &s.failed)
}

// record counts an outcome once the store has been told of it (whether or
// not that worked: the attempt happened), so a reader of Stats sees the
// outbox already updated, and passes the store's error on.
func record(storeErr error, counters ...*atomic.Uint64) error {
	for _, c := range counters {
		c.Add(1)
	}
	return storeErr
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
