package data

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// UserStatus is where a portal user is in its lifecycle:
// invited -> active -> revoked, and revoked -> invited on a new invitation.
type UserStatus string

// User statuses.
const (
	UserInvited UserStatus = "invited"
	UserActive  UserStatus = "active"
	UserRevoked UserStatus = "revoked"
)

// UserStatuses lists every status, in lifecycle order.
var UserStatuses = []UserStatus{UserInvited, UserActive, UserRevoked}

// Valid reports whether s is a known status.
func (s UserStatus) Valid() bool {
	return s == UserInvited || s == UserActive || s == UserRevoked
}

// CanBecome reports whether the lifecycle allows the move from s to next.
func (s UserStatus) CanBecome(next UserStatus) bool {
	switch s {
	case UserInvited:
		return next == UserActive || next == UserRevoked || next == UserInvited
	case UserActive:
		return next == UserRevoked
	case UserRevoked:
		return next == UserInvited || next == UserRevoked
	}
	return false
}

// Role is a portal user's role within its organization's portal.
type Role string

// Portal user roles.
const (
	RoleMember Role = "member"
	RoleAdmin  Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleMember || r == RoleAdmin }

// User is a customer's account on an organization's portal, exactly as the
// API shows it. Its password hash is kept apart from it (see store).
type User struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	FirstName   string     `json:"firstName"`
	LastName    string     `json:"lastName"`
	ContactID   string     `json:"contactId"`
	AccountID   string     `json:"accountId"`
	Role        Role       `json:"role"`
	Status      UserStatus `json:"status"`
	InvitedAt   *time.Time `json:"invitedAt"`
	ActivatedAt *time.Time `json:"activatedAt"`
	LastLoginAt *time.Time `json:"lastLoginAt"`
	RevokedAt   *time.Time `json:"revokedAt"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// Name limits.
const (
	MaxNameLength = 100
	MaxRefLength  = 100
)

// ValidName reports whether a first or last name is acceptable (may be empty).
func ValidName(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= MaxNameLength && !strings.ContainsAny(s, "\x00\r\n")
}

// ValidRef reports whether an external reference such as accountId is
// acceptable: empty, or 1..100 printable ASCII characters without spaces.
func ValidRef(s string) bool {
	if len(s) > MaxRefLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Validate reports every invalid field at once.
func (u User) Validate() error {
	bad := fieldErrors{}
	if !ValidEmail(u.Email) {
		bad.add("email", "must be an email address")
	}
	if !ValidName(u.FirstName) {
		bad.add("firstName", "must be at most 100 characters")
	}
	if !ValidName(u.LastName) {
		bad.add("lastName", "must be at most 100 characters")
	}
	if !ValidRef(u.AccountID) {
		bad.add("accountId", "must be at most 100 printable characters without spaces")
	}
	if !u.Role.Valid() {
		bad.add("role", "must be member or admin")
	}
	if !u.Status.Valid() {
		bad.add("status", "must be invited, active or revoked")
	}
	return bad.err()
}

// MaxPasswordLength bounds passwords (in characters); argon2id hashes at
// most 256 bytes of them.
const MaxPasswordLength = 128

// CheckPassword applies the portal's password rule.
func CheckPassword(pw string, minLength int) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return Invalid("password", "must be valid UTF-8")
	case n < minLength:
		return Invalid("password", "must be at least "+strconv.Itoa(minLength)+" characters")
	case n > MaxPasswordLength || len(pw) > 256:
		return Invalid("password", "must be at most 128 characters")
	case strings.TrimSpace(pw) == "":
		return Invalid("password", "must not be only spaces")
	}
	return nil
}
