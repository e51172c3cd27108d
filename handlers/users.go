package handlers

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// byID serves an admin route on the {id} of the path and encodes what do
// returns with 200. An ID not of our form is 404 without asking the store.
func byID[T any](s *server, do func(ctx context.Context, p auth.Principal, id string) (T, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		v, err := do(r.Context(), principal(r), id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, v)
	})
}

// byIDNoContent is byID for actions that answer 204.
func byIDNoContent(s *server, do func(ctx context.Context, p auth.Principal, id string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := do(r.Context(), principal(r), id); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// pathID returns the {id} of the route; IDs not of our form are unknown.
func pathID(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !data.ValidID(id) {
		return "", data.ErrNotFound
	}
	return id, nil
}

func (s *server) handleUserList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "users", "q", "status", "accountId")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		status, err := statusFilter(r, "", data.UserStatus.Valid, "must be invited, active or revoked")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		account, err := accountFilter(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		f := store.UserFilter{Status: status, Q: lp.q, AccountID: account}
		p, err := s.db.UsersJSON(r.Context(), principal(r).Tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeRawPage(w, p.Items, s.cursors.encode(r, "users", p.Next))
	})
}

func (s *server) handleUserGet() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (rawJSON, error) {
		return s.db.UserJSON(ctx, p.Tenant, id)
	})
}

func (s *server) handleUserDelete() http.Handler {
	return byIDNoContent(s, func(ctx context.Context, p auth.Principal, id string) error {
		err := s.db.DeleteUser(ctx, p.Tenant, p.Subject, id)
		if err == nil {
			s.wake() // the user.removed event
		}
		return err
	})
}

func (s *server) handleUserRevoke() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (data.User, error) {
		u, err := s.db.RevokeUser(ctx, p.Tenant, p.Subject, id)
		if err == nil {
			s.wake() // the user.revoked event
		}
		return u, err
	})
}

func (s *server) handleStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Query()) > 0 {
			writeError(w, r, s.log, &paramError{name: "query", msg: "is not taken by this endpoint"})
			return
		}
		st, err := s.db.Stats(r.Context(), principal(r).Tenant)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, st)
	})
}

func (s *server) handleSessionList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "sessions", "userId")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		f := store.SessionFilter{UserID: r.URL.Query().Get("userId")}
		if r.URL.Query().Has("userId") && !data.ValidID(f.UserID) {
			writeError(w, r, s.log, &paramError{name: "userId", msg: "is not a user id"})
			return
		}
		p, err := s.db.Sessions(r.Context(), principal(r).Tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode(r, "sessions", p.Next)))
	})
}

func (s *server) handleSessionEnd() http.Handler {
	return byIDNoContent(s, func(ctx context.Context, p auth.Principal, id string) error {
		return s.db.EndSession(ctx, p.Tenant, p.Subject, id, "")
	})
}
