package data

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"
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
	bad := &FieldErrors{}
	if c.Email != "" && !ValidEmail(c.Email) {
		bad.Add("email", "must be an email address")
	}
	checkText(bad, "firstName", c.FirstName, MaxNameLength, false)
	checkText(bad, "lastName", c.LastName, MaxNameLength, false)
	if c.Email == "" && strings.TrimSpace(c.FirstName) == "" && strings.TrimSpace(c.LastName) == "" {
		bad.Add("email", "is required when there is no name")
	}
	checkText(bad, "phone", c.Phone, MaxPhone, false)
	checkText(bad, "company", c.Company, MaxCompany, false)
	if p := refProblem(c.AccountID); p != "" {
		bad.Add("accountId", p)
	}
	return bad.Err()
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

// MaxImportErrors caps the row errors one import reports, so that a file of
// garbage does not produce a 10,000-entry problem document.
const MaxImportErrors = MaxFieldErrors

// Matches reports whether q occurs, ignoring case, in the contact's email,
// first name, last name, full name ("first last") or company. An empty q
// matches every contact.
func (c Contact) Matches(q string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, s := range [...]string{c.Email, c.FirstName, c.LastName, c.FirstName + " " + c.LastName, c.Company} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// ImportErrors collects the problems of an import file row by row, as fields
// named rows[i].<field> (i counts data rows from 0), up to MaxImportErrors
// entries; the ones past the cap are counted (ValidationError.Omitted).
type ImportErrors struct {
	fields FieldErrors
}

// Add records reason for field of row i; an empty field names the row itself.
func (e *ImportErrors) Add(i int, field, reason string) {
	name := "rows[" + strconv.Itoa(i) + "]"
	if field != "" {
		name += "." + field
	}
	e.fields.Add(name, reason)
}

// AddErr records every field of err, a *ValidationError, for row i. Any
// other non-nil error marks the whole row.
func (e *ImportErrors) AddErr(i int, err error) {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		if err != nil {
			e.Add(i, "", "is invalid")
		}
		return
	}
	keys := make([]string, 0, len(ve.Fields))
	for k := range ve.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the cap keeps the same entries on every run
	for _, k := range keys {
		e.Add(i, k, ve.Fields[k])
	}
	e.fields.omitted += ve.Omitted
}

// Len is the number of errors recorded, omitted ones included.
func (e *ImportErrors) Len() int { return e.fields.Len() }

// Err returns the collected errors as a *ValidationError, or nil if none.
func (e *ImportErrors) Err() error { return e.fields.Err() }

// ValidateImport checks the rows of a contact import all at once: their
// number (1..MaxImportRows), each row's fields, and that no email appears
// twice in the file (compared case-insensitively; both rows are named).
func ValidateImport(rows []Contact) error {
	if len(rows) == 0 {
		return Invalid("rows", "must hold at least one contact")
	}
	if len(rows) > MaxImportRows {
		return Invalid("rows", "must hold at most "+strconv.Itoa(MaxImportRows)+" contacts")
	}
	var errs ImportErrors
	first := make(map[string]int, len(rows))
	for i, c := range rows {
		errs.AddErr(i, c.Validate())
		if c.Email == "" || !ValidEmail(c.Email) {
			continue // an invalid email is reported once, not also as a repeat
		}
		key := NormalizeEmail(c.Email)
		if j, ok := first[key]; ok {
			errs.Add(j, "email", "is repeated in rows["+strconv.Itoa(i)+"]")
			errs.Add(i, "email", "repeats the email of rows["+strconv.Itoa(j)+"]")
			continue
		}
		first[key] = i
	}
	return errs.Err()
}
