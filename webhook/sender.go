package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// Sender defaults.
const (
	DefaultPollInterval = 5 * time.Second
	DefaultConcurrency  = 8
	DefaultBackoffBase  = 30 * time.Second
	DefaultBackoffMax   = 6 * time.Hour
)

// Sender delivers the webhook queue. Each endpoint has at most one attempt
// in flight and at most Concurrency endpoints are sent to at once, so a
// slow or dead endpoint holds one slot for at most Timeout and delays no
// other endpoint; the queue is apart from the email outbox, which it never
// delays either. Its exported fields may be changed only before Run.
type Sender struct {
	// PollInterval is how often the queue is read when Wake is not called
	// and no retry falls due sooner.
	PollInterval time.Duration
	// Concurrency bounds the endpoints sent to at once. Below 1 means 1.
	Concurrency int
	// Backoff is the delay after the attempt-th failed attempt of a
	// delivery (DefaultBackoff when nil). A delivery whose next attempt
	// would fall past its retry window (store.WebhookRetryWindow) is marked
	// failed.
	Backoff func(attempt int) time.Duration
	// Client sends the attempts (NewClient of the policy).
	Client *http.Client
	// Observe, when not nil, is told about every recorded attempt, on the
	// attempt's own goroutine (attempts to several endpoints run at once).
	Observe func(store.WebhookAttempt, data.WebhookDelivery)

	db   *store.DB
	log  *slog.Logger
	now  func() time.Time
	wake chan struct{}

	running                    atomic.Bool
	succeeded, failed, givenUp atomic.Uint64
}

// Stats are a Sender's counters since it was made.
type Stats struct {
	Succeeded uint64 // attempts answered 2xx
	Failed    uint64 // failed attempts, retried or not
	GivenUp   uint64 // deliveries marked failed
}

// NewSender returns a Sender of db's webhook queue whose client obeys p.
// now is the clock of due times, backoff and signatures (time.Now when
// nil); a nil log discards the Sender's records.
func NewSender(db *store.DB, log *slog.Logger, now func() time.Time, p data.WebhookPolicy) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Sender{PollInterval: DefaultPollInterval, Concurrency: DefaultConcurrency, Client: NewClient(p, nil),
		db: db, log: log, now: now, wake: make(chan struct{}, 1)}
}

// DefaultBackoff is DefaultBackoffBase doubled for each earlier failure, up
// to DefaultBackoffMax, less up to a fifth at random, so that deliveries
// that failed together do not retry together.
func DefaultBackoff(attempt int) time.Duration {
	d := DefaultBackoffBase
	for i := 1; i < attempt && d < DefaultBackoffMax; i++ {
		d *= 2
	}
	d = min(d, DefaultBackoffMax)
	return d - time.Duration(float64(d)*0.2*rand.Float64())
}

// Wake asks a running Sender to read the queue now, as after a commit that
// queued an event. It never blocks, and wakes coalesce.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Running reports whether Run is delivering.
func (s *Sender) Running() bool { return s.running.Load() }

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	return Stats{Succeeded: s.succeeded.Load(), Failed: s.failed.Load(), GivenUp: s.givenUp.Load()}
}

