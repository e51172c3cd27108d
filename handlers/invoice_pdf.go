package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/invoicepdf"
)

// handleMyInvoicePDF serves an invoice of the customer's account as a PDF
// with the portal's branding (ServeInvoicePDF).
func (s *server) handleMyInvoicePDF() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a := portalAuth(r)
		inv, err := s.db.Invoice(r.Context(), a.Tenant, viewerOf(r), id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		cfg, err := s.db.Config(r.Context(), a.Tenant)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := ServeInvoicePDF(w, r, inv, cfg); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// ServeInvoicePDF renders inv with the branding of cfg and serves it as an
// attachment: the API's download and the customer pages' alike. The
// rendering is deterministic, so its SHA-256 is a strong ETag and
// If-None-Match is answered 304; the modification time is the invoice's.
// An error is returned before anything is written.
func ServeInvoicePDF(w http.ResponseWriter, r *http.Request, inv data.Invoice, cfg data.Config) error {
	var buf bytes.Buffer
	if err := invoicepdf.Render(&buf, inv, invoicepdf.Branding{PortalName: cfg.PortalName,
		PrimaryColor: cfg.Branding.PrimaryColor, AccentColor: cfg.Branding.AccentColor, SupportEmail: cfg.SupportEmail}); err != nil {
		return fmt.Errorf("render invoice %s: %w", inv.ID, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	h.Set("Cache-Control", "private, no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": invoicepdf.FileName(inv)}))
	http.ServeContent(w, r, "", inv.UpdatedAt, bytes.NewReader(buf.Bytes()))
	return nil
}
