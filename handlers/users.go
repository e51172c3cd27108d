package handlers

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

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
		lp, err := s.cursors.parseList(r, "users", "status", "accountId")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		f := store.UserFilter{Status: data.UserStatus(r.URL.Query().Get("status")), Q: lp.q, AccountID: r.URL.Query().Get("accountId")}
		if f.Status != "" && !f.Status.Valid() {
			writeError(w, r, s.log, &paramError{name: "status", msg: "must be invited, active or revoked"})
			return
		}
		p, err := s.db.Users(r.Context(), principal(r).Tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode("users", p.Next)))
	})
}

func (s *server) handleUserGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		u, err := s.db.User(r.Context(), principal(r).Tenant, id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, u)
	})
}

func (s *server) handleUserDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		p := principal(r)
		if err := s.db.DeleteUser(r.Context(), p.Tenant, p.Subject, id); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *server) handleUserRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		p := principal(r)
		u, err := s.db.RevokeUser(r.Context(), p.Tenant, p.Subject, id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, u)
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
		if lp.q != "" {
			writeError(w, r, s.log, &paramError{name: "q", msg: "is not a parameter of this list"})
			return
		}
		f := store.SessionFilter{UserID: r.URL.Query().Get("userId")}
		if f.UserID != "" && !data.ValidID(f.UserID) {
			writeError(w, r, s.log, &paramError{name: "userId", msg: "is not a user id"})
			return
		}
		p, err := s.db.Sessions(r.Context(), principal(r).Tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode("sessions", p.Next)))
	})
}

func (s *server) handleSessionEnd() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		p := principal(r)
		if err := s.db.EndSession(r.Context(), p.Tenant, p.Subject, id, ""); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