// Run delivers due deliveries until ctx is done, then waits for the
// attempts in flight (each within Timeout), records them and returns nil.
// Only one Run may be active.
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("webhook sender already running")
	}
	defer s.running.Store(false)
	slots := max(s.Concurrency, 1)
	busy := map[string]bool{}
	done := make(chan string, slots) // one send per attempt, at most slots in flight
	var wg sync.WaitGroup
	defer wg.Wait()
	// Attempts in flight when ctx ends are finished and recorded, so that a
	// restart does not send them again.
	sendCtx := context.WithoutCancel(ctx)
	for {
		started := 0
		wait := s.PollInterval
		if free := slots - len(busy); free > 0 {
			due, err := s.db.DueWebhooks(ctx, s.now(), free, func(e string) bool { return busy[e] })
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.ErrorContext(ctx, "webhook queue store", "err", err)
			}
			for _, d := range due {
				busy[d.Endpoint] = true
				started++
				wg.Go(func() {
					s.attempt(sendCtx, d)
					done <- d.Endpoint
				})
			}
		}
		if next, ok, err := s.db.NextWebhookDue(ctx); err == nil && ok {
			wait = max(min(next.Sub(s.now()), s.PollInterval), 0)
		}
		if wait == 0 && started == 0 {
			// What is due waits for an endpoint in flight or a free slot:
			// a finished attempt ends the wait.
			wait = s.PollInterval
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.wake:
		case e := <-done:
			delete(busy, e)
		case <-timer.C:
		}
		timer.Stop()
		for more := true; more; {
			select {
			case e := <-done:
				delete(busy, e)
			default:
				more = false
			}
		}
	}
}

// attempt sends d once and records the outcome.
func (s *Sender) attempt(ctx context.Context, d store.DueWebhook) {
	a := store.WebhookAttempt{Tenant: d.Tenant, WebhookID: d.Delivery.WebhookID, DeliveryID: d.Delivery.ID}
	if d.Delivery.NextAttemptAt != nil {
		a.DueAt = *d.Delivery.NextAttemptAt
	}
	if d.Enabled {
		s.send(ctx, d, &a)
	} else {
		a.Reason = "the webhook is disabled"
	}
	a.At = s.now()
	if !a.OK && d.Enabled {
		backoff := s.Backoff
		if backoff == nil {
			backoff = DefaultBackoff
		}
		a.Next = a.At.Add(backoff(d.Delivery.Attempts + 1))
	}
	rec, err := s.db.RecordWebhookAttempt(ctx, a)
	if err != nil {
		s.log.ErrorContext(ctx, "webhook attempt not recorded", "err", err, "org", d.Tenant, "webhook", d.Delivery.WebhookID,
			"delivery", d.Delivery.ID)
		return
	}
	switch {
	case a.OK:
		s.succeeded.Add(1)
	case rec.Status == data.WebhookFailed:
		s.failed.Add(1)
		s.givenUp.Add(1)
		s.log.WarnContext(ctx, "webhook delivery failed for good", "org", d.Tenant, "webhook", d.Delivery.WebhookID,
			"delivery", d.Delivery.ID, "reason", a.Reason)
	default:
		s.failed.Add(1)
	}
	if s.Observe != nil {
		s.Observe(a, rec)
	}
}

// send makes the HTTP request of d and fills in a's outcome.
func (s *Sender) send(ctx context.Context, d store.DueWebhook, a *store.WebhookAttempt) {
	at := s.now()
	sig, err := Sign(d.Secrets, d.Delivery.EventID, at, d.Body)
	if err != nil {
		a.Reason = err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		a.Reason = "the URL cannot be requested"
		return
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "SalesOS-Portal-Webhooks/1")
	h.Set(HeaderID, d.Delivery.EventID)
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, sig)
	start := time.Now()
	resp, err := s.Client.Do(req)
	if err != nil {
		a.LatencyMs = time.Since(start).Milliseconds()
		a.Reason = reason(err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	a.LatencyMs = time.Since(start).Milliseconds()
	a.Code = resp.StatusCode
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.OK = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Reason = "answered " + resp.Status + ": redirects are not followed"
	default:
		a.Reason = "answered " + resp.Status
	}
}

// reason is a transport error as stored on a delivery: one line, without
// the request's URL, which net/http repeats in it.
func reason(err error) string {
	switch {
	case errors.Is(err, ErrRefusedAddress):
		return "refused: the endpoint's address is not public and not allowed"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within " + Timeout.String()
	}
	msg := err.Error()
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			msg = inner.Error()
		}
	}
	return strings.Join(strings.Fields(msg), " ")
}
