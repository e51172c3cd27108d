package handlers

import "net/http"

func (s *server) handleAuditList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "audit")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		p, err := s.db.AuditTrail(r.Context(), principal(r).Tenant, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode(r, "audit", p.Next)))
	})
}
