package handlers

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
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
		a, err := s.accounts.Session(r.Context(), bearerToken(r))
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
		if err := s.accounts.Admit(account.FlowAccept, clientOf(r)); err != nil {
			writeError(w, r, s.log, err) // before the body is read
			return
		}
		req, err := decode[acceptRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a, err := s.accounts.Accept(r.Context(), account.AcceptRequest{Token: req.Token, Password: req.Password,
			FirstName: req.FirstName, LastName: req.LastName}, clientOf(r))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake() // the invitation.accepted event
		encode(w, r, s.log, http.StatusCreated, authResult(a))
	})
}

type loginRequest struct {
	Portal   string `json:"portal"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.accounts.Admit(account.FlowLogin, clientOf(r)); err != nil {
			writeError(w, r, s.log, err) // before the body is read
			return
		}
		req, err := decode[loginRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a, err := s.accounts.Login(r.Context(), req.Portal, req.Email, req.Password, clientOf(r))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, authResult(a))
	})
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
		lp, err := s.cursors.parseList(r, "portal-sessions")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		p, err := s.db.UserSessionPage(r.Context(), a.Tenant, a.User.ID, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		for i := range p.Items {
			p.Items[i].Current = p.Items[i].ID == a.Session.ID
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode(r, "portal-sessions", p.Next)))
	})
}

func (s *server) handleMySessionEnd() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := portalAuth(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
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
		if err := s.accounts.Admit(account.FlowForgot, clientOf(r)); err != nil {
			writeError(w, r, s.log, err) // before the body is read
			return
		}
		req, err := decode[forgotRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		// The answer goes out before the work, and on a connection that is
		// not reused, so that neither its timing nor the next request's
		// tells a known email from an unknown one.
		w.Header().Set("Connection", "close")
		encode(w, r, s.log, http.StatusAccepted, map[string]string{
			"status": "If an account exists for this email, a reset link is on its way."})
		_ = http.NewResponseController(w).Flush()
		// The client may hang up once answered; the request is still served.
		ctx := context.WithoutCancel(r.Context())
		if err := s.accounts.Forgot(ctx, req.Portal, req.Email); err != nil {
			s.log.ErrorContext(ctx, "password reset request failed", "err", err, "requestId", requestID(r))
		}
		s.wake()
	})
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *server) handleReset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.accounts.Admit(account.FlowReset, clientOf(r)); err != nil {
			writeError(w, r, s.log, err) // before the body is read
			return
		}
		req, err := decode[resetRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		keep := ""
		if tok := bearerToken(r); tok != "" {
			if a, err := s.accounts.Session(r.Context(), tok); err == nil {
				keep = a.Session.ID
			}
		}
		if err := s.accounts.Reset(r.Context(), req.Token, req.Password, keep); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// requireFeature answers 404 feature-disabled on a customer route of a
// feature the organization has switched off, before the handler runs. It
// goes after authenticatePortal: a route of a disabled feature still asks
// for a session first, so an anonymous caller learns nothing of the
// configuration. The admin API is never gated, so staff can prepare
// content before switching a feature on.
func (s *server) requireFeature(id string) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cfg, err := s.db.Config(r.Context(), portalAuth(r).Tenant)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			for _, f := range cfg.Features {
				if f.ID == id && f.Enabled {
					next.ServeHTTP(w, r)
					return
				}
			}
			writeProblem(w, r, featureDisabled(id))
		})
	}
}

// featureDisabled is the problem of a customer route whose feature is off.
func featureDisabled(id string) problem {
	return newProblem(http.StatusNotFound, "feature-disabled", "Feature disabled",
		"The portal's "+id+" feature is switched off.")
}
