package web

// The Tickets pages of the customer portal, shown only while the portal's
// tickets feature is on (404 otherwise, like an unknown page):
//
//	GET  /p/{slug}/tickets              the user's tickets (a customer admin: the account's)
//	GET  /p/{slug}/tickets/new          the form of a new ticket
//	POST /p/{slug}/tickets              open a ticket
//	GET  /p/{slug}/tickets/{id}         the thread, with the reply form
//	POST /p/{slug}/tickets/{id}/reply   write on the ticket
//	POST /p/{slug}/tickets/{id}/status  solve or reopen it
//
// They call the same store methods as the customer API, with the signed-in
// user as the viewer, so internal notes never reach them.

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// ticketsFeature is the feature the pages belong to.
const ticketsFeature = "tickets"

// maxTicketFormBytes bounds a ticket form post: a body of 20,000
// characters, percent-encoded, takes up to about 240 KB.
const maxTicketFormBytes = 512 << 10

// ticketRoutes are the pages under tickets/{id}/; the ID is read from the
// path by ticketID.
var ticketRoutes = map[string]map[string]pageHandler{
	"":       {http.MethodGet: (*server).ticketThread},
	"reply":  {http.MethodPost: (*server).ticketReply},
	"status": {http.MethodPost: (*server).ticketStatus},
}

// routeOf returns the methods of a customer page: a fixed page, one of a
// quote, an invoice or an order (commerceRoute), or one of a ticket
// (tickets/{id}[/action]).
func routeOf(page string) (map[string]pageHandler, bool) {
	if m, ok := customerRoutes[page]; ok {
		return m, true
	}
	if m, ok := commerceRoute(page); ok {
		return m, true
	}
	if article, ok := strings.CutPrefix(page, "help/"); ok {
		if !data.ValidArticleSlug(article) {
			return nil, false
		}
		return map[string]pageHandler{http.MethodGet: (*server).helpArticle}, true
	}
	rest, ok := strings.CutPrefix(page, "tickets/")
	if !ok {
		return nil, false
	}
	id, action, _ := strings.Cut(rest, "/")
	if !data.ValidID(id) {
		return nil, false
	}
	if file, ok := strings.CutPrefix(action, "files/"); ok && data.ValidID(file) {
		return map[string]pageHandler{http.MethodGet: (*server).ticketFile}, true
	}
	m, ok := ticketRoutes[action]
	return m, ok
}

