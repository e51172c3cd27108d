package data

import (
	"strconv"
	"strings"
	"time"
)

// TicketStatus is where a support ticket is in its lifecycle. Customers
// move a ticket between open and solved; staff may set any status.
type TicketStatus string

// Ticket statuses.
const (
	TicketOpen    TicketStatus = "open"
	TicketPending TicketStatus = "pending"
	TicketSolved  TicketStatus = "solved"
	TicketClosed  TicketStatus = "closed"
)

// TicketStatuses lists every status, in lifecycle order.
var TicketStatuses = []TicketStatus{TicketOpen, TicketPending, TicketSolved, TicketClosed}

// Valid reports whether s is a known status.
func (s TicketStatus) Valid() bool {
	return s == TicketOpen || s == TicketPending || s == TicketSolved || s == TicketClosed
}

// CustomerSettable reports whether a customer may set s: solve a ticket or
// reopen it.
func (s TicketStatus) CustomerSettable() bool { return s == TicketOpen || s == TicketSolved }

// TicketPriority is how urgent a ticket is.
type TicketPriority string

// Ticket priorities.
const (
	PriorityLow    TicketPriority = "low"
	PriorityNormal TicketPriority = "normal"
	PriorityHigh   TicketPriority = "high"
	PriorityUrgent TicketPriority = "urgent"
)

// Valid reports whether p is a known priority.
func (p TicketPriority) Valid() bool {
	return p == PriorityLow || p == PriorityNormal || p == PriorityHigh || p == PriorityUrgent
}

// Ticket limits.
const (
	MaxTicketSubject = 200
	MaxMessageBody   = 20000
	MaxAssignee      = 200
	MaxAuthorName    = 200
	// MaxTicketMessages bounds the thread of one ticket, notes included, so
	// that reading a ticket stays a bounded response.
	MaxTicketMessages = 500
	MaxTicketList     = 100
)

