package data

import "time"

// Session is a portal user's signed-in session. The token that names it is
// held only by the client; the store keeps its SHA-256.
type Session struct {
	ID         string    `json:"id"`
	UserID     string    `json:"userId"`
	Email      string    `json:"email"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"userAgent"`
	// IdleTimeoutMinutes is the portal's idle rule when the session began.
	IdleTimeoutMinutes int    `json:"idleTimeoutMinutes,omitempty"`
	TokenHash          string `json:"tokenHash,omitempty"`
	Current            bool   `json:"current,omitempty"`
}

// EndsAt is when s stops being usable if it is not used again: the earlier
// of its absolute expiry and its idle deadline.
func (s Session) EndsAt() time.Time {
	idle := s.LastSeenAt.Add(time.Duration(s.IdleTimeoutMinutes) * time.Minute)
	if s.IdleTimeoutMinutes > 0 && idle.Before(s.ExpiresAt) {
		return idle
	}
	return s.ExpiresAt
}

// Active reports whether s is usable at now.
func (s Session) Active(now time.Time) bool { return now.Before(s.EndsAt()) }

// Public returns s without its token hash.
func (s Session) Public() Session {
	s.TokenHash = ""
	s.IdleTimeoutMinutes = 0
	return s
}

// Limits of what a client sends about itself.
const (
	MaxUserAgent = 512
	MaxIP        = 64
)

// AuditEntry records one admin change.
type AuditEntry struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	TargetType string    `json:"targetType"`
	TargetID   string    `json:"targetId"`
	Detail     string    `json:"detail"`
}

// OutboxMessage is an email waiting to be delivered. It is written in the
// same transaction as the change that causes it.
type OutboxMessage struct {
	ID            string    `json:"id"`
	Tenant        TenantID  `json:"tenant"`
	Kind          string    `json:"kind"` // invitation, password_reset
	To            string    `json:"to"`
	InvitationID  string    `json:"invitationId,omitempty"`
	Data          MailData  `json:"data"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"lastError,omitempty"`
	NextAttemptAt time.Time `json:"nextAttemptAt"`
	CreatedAt     time.Time `json:"createdAt"`
}

// Outbox message kinds.
const (
	MailInvitation    = "invitation"
	MailPasswordReset = "password_reset"
)

// MailData is what a message's templates are filled with.
type MailData struct {
	PortalName   string    `json:"portalName"`
	PrimaryColor string    `json:"primaryColor"`
	LogoURL      string    `json:"logoUrl,omitempty"`
	SupportEmail string    `json:"supportEmail,omitempty"`
	FirstName    string    `json:"firstName,omitempty"`
	Message      string    `json:"message,omitempty"`
	Link         string    `json:"link"`
	ExpiresAt    time.Time `json:"expiresAt"`
	// TicketSubject and AuthorName are set on ticket mail.
	TicketSubject string `json:"ticketSubject,omitempty"`
	AuthorName    string `json:"authorName,omitempty"`
}

// Stats are an organization's counts, as GET /stats returns them.
type Stats struct {
	Users struct {
		Total   int64 `json:"total"`
		Invited int64 `json:"invited"`
		Active  int64 `json:"active"`
		Revoked int64 `json:"revoked"`
	} `json:"users"`
	Invitations struct {
		Pending   int64 `json:"pending"`
		Accepted  int64 `json:"accepted"`
		Expired   int64 `json:"expired"`
		Cancelled int64 `json:"cancelled"`
	} `json:"invitations"`
	Sessions struct {
		Active int64 `json:"active"`
	} `json:"sessions"`
	Logins struct {
		Last24h int64 `json:"last24h"`
		Last7d  int64 `json:"last7d"`
		Last30d int64 `json:"last30d"`
	} `json:"logins"`
	Tickets struct {
		Open    int64 `json:"open"`
		Pending int64 `json:"pending"`
		Solved  int64 `json:"solved"`
		Closed  int64 `json:"closed"`
	} `json:"tickets"`
	AcceptanceRate float64 `json:"acceptanceRate"`
	Features       struct {
		Enabled int `json:"enabled"`
		Total   int `json:"total"`
	} `json:"features"`
	GeneratedAt time.Time `json:"generatedAt"`
}
