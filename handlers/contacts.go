package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// maxContactImportBytes is the body limit of POST /v1/contacts/import only:
// 10,000 realistic contact rows take more than MaxBodyBytes (1 MiB), which
// stays the limit of every other request.
const maxContactImportBytes = 8 << 20

// contactRequest is the body of POST /v1/contacts and one element of a JSON
// import. Only these fields are writable: id and timestamps are the store's.
type contactRequest struct {
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Phone     string `json:"phone"`
	Company   string `json:"company"`
	AccountID string `json:"accountId"`
}

func (c contactRequest) contact() data.Contact {
	return data.Contact{Email: c.Email, FirstName: c.FirstName, LastName: c.LastName,
		Phone: c.Phone, Company: c.Company, AccountID: c.AccountID}
}

// contactField is one member of a contact patch: absent (set is false) or
// a string. An explicit null counts as "" and so clears the field.
type contactField struct {
	set   bool
	value string
}

// UnmarshalJSON is called for every member present, null included.
func (f *contactField) UnmarshalJSON(b []byte) error {
	f.set, f.value = true, ""
	if string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, &f.value)
}

// MarshalJSON writes the value; absent members are left out by omitzero.
func (f contactField) MarshalJSON() ([]byte, error) { return json.Marshal(f.value) }

func (f contactField) ptr() *string {
	if !f.set {
		return nil
	}
	v := f.value
	return &v
}

// checkPatchMembers reports every member of a contact patch that is neither
// a string nor null, by name. (contactField cannot name itself in its error,
// and encoding/json does not always add the member's name to errors from a
// custom decoder.) Anything that is not a JSON object is left to decode.
func checkPatchMembers(body []byte) error {
	if err := checkJSON(body); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return nil
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	sort.Strings(names) // the cap on listed errors keeps the same ones on every run
	var bad data.FieldErrors
	for _, name := range names {
		var v *string
		if json.Unmarshal(members[name], &v) != nil {
			bad.Add(name, "must be a string or null")
		}
	}
	return bad.Err()
}

// contactPatchRequest is the body of PATCH /v1/contacts/{id}.
type contactPatchRequest struct {
	Email     contactField `json:"email,omitzero"`
	FirstName contactField `json:"firstName,omitzero"`
	LastName  contactField `json:"lastName,omitzero"`
	Phone     contactField `json:"phone,omitzero"`
	Company   contactField `json:"company,omitzero"`
	AccountID contactField `json:"accountId,omitzero"`
}

func (p contactPatchRequest) patch() data.ContactPatch {
	return data.ContactPatch{Email: p.Email.ptr(), FirstName: p.FirstName.ptr(), LastName: p.LastName.ptr(),
		Phone: p.Phone.ptr(), Company: p.Company.ptr(), AccountID: p.AccountID.ptr()}
}

// contactImportResult is the answer of a successful import.
type contactImportResult struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
}

func (s *server) handleContactCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		req, err := decode[contactRequest](w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		c := req.contact()
		if err := s.db.CreateContact(r.Context(), p.Tenant, p.Subject, &c); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.Header().Set("Location", "/v1/contacts/"+c.ID)
		encode(w, r, s.log, http.StatusCreated, c)
	})
}

func (s *server) handleContactList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "contacts", "q", "accountId")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		account, err := accountFilter(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		f := store.ContactFilter{Q: lp.q, AccountID: account}
		pg, err := s.db.Contacts(r.Context(), principal(r).Tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(pg.Items, s.cursors.encode(r, "contacts", pg.Next)))
	})
}

func (s *server) handleContactGet() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (data.Contact, error) {
		return s.db.Contact(ctx, p.Tenant, id)
	})
}

func (s *server) handleContactPatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		body, err := readBody(w, r, "application/json", "application/merge-patch+json")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := checkPatchMembers(body); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		req, err := decodeBytes[contactPatchRequest](body)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		c, err := s.db.UpdateContact(r.Context(), p.Tenant, p.Subject, id, req.patch())
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, c)
	})
}

func (s *server) handleContactDelete() http.Handler {
	return byIDNoContent(s, func(ctx context.Context, p auth.Principal, id string) error {
		return s.db.DeleteContact(ctx, p.Tenant, p.Subject, id)
	})
}

// DefaultMaxConcurrentImports is how many contact imports run at once when
// Options.MaxConcurrentImports is 0. Each holds its rows (up to 10,000) and
// then the write lock, so more in flight only queue for the lock while
// holding memory.
const DefaultMaxConcurrentImports = 4

