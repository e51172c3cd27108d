package store

// Support tickets live in two buckets of the organization:
//
//	orgs/<org>/tickets/<id>                        -> data.Ticket
//	orgs/<org>/ticket_messages/<ticketId><msgId>   -> data.Message
//
// Both keys are ULIDs (26 bytes each), so a ticket's thread is one key
// range in creation order. The buckets are made by the first write that
// needs them, so organizations created before tickets existed need no
// migration; a read treats a missing bucket as empty.
//
// The counters tickets.<status> count the tickets in each status and are
// kept in the same transactions, so stats stay O(1).
//
// Email goes through the outbox in the transaction of the change: a public
// staff reply is mailed to the requester (an active user), a new ticket and
// a customer's message to the portal's supportEmail (nothing is queued when
// the portal has none). Internal notes are never mailed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

var (
	bTickets        = []byte("tickets")
	bTicketMessages = []byte("ticket_messages")
)

// ticketCounter names the counter of tickets in status s.
func ticketCounter(s data.TicketStatus) string { return "tickets." + string(s) }

// TicketFilter narrows a ticket list. Empty fields do not filter.
type TicketFilter struct {
	Status    data.TicketStatus
	Priority  data.TicketPriority
	AccountID string
	UserID    string
	Assignee  string
	// Q is a case-insensitive substring of the subject.
	Q string
}

func (f TicketFilter) match(t data.Ticket) bool {
	return (f.Status == "" || t.Status == f.Status) && (f.Priority == "" || t.Priority == f.Priority) &&
		(f.AccountID == "" || t.AccountID == f.AccountID) && (f.UserID == "" || t.UserID == f.UserID) &&
		(f.Assignee == "" || t.Assignee == f.Assignee) && t.Matches(f.Q)
}

// ticketBuckets returns the organization's ticket buckets, creating them
// in a write transaction; in a read they may be nil.
func ticketBuckets(b kv.Bucket) (tickets, messages kv.Bucket, err error) {
	if b == nil {
		return nil, nil, nil
	}
	if !b.Writable() {
		return b.Bucket(bTickets), b.Bucket(bTicketMessages), nil
	}
	if tickets, err = b.CreateBucketIfNotExists(bTickets); err != nil {
		return nil, nil, err
	}
	if messages, err = b.CreateBucketIfNotExists(bTicketMessages); err != nil {
		return nil, nil, err
	}
	setFill(tickets) // ULID keys: new ones arrive at the end
	setFill(messages)
	return tickets, messages, nil
}

// ticketIn reads ticket id, as visible to viewer (every ticket when viewer
// is nil, for staff). A ticket the viewer may not see is not found, exactly
// like a missing one.
func ticketIn(tickets kv.Bucket, id string, viewer *data.User) (data.Ticket, error) {
	var t data.Ticket
	ok, err := getJSON(tickets, bytesOf(id), &t)
	if err != nil {
		return t, err
	}
	if !ok || (viewer != nil && !t.VisibleTo(*viewer)) {
		return data.Ticket{}, fmt.Errorf("ticket %s: %w", id, data.ErrNotFound)
	}
	return t, nil
}

// messageKey is the key of message mid of ticket tid.
func messageKey(tid, mid string) []byte { return append([]byte(tid), mid...) }

// threadOf reads ticket tid's messages, oldest first, leaving out internal
// notes unless notes is set.
func threadOf(messages kv.Bucket, tid string, notes bool) ([]data.Message, error) {
	out := []data.Message{}
	if messages == nil {
		return out, nil
	}
	prefix := []byte(tid)
	c := messages.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var m data.Message
		if err := jsonDecode(v, &m); err != nil {
			return nil, fmt.Errorf("decode message %s: %w", k, err)
		}
		if m.Internal && !notes {
			continue
		}
		if m.Attachments == nil {
			m.Attachments = []data.Attachment{}
		}
		out = append(out, m)
	}
	return out, nil
}

// ticketURL is the customer page of a ticket.
func (db *DB) ticketURL(slug, id string) string {
	return db.publicURL + "/p/" + url.PathEscape(slug) + "/tickets/" + id
}

// consoleTicketURL is the admin console's view of a ticket.
func (db *DB) consoleTicketURL(id string) string { return db.publicURL + "/admin#tickets/" + id }

