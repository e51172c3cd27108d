package data

import (
	"time"
)

// InvitationStatus is where an invitation is in its lifecycle:
// pending -> accepted | expired | cancelled.
type InvitationStatus string

// Invitation statuses.
const (
	InvitationPending   InvitationStatus = "pending"
	InvitationAccepted  InvitationStatus = "accepted"
	InvitationExpired   InvitationStatus = "expired"
	InvitationCancelled InvitationStatus = "cancelled"
)

// InvitationStatuses lists every status.
var InvitationStatuses = []InvitationStatus{InvitationPending, InvitationAccepted, InvitationExpired, InvitationCancelled}

// Valid reports whether s is a known status.
func (s InvitationStatus) Valid() bool {
	switch s {
	case InvitationPending, InvitationAccepted, InvitationExpired, InvitationCancelled:
		return true
	}
	return false
}

// CanBecome reports whether the lifecycle allows the move from s to next:
// only a pending invitation moves, and only to a final state.
func (s InvitationStatus) CanBecome(next InvitationStatus) bool {
	return s == InvitationPending && next != InvitationPending && next.Valid()
}

// Delivery is the state of an invitation's email.
type Delivery struct {
	Status    string     `json:"status"` // queued, sent, failed
	Attempts  int        `json:"attempts"`
	LastError string     `json:"lastError"`
	SentAt    *time.Time `json:"sentAt"`
}

// Delivery states.
const (
	DeliveryQueued = "queued"
	DeliverySent   = "sent"
	DeliveryFailed = "failed"
)

// Invitation asks a person to join an organization's portal.
type Invitation struct {
	ID        string           `json:"id"`
	Email     string           `json:"email"`
	UserID    string           `json:"userId"`
	ContactID string           `json:"contactId"`
	AccountID string           `json:"accountId"`
	Role      Role             `json:"role"`
	Status    InvitationStatus `json:"status"`
	Message   string           `json:"message,omitempty"`
	InvitedBy string           `json:"invitedBy"`
	CreatedAt time.Time        `json:"createdAt"`
	ExpiresAt time.Time        `json:"expiresAt"`
	// ExpiresInHours is how long each link of this invitation lives.
	ExpiresInHours int        `json:"expiresInHours"`
	AcceptedAt     *time.Time `json:"acceptedAt"`
	EndedAt        *time.Time `json:"endedAt,omitempty"`
	Delivery       Delivery   `json:"delivery"`
	// ResendTimes are the recent resends, for the per-hour limit.
	ResendTimes []time.Time `json:"resendTimes,omitempty"`
	// TokenHash is the SHA-256 of the live token, hex; empty once it is dead.
	TokenHash string `json:"tokenHash,omitempty"`
	// OutboxID is the outbox message of the invitation's latest email, which
	// ending the invitation drops if it is still queued.
	OutboxID string `json:"outboxId,omitempty"`
	// AcceptURL is set only on the create and resend responses.
	AcceptURL string `json:"acceptUrl,omitempty"`
}

// EffectiveStatus is s as of now: a pending invitation past its expiry is
// expired even before the sweeper has written that down.
func (i Invitation) EffectiveStatus(now time.Time) InvitationStatus {
	if i.Status == InvitationPending && !now.Before(i.ExpiresAt) {
		return InvitationExpired
	}
	return i.Status
}

// Public returns i as clients see it at now: no token hash, resend log or
// outbox reference, and its effective status.
func (i Invitation) Public(now time.Time) Invitation {
	i.Status = i.EffectiveStatus(now)
	i.TokenHash = ""
	i.ResendTimes = nil
	i.OutboxID = ""
	return i
}

// Invitation limits.
const (
	MaxInvitationMessage = 2000
	MinExpiryHours       = 1
	MaxExpiryHours       = 720
	ResendsPerHour       = 5
)

// InvitationRequest is what an admin asks for when inviting someone.
type InvitationRequest struct {
	Email          string
	FirstName      string
	LastName       string
	AccountID      string
	ContactID      string
	Role           Role
	Message        string
	ExpiresInHours int // 0: the portal's default
}

// Validate reports every invalid field at once.
func (r InvitationRequest) Validate() error {
	bad := &FieldErrors{}
	if !ValidEmail(r.Email) {
		bad.Add("email", "must be an email address")
	}
	checkText(bad, "firstName", r.FirstName, MaxNameLength, false)
	checkText(bad, "lastName", r.LastName, MaxNameLength, false)
	if p := refProblem(r.AccountID); p != "" {
		bad.Add("accountId", p)
	}
	if r.Role != "" && !r.Role.Valid() {
		bad.Add("role", "must be member or admin")
	}
	checkText(bad, "message", r.Message, MaxInvitationMessage, true)
	if r.ExpiresInHours != 0 && (r.ExpiresInHours < MinExpiryHours || r.ExpiresInHours > MaxExpiryHours) {
		bad.Add("expiresInHours", "must be 1 to 720")
	}
	return bad.Err()
}
