package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
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
	bad := map[string]string{}
	for name, raw := range members {
		var v *string
		if json.Unmarshal(raw, &v) != nil {
			bad[name] = "must be a string or null"
		}
	}
	if len(bad) > 0 {
		return &data.ValidationError{Fields: bad}
	}
	return nil
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
		account := r.URL.Query().Get("accountId")
		if !data.ValidRef(account) {
			writeError(w, r, s.log, &paramError{name: "accountId", msg: "must be at most 100 printable characters without spaces"})
			return
		}
		f := store.ContactFilter{Q: lp.q, AccountID: account}
		pg, err := s.db.Contacts(r.Context(), principal(r).Tenant, f, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(pg.Items, s.cursors.encode("contacts", pg.Next)))
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

// handleContactImport upserts a JSON array of contacts or a CSV file, all or
// nothing. Row errors are named rows[i].<field>, i counting data rows (the
// CSV header excluded) from 0.
func (s *server) handleContactImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		ct := r.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		mt = strings.ToLower(mt)
		if ct == "" || err != nil || (mt != "application/json" && mt != "text/csv") {
			writeProblem(w, r, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
				"Send the contacts as application/json (an array) or text/csv."))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxContactImportBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeProblem(w, r, newProblem(http.StatusRequestEntityTooLarge, "payload-too-large", "Request body too large",
					"An import body may be at most 8 MiB; split the file."))
				return
			}
			writeError(w, r, s.log, &malformedError{msg: "request body could not be read"})
			return
		}
		var rows []data.Contact
		if mt == "text/csv" {
			rows, err = data.ParseContactsCSV(body)
		} else {
			rows, err = decodeContactsJSON(body)
		}
		if err != nil {
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
// objects. Malformed JSON is a 400; a bad element is a 422 naming its row.
func decodeContactsJSON(body []byte) ([]data.Contact, error) {
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if trimmed := bytes.TrimSpace(body); trimmed[0] != '[' || json.Unmarshal(trimmed, &raw) != nil {
		return nil, data.Invalid("", "must be a JSON array of contacts")
	}
	if len(raw) > data.MaxImportRows {
		return nil, data.ImportTooLarge()
	}
	rows := make([]data.Contact, len(raw))
	bad := map[int]error{}
	for i, m := range raw {
		req, err := decodeBytes[contactRequest](m)
		if err != nil {
			bad[i] = err
			continue
		}
		rows[i] = req.contact()
	}
	if len(bad) > 0 {
		return nil, data.RowErrors(rows, bad)
	}
	return rows, nil
}
