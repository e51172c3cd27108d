// Package metrics exposes the portal's Prometheus metrics. Every metric
// lives in the Registry that New makes for one server, never in the client
// library's default registry, so tests and servers do not share state.
//
// No label carries tenant data: requests are labelled by route template
// (never the raw path), method and status; every other series is a total
// over all organizations.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/webhook"
)

// namespace prefixes every metric of the service.
const namespace = "portal"

// Build describes the running binary, for portal_build_info.
type Build struct {
	Version, Revision, GoVersion string
}

// Metrics holds one server's metrics.
type Metrics struct {
	log           *slog.Logger
	reg           *prometheus.Registry
	db            *store.DB
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	loginFailures prometheus.Counter
}

// New builds the registry of a server over db and sender (sender may be
// nil). Besides the service's own series it holds the Go runtime and
// process collectors.
func New(log *slog.Logger, db *store.DB, sender *mail.Sender, build Build) (*Metrics, error) {
	m := &Metrics{
		log: log,
		reg: prometheus.NewRegistry(),
		db:  db,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route template and method.",
			// From a cached token check to a slow password hash.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "login_failures_total",
			Help: "Refused customer logins (unknown email, wrong password, revoked user, disabled portal).",
		}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels describe the running binary.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": build.GoVersion},
	})
	info.Set(1)
	cs := []prometheus.Collector{
		m.requests, m.latency, m.loginFailures, info,
		newEngineCollector(db),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if sender != nil {
		cs = append(cs, newSenderCollector(sender))
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveRequest counts one finished request; it fits handlers.Observer.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER" // the label stays bounded whatever clients send
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// Webhooks adds the counters of the webhook sender s.
func (m *Metrics) Webhooks(s *webhook.Sender) error {
	var st webhook.Stats
	count := prometheus.CounterValue
	return m.reg.Register(&funcCollector{
		prepare: func() { st = s.Stats() },
		series: []series{
			newSeries("webhook_succeeded_total", "Webhook attempts answered 2xx.", count, func() float64 { return float64(st.Succeeded) }),
			newSeries("webhook_failed_total", "Failed webhook attempts, retried or not.", count, func() float64 { return float64(st.Failed) }),
			newSeries("webhook_given_up_total", "Webhook deliveries marked failed.", count, func() float64 { return float64(st.GivenUp) }),
			newSeries("webhook_sender_running", "1 while the webhook sender is delivering.", prometheus.GaugeValue,
				func() float64 {
					if s.Running() {
						return 1
					}
					return 0
				}),
		},
	})
}

// LoginFailed counts one refused login; it fits
// account.Options.OnLoginFailure.
func (m *Metrics) LoginFailed() { m.loginFailures.Inc() }

// Registry is the server's registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats. The
// series that read the database (outbox depth, active sessions) are
// gathered in the scrape's own context, so a scrape that is given up
// stops reading.
func (m *Metrics) Handler() http.Handler {
	opts := promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError, // one failing series must not hide the others
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scrape := prometheus.NewRegistry()
		if err := scrape.Register(newStateCollector(r.Context(), m.db)); err != nil {
			http.Error(w, "metrics unavailable", http.StatusInternalServerError)
			return
		}
		promhttp.HandlerFor(prometheus.Gatherers{m.reg, scrape}, opts).ServeHTTP(w, r)
	})
}

// metric is one constant sample; a description that does not fit its value
// (a bug) is reported in the scrape, not panicked on.
func metric(d *prometheus.Desc, t prometheus.ValueType, v float64) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// series is a metric that a collector reads at scrape time.
type series struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	read func() float64
}

func newSeries(name, help string, kind prometheus.ValueType, read func() float64) series {
	return series{desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil), kind: kind, read: read}
}

// funcCollector reports series whose values are read at scrape time, after
// prepare (when not nil) has taken one snapshot for all of them.
type funcCollector struct {
	prepare func()
	series  []series
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.series {
		ch <- s.desc
	}
}

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	if c.prepare != nil {
		c.prepare()
	}
	for _, s := range c.series {
		ch <- metric(s.desc, s.kind, s.read())
	}
}

