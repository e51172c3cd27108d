package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

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

type portalKey struct{}

// portalAuth returns the customer session set by authenticatePortal.
func portalAuth(r *http.Request) store.Auth {
	a, _ := r.Context().Value(portalKey{}).(store.Auth)
	return a
}

// authenticatePortal accepts only portal session tokens: a staff JWT is
// not a session token and is refused here like any unknown token.
func (s *server) authenticatePortal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearerToken(r)
		if tok == "" || len(tok) > 64 {
			writeError(w, r, s.log, data.ErrUnauthorized)
			return
		}
		a, err := s.db.SessionByToken(r.Context(), tok)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		acc := accessOf(r.Context())
		acc.tenant, acc.subject = a.Tenant, "user:"+a.User.ID
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), portalKey{}, a)))
	})
}

// clientOf is who sent r: the peer address and the User-Agent.
func clientOf(r *http.Request) store.Client {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return store.Client{IP: host, UserAgent: r.UserAgent()}
}

type authResponse struct {
	AccessToken string    `json:"accessToken"`
	TokenType   string    `json:"tokenType"`
	ExpiresAt   time.Time `json:"expiresAt"`
	User        data.User `json:"user"`
}

func authResult(a store.Auth) authResponse {
	return authResponse{AccessToken: a.Token, TokenType: "Bearer", ExpiresAt: a.Session.ExpiresAt, User: a.User}
}

type acceptRequest struct {
	Token     string `json:"token"`
	Password  string `json:"password"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
}

func (s *server) handleAccept() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[acceptRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a, err := s.accept(r.Context(), req, clientOf(r))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusCreated, authResult(a))
	})
}

// accept checks the token and the password rule, hashes the password once a
// hashing slot is free (and the token still live), then spends the token.
func (s *server) accept(ctx context.Context, req acceptRequest, c store.Client) (store.Auth, error) {
	if req.Token == "" || len(req.Token) > 64 {
		return store.Auth{}, data.ErrGone
	}
	_, cfg, err := s.db.PendingInvitation(ctx, req.Token)
	if err != nil {
		return store.Auth{}, err
	}
	if err := data.CheckPassword(req.Password, cfg.Auth.PasswordMinLength); err != nil {
		return store.Auth{}, err
	}
	if !data.ValidName(req.FirstName) || !data.ValidName(req.LastName) {
		return store.Auth{}, data.Invalid("firstName", "names must be at most 100 characters")
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

type loginRequest struct {
	Portal   string `json:"portal"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[loginRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a, err := s.login(r.Context(), req, clientOf(r))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, authResult(a))
	})
}

// login spends one password hash whatever the outcome, so that an unknown
// email, a wrong password, a revoked user and a disabled portal look alike
// in body and in time.
func (s *server) login(ctx context.Context, req loginRequest, c store.Client) (store.Auth, error) {
	now := s.now()
	account := strings.ToLower(req.Portal) + "\x00" + data.NormalizeEmail(req.Email)
	if blocked, wait := s.addressLimit.Blocked(c.IP, now); blocked {
		return store.Auth{}, &data.RateLimitError{RetryAfterSeconds: seconds(wait)}
	}
	if blocked, wait := s.accountLimit.Blocked(account, now); blocked {
		return store.Auth{}, &data.RateLimitError{RetryAfterSeconds: seconds(wait)}
	}
	s.addressLimit.Spend(c.IP, now)
	refused := data.ErrUnauthorized
	_, u, err := s.db.LoginCandidate(ctx, req.Portal, req.Email)
	if err != nil && !isUnauthorized(err) {
		return store.Auth{}, err
	}
	ok, err := s.hasher.Check(ctx, u.PasswordHash, req.Password)
	if err != nil && u.PasswordHash != "" {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "err", err)
	}
	if !ok || u.PasswordHash == "" {
		s.accountLimit.Spend(account, now)
		s.onLoginFailure()
		return store.Auth{}, refused
	}
	a, err := s.db.CompleteLogin(ctx, req.Portal, req.Email, u.PasswordHash, c)
	if isUnauthorized(err) {
		s.onLoginFailure()
	}
	return a, err
}

func isUnauthorized(err error) bool { return err != nil && errors.Is(err, data.ErrUnauthorized) }

func seconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return n
}

func (s *server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := portalAuth(r)
		if err := s.db.EndSession(r.Context(), a.Tenant, "", a.Session.ID, a.User.ID); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type portalInfo struct {
	Name           string        `json:"name"`
	Slug           string        `json:"slug"`
	WelcomeMessage string        `json:"welcomeMessage"`
	SupportEmail   string        `json:"supportEmail"`
	Branding       data.Branding `json:"branding"`
}

type meResponse struct {
	User     data.User      `json:"user"`
	Portal   portalInfo     `json:"portal"`
	Features []data.Feature `json:"features"`
}

func (s *server) handleMe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := portalAuth(r)
		cfg, err := s.db.Config(r.Context(), a.Tenant)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		features := []data.Feature{}
		for _, f := range cfg.Features {
			if f.Enabled {
				features = append(features, f)
			}
		}
		encode(w, r, s.log, http.StatusOK, meResponse{User: a.User, Features: features, Portal: portalInfo{
			Name: cfg.PortalName, Slug: cfg.Slug, WelcomeMessage: cfg.WelcomeMessage, SupportEmail: cfg.SupportEmail, Branding: cfg.Branding}})
	})
}

func (s *server) handleMySessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := portalAuth(r)
		list, err := s.db.UserSessions(r.Context(), a.Tenant, a.User.ID)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		for i := range list {
			list[i].Current = list[i].ID == a.Session.ID
		}
		encode(w, r, s.log, http.StatusOK, newPage(list, ""))
	})
}

func (s *server) handleMySessionEnd() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := portalAuth(r)
		id := mux.Vars(r)["id"]
		if !data.ValidID(id) {
			writeError(w, r, s.log, data.ErrNotFound)
			return
		}
		if err := s.db.EndSession(r.Context(), a.Tenant, "", id, a.User.ID); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type forgotRequest struct {
	Portal string `json:"portal"`
	Email  string `json:"email"`
}

func (s *server) handleForgot() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[forgotRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		c := clientOf(r)
		now := s.now()
		if blocked, wait := s.addressLimit.Blocked(c.IP, now); blocked {
			writeError(w, r, s.log, &data.RateLimitError{RetryAfterSeconds: seconds(wait)})
			return
		}
		s.addressLimit.Spend(c.IP, now)
		if len(req.Portal) <= 63 && len(req.Email) <= 254 {
			if err := s.db.StartPasswordReset(r.Context(), req.Portal, req.Email); err != nil {
				writeError(w, r, s.log, err)
				return
			}
			s.wake()
		}
		encode(w, r, s.log, http.StatusAccepted, map[string]string{
			"status": "If an account exists for this email, a reset link is on its way."})
	})
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *server) handleReset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[resetRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if req.Token == "" || len(req.Token) > 64 {
			writeError(w, r, s.log, data.ErrGone)
			return
		}
		cfg, err := s.db.ResetPolicy(r.Context(), req.Token)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := data.CheckPassword(req.Password, cfg.Auth.PasswordMinLength); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		hash, err := s.hasher.Hash(r.Context(), req.Password, func() error {
			_, err := s.db.ResetPolicy(r.Context(), req.Token)
			return err
		})
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		keep := ""
		if tok := bearerToken(r); tok != "" && len(tok) <= 64 {
			if a, err := s.db.SessionByToken(r.Context(), tok); err == nil {
				keep = a.Session.ID
			}
		}
		if err := s.db.ResetPassword(r.Context(), req.Token, hash, keep); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
