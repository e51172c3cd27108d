package handlers

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// staffAuthorName is how a member of staff is named on a ticket: the staff
// token carries a subject, not a name, and customers see the name only.
const staffAuthorName = "Support team"

// ticketRequest is the body of POST /v1/portal/tickets.
type ticketRequest struct {
	Subject  string               `json:"subject"`
	Body     string               `json:"body"`
	Priority *data.TicketPriority `json:"priority,omitempty"`
}

func (ticketRequest) requiredMembers() []string { return []string{"subject", "body"} }

// messageRequest is the body of POST /v1/portal/tickets/{id}/messages.
type messageRequest struct {
	Body string `json:"body"`
}

func (messageRequest) requiredMembers() []string { return []string{"body"} }

// staffMessageRequest is the body of POST
// /v1/customer-portal/tickets/{id}/messages.
type staffMessageRequest struct {
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
}

func (staffMessageRequest) requiredMembers() []string { return []string{"body"} }

// customerTicketPatch is the body of PATCH /v1/portal/tickets/{id}.
type customerTicketPatch struct {
	Status data.TicketStatus `json:"status"`
}

func (customerTicketPatch) requiredMembers() []string { return []string{"status"} }

// staffTicketPatch is the body of PATCH /v1/customer-portal/tickets/{id}:
// members present change the ticket; a null or empty assignee unassigns.
type staffTicketPatch struct {
	Status   *data.TicketStatus   `json:"status,omitempty"`
	Priority *data.TicketPriority `json:"priority,omitempty"`
	Assignee contactField         `json:"assignee,omitzero"`
}

func (p staffTicketPatch) patch() data.TicketPatch {
	return data.TicketPatch{Status: p.Status, Priority: p.Priority, Assignee: p.Assignee.ptr()}
}

// ticketDetail is a ticket with its thread, oldest message first.
type ticketDetail struct {
	data.Ticket
	Messages []data.Message `json:"messages"`
}

// viewerOf is the portal user of a customer request, whose view of tickets
// is limited to their own (or their account's, for a customer admin).
func viewerOf(r *http.Request) *data.User {
	u := portalAuth(r).User
	return &u
}

func (s *server) handleMyTicketList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "portal-tickets", "status")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		status, err := statusFilter(r, "", data.TicketStatus.Valid, "must be open, pending, solved or closed")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a := portalAuth(r)
		p, err := s.db.Tickets(r.Context(), a.Tenant, viewerOf(r), store.TicketFilter{Status: status}, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode(r, "portal-tickets", p.Next)))
	})
}

func (s *server) handleMyTicketCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[ticketRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		nt := data.NewTicket{Subject: req.Subject, Body: req.Body}
		if req.Priority != nil {
			if !req.Priority.Valid() { // given, it must be one: "" is not the default
				writeError(w, r, s.log, data.Invalid("priority", "must be low, normal, high or urgent"))
				return
			}
			nt.Priority = *req.Priority
		}
		a := portalAuth(r)
		t, m, err := s.db.CreateTicket(r.Context(), a.Tenant, a.User.ID, nt)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake()
		w.Header().Set("Location", "/v1/portal/tickets/"+t.ID)
		encode(w, r, s.log, http.StatusCreated, ticketDetail{Ticket: t.CustomerView(), Messages: []data.Message{m.CustomerView()}})
	})
}

func (s *server) handleMyTicketGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		t, thread, err := s.db.Ticket(r.Context(), portalAuth(r).Tenant, viewerOf(r), id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, ticketDetail{Ticket: t, Messages: thread})
	})
}

func (s *server) handleMyTicketPatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		req, err := decodeBytes[customerTicketPatch](body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a := portalAuth(r)
		t, err := s.db.UpdateTicket(r.Context(), a.Tenant, "user:"+a.User.ID, viewerOf(r), id, data.TicketPatch{Status: &req.Status})
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, t)
	})
}

func (s *server) handleMyTicketMessage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		a := portalAuth(r)
		var nm store.NewMessage
		if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil &&
			strings.EqualFold(mt, "multipart/form-data") && params["boundary"] != "" {
			if err := checkContentEncoding(r); err != nil {
				writeError(w, r, s.log, err)
				return
			}
			limit := int64(data.MaxAttachments)*s.maxAttachment + maxFormOverhead + 4*data.MaxMessageBody
			body := &movingReader{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w)}
			nm, err = s.readMessageForm(r, a.Tenant, multipart.NewReader(body, params["boundary"]))
			if err != nil {
				for _, f := range nm.Files {
					_ = s.db.DiscardBlob(r.Context(), a.Tenant, f.File.ID)
				}
				writeError(w, r, s.log, err)
				return
			}
		} else {
			req, err := decode[messageRequest](w, r)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			nm.Body = req.Body
		}
		nm.Author = data.Author{Kind: data.AuthorCustomer, ID: a.User.ID, Name: a.User.DisplayName()}
		nm.Quota = s.docLimit.Quota
		m, err := s.db.AddMessage(r.Context(), a.Tenant, viewerOf(r), id, nm)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake()
		encode(w, r, s.log, http.StatusCreated, m)
	})
}