// mailData is the branding of cfg for a message.
func mailData(cfg data.Config) data.MailData {
	return data.MailData{PortalName: cfg.PortalName, PrimaryColor: cfg.Branding.PrimaryColor,
		LogoURL: cfg.Branding.LogoURL, SupportEmail: cfg.SupportEmail}
}

// CreateTicket opens a ticket for the portal user requester with its first
// message, and queues the email to the portal's support address. The
// ticket belongs to the requester's account as stored now.
func (db *DB) CreateTicket(ctx context.Context, tenant data.TenantID, requester string, req data.NewTicket) (data.Ticket, data.Message, error) {
	if err := req.Validate(); err != nil {
		return data.Ticket{}, data.Message{}, err
	}
	if req.Priority == "" {
		req.Priority = data.PriorityNormal
	}
	var t data.Ticket
	var m data.Message
	err := db.write(ctx, func(tx kv.Tx) error {
		t, m = data.Ticket{}, data.Message{}
		now := db.Now()
		cfg, err := db.configOf(tx, tenant, now)
		if err != nil {
			return err
		}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		u, err := getUser(b, requester)
		if err != nil {
			return err
		}
		tickets, messages, err := ticketBuckets(b)
		if err != nil {
			return err
		}
		nt := data.Ticket{ID: db.ids.New(now), AccountID: u.AccountID, UserID: u.ID, Subject: req.Subject,
			Status: data.TicketOpen, Priority: req.Priority, MessageCount: 1, CreatedAt: now, UpdatedAt: now}
		nm := data.Message{ID: db.ids.New(now), TicketID: nt.ID, Body: req.Body, CreatedAt: now,
			Author:      data.Author{Kind: data.AuthorCustomer, ID: u.ID, Name: u.DisplayName()},
			Attachments: []data.Attachment{}}
		if err := putJSON(tickets, bytesOf(nt.ID), nt); err != nil {
			return err
		}
		if err := putJSON(messages, messageKey(nt.ID, nm.ID), nm); err != nil {
			return err
		}
		if err := bump(b, ticketCounter(nt.Status), 1); err != nil {
			return err
		}
		if err := db.mailTicket(tx, tenant, b, cfg, nt, nm, now); err != nil {
			return err
		}
		if err := db.enqueueWebhookEvent(tx, tenant, now, data.EventTicketCreated,
			map[string]any{"ticket": nt.CustomerView(), "message": nm}); err != nil {
			return err
		}
		t, m = nt, nm
		return nil
	})
	return t, m, err
}

// Tickets lists the organization's tickets that match f and that viewer
// may see (every one when viewer is nil, for staff), newest first, starting
// after the ticket ID after. Like the other searched lists, one page looks
// at no more than MaxScanPerPage tickets and then ends with a cursor that
// continues the walk.
func (db *DB) Tickets(ctx context.Context, tenant data.TenantID, viewer *data.User, f TicketFilter, after string, limit int) (Page[data.Ticket], error) {
	var p Page[data.Ticket]
	if limit < 1 || limit > data.MaxTicketList {
		return p, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxTicketList))
	}
	var raw Page[[]byte]
	err := db.read(ctx, func(tx kv.Tx) error {
		raw = Page[[]byte]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		tickets, _, err := ticketBuckets(b)
		if err != nil || tickets == nil {
			return err
		}
		var match func(k, v []byte) (bool, error)
		if f != (TicketFilter{}) || viewer != nil {
			pre := newSearchFilter(ctx, f.Q)
			match = func(k, v []byte) (bool, error) {
				if ok, err := pre.mayMatch(v); !ok || err != nil {
					return false, err
				}
				var t data.Ticket
				if err := jsonDecode(v, &t); err != nil {
					return false, fmt.Errorf("decode %s: %w", k, err)
				}
				return f.match(t) && (viewer == nil || t.VisibleTo(*viewer)), nil
			}
		}
		raw, err = scanRaw(tickets, after, limit, match)
		return err
	})
	if err != nil {
		return p, err
	}
	p = Page[data.Ticket]{Items: make([]data.Ticket, len(raw.Items)), Next: raw.Next}
	for i, v := range raw.Items {
		if err := jsonDecode(v, &p.Items[i]); err != nil {
			return Page[data.Ticket]{}, fmt.Errorf("decode ticket: %w", err)
		}
		if viewer != nil {
			p.Items[i] = p.Items[i].CustomerView()
		}
	}
	return p, nil
}

