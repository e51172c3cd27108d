package handlers

// Webhooks: staff register endpoints that are sent the events they
// subscribe to, signed with a secret shown only when it is made; they list
// each endpoint's deliveries and queue one again.

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
)

// webhookRequest is the body of POST /v1/customer-portal/webhooks.
type webhookRequest struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"eventTypes"`
	Description string   `json:"description"`
	Enabled     *bool    `json:"enabled,omitempty"`
}

func (webhookRequest) requiredMembers() []string { return []string{"url", "eventTypes"} }

func (req webhookRequest) webhook() data.Webhook {
	w := data.Webhook{URL: req.URL, EventTypes: req.EventTypes, Description: req.Description, Enabled: true}
	if req.Enabled != nil {
		w.Enabled = *req.Enabled
	}
	if w.EventTypes == nil {
		w.EventTypes = []string{}
	}
	return w
}

// webhookPatchRequest is the body of PATCH /v1/customer-portal/webhooks/{id}:
// the members present change the webhook.
type webhookPatchRequest struct {
	URL         *string   `json:"url,omitempty"`
	EventTypes  *[]string `json:"eventTypes,omitempty"`
	Description *string   `json:"description,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

func (p webhookPatchRequest) patch() data.WebhookPatch {
	return data.WebhookPatch{URL: p.URL, EventTypes: p.EventTypes, Description: p.Description, Enabled: p.Enabled}
}

// webhookWithSecret is a webhook with its signing secret: the answer of
// create and rotate-secret, the only ones that show the secret.
type webhookWithSecret struct {
	data.Webhook
	Secret string `json:"secret"`
}

func (s *server) handleWebhookCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		req, err := decode[webhookRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		hook, secret, err := s.db.CreateWebhook(r.Context(), p.Tenant, p.Subject, req.webhook(), s.webhookPolicy)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.Header().Set("Location", "/v1/customer-portal/webhooks/"+hook.ID)
		w.Header().Set("Cache-Control", "no-store")
		encode(w, r, s.log, http.StatusCreated, webhookWithSecret{Webhook: hook, Secret: secret})
	})
}

func (s *server) handleWebhookList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "webhooks")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		pg, err := s.db.Webhooks(r.Context(), principal(r).Tenant, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(pg.Items, s.cursors.encode(r, "webhooks", pg.Next)))
	})
}

func (s *server) handleWebhookGet() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (data.Webhook, error) {
		return s.db.Webhook(ctx, p.Tenant, id)
	})
}

func (s *server) handleWebhookPatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		body, err := readBody(w, r, "application/json", "application/merge-patch+json")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		req, err := decodeBytes[webhookPatchRequest](body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		hook, err := s.db.UpdateWebhook(r.Context(), p.Tenant, p.Subject, id, req.patch(), s.webhookPolicy)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, hook)
	})
}

func (s *server) handleWebhookDelete() http.Handler {
	return byIDNoContent(s, func(ctx context.Context, p auth.Principal, id string) error {
		return s.db.DeleteWebhook(ctx, p.Tenant, p.Subject, id)
	})
}

func (s *server) handleWebhookRotate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		hook, secret, err := s.db.RotateWebhookSecret(r.Context(), p.Tenant, p.Subject, id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		encode(w, r, s.log, http.StatusOK, webhookWithSecret{Webhook: hook, Secret: secret})
	})
}

func (s *server) handleWebhookDeliveries() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		lp, err := s.cursors.parseList(r, "webhook-deliveries/"+id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		pg, err := s.db.WebhookDeliveries(r.Context(), principal(r).Tenant, id, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(pg.Items, s.cursors.encode(r, "webhook-deliveries/"+id, pg.Next)))
	})
}

func (s *server) handleWebhookRetry() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		deliveryID := mux.Vars(r)["deliveryId"]
		if !data.ValidID(deliveryID) {
			writeError(w, r, s.log, data.ErrNotFound)
			return
		}
		d, err := s.db.RetryWebhookDelivery(r.Context(), p.Tenant, p.Subject, id, deliveryID)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake()
		encode(w, r, s.log, http.StatusAccepted, d)
	})
}
