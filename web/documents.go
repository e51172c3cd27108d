package web

// The Documents pages: the list of files shared with the customer's account
// or with every customer, and their downloads. Both are the documents
// feature's: while it is off they are "not available", as an unknown page.

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/store"
)

// documentsPerPage is the length of a page of the documents list.
const documentsPerPage = 50

// documentsData is the documents page.
type documentsData struct {
	Documents []data.Document
	// Next continues the list after this document ID; empty on the last page.
	Next string
}

// featureOn reports whether the portal's feature id is enabled.
func (p portal) featureOn(id string) bool {
	for _, f := range p.cfg.Features {
		if f.ID == id {
			return f.Enabled
		}
	}
	return false
}

// documentsPortal is requireSession for the documents pages: it also
// answers 404 while the feature is off.
func (s *server) documentsPortal(w http.ResponseWriter, r *http.Request, slug string) (portal, store.Auth, bool) {
	p, a, ok := s.requireSession(w, r, slug)
	if ok && !p.featureOn("documents") {
		s.renderMessage(w, r, http.StatusNotFound, s.userView(r, p, a, "Not available", ""), "Documents are not available",
			"This portal does not share documents at the moment.")
		return p, a, false
	}
	return p, a, ok
}

func (s *server) documents(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.documentsPortal(w, r, slug)
	if !ok {
		return
	}
	after := r.URL.Query().Get("after")
	if after != "" && !data.ValidID(after) {
		after = ""
	}
	account := a.User.AccountID
	pg, err := s.db.Documents(r.Context(), p.tenant, store.DocumentFilter{VisibleTo: &account}, after, documentsPerPage)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := s.userView(r, p, a, "Documents", "documents")
	v.Data = documentsData{Documents: pg.Items, Next: pg.Next}
	s.render(w, r, http.StatusOK, "documents", v)
}

// downloadDocument serves /p/{slug}/documents/download?id=...: the file of a
// document the customer sees, as the API serves it (ranges, ETag,
// attachment). Any other ID is the not-found page.
func (s *server) downloadDocument(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.documentsPortal(w, r, slug)
	if !ok {
		return
	}
	id := r.URL.Query().Get("id")
	if !data.ValidID(id) {
		s.renderNotFound(w, r)
		return
	}
	account := a.User.AccountID
	doc, content, err := s.db.OpenDocument(r.Context(), p.tenant, id, &account)
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	defer content.Close()
	handlers.ServeDocument(w, r, doc, content)
}

// byteSize shows a file size to a customer: "820 bytes", "12.4 KB", "3.1 MB".
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < 1000*1000:
		return strconv.FormatFloat(float64(n)/1000, 'f', 1, 64) + " KB"
	case n < 1000*1000*1000:
		return strconv.FormatFloat(float64(n)/(1000*1000), 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/(1000*1000*1000), 'f', 1, 64) + " GB"
}