// importRetryAfter is the Retry-After, in seconds, of an import refused
// because the others in flight fill every slot.
const importRetryAfter = 5

// handleContactImport upserts a JSON array of contacts or a CSV file, all or
// nothing. Row errors are named rows[i].<field>, i counting data rows (the
// CSV header excluded) from 0. The body is decoded as it arrives, row by
// row, and at most cap(s.imports) imports run at once: past that, 503.
func (s *server) handleContactImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		if err := checkContentEncoding(r); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		ct := r.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		mt = strings.ToLower(mt)
		if ct == "" || err != nil || (mt != "application/json" && mt != "text/csv") {
			writeProblem(w, r, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
				"Send the contacts as application/json (an array) or text/csv."))
			return
		}
		select {
		case s.imports <- struct{}{}:
			defer func() { <-s.imports }()
		default:
			// The body is not wanted: closing the connection answers at
			// once, where net/http would first read up to 256 KiB of it.
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", strconv.Itoa(importRetryAfter))
			writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "unavailable", "Too many imports",
				"Other contact imports are running; retry after the time in Retry-After."))
			return
		}
		body := http.MaxBytesReader(w, r.Body, maxContactImportBytes)
		var rows []data.Contact
		if mt == "text/csv" {
			rows, err = data.ReadContactsCSV(body)
		} else {
			rows, err = decodeContactsJSON(body)
		}
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeProblem(w, r, newProblem(http.StatusRequestEntityTooLarge, "payload-too-large", "Request body too large",
				"An import body may be at most 8 MiB; split the file."))
			return
		case err != nil:
			var ve *data.ValidationError
			var me *malformedError
			if !errors.As(err, &ve) && !errors.As(err, &me) {
				err = &malformedError{msg: "request body could not be read"} // a read error of the body
			}
			writeError(w, r, s.log, err)
			return
		}
		created, updated, err := s.db.ImportContacts(r.Context(), p.Tenant, p.Subject, rows)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, contactImportResult{Created: created, Updated: updated})
	})
}

// decodeContactsJSON reads an import body that is a JSON array of contact
// objects element by element, holding one element's bytes at a time.
// Malformed JSON (also data after the array, or an element nested deeper
// than 32 levels) is a 400; a bad element is a 422 naming its row.
func decodeContactsJSON(body io.Reader) ([]data.Contact, error) {
	dec := json.NewDecoder(body)
	notArray := data.Invalid("", "must be a JSON array of contacts")
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil, &malformedError{msg: "request body is empty: send a JSON document"}
	case err != nil:
		return nil, jsonStreamError(err)
	case tok != json.Delim('['):
		// Read on, token by token, only to tell a well-formed other value
		// (422) from malformed JSON (400), as for any body.
		if err := skipValue(dec, tok); err != nil {
			return nil, err
		}
		if err := expectEOF(dec); err != nil {
			return nil, err
		}
		return nil, notArray
	}
	var rows []data.Contact
	bad := map[int]error{}
	for i := 0; dec.More(); i++ {
		if i >= data.MaxImportRows {
			return nil, data.ImportTooLarge()
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonStreamError(err)
		}
		if err := checkJSON(raw); err != nil {
			return nil, err
		}
		req, err := decodeBytes[contactRequest](raw)
		if err != nil {
			bad[i] = err
			rows = append(rows, data.Contact{})
			continue
		}
		rows = append(rows, req.contact())
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, jsonStreamError(err)
	}
	if err := expectEOF(dec); err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, data.RowErrors(rows, bad)
	}
	return rows, nil
}

// skipValue reads the rest of the value that first began, holding none of
// it, and fails when it is malformed or nests deeper than maxJSONDepth.
func skipValue(dec *json.Decoder, first json.Token) error {
	depth := 0
	for tok := first; ; {
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > maxJSONDepth {
				return &malformedError{msg: fmt.Sprintf("request body nests deeper than %d levels", maxJSONDepth)}
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		var err error
		if tok, err = dec.Token(); err != nil {
			return jsonStreamError(err)
		}
	}
}

// expectEOF fails unless nothing but white space follows the value.
func expectEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonStreamError(err)
		}
		return &malformedError{msg: "request body is not valid JSON"}
	}
	return nil
}

// jsonStreamError maps an error of the streaming decoder: a read error of
// the body (its limit included) is passed on, anything else is malformed
// JSON.
func jsonStreamError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &malformedError{msg: "request body is not valid JSON"}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return fmt.Errorf("read import: %w", err)
}