// newEngineCollector reports bbolt's counters, the file size and whether
// the disk under it is full.
func newEngineCollector(db *store.DB) *funcCollector {
	var s store.Stats
	var size, refused int64
	var full bool
	gauge, count := prometheus.GaugeValue, prometheus.CounterValue
	return &funcCollector{
		prepare: func() {
			s, size, refused = db.EngineStats(), db.Size(), db.RefusedWrites()
			full, _ = db.DiskFull()
		},
		series: []series{
			newSeries("store_disk_full", "1 while writes are refused because the database's disk is full (ENOSPC or EDQUOT), until a write succeeds.",
				gauge, func() float64 {
					if full {
						return 1
					}
					return 0
				}),
			newSeries("store_writes_refused_total", "Writes refused because the database's disk was full; nothing of them was stored.", count,
				func() float64 { return float64(refused) }),
			newSeries("db_size_bytes", "Size of the database file in bytes.", gauge, func() float64 { return float64(size) }),
			newSeries("db_read_tx_total", "Read transactions started since the database was opened.", count,
				func() float64 { return float64(s.TxN) }),
			newSeries("db_open_read_tx", "Read transactions open now.", gauge, func() float64 { return float64(s.OpenTxN) }),
			newSeries("db_free_pages", "Pages on the freelist.", gauge, func() float64 { return float64(s.FreePages) }),
			newSeries("db_pending_pages", "Pages freed but still held for open read transactions.", gauge,
				func() float64 { return float64(s.PendingPages) }),
			newSeries("db_free_bytes", "Bytes in free pages.", gauge, func() float64 { return float64(s.FreeBytes) }),
			newSeries("db_page_alloc_bytes_total", "Bytes allocated for pages by finished transactions.", count,
				func() float64 { return float64(s.PageAlloc) }),
			newSeries("db_page_writes_total", "Page writes performed by committed transactions.", count,
				func() float64 { return float64(s.Writes) }),
			newSeries("db_spills_total", "Node spills performed by committed transactions.", count,
				func() float64 { return float64(s.Spills) }),
			newSeries("db_rebalances_total", "Node rebalances performed by committed transactions.", count,
				func() float64 { return float64(s.Rebalances) }),
		},
	}
}

// newSenderCollector reports the mail sender's counters.
func newSenderCollector(sender *mail.Sender) *funcCollector {
	var s mail.SenderStats
	count := prometheus.CounterValue
	return &funcCollector{
		prepare: func() { s = sender.Stats() },
		series: []series{
			newSeries("mail_sent_total", "Messages the mail transport accepted.", count, func() float64 { return float64(s.Sent) }),
			newSeries("mail_failed_total", "Failed delivery attempts, retried or not.", count, func() float64 { return float64(s.Failed) }),
			newSeries("mail_given_up_total", "Messages removed from the outbox undelivered.", count,
				func() float64 { return float64(s.GivenUp) }),
			newSeries("mail_sender_running", "1 while the mail sender is delivering the outbox.", prometheus.GaugeValue,
				func() float64 {
					if sender.Running() {
						return 1
					}
					return 0
				}),
		},
	}
}

// stateCollector reports what one scrape reads from the database, in the
// scrape's context.
type stateCollector struct {
	ctx              context.Context
	db               *store.DB
	outbox, sessions *prometheus.Desc
}

func newStateCollector(ctx context.Context, db *store.DB) *stateCollector {
	return &stateCollector{ctx: ctx, db: db,
		outbox: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "outbox_depth"),
			"Messages in the outbox, not yet delivered or given up.", nil, nil),
		sessions: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "sessions_active"),
			"Usable customer sessions over all organizations.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.outbox
	ch <- c.sessions
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if n, err := c.db.OutboxDepth(c.ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.outbox, err)
	} else {
		ch <- metric(c.outbox, prometheus.GaugeValue, float64(n))
	}
	if n, err := c.db.ActiveSessions(c.ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.sessions, err)
	} else {
		ch <- metric(c.sessions, prometheus.GaugeValue, float64(n))
	}
}
