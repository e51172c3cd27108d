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

// ValidName reports whether a first or last name is acceptable (may be
// empty): SingleLine text of at most MaxNameLength characters.
func ValidName(s string) bool {
	return SingleLine(s) && utf8.RuneCountInString(s) <= MaxNameLength
}

// NameProblem says what is wrong with a first or last name, naming the rule
// that fails, or returns "" when ValidName holds.
func NameProblem(s string) string { return textRule(s, MaxNameLength, false) }

// refProblem says what is wrong with an external reference, or returns ""
// when ValidRef holds.
func refProblem(s string) string {
	switch {
	case len(s) > MaxRefLength:
		return "must be at most " + strconv.Itoa(MaxRefLength) + " characters"
	case !ValidRef(s):
		return "must be printable ASCII characters without spaces"
	}
	return ""
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
	bad := &FieldErrors{}
	if !ValidEmail(u.Email) {
		bad.Add("email", "must be an email address")
	}
	checkText(bad, "firstName", u.FirstName, MaxNameLength, false)
	checkText(bad, "lastName", u.LastName, MaxNameLength, false)
	if p := refProblem(u.AccountID); p != "" {
		bad.Add("accountId", p)
	}
	if !u.Role.Valid() {
		bad.Add("role", "must be member or admin")
	}
	if !u.Status.Valid() {
		bad.Add("status", "must be invited, active or revoked")
	}
	return bad.Err()
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
