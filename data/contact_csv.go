package data

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RowErrors reports the rows that could not be read (bad, by row index)
// together with the validation errors of every other row, in row order, so
// that one answer names every bad row.
func RowErrors(rows []Contact, bad map[int]error) error {
	var errs ImportErrors
	for i, c := range rows {
		if err, ok := bad[i]; ok {
			errs.AddErr(i, err)
			continue
		}
		errs.AddErr(i, c.Validate())
	}
	return errs.Err()
}

// ImportTooLarge is the error of an import over MaxImportRows.
func ImportTooLarge() error {
	return Invalid("rows", "must hold at most "+strconv.Itoa(MaxImportRows)+" contacts")
}

// contactColumns maps the lower-cased CSV header names to the setters of
// the fields they fill.
func contactColumns() map[string]func(*Contact, string) {
	return map[string]func(*Contact, string){
		"email":     func(c *Contact, v string) { c.Email = v },
		"firstname": func(c *Contact, v string) { c.FirstName = v },
		"lastname":  func(c *Contact, v string) { c.LastName = v },
		"phone":     func(c *Contact, v string) { c.Phone = v },
		"company":   func(c *Contact, v string) { c.Company = v },
		"accountid": func(c *Contact, v string) { c.AccountID = v },
	}
}

// ParseContactsCSV is ReadContactsCSV of a body in memory.
func ParseContactsCSV(body []byte) ([]Contact, error) {
	return ReadContactsCSV(bytes.NewReader(body))
}

// ReadContactsCSV reads an import body in CSV (RFC 4180) record by record,
// never holding more of it than one record: a header row naming the columns
// (email, firstName, lastName, phone, company, accountId in any order and
// case; unknown or repeated names are a 422), then one contact per row with
// as many fields as the header. Cells are trimmed of surrounding white
// space. A leading UTF-8 byte order mark is skipped; anything else that is
// not UTF-8 is a 422. An error of r itself is returned wrapped, as it is.
func ReadContactsCSV(r io.Reader) ([]Contact, error) {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.LazyQuotes = false
	cr.FieldsPerRecord = 0 // the header's count binds every row
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, Invalid("", "must start with a header row naming the columns")
	}
	if err := readProblem(err); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, Invalid("header", csvProblem(err))
	}
	if !validUTF8(header) {
		return nil, Invalid("", "must be UTF-8 text")
	}
	width := len(header)
	setters := make([]func(*Contact, string), width)
	var hdrErrs FieldErrors
	seen := map[string]int{}
	columns := contactColumns()
	for i, name := range header {
		key := strings.ToLower(strings.TrimSpace(name))
		field := "header[" + strconv.Itoa(i) + "]"
		set, ok := columns[key]
		switch {
		case !ok:
			hdrErrs.Add(field, "is not a known column; use email, firstName, lastName, phone, company or accountId")
		case seen[key] > 0:
			hdrErrs.Add(field, "repeats column header["+strconv.Itoa(seen[key]-1)+"]")
		default:
			seen[key] = i + 1
			setters[i] = set
		}
	}
	if err := hdrErrs.Err(); err != nil {
		return nil, err
	}

	var rows []Contact
	bad := map[int]error{}
	for i := 0; ; i++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err := readProblem(err); err != nil {
			return nil, err
		}
		if i >= MaxImportRows {
			return nil, ImportTooLarge()
		}
		if !validUTF8(rec) {
			return nil, Invalid("", "must be UTF-8 text")
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			// The row is still readable; go on to name every bad row.
			bad[i] = Invalid("", fmt.Sprintf("has %d fields, the header has %d (line %d)", len(rec), width, pe.StartLine))
			rows = append(rows, Contact{})
			continue
		}
		if err != nil {
			// Broken quoting leaves the rest of the file unreadable.
			bad[i] = Invalid("", csvProblem(err))
			rows = append(rows, Contact{})
			return nil, RowErrors(rows, bad)
		}
		var c Contact
		for j, v := range rec {
			setters[j](&c, strings.TrimSpace(v))
		}
		rows = append(rows, c)
	}
	if len(bad) > 0 {
		return nil, RowErrors(rows, bad)
	}
	return rows, nil
}

// readProblem returns err wrapped when it is an error of the underlying
// reader (a body cut off or over its limit) rather than of the CSV.
func readProblem(err error) error {
	var pe *csv.ParseError
	if err == nil || errors.Is(err, io.EOF) || errors.As(err, &pe) {
		return nil
	}
	return fmt.Errorf("read csv: %w", err)
}

func validUTF8(rec []string) bool {
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return false
		}
	}
	return true
}

// csvProblem describes a CSV syntax error in the client's terms, without
// the library's text.
func csvProblem(err error) string {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return "cannot be read as CSV"
	}
	at := fmt.Sprintf(" (line %d, column %d)", pe.Line, pe.Column)
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return `has a " in an unquoted field; quote the field and double the "` + at
	case errors.Is(pe.Err, csv.ErrQuote):
		return `has a quoted field that is not closed or is followed by other text` + at
	case errors.Is(pe.Err, csv.ErrFieldCount):
		return "has the wrong number of fields" + at
	}
	return "cannot be read as CSV" + at
}
