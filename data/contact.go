package data

import (
	"errors"
	"sort"
	"strconv"
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

// MaxImportErrors caps the row errors one import reports, so that a file of
// garbage does not produce a 10,000-entry problem document.
const MaxImportErrors = 100

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
// entries; the last entry says so when more were dropped.
type ImportErrors struct {
	fields fieldErrors
	more   bool
}

// Add records reason for field of row i; an empty field names the row itself.
func (e *ImportErrors) Add(i int, field, reason string) {
	name := "rows[" + strconv.Itoa(i) + "]"
	if field != "" {
		name += "." + field
	}
	if e.fields == nil {
		e.fields = fieldErrors{}
	}
	if _, ok := e.fields[name]; ok {
		return
	}
	if len(e.fields) >= MaxImportErrors-1 {
		e.more = true
		return
	}
	e.fields.add(name, reason)
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
}

// Len is the number of errors recorded (dropped ones included as one).
func (e *ImportErrors) Len() int {
	n := len(e.fields)
	if e.more {
		n++
	}
	return n
}

// Err returns the collected errors as a *ValidationError, or nil if none.
func (e *ImportErrors) Err() error {
	if e.Len() == 0 {
		return nil
	}
	out := make(map[string]string, len(e.fields)+1)
	for k, v := range e.fields {
		out[k] = v
	}
	if e.more {
		out["rows"] = "has more invalid rows; only the first " + strconv.Itoa(MaxImportErrors-1) + " errors are listed"
	}
	return &ValidationError{Fields: out}
}

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
		if c.Email == "" {
			continue
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
