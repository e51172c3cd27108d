package handlers

import (
	"context"
	"net/http"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// invitationRequest is the body of POST /invitations.
type invitationRequest struct {
	Email          string     `json:"email"`
	FirstName      string     `json:"firstName"`
	LastName       string     `json:"lastName"`
	AccountID      string     `json:"accountId"`
	Role           *data.Role `json:"role,omitempty"`
	Message        string     `json:"message"`
	ExpiresInHours *int       `json:"expiresInHours,omitempty"`
}

// contactInviteRequest is the body of POST /users/invite.
type contactInviteRequest struct {
	ContactID      string     `json:"contactId"`
	Role           *data.Role `json:"role,omitempty"`
	Message        string     `json:"message"`
	ExpiresInHours *int       `json:"expiresInHours,omitempty"`
}

// emptyRole stands for a role sent as "": no role, so Validate refuses it.
const emptyRole data.Role = " "

// roleOf maps the optional role to data.InvitationRequest, where "" means
// the default: a role sent as "" is no role, like "owner", so it becomes a
// value Validate refuses with the other fields.
func roleOf(r *data.Role) data.Role {
	switch {
	case r == nil:
		return ""
	case *r == "":
		return emptyRole
	}
	return *r
}

// expiryHours maps the optional expiresInHours to data.InvitationRequest,
// where 0 means the portal's default: a 0 sent by the client is out of range
// like 721, so it becomes a value Validate refuses.
func expiryHours(h *int) int {
	switch {
	case h == nil:
		return 0
	case *h == 0:
		return -1
	}
	return *h
}

func (s *server) handleInvitationCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		req, err := decode[invitationRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		inv, err := s.db.CreateInvitation(r.Context(), p.Tenant, p.Subject, data.InvitationRequest{
			Email: req.Email, FirstName: req.FirstName, LastName: req.LastName, AccountID: req.AccountID,
			Role: roleOf(req.Role), Message: req.Message, ExpiresInHours: expiryHours(req.ExpiresInHours)})
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake()
		w.Header().Set("Location", "/v1/customer-portal/invitations/"+inv.ID)
		encode(w, r, s.log, http.StatusCreated, inv)
	})
}

func (s *server) handleContactInvite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		req, err := decode[contactInviteRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if req.ContactID == "" {
			writeError(w, r, s.log, data.Invalid("contactId", "is required"))
			return
		}
		if !data.ValidID(req.ContactID) {
			writeError(w, r, s.log, data.ErrNotFound)
			return
		}
		ir := data.InvitationRequest{Role: roleOf(req.Role), Message: req.Message, ExpiresInHours: expiryHours(req.ExpiresInHours)}
		inv, err := s.db.InviteContact(r.Context(), p.Tenant, p.Subject, req.ContactID, ir)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake()
		w.Header().Set("Location", "/v1/customer-portal/invitations/"+inv.ID)
		encode(w, r, s.log, http.StatusCreated, inv)
	})
}

func (s *server) handleInvitationList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "invitations", "q", "status")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		status, err := statusFilter(r, data.InvitationPending, data.InvitationStatus.Valid,
			"must be pending, accepted, expired or cancelled")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		f := store.InvitationFilter{Status: status, Q: lp.q}
		p, err := s.db.Invitations(r.Context(), principal(r).Tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode(r, "invitations", p.Next)))
	})
}

func (s *server) handleInvitationResend() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (data.Invitation, error) {
		inv, err := s.db.ResendInvitation(ctx, p.Tenant, p.Subject, id)
		if err == nil {
			s.wake()
		}
		return inv, err
	})
}

func (s *server) handleInvitationCancel() http.Handler {
	return byIDNoContent(s, func(ctx context.Context, p auth.Principal, id string) error {
		return s.db.CancelInvitation(ctx, p.Tenant, p.Subject, id)
	})
}

func (s *server) handleInvitationGet() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (data.Invitation, error) {
		return s.db.Invitation(ctx, p.Tenant, id)
	})
}
