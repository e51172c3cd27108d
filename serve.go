package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/mail"
	"github.com/salesos/portal/metrics"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/web"
)

// Sizes of the generated secrets.
const (
	generatedSecretBytes = 32
	cursorKeyBytes       = 32
)

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
	db, err := store.Open(cfg.DBPath, time.Now, store.Options{PublicURL: cfg.publicURL()})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }() // runs after Shutdown has drained requests
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
	var transport mail.Transport = mail.NewLogTransport(log)
	if cfg.SMTPURL != "" {
		smtp, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return err
		}
		transport = smtp
	}
	sender := mail.NewSender(db, transport, log, time.Now)
	m, err := metrics.New(log, db, sender, buildOf())
	if err != nil {
		return err
	}
	accounts := account.New(db, log, account.Options{OnLoginFailure: m.LoginFailed})
	pages, err := web.New(log, db, web.Options{Accounts: accounts, Wake: sender.Wake, PublicURL: cfg.publicURL()})
	if err != nil {
		return err
	}
	h := handlers.New(log, db, v, handlers.Options{CursorKey: cursorKey, CORSOrigins: cfg.CORSOrigins,
		Wake: sender.Wake, Accounts: accounts, Web: pages, Observe: m.ObserveRequest, Metrics: m.Handler(),
		Ready: func() error {
			if !sender.Running() {
				return errors.New("mail sender not running")
			}
			return nil
		}})
	srv := &http.Server{
		Addr:    cfg.Addr,
		Handler: h,
		// Slow clients: headers within ReadHeaderTimeout (5 s by default), the
		// whole request within ReadTimeout; a response within WriteTimeout
		// (the backup stream moves its own deadline); idle keep-alive
		// connections closed after IdleTimeout.
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "db", cfg.DBPath, "publicUrl", cfg.publicURL())
	// The sender and the sweeper stop only after the server has drained, so
	// that mail queued by the last requests is still attempted.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() {
		if err := sender.Run(bgCtx); err != nil {
			log.Error("mail sender stopped", "err", err)
		}
	})
	bg.Go(func() {
		db.RunSweeper(bgCtx, sweepInterval, func(err error) { log.Error("sweep failed", "err", err) })
	})
	defer func() {
		stopBackground()
		bg.Wait()
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-errc // Serve has returned ErrServerClosed
	return nil
}

// sweepInterval is how often ended sessions and lapsed invitations are
// cleared; reads treat them as ended in between.
const sweepInterval = 15 * time.Second