// Ticket returns ticket id with its thread, oldest message first. For a
// portal user (viewer not nil) the ticket must be visible to them, and the
// thread and the ticket are the customer's view: no internal notes.
func (db *DB) Ticket(ctx context.Context, tenant data.TenantID, viewer *data.User, id string) (data.Ticket, []data.Message, error) {
	var t data.Ticket
	var thread []data.Message
	err := db.read(ctx, func(tx kv.Tx) error {
		t, thread = data.Ticket{}, nil
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		if b == nil {
			return fmt.Errorf("ticket %s: %w", id, data.ErrNotFound)
		}
		tickets, messages, err := ticketBuckets(b)
		if err != nil {
			return err
		}
		if t, err = ticketIn(tickets, id, viewer); err != nil {
			return err
		}
		thread, err = threadOf(messages, id, viewer == nil)
		return err
	})
	if err != nil {
		return data.Ticket{}, nil, err
	}
	if viewer != nil {
		t = t.CustomerView()
		for i := range thread {
			thread[i] = thread[i].CustomerView()
		}
	}
	return t, thread, nil
}

// UpdateTicket applies patch to ticket id. A portal user (viewer not nil)
// may only set the status to solved or open, on a ticket visible to them
// that staff have not closed; staff may set any status, the priority and
// the assignee. A patch that changes nothing writes nothing.
func (db *DB) UpdateTicket(ctx context.Context, tenant data.TenantID, actor string, viewer *data.User, id string, patch data.TicketPatch) (data.Ticket, error) {
	if viewer != nil {
		if patch.Priority != nil || patch.Assignee != nil {
			return data.Ticket{}, data.Invalid("status", "is the only field a customer may change")
		}
		if patch.Status != nil && !patch.Status.CustomerSettable() {
			return data.Ticket{}, data.Invalid("status", "must be solved or open")
		}
	}
	var out data.Ticket
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Ticket{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		tickets, _, err := ticketBuckets(b)
		if err != nil {
			return err
		}
		cur, err := ticketIn(tickets, id, viewer)
		if err != nil {
			return err
		}
		next := cur
		patch.Apply(&next)
		if err := next.Validate(); err != nil {
			return err
		}
		if next == cur {
			out = cur
			return nil
		}
		if viewer != nil && cur.Status == data.TicketClosed {
			return data.Conflict("the ticket is closed; open a new ticket")
		}
		// Every check is done: from here on the transaction writes.
		now := db.Now()
		next.UpdatedAt = now
		if err := putTicket(b, tickets, cur, next); err != nil {
			return err
		}
		if viewer == nil {
			if err := db.audit(b, now, actor, "ticket.update", "ticket", id, ticketDiff(cur, next)); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	if err == nil && viewer != nil {
		out = out.CustomerView()
	}
	return out, err
}

// putTicket writes next over cur and moves the status counters with it.
func putTicket(b, tickets kv.Bucket, cur, next data.Ticket) error {
	if err := putJSON(tickets, bytesOf(next.ID), next); err != nil {
		return err
	}
	if cur.Status == next.Status {
		return nil
	}
	if err := bump(b, ticketCounter(cur.Status), -1); err != nil {
		return err
	}
	return bump(b, ticketCounter(next.Status), 1)
}

// NewMessage is a message to add to a ticket.
type NewMessage struct {
	Author   data.Author
	Body     string
	Internal bool
	// Files are the message's attachments, stored beforehand with
	// PutDocumentFile (loose until the message claims them). Quota, when
	// above 0, is the organization's storage the files must still fit in.
	Files []AttachmentFile
	Quota int64
}

// AttachmentFile is a stored file to attach to a message, with its name.
type AttachmentFile struct {
	File DocumentFile
	Name string
}

// messageOwner is the owner of a message's attachment blobs.
func messageOwner(tid, mid string) string { return "ticket_message/" + tid + mid }

// claimable reports whether blob is a loose upload whose chunks are all
// there, as claimBlob requires; the message checks every file before it
// claims the first, so that a failure leaves nothing written.
func claimable(b kv.Bucket, blob Blob) bool {
	loose, chunks, blobs := b.Bucket(bBlobLoose), b.Bucket(bBlobChunks), b.Bucket(bBlobs)
	if loose == nil || chunks == nil || loose.Get(bytesOf(blob.ID)) == nil {
		return false
	}
	if blob.Chunks > 0 && chunks.Get(chunkKey(blob.ID, blob.Chunks-1)) == nil {
		return false
	}
	return blobs == nil || blobs.Get(bytesOf(blob.ID)) == nil
}

// AddMessage adds a message to ticket id and returns it. For a portal user
// (viewer not nil) the ticket must be visible to them and not closed; their
// message reopens a pending or solved ticket and is mailed to the support
// address. A public staff reply moves an open ticket to pending and is
// mailed to the requester; an internal note changes nothing else and is
// never mailed.
//
// The message's files are claimed in its transaction; when the message
// fails, every file is discarded, so nothing of it is kept.
func (db *DB) AddMessage(ctx context.Context, tenant data.TenantID, viewer *data.User, id string, nm NewMessage) (data.Message, error) {
	m, err := db.addMessage(ctx, tenant, viewer, id, nm)
	if err != nil {
		for _, f := range nm.Files {
			_ = db.DiscardBlob(ctx, tenant, f.File.ID)
		}
	}
	return m, err
}

func (db *DB) addMessage(ctx context.Context, tenant data.TenantID, viewer *data.User, id string, nm NewMessage) (data.Message, error) {
	if viewer != nil && (nm.Internal || nm.Author.Kind != data.AuthorCustomer) {
		return data.Message{}, data.Invalid("internal", "only staff write internal notes")
	}
	probe := data.Message{Author: nm.Author, Body: nm.Body, Internal: nm.Internal}
	if err := probe.Validate(); err != nil {
		return data.Message{}, err
	}
	if len(nm.Files) > data.MaxAttachments {
		return data.Message{}, data.Invalid("files", "must be at most "+strconv.Itoa(data.MaxAttachments)+" files")
	}
	var size int64
	for _, f := range nm.Files {
		if p := data.FileNameProblem(f.Name); p != "" {
			return data.Message{}, data.Invalid("files", p)
		}
		size += f.File.Size
	}
	var out data.Message
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Message{}
		now := db.Now()
		cfg, err := db.configOf(tx, tenant, now)
		if err != nil {
			return err
		}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		tickets, messages, err := ticketBuckets(b)
		if err != nil {
			return err
		}
		cur, err := ticketIn(tickets, id, viewer)
		if err != nil {
			return err
		}
		if viewer != nil && cur.Status == data.TicketClosed {
			return data.Conflict("the ticket is closed; open a new ticket")
		}
		if cur.MessageCount+cur.NoteCount >= data.MaxTicketMessages {
			return data.TicketFull()
		}
		if used := counter(b, cBlobBytes); len(nm.Files) > 0 && nm.Quota > 0 && used+size > nm.Quota {
			return &data.StorageQuotaError{Quota: nm.Quota, Used: used}
		}
		for _, f := range nm.Files {
			if !claimable(b, f.File.Blob) {
				return ErrUploadExpired
			}
		}
		// Every check is done: from here on the transaction writes.
		m := data.Message{ID: db.ids.New(now), TicketID: id, Author: nm.Author, Body: nm.Body,
			Internal: nm.Internal, Attachments: []data.Attachment{}, CreatedAt: now}
		for _, f := range nm.Files {
			if err := claimBlob(b, f.File.Blob, messageOwner(id, m.ID)); err != nil {
				return err
			}
			m.Attachments = append(m.Attachments, data.Attachment{ID: f.File.ID, Name: f.Name,
				ContentType: f.File.ContentType, Size: f.File.Size, SHA256: f.File.SHA256})
		}
		if err := putJSON(messages, messageKey(id, m.ID), m); err != nil {
			return err
		}
		next := cur
		next.UpdatedAt = now
		switch {
		case m.Internal:
			next.NoteCount++
		case m.Author.Kind == data.AuthorCustomer:
			next.MessageCount++
			if cur.Status == data.TicketPending || cur.Status == data.TicketSolved {
				next.Status = data.TicketOpen
			}
		default:
			next.MessageCount++
			if cur.Status == data.TicketOpen {
				next.Status = data.TicketPending
			}
		}
		if err := putTicket(b, tickets, cur, next); err != nil {
			return err
		}
		// Internal notes are for staff alone: never mailed, never sent to
		// a webhook.
		if !m.Internal {
			if err := db.mailTicket(tx, tenant, b, cfg, next, m, now); err != nil {
				return err
			}
			if err := db.enqueueWebhookEvent(tx, tenant, now, data.EventTicketMessageCreated,
				map[string]any{"ticket": next.CustomerView(), "message": m.CustomerView()}); err != nil {
				return err
			}
		}
		out = m
		return nil
	})
	if err == nil && viewer != nil {
		out = out.CustomerView()
	}
	return out, err
}