// ticketFilter reads the staff list's filters.
func ticketFilter(r *http.Request, q string) (store.TicketFilter, error) {
	f := store.TicketFilter{Q: q}
	var err error
	if f.Status, err = statusFilter(r, "", data.TicketStatus.Valid, "must be open, pending, solved or closed"); err != nil {
		return f, err
	}
	qv := r.URL.Query()
	if qv.Has("priority") {
		f.Priority = data.TicketPriority(qv.Get("priority"))
		if !f.Priority.Valid() {
			return f, &paramError{name: "priority", msg: "must be low, normal, high or urgent"}
		}
	}
	if f.AccountID, err = accountFilter(r); err != nil {
		return f, err
	}
	if qv.Has("userId") {
		f.UserID = qv.Get("userId")
		if !data.ValidID(f.UserID) {
			return f, &paramError{name: "userId", msg: "must be a user ID"}
		}
	}
	f.Assignee = strings.TrimSpace(qv.Get("assignee"))
	if len([]rune(f.Assignee)) > data.MaxAssignee || !data.SingleLine(f.Assignee) {
		return f, &paramError{name: "assignee", msg: "must be one line of at most 200 characters"}
	}
	return f, nil
}

func (s *server) handleTicketList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "tickets", "q", "status", "priority", "accountId", "userId", "assignee")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		f, err := ticketFilter(r, lp.q)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		p, err := s.db.Tickets(r.Context(), principal(r).Tenant, nil, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(p.Items, s.cursors.encode(r, "tickets", p.Next)))
	})
}

func (s *server) handleTicketGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		t, thread, err := s.db.Ticket(r.Context(), principal(r).Tenant, nil, id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, ticketDetail{Ticket: t, Messages: thread})
	})
}

func (s *server) handleTicketPatch() http.Handler {
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
		req, err := decodeBytes[staffTicketPatch](body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		t, err := s.db.UpdateTicket(r.Context(), p.Tenant, p.Subject, nil, id, req.patch())
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, t)
	})
}

func (s *server) handleTicketMessage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		req, err := decode[staffMessageRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		m, err := s.db.AddMessage(r.Context(), p.Tenant, nil, id, store.NewMessage{Body: req.Body, Internal: req.Internal,
			Author: data.Author{Kind: data.AuthorStaff, ID: p.Subject, Name: staffAuthorName}})
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if !m.Internal {
			s.wake()
		}
		encode(w, r, s.log, http.StatusCreated, m)
	})
}

// readMessageForm reads a customer message sent as multipart/form-data: a
// body field and up to data.MaxAttachments file parts (named files), in any
// order. Each file is streamed into the store as it arrives, capped at the
// attachment limit (413 file-too-large) and the organization's storage; the
// returned files are to be discarded when the message is not stored.
func (s *server) readMessageForm(r *http.Request, tenant data.TenantID, mr *multipart.Reader) (store.NewMessage, error) {
	var nm store.NewMessage
	seenBody := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nm, formError(err, s.maxAttachment)
		}
		switch name := part.FormName(); {
		case name == "body" && part.FileName() == "":
			if seenBody {
				return nm, &malformedError{msg: "the form field body must be given once"}
			}
			seenBody = true
			v, err := io.ReadAll(io.LimitReader(part, 4*data.MaxMessageBody+1))
			if err != nil {
				return nm, formError(err, s.maxAttachment)
			}
			if len(v) > 4*data.MaxMessageBody || !utf8.Valid(v) {
				return nm, data.Invalid("body", "must be valid UTF-8 of at most 20000 characters")
			}
			nm.Body = strings.ReplaceAll(string(v), "\r\n", "\n")
		case name == "files" && part.FileName() != "":
			if len(nm.Files) == data.MaxAttachments {
				return nm, data.Invalid("files", "must be at most 10 files")
			}
			fileName := data.CleanFileName(part.FileName())
			if p := data.FileNameProblem(fileName); p != "" {
				return nm, data.Invalid("files", p) // refused before a byte of it is stored
			}
			f, err := s.db.PutDocumentFile(r.Context(), tenant, part,
				store.DocumentLimits{MaxSize: s.maxAttachment, Quota: s.docLimit.Quota})
			if err != nil {
				return nm, formError(err, s.maxAttachment)
			}
			nm.Files = append(nm.Files, store.AttachmentFile{File: f, Name: fileName})
		default:
			return nm, data.Invalid("files", "the form takes a body field and file parts named files")
		}
	}
	if !seenBody {
		return nm, data.Invalid("body", "is required")
	}
	return nm, nil
}

// formError is the error of a multipart body that could not be read: past
// the body limit it is a file too large, otherwise malformed; store errors
// pass as they are.
func formError(err error, max int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &store.BlobTooLargeError{Max: max}
	case errors.Is(err, store.ErrBlobTooLarge), isStoreError(err):
		return err
	}
	return &malformedError{msg: "the multipart body is malformed: " + err.Error()}
}

// isStoreError reports whether err came from the store rather than from
// reading the request.
func isStoreError(err error) bool {
	var sqe *data.StorageQuotaError
	return errors.As(err, &sqe) || errors.Is(err, data.ErrGone) || errors.Is(err, data.ErrNotFound)
}

// handleAttachment serves an attachment's content: to a portal user who
// sees its ticket (a note's files never), or to staff.
func (s *server) handleAttachment(customer bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		var viewer *data.User
		tenant := principal(r).Tenant
		if customer {
			viewer, tenant = viewerOf(r), portalAuth(r).Tenant
		}
		att, at, content, err := s.db.Attachment(r.Context(), tenant, viewer, id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		defer content.Close()
		h := w.Header()
		h.Set("ETag", `"`+att.SHA256+`"`)
		h.Set("Content-Type", att.ContentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "private, no-cache")
		disposition := mime.FormatMediaType("attachment", map[string]string{"filename": att.Name})
		if disposition == "" {
			disposition = "attachment"
		}
		h.Set("Content-Disposition", disposition)
		serveFile(w, r, at, content)
	})
}
