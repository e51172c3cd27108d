// Package account holds the customer account flows that both the JSON API
// and the customer pages use: accepting an invitation, logging in, and
// resetting a password. It owns the rules around them that are not storage:
// password policy, hashing under a concurrency limit, and login rate limits.
package account

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// Login rate limits: failed logins per account, attempts per client address.
const (
	accountBurst = 5
	accountEvery = time.Minute
	addressBurst = 30
	addressEvery = 2 * time.Second
	limiterKeys  = 100_000
)

// MaxTokenLen bounds the customer tokens taken from clients (they are 51
// characters); a longer one is dead or unknown without a database read.
const MaxTokenLen = 64

// ErrLoginRefused is every refused login: unknown portal or email, wrong
// password, revoked user, disabled portal. It wraps data.ErrUnauthorized.
var ErrLoginRefused = errors.New("email or password is incorrect")

type refused struct{}

func (refused) Error() string { return ErrLoginRefused.Error() }
func (refused) Is(target error) bool {
	return target == ErrLoginRefused || target == data.ErrUnauthorized
}

// Service runs the customer account flows.
type Service struct {
	db           *store.DB
	hasher       *auth.Hasher
	log          *slog.Logger
	now          func() time.Time
	accountLimit *auth.Limiter
	addressLimit *auth.Limiter
	// OnLoginFailure is called on every refused login (for metrics).
	onFailure func()
}

// Options tune New.
type Options struct {
	// Hasher hashes passwords (OWASP argon2id, two at a time, when nil).
	Hasher *auth.Hasher
	// Now is the clock of the rate limits (time.Now when nil).
	Now func() time.Time
	// OnLoginFailure is called on every refused login.
	OnLoginFailure func()
}

// New returns the account flows over db.
func New(db *store.DB, log *slog.Logger, opt Options) *Service {
	if opt.Hasher == nil {
		opt.Hasher = auth.NewHasher(auth.OWASPParams(), 2)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.OnLoginFailure == nil {
		opt.OnLoginFailure = func() {}
	}
	return &Service{db: db, hasher: opt.Hasher, log: log, now: opt.Now, onFailure: opt.OnLoginFailure,
		accountLimit: auth.NewLimiter(accountEvery, accountBurst, limiterKeys),
		addressLimit: auth.NewLimiter(addressEvery, addressBurst, limiterKeys)}
}

// AcceptRequest is what a customer sends to accept an invitation.
type AcceptRequest struct {
	Token, Password, FirstName, LastName string
}

// Accept checks the token and the password rule, hashes the password once a
// hashing slot is free (and the token still live), then spends the token.
// A used, expired or unknown token is data.ErrGone.
func (s *Service) Accept(ctx context.Context, req AcceptRequest, c store.Client) (store.Auth, error) {
	if req.Token == "" || len(req.Token) > MaxTokenLen {
		return store.Auth{}, data.ErrGone
	}
	_, cfg, err := s.db.PendingInvitation(ctx, req.Token)
	if err != nil {
		return store.Auth{}, err
	}
	if err := data.CheckPassword(req.Password, cfg.Auth.PasswordMinLength); err != nil {
		return store.Auth{}, err
	}
	hash, err := s.hasher.Hash(ctx, req.Password, func() error {
		_, _, err := s.db.PendingInvitation(ctx, req.Token)
		return err
	})
	if err != nil {
		return store.Auth{}, err
	}
	return s.db.AcceptInvitation(ctx, req.Token, hash, req.FirstName, req.LastName, c)
}

// Invitation returns the live invitation a token names, with its portal's
// configuration, without spending it (for showing the accept form).
func (s *Service) Invitation(ctx context.Context, token string) (data.Invitation, data.Config, error) {
	if token == "" || len(token) > MaxTokenLen {
		return data.Invitation{}, data.Config{}, data.ErrGone
	}
	return s.db.PendingInvitation(ctx, token)
}

// Login spends one password hash whatever the outcome, so that an unknown
// email, a wrong password, a revoked user and a disabled portal look alike
// in answer and in time. Too many attempts are a *data.RateLimitError.
func (s *Service) Login(ctx context.Context, slug, email, password string, c store.Client) (store.Auth, error) {
	now := s.now()
	account := slug + "\x00" + data.NormalizeEmail(email)
	if blocked, wait := s.addressLimit.Blocked(c.IP, now); blocked {
		return store.Auth{}, &data.RateLimitError{RetryAfterSeconds: seconds(wait)}
	}
	if blocked, wait := s.accountLimit.Blocked(account, now); blocked {
		return store.Auth{}, &data.RateLimitError{RetryAfterSeconds: seconds(wait)}
	}
	s.addressLimit.Spend(c.IP, now)
	cand, err := s.db.LoginCandidate(ctx, slug, email)
	if err != nil && !errors.Is(err, data.ErrUnauthorized) {
		return store.Auth{}, err
	}
	ok, err := s.hasher.Check(ctx, cand.PasswordHash, password)
	if err != nil && cand.PasswordHash != "" {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "err", err)
	}
	if !ok || cand.PasswordHash == "" {
		s.accountLimit.Spend(account, now)
		s.onFailure()
		return store.Auth{}, refused{}
	}
	a, err := s.db.CompleteLogin(ctx, slug, email, cand.PasswordHash, c)
	if errors.Is(err, data.ErrUnauthorized) {
		s.onFailure()
		return store.Auth{}, refused{}
	}
	return a, err
}

// Forgot queues a reset link when the portal has an active user with that
// email, and does the same visible nothing otherwise. It is rate limited
// per client address like login.
func (s *Service) Forgot(ctx context.Context, slug, email string, c store.Client) error {
	now := s.now()
	if blocked, wait := s.addressLimit.Blocked(c.IP, now); blocked {
		return &data.RateLimitError{RetryAfterSeconds: seconds(wait)}
	}
	s.addressLimit.Spend(c.IP, now)
	if len(slug) > 63 || len(email) > 254 {
		return nil
	}
	return s.db.StartPasswordReset(ctx, slug, email)
}

// Reset sets a new password with a reset token and ends every session of
// the user but keepSession (the caller's own, if it has one).
func (s *Service) Reset(ctx context.Context, token, password, keepSession string) error {
	cfg, err := s.ResetPolicy(ctx, token)
	if err != nil {
		return err
	}
	if err := data.CheckPassword(password, cfg.Auth.PasswordMinLength); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password, func() error {
		_, err := s.db.ResetPolicy(ctx, token)
		return err
	})
	if err != nil {
		return err
	}
	return s.db.ResetPassword(ctx, token, hash, keepSession)
}

// ResetPolicy returns the configuration of the portal a live reset token
// belongs to, without spending it (for showing the reset form).
func (s *Service) ResetPolicy(ctx context.Context, token string) (data.Config, error) {
	if token == "" || len(token) > MaxTokenLen {
		return data.Config{}, data.ErrGone
	}
	return s.db.ResetPolicy(ctx, token)
}

// Session returns the live session a customer token names.
func (s *Service) Session(ctx context.Context, token string) (store.Auth, error) {
	if token == "" || len(token) > MaxTokenLen {
		return store.Auth{}, data.ErrUnauthorized
	}
	return s.db.SessionByToken(ctx, token)
}

func seconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return n
}
