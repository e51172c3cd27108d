package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/metrics"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/web"
	"github.com/salesos/portal/webhook"
)

// Sizes of the generated secrets.
const (
	generatedSecretBytes = 32
	cursorKeyBytes       = 32
)

// operatorSecretName is the database's secret the operator token is made
// from; serve creates it at start, so that `portal token --operator` finds
// it while the server holds the file.
const operatorSecretName = "operator_token"

// staffKeys returns the HS256 secret the service verifies (and `token`
// signs) with: PORTAL_JWT_SECRET, or, with no key configured at all, the one
// generated on first start and kept in the database.
func staffSecret(c config, db *store.DB) ([]byte, error) {
	if c.JWTSecret != "" {
		return []byte(c.JWTSecret), nil
	}
	if c.JWKSPath != "" {
		return nil, nil
	}
	return db.Secret("jwt_hs256", generatedSecretBytes)
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.LogFlushInterval > 0 {
		lw := newFlushingWriter(stdout, cfg.LogFlushInterval)
		defer func() { err = errors.Join(err, lw.Close()) }() // the last deferred call: every line is out
		stdout = lw
	}
	log := newLogger(stdout, cfg.LogFormat, cfg.LogLevel)
	if cfg.MemoryLimit > 0 {
		// Process-wide: put back what was there when serve returns.
		prev := debug.SetMemoryLimit(cfg.MemoryLimit)
		defer debug.SetMemoryLimit(prev)
	}
	eng, err := openEngine(ctx, cfg.storeURL(), time.Now, store.Options{PublicURL: cfg.publicURL()})
	if err != nil {
		return err
	}
	db := eng.db
	defer func() { err = errors.Join(err, db.Close()) }() // runs after Shutdown has drained requests
	if n := servingProcs(cfg.Procs, eng.mapped, getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0)); n > 0 {
		defer holdProcs(n)() // process-wide, as the memory limit
	}
	if eng.changesBelow != nil {
		// Processes that share the store each hold an index: articles
		// written through another reach this one's through a watch. It is
		// set up before the index is built, so that nothing written
		// between the build's reads and the watch is missed (an article
		// written meanwhile may be indexed twice, which is harmless).
		watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
		defer stopWatch()
		eng.changesBelow(watchCtx, "orgs", func(sub [][]byte) {
			var err error
			switch {
			case sub == nil:
				err = db.RebuildArticleIndex(watchCtx)
			case len(sub) == 2 && string(sub[1]) == "kb_articles":
				err = db.ArticlesChanged(watchCtx, data.TenantID(sub[0]))
			}
			if err != nil && watchCtx.Err() == nil {
				log.Error("article index not brought up to date", "err", err)
			}
		})
	}
	// The knowledge base's search index is memory only: rebuild it before
	// the first request rather than on each organization's first search.
	if err := db.BuildArticleIndex(ctx); err != nil {
		return err
	}
	secret, err := staffSecret(cfg, db)
	if err != nil {
		return err
	}
	v, err := auth.NewVerifier(auth.Config{Secret: secret, JWKSPath: cfg.JWKSPath, Issuer: cfg.Issuer,
		Audience: cfg.Audience, TenantClaim: cfg.TenantClaim, CacheSize: 10000})
	if err != nil {
		return err
	}
	cursorKey, err := db.Secret("cursor", cursorKeyBytes)
	if err != nil {
		return err
	}
	operatorSecret, err := db.Secret(operatorSecretName, auth.MinOperatorSecret)
	if err != nil {
		return err
	}
	operator, err := auth.NewOperator(operatorSecret)
	if err != nil {
		return err
	}
	var transport mail.Transport = mail.NewLogTransport(log)
	if cfg.SMTPURL != "" {
		smtp, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return err
		}
		transport = smtp
	}
	sender := mail.NewSender(db, transport, log, time.Now)
	// standby is true while another process leads the background work (an
	// etcd store shared by several processes).
	var standby atomic.Bool
	sender.Connections = cfg.SMTPConnections
	// Webhooks have their own queue and workers: a slow endpoint never
	// delays mail, nor mail an endpoint.
	hooks := webhook.NewSender(db, log, time.Now, cfg.WebhookPolicy)
	wake := func() {
		sender.Wake()
		hooks.Wake()
	}
	m, err := metrics.New(log, db, sender, buildOf())
	if err != nil {
		return err
	}
	if err := m.Webhooks(hooks); err != nil {
		return err
	}
	accounts := account.New(db, log, account.Options{OnLoginFailure: m.LoginFailed, SharedLimits: eng.shared})
	pages, err := web.New(log, db, web.Options{Accounts: accounts, Wake: wake, PublicURL: cfg.publicURL()})
	if err != nil {
		return err
	}
	// /metrics is not on the public listener: its totals (login failures
	// among them) would tell an outsider what happens inside.
	h := handlers.New(log, db, v, handlers.Options{CursorKey: cursorKey, CORSOrigins: cfg.CORSOrigins,
		Wake: wake, Accounts: accounts, Web: pages, WebhookPolicy: cfg.WebhookPolicy, Observe: m.ObserveRequest, TrustedProxies: cfg.TrustedProxies,
		Operator: operator, MaxConcurrentImports: cfg.MaxImports,
		DocumentQuota: cfg.DocumentQuota, MaxDocumentSize: cfg.DocumentMaxSize, MaxAttachmentSize: cfg.AttachmentMaxSize,
		Ready: func() error {
			// A process that waits while another leads the background work
			// is ready: the one that leads sends.
			if !sender.Running() && !standby.Load() {
				return errors.New("mail sender not running")
			}
			if !hooks.Running() && !standby.Load() {
				return errors.New("webhook sender not running")
			}
			return nil
		}})
	srv := &http.Server{
		Addr:    cfg.Addr,
		Handler: h,
		// Slow clients: headers within ReadHeaderTimeout (5 s by default), the
		// whole request within ReadTimeout; a response within WriteTimeout
		// (the backup stream moves its own deadline); idle keep-alive
		// connections closed after IdleTimeout, short since each holds a
		// file descriptor and a slot under the connection cap.
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	listeners := []net.Listener{}
	closeListeners := func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w (choose another --metrics-addr, or off)", cfg.MetricsAddr, err)
		}
		listeners = append(listeners, mln)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: idleTimeout,
			MaxHeaderBytes: 64 << 10, ErrorLog: srv.ErrorLog})
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		closeListeners()
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	// Refusals are logged at most once a minute: a client over its cap may
	// be opening connections as fast as it can.
	var refusals atomic.Int64
	logRefusal := rate.Sometimes{First: 1, Interval: time.Minute}
	// A trusted proxy carries many clients' connections: the per-client cap
	// is not for it.
	trustedProxy := func(a netip.Addr) bool {
		for _, p := range cfg.TrustedProxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	ln = newLimitListener(ln, cfg.MaxConnections, cfg.MaxConnectionsPerClient, trustedProxy, func(addr netip.Addr) {
		n := refusals.Add(1)
		logRefusal.Do(func() {
			log.Warn("connection closed: client over its connection cap", "client", addr.String(),
				"maxConnectionsPerClient", cfg.MaxConnectionsPerClient, "refusedSinceStart", n)
		})
	})
	listeners = append([]net.Listener{ln}, listeners...)
	metricsAddr := "off"
	if len(listeners) > 1 {
		metricsAddr = listeners[1].Addr().String()
	}
	log.Info("serving", "addr", ln.Addr().String(), "db", eng.name, "publicUrl", redactURL(cfg.publicURL()),
		"metricsAddr", metricsAddr, "trustedProxies", len(cfg.TrustedProxies), "maxConnections", cfg.MaxConnections, "maxConnectionsPerClient", cfg.MaxConnectionsPerClient,
		"memoryLimit", memoryLimitOf(debug.SetMemoryLimit(-1)), "procs", runtime.GOMAXPROCS(0))
	// The sender and the sweeper stop only after the server has drained, so
	// that mail queued by the last requests is still attempted.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	// One process runs them among those that share the store: the one that
	// holds the lead, which hears of mail queued by the others through the
	// store (on one bbolt file, this process, at once).
	bg.Go(func() {
		eng.lead(bgCtx, "background", func(wait bool) {
			if standby.Swap(wait) != wait {
				log.Info("background work", "lead", !wait)
			}
		}, func(ctx context.Context) {
			var work sync.WaitGroup
			if eng.changes != nil {
				mail, deliveries := eng.changes(ctx, "outbox"), eng.changes(ctx, "webhook_due")
				work.Go(func() {
					for {
						select {
						case <-ctx.Done():
							return
						case <-mail:
							sender.Wake()
						case <-deliveries:
							hooks.Wake()
						}
					}
				})
			}
			work.Go(func() {
				if err := sender.Run(ctx); err != nil {
					log.Error("mail sender stopped", "err", err)
				}
			})
			work.Go(func() {
				if err := hooks.Run(ctx); err != nil {
					log.Error("webhook sender stopped", "err", err)
				}
			})
			work.Go(func() {
				db.RunSweeper(ctx, sweepInterval, func(err error) { log.Error("sweep failed", "err", err) })
			})
			work.Wait()
		})
	})
	defer func() {
		stopBackground()
		bg.Wait()
	}()

	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errc <- s.Serve(listeners[i]) }()
	}
	select {
	case err := <-errc:
		// One listener failed: stop the other before returning.
		for _, s := range servers {
			_ = s.Close()
		}
		for range len(servers) - 1 {
			<-errc
		}
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	for range servers {
		<-errc // Serve has returned ErrServerClosed
	}
	return errors.Join(errs...)
}

// memoryLimitOf is the runtime's memory limit for the log: bytes, or "none".
func memoryLimitOf(n int64) any {
	if n == math.MaxInt64 {
		return "none"
	}
	return n
}

// idleTimeout is how long a keep-alive connection may wait for its next
// request.
const idleTimeout = 30 * time.Second

// sweepInterval is how often ended sessions and lapsed invitations are
// cleared; reads treat them as ended in between.
const sweepInterval = 15 * time.Second