// Ticket is a customer's support request. MessageCount counts the public
// messages only: internal notes are staff's alone.
type Ticket struct {
	ID           string         `json:"id"`
	AccountID    string         `json:"accountId"`
	UserID       string         `json:"userId"`
	Subject      string         `json:"subject"`
	Status       TicketStatus   `json:"status"`
	Priority     TicketPriority `json:"priority"`
	Assignee     string         `json:"assignee"`
	MessageCount int            `json:"messageCount"`
	NoteCount    int            `json:"noteCount"`
	CreatedAt    time.Time      `json:"createdAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
}

// Validate reports every invalid field at once.
func (t Ticket) Validate() error {
	bad := &FieldErrors{}
	checkSubject(bad, t.Subject)
	if !t.Status.Valid() {
		bad.Add("status", "must be open, pending, solved or closed")
	}
	if !t.Priority.Valid() {
		bad.Add("priority", "must be low, normal, high or urgent")
	}
	checkText(bad, "assignee", t.Assignee, MaxAssignee, false)
	if p := refProblem(t.AccountID); p != "" {
		bad.Add("accountId", p)
	}
	return bad.Err()
}

// CustomerView is the ticket as a customer sees it: without the assignee
// and the count of internal notes.
func (t Ticket) CustomerView() Ticket {
	t.Assignee, t.NoteCount = "", 0
	return t
}

// Matches reports whether q occurs, ignoring case, in the subject. An
// empty q matches every ticket.
func (t Ticket) Matches(q string) bool {
	return q == "" || strings.Contains(strings.ToLower(t.Subject), strings.ToLower(q))
}

func checkSubject(bad *FieldErrors, s string) {
	if strings.TrimSpace(s) == "" {
		bad.Add("subject", "is required")
		return
	}
	checkText(bad, "subject", s, MaxTicketSubject, false)
}

// AuthorKind says who wrote a ticket message.
type AuthorKind string

// Author kinds.
const (
	AuthorCustomer AuthorKind = "customer"
	AuthorStaff    AuthorKind = "staff"
)

// Author is who wrote a message: a portal user (ID is the user's) or a
// member of staff (ID is the token's subject).
type Author struct {
	Kind AuthorKind `json:"kind"`
	ID   string     `json:"id"`
	Name string     `json:"name"`
}

// Attachment is a file attached to a message. Its ID is the ID of the
// stored file; SHA256 is the hex SHA-256 of its content.
type Attachment struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Attachment limits.
const (
	// DefaultMaxAttachmentSize is the largest file a message takes unless
	// configured otherwise.
	DefaultMaxAttachmentSize int64 = 10 << 20
	// MaxAttachments is how many files one message takes.
	MaxAttachments = 10
)

// Message is one entry of a ticket's thread. An internal message is a
// staff note: it never reaches a customer, by API, page or email.
type Message struct {
	ID          string       `json:"id"`
	TicketID    string       `json:"ticketId"`
	Author      Author       `json:"author"`
	Body        string       `json:"body"`
	Internal    bool         `json:"internal"`
	Attachments []Attachment `json:"attachments"`
	CreatedAt   time.Time    `json:"createdAt"`
}

// Validate reports every invalid field at once.
func (m Message) Validate() error {
	bad := &FieldErrors{}
	CheckMessageBody(bad, m.Body)
	if m.Author.Kind != AuthorCustomer && m.Author.Kind != AuthorStaff {
		bad.Add("author.kind", "must be customer or staff")
	}
	if m.Internal && m.Author.Kind != AuthorStaff {
		bad.Add("internal", "only staff write internal notes")
	}
	checkText(bad, "author.name", m.Author.Name, MaxAuthorName, false)
	return bad.Err()
}

// CustomerView is the message as a customer sees it: a member of staff is
// named, not identified.
func (m Message) CustomerView() Message {
	if m.Author.Kind == AuthorStaff {
		m.Author.ID = ""
	}
	return m
}

// CheckMessageBody adds the problem of a message body to bad: it must hold
// some text, on any number of lines, of at most MaxMessageBody characters.
func CheckMessageBody(bad *FieldErrors, body string) {
	if strings.TrimSpace(body) == "" {
		bad.Add("body", "is required")
		return
	}
	checkText(bad, "body", body, MaxMessageBody, true)
}

// NewTicket is what a customer sends to open a ticket.
type NewTicket struct {
	Subject  string
	Body     string
	Priority TicketPriority // empty is normal
}

// Validate reports every invalid field at once.
func (n NewTicket) Validate() error {
	bad := &FieldErrors{}
	checkSubject(bad, n.Subject)
	CheckMessageBody(bad, n.Body)
	if n.Priority != "" && !n.Priority.Valid() {
		bad.Add("priority", "must be low, normal, high or urgent")
	}
	return bad.Err()
}

// TicketPatch is a partial update of a ticket: nil fields stay as they are.
type TicketPatch struct {
	Status   *TicketStatus
	Priority *TicketPriority
	Assignee *string
}

// Apply copies the set fields into t.
func (p TicketPatch) Apply(t *Ticket) {
	if p.Status != nil {
		t.Status = *p.Status
	}
	if p.Priority != nil {
		t.Priority = *p.Priority
	}
	if p.Assignee != nil {
		t.Assignee = *p.Assignee
	}
}

// TicketFull reports the problem of a thread that has reached
// MaxTicketMessages.
func TicketFull() error {
	return Conflict("the ticket has reached its limit of " + strconv.Itoa(MaxTicketMessages) +
		" messages; open a new ticket")
}

// VisibleTo reports whether portal user u may see t: a member sees the
// tickets they opened, a customer admin every ticket of their account. A
// user without an account sees only their own, whatever their role.
func (t Ticket) VisibleTo(u User) bool {
	return t.UserID == u.ID || (u.Role == RoleAdmin && u.AccountID != "" && t.AccountID == u.AccountID)
}

// DisplayName is how u is named to others: first and last name, or the
// email when the user has no name.
func (u User) DisplayName() string {
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n
	}
	return u.Email
}

// Outbox message kinds of tickets.
const (
	// MailTicketReply tells a ticket's requester of a public staff reply.
	MailTicketReply = "ticket_reply"
	// MailTicketMessage tells the portal's support address of a new ticket
	// or a customer's message.
	MailTicketMessage = "ticket_message"
)