// mailTicket queues the email of public message m of ticket t: a customer's
// to the portal's support address (none without one), a member of staff's
// to the requester (none when the requester is gone, revoked or has no
// email).
func (db *DB) mailTicket(tx kv.Tx, tenant data.TenantID, b kv.Bucket, cfg data.Config, t data.Ticket, m data.Message, now time.Time) error {
	d := mailData(cfg)
	d.TicketSubject, d.AuthorName, d.Message = t.Subject, m.Author.Name, m.Body
	msg := data.OutboxMessage{Tenant: tenant, Data: d}
	if m.Author.Kind == data.AuthorCustomer {
		if cfg.SupportEmail == "" {
			return nil
		}
		msg.Kind, msg.To, msg.Data.Link = data.MailTicketMessage, cfg.SupportEmail, db.consoleTicketURL(t.ID)
	} else {
		u, err := getUser(b, t.UserID)
		if errors.Is(err, data.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if u.Status != data.UserActive || u.Email == "" {
			return nil
		}
		msg.Kind, msg.To, msg.Data.Link = data.MailTicketReply, u.Email, db.ticketURL(cfg.Slug, t.ID)
		msg.Data.FirstName = u.FirstName
	}
	_, err := db.enqueue(tx, now, msg)
	return err
}

// ticketDiff names the fields a staff change set, for the audit trail.
func ticketDiff(a, b data.Ticket) string {
	var changed []string
	if a.Status != b.Status {
		changed = append(changed, "status "+string(a.Status)+" -> "+string(b.Status))
	}
	if a.Priority != b.Priority {
		changed = append(changed, "priority "+string(a.Priority)+" -> "+string(b.Priority))
	}
	if a.Assignee != b.Assignee {
		changed = append(changed, "assignee")
	}
	if len(changed) == 0 {
		return "no change"
	}
	return "changed " + strings.Join(changed, ", ")
}

// Attachment returns the attachment id of a ticket message and opens its
// content. For a portal user (viewer not nil) the ticket must be visible to
// them and the message public; anything else is not found, exactly like a
// missing file. Close the reader when done.
func (db *DB) Attachment(ctx context.Context, tenant data.TenantID, viewer *data.User, id string) (data.Attachment, time.Time, *BlobReader, error) {
	var att data.Attachment
	var at time.Time
	notFound := fmt.Errorf("attachment %s: %w", id, data.ErrNotFound)
	err := db.read(ctx, func(tx kv.Tx) error {
		att, at = data.Attachment{}, time.Time{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			if err == nil {
				err = notFound
			}
			return err
		}
		var blob Blob
		found, err := getJSON(b.Bucket(bBlobs), bytesOf(id), &blob)
		if err != nil {
			return err
		}
		key, ok := strings.CutPrefix(blob.Owner, "ticket_message/")
		if !found || !ok || len(key) != 2*ulidLen {
			return notFound
		}
		tickets, messages, err := ticketBuckets(b)
		if err != nil {
			return err
		}
		if _, err := ticketIn(tickets, key[:ulidLen], viewer); err != nil {
			return notFound
		}
		var m data.Message
		found, err = getJSON(messages, bytesOf(key), &m)
		if err != nil {
			return err
		}
		if !found || (m.Internal && viewer != nil) {
			return notFound
		}
		for _, a := range m.Attachments {
			if a.ID == id {
				att, at = a, m.CreatedAt
				return nil
			}
		}
		return notFound
	})
	if err != nil {
		return data.Attachment{}, time.Time{}, nil, err
	}
	r, _, err := db.OpenBlob(ctx, tenant, id)
	if err != nil {
		return data.Attachment{}, time.Time{}, nil, err
	}
	return att, at, r, nil
}

// ulidLen is the length of a record ID.
const ulidLen = 26