// ticketFile serves a file of a ticket's public message to a user who sees
// the ticket: GET /p/{slug}/tickets/{id}/files/{fileId}, as an attachment
// with nosniff. The ticket in the path must be the file's own.
func (s *server) ticketFile(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireTickets(w, r, slug)
	if !ok {
		return
	}
	u := a.User
	fileID := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	att, at, content, err := s.db.Attachment(r.Context(), p.tenant, &u, fileID)
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	defer content.Close()
	if !s.fileOfTicket(r, p, &u, ticketID(r), fileID) {
		s.renderNotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+att.SHA256+`"`)
	h.Set("Content-Type", att.ContentType)
	h.Set("Cache-Control", "private, no-cache")
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": att.Name})
	if disposition == "" {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	http.ServeContent(w, r, "", at, content)
}

// fileOfTicket reports whether file is attached to a message of ticket id
// as user u sees it.
func (s *server) fileOfTicket(r *http.Request, p portal, u *data.User, id, file string) bool {
	_, thread, err := s.db.Ticket(r.Context(), p.tenant, u, id)
	if err != nil {
		return false
	}
	for _, m := range thread {
		for _, f := range m.Attachments {
			if f.ID == file {
				return true
			}
		}
	}
	return false
}

// ticketID is the {id} of a ticket page's path, checked by routeOf.
func ticketID(r *http.Request) string {
	_, page, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/p/"), "/")
	id, _, _ := strings.Cut(strings.TrimPrefix(page, "tickets/"), "/")
	return id
}

// formLimit is the body limit of a form post to page.
func formLimit(page string) int64 {
	if page == "tickets" || strings.HasPrefix(page, "tickets/") {
		return maxTicketFormBytes
	}
	return maxFormBytes
}

// requireTickets is requireSession for the ticket pages: it also answers
// 404 while the portal's tickets feature is off.
func (s *server) requireTickets(w http.ResponseWriter, r *http.Request, slug string) (portal, store.Auth, bool) {
	p, a, ok := s.requireSession(w, r, slug)
	if !ok {
		return p, a, false
	}
	if !featureOn(p.cfg, ticketsFeature) {
		s.renderNotFound(w, r)
		return p, a, false
	}
	return p, a, true
}

// featureOn reports whether the portal's feature id is enabled.
func featureOn(cfg data.Config, id string) bool {
	for _, f := range cfg.Features {
		if f.ID == id {
			return f.Enabled
		}
	}
	return false
}

// ticketsData is the list page.
type ticketsData struct {
	Tickets []data.Ticket
	Status  string // the filter shown, "" for every status
	Next    string // the ID to continue after, "" on the last page
	Account bool   // the list holds the whole account's tickets
}

// ticketStatusLabels name the statuses to customers.
var ticketStatusLabels = map[data.TicketStatus]string{
	data.TicketOpen:    "Open",
	data.TicketPending: "Awaiting your reply",
	data.TicketSolved:  "Solved",
	data.TicketClosed:  "Closed",
}

func (s *server) tickets(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireTickets(w, r, slug)
	if !ok {
		return
	}
	q := r.URL.Query()
	status := data.TicketStatus(q.Get("status"))
	if status != "" && !status.Valid() {
		status = ""
	}
	after := q.Get("after")
	if !data.ValidID(after) {
		after = ""
	}
	u := a.User
	page, err := s.db.Tickets(r.Context(), p.tenant, &u, store.TicketFilter{Status: status}, after, 25)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := s.userView(r, p, a, "Your tickets", "tickets")
	v.Data = ticketsData{Tickets: page.Items, Status: string(status), Next: page.Next,
		Account: u.Role == data.RoleAdmin && u.AccountID != ""}
	s.render(w, r, http.StatusOK, "tickets", v)
}

func (s *server) ticketNewForm(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireTickets(w, r, slug)
	if !ok {
		return
	}
	v := s.userView(r, p, a, "New ticket", "tickets")
	v.Form["priority"] = string(data.PriorityNormal)
	s.render(w, r, http.StatusOK, "tickets_new", v)
}

// ticketFieldLabels name the fields of the ticket forms in error messages.
var ticketFieldLabels = map[string]string{"subject": "Subject", "body": "Message", "priority": "Priority"}

// ticketFieldErrors turns a validation error into messages per form field.
func ticketFieldErrors(err error) (map[string]string, bool) {
	var ve *data.ValidationError
	if !errors.As(err, &ve) {
		return nil, false
	}
	out := map[string]string{}
	for k, msg := range ve.Fields {
		if label, ok := ticketFieldLabels[k]; ok {
			out[k] = label + " " + msg + "."
		} else {
			out["form"] = "This value " + msg + "."
		}
	}
	return out, true
}

func (s *server) ticketCreate(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireTickets(w, r, slug)
	if !ok {
		return
	}
	nt := data.NewTicket{Subject: r.PostFormValue("subject"), Body: normalizeNewlines(r.PostFormValue("body")),
		Priority: data.TicketPriority(r.PostFormValue("priority"))}
	t, _, err := s.db.CreateTicket(r.Context(), p.tenant, a.User.ID, nt)
	if errs, ok := ticketFieldErrors(err); ok {
		v := s.userView(r, p, a, "New ticket", "tickets")
		v.Errors = errs
		v.Form = map[string]string{"subject": nt.Subject, "body": nt.Body, "priority": string(nt.Priority)}
		s.render(w, r, http.StatusUnprocessableEntity, "tickets_new", v)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.wake()
	http.Redirect(w, r, portalPath(slug)+"tickets/"+t.ID+"?m=ticket-created", http.StatusSeeOther)
}

// threadData is the thread page.
type threadData struct {
	Ticket      data.Ticket
	Messages    []data.Message
	StatusLabel string
	// CanReply is false on a closed ticket; NextStatus is what the status
	// button sets ("solved" or "open"), "" when there is none.
	CanReply   bool
	NextStatus string
}

func (s *server) ticketThread(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireTickets(w, r, slug)
	if !ok {
		return
	}
	s.renderThread(w, r, p, a, http.StatusOK, nil, "")
}

// renderThread shows ticket ticketID(r) to a, with errs and body in the
// reply form when a reply was refused; an unknown ticket, or one a may not
// see, is the not-found page.
func (s *server) renderThread(w http.ResponseWriter, r *http.Request, p portal, a store.Auth, status int, errs map[string]string, body string) {
	u := a.User
	t, thread, err := s.db.Ticket(r.Context(), p.tenant, &u, ticketID(r))
	if errors.Is(err, data.ErrNotFound) {
		s.renderNotFound(w, r)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := s.userView(r, p, a, t.Subject, "tickets")
	if errs != nil {
		v.Errors = errs
		v.Form["body"] = body
	}
	d := threadData{Ticket: t, Messages: thread, StatusLabel: ticketStatusLabels[t.Status], CanReply: t.Status != data.TicketClosed}
	switch t.Status {
	case data.TicketOpen, data.TicketPending:
		d.NextStatus = string(data.TicketSolved)
	case data.TicketSolved:
		d.NextStatus = string(data.TicketOpen)
	}
	v.Data = d
	s.render(w, r, status, "tickets_thread", v)
}

func (s *server) ticketReply(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireTickets(w, r, slug)
	if !ok {
		return
	}
	u := a.User
	body := normalizeNewlines(r.PostFormValue("body"))
	_, err := s.db.AddMessage(r.Context(), p.tenant, &u, ticketID(r), store.NewMessage{Body: body,
		Author: data.Author{Kind: data.AuthorCustomer, ID: u.ID, Name: u.DisplayName()}})
	if errs, ok := ticketFieldErrors(err); ok {
		s.renderThread(w, r, p, a, http.StatusUnprocessableEntity, errs, body)
		return
	}
	switch {
	case errors.Is(err, data.ErrNotFound):
		s.renderNotFound(w, r)
	case errors.Is(err, data.ErrConflict):
		s.renderThread(w, r, p, a, http.StatusConflict, map[string]string{"form": conflictText(err)}, body)
	case err != nil:
		s.renderError(w, r, err)
	default:
		s.wake()
		http.Redirect(w, r, portalPath(slug)+"tickets/"+ticketID(r)+"?m=reply-sent", http.StatusSeeOther)
	}
}

func (s *server) ticketStatus(w http.ResponseWriter, r *http.Request, slug string) {
	p, a, ok := s.requireTickets(w, r, slug)
	if !ok {
		return
	}
	u := a.User
	next := data.TicketStatus(r.PostFormValue("status"))
	if !next.CustomerSettable() {
		s.renderThread(w, r, p, a, http.StatusUnprocessableEntity, map[string]string{"form": "Choose to solve or to reopen the ticket."}, "")
		return
	}
	_, err := s.db.UpdateTicket(r.Context(), p.tenant, "user:"+u.ID, &u, ticketID(r), data.TicketPatch{Status: &next})
	switch {
	case errors.Is(err, data.ErrNotFound):
		s.renderNotFound(w, r)
	case errors.Is(err, data.ErrConflict):
		s.renderThread(w, r, p, a, http.StatusConflict, map[string]string{"form": conflictText(err)}, "")
	case err != nil:
		s.renderError(w, r, err)
	default:
		m := "ticket-solved"
		if next == data.TicketOpen {
			m = "ticket-reopened"
		}
		http.Redirect(w, r, portalPath(slug)+"tickets/"+ticketID(r)+"?m="+m, http.StatusSeeOther)
	}
}

// conflictText is what a customer reads about a refused change.
func conflictText(err error) string {
	var ce *data.ConflictError
	if errors.As(err, &ce) && ce.Reason != "" {
		s := ce.Reason
		return strings.ToUpper(s[:1]) + s[1:] + "."
	}
	return "The ticket cannot take this change."
}

// normalizeNewlines turns the CRLF line breaks of a form's textarea into
// LF, as the API stores them.
func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
