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

// Rate limits: failed logins per account; attempts per client address at
// signing in (login, forgot-password) and at using a link (accept, reset).
const (
	accountBurst = 5
	accountEvery = time.Minute
	addressBurst = 30
	addressEvery = 2 * time.Second
	linkBurst    = 10
	linkEvery    = 6 * time.Second
	limiterKeys  = 100_000
)

// AccountAttempts is how many login attempts one account may have without
// a success before it is limited (then one more a minute). Attempts in
// flight count: they are reserved before the password is hashed.
const AccountAttempts = accountBurst

// Flow names a customer account flow, for Admit.
type Flow int

// The flows Admit knows.
const (
	FlowLogin Flow = iota
	FlowForgot
	FlowAccept
	FlowReset
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
	// takeAccount reserves one of an account's login attempts: from
	// accountLimit, or from the store when the limit is shared.
	takeAccount  func(ctx context.Context, key string) (refund func(), ok bool, wait time.Duration, err error)
	addressLimit *auth.Limiter
	linkLimit    *auth.Limiter
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
	// SharedLimits keeps the per-account login limit in the store, so
	// that it holds across the processes that share it (an etcd store);
	// per-address limits stay in each process.
	SharedLimits bool
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
	s := &Service{db: db, hasher: opt.Hasher, log: log, now: opt.Now, onFailure: opt.OnLoginFailure,
		accountLimit: auth.NewLimiter(accountEvery, accountBurst, limiterKeys),
		addressLimit: auth.NewLimiter(addressEvery, addressBurst, limiterKeys),
		linkLimit:    auth.NewLimiter(linkEvery, linkBurst, limiterKeys)}
	s.takeAccount = func(_ context.Context, key string) (func(), bool, time.Duration, error) {
		refund, ok, wait := s.accountLimit.Take(key, s.now())
		return refund, ok, wait, nil
	}
	if opt.SharedLimits {
		s.takeAccount = func(ctx context.Context, key string) (func(), bool, time.Duration, error) {
			ok, wait, err := db.TakeLoginAttempt(ctx, key, s.now(), accountEvery, accountBurst)
			if err != nil || !ok {
				return nil, false, wait, err
			}
			return func() {
				// A refund lost to a store error leaves one attempt spent.
				if err := db.RefundLoginAttempt(context.WithoutCancel(ctx), key, s.now(), accountEvery, accountBurst); err != nil {
					log.Warn("login attempt not refunded", "err", err)
				}
			}, true, 0, nil
		}
	}
	return s
}

// Admit spends one attempt of flow from the client address's budget, or
// returns a *data.RateLimitError. Callers admit a request before reading
// its body, so that a flood from one address costs neither memory nor
// hashing; the flows themselves do not charge the address again.
func (s *Service) Admit(flow Flow, c store.Client) error {
	l := s.addressLimit
	if flow == FlowAccept || flow == FlowReset {
		l = s.linkLimit
	}
	if _, ok, wait := l.Take(c.IP, s.now()); !ok {
		return &data.RateLimitError{RetryAfterSeconds: seconds(wait)}
	}
	return nil
}

// AcceptRequest is what a customer sends to accept an invitation.
type AcceptRequest struct {
	Token, Password, FirstName, LastName string
}

// Accept checks everything that is cheap first (the token's shape, the
// names, then the token itself and the password rule), hashes the password
// once a hashing slot is free (and the token still live), then spends the
// token. A used, expired or unknown token is data.ErrGone; a full hashing
// line is a *data.BusyError.
func (s *Service) Accept(ctx context.Context, req AcceptRequest, c store.Client) (store.Auth, error) {
	if req.Token == "" || len(req.Token) > MaxTokenLen {
		return store.Auth{}, data.ErrGone
	}
	if err := checkNames(req.FirstName, req.LastName); err != nil {
		return store.Auth{}, err
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

// checkNames reports every invalid name at once.
func checkNames(first, last string) error {
	bad := map[string]string{}
	if !data.ValidName(first) {
		bad["firstName"] = "must be at most 100 characters"
	}
	if !data.ValidName(last) {
		bad["lastName"] = "must be at most 100 characters"
	}
	if len(bad) > 0 {
		return &data.ValidationError{Fields: bad}
	}
	return nil
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
// in answer and in time. Each attempt reserves one of the account's
// attempts before it hashes, and a success gives it back: of any number of
// concurrent wrong passwords, at most AccountAttempts are hashed and the
// rest are a *data.RateLimitError. A full hashing line is a
// *data.BusyError. The client address is charged by Admit, not here.
func (s *Service) Login(ctx context.Context, slug, email, password string, c store.Client) (store.Auth, error) {
	refund, ok, wait, err := s.takeAccount(ctx, accountKey(slug, email))
	if err != nil {
		return store.Auth{}, err
	}
	if !ok {
		return store.Auth{}, &data.RateLimitError{RetryAfterSeconds: seconds(wait)}
	}
	cand, err := s.db.LoginCandidate(ctx, slug, email)
	if err != nil && !errors.Is(err, data.ErrUnauthorized) {
		refund()
		return store.Auth{}, err
	}
	ok, err = s.hasher.Check(ctx, cand.PasswordHash, password)
	if errors.Is(err, data.ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// No hash ran: the hasher turned the attempt away or the client
		// gave up waiting. A client that hangs up once its hash runs
		// still pays for it.
		refund()
		return store.Auth{}, err
	}
	if err != nil && cand.PasswordHash != "" {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "err", err)
	}
	if !ok || cand.PasswordHash == "" {
		s.onFailure()
		return store.Auth{}, refused{}
	}
	a, err := s.db.CompleteLogin(ctx, slug, email, cand.PasswordHash, c)
	if errors.Is(err, data.ErrUnauthorized) {
		s.onFailure()
		return store.Auth{}, refused{}
	}
	refund()
	return a, err
}

// accountKey names an account for its rate limit. Over-long input is cut
// (no portal or account has it) so that a key costs bounded memory.
func accountKey(slug, email string) string {
	email = data.NormalizeEmail(email)
	if len(slug) > maxSlugLen {
		slug = slug[:maxSlugLen]
	}
	if len(email) > maxEmailLen {
		email = email[:maxEmailLen]
	}
	return slug + "\x00" + email
}

// Bounds of what a slug and an email can be.
const (
	maxSlugLen  = 63
	maxEmailLen = 254
)

// Forgot queues a reset link when the portal has an active user with that
// email, and does the same visible nothing otherwise. Callers charge the
// client address with Admit(FlowForgot).
func (s *Service) Forgot(ctx context.Context, slug, email string) error {
	if len(slug) > maxSlugLen || len(email) > maxEmailLen {
		return nil
	}
	return s.db.StartPasswordReset(ctx, slug, email)
}

// Reset sets a new password with a reset token and ends every session of
// the user but keepSession (the caller's own, if it has one). Like Accept
// it looks the token up and checks the password before hashing; a full
// hashing line is a *data.BusyError.
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
