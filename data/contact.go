package data

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Contact is a person in an organization's contact directory, who may be
// invited to the portal.
type Contact struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	FirstName string    `json:"firstName"`
	LastName  string    `json:"lastName"`
	Phone     string    `json:"phone"`
	Company   string    `json:"company"`
	AccountID string    `json:"accountId"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Contact limits.
const (
	MaxPhone       = 40
	MaxCompany     = 200
	MaxImportRows  = 10000
	MaxContactList = 100
)

// Validate reports every invalid field at once. A contact needs an email or
// a name; the email is optional so that a directory can hold people who are
// not yet reachable by email.
func (c Contact) Validate() error {
	bad := fieldErrors{}
	if c.Email != "" && !ValidEmail(c.Email) {
		bad.add("email", "must be an email address")
	}
	if !ValidName(c.FirstName) {
		bad.add("firstName", "must be at most 100 characters")
	}
	if !ValidName(c.LastName) {
		bad.add("lastName", "must be at most 100 characters")
	}
	if c.Email == "" && strings.TrimSpace(c.FirstName) == "" && strings.TrimSpace(c.LastName) == "" {
		bad.add("email", "is required when there is no name")
	}
	if !utf8.ValidString(c.Phone) || utf8.RuneCountInString(c.Phone) > MaxPhone || strings.ContainsAny(c.Phone, "\x00\r\n") {
		bad.add("phone", "must be at most 40 characters")
	}
	if !utf8.ValidString(c.Company) || utf8.RuneCountInString(c.Company) > MaxCompany || strings.ContainsAny(c.Company, "\x00\r\n") {
		bad.add("company", "must be at most 200 characters")
	}
	if !ValidRef(c.AccountID) {
		bad.add("accountId", "must be at most 100 printable characters without spaces")
	}
	return bad.err()
}

// ContactPatch is a partial update of a contact: nil fields stay as they are.
type ContactPatch struct {
	Email     *string
	FirstName *string
	LastName  *string
	Phone     *string
	Company   *string
	AccountID *string
}

// Apply copies the set fields into c.
func (p ContactPatch) Apply(c *Contact) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.Email, p.Email)
	set(&c.FirstName, p.FirstName)
	set(&c.LastName, p.LastName)
	set(&c.Phone, p.Phone)
	set(&c.Company, p.Company)
	set(&c.AccountID, p.AccountID)
}
