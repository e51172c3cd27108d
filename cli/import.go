package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// maxImportFile bounds the file import-contacts reads, as the API bounds its
// body; data.MaxImportRows bounds the rows.
const maxImportFile = 64 << 20

func cmdImportContacts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], "--org ORG [--db FILE] [--actor NAME] FILE",
		"Imports contacts into an organization's directory from FILE, all rows or none: a row\n"+
			"whose email belongs to a contact updates it (empty cells keep stored values), every\n"+
			"other row creates a contact. FILE is CSV with a header row naming the columns email,\n"+
			"firstName, lastName, phone, company, accountId (any order and case), or a JSON array of\n"+
			"objects with those members; .csv and .json pick the format, otherwise the content does.\n"+
			"Every invalid row is reported at once. The database must not be held by a running\n"+
			"server; while one runs, use POST /v1/contacts/import instead.", stderr)
	org := fs.String("org", "", "organization to import into (required)")
	dbPath := fs.envString("db", "PORTAL_DB", "portal.db", "database file")
	actor := fs.String("actor", "cli:import-contacts", "who the audit trail names as the importer")
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if *org == "" {
		return errors.New("import-contacts: --org is required")
	}
	if len(pos) != 1 {
		return errors.New("import-contacts: name exactly one FILE")
	}
	rows, err := readContactsFile(pos[0])
	if err != nil {
		return fmt.Errorf("import-contacts: %s: %w", pos[0], describe(err))
	}
	db, err := store.Open(*dbPath, time.Now, store.Options{})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("import-contacts: %w; a running server holds it: use POST /v1/contacts/import, or stop the server first", err)
	}
	if err != nil {
		return fmt.Errorf("import-contacts: %w", err)
	}
	created, updated, err := db.ImportContacts(ctx, data.TenantID(*org), *actor, rows)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("import-contacts: %s: %w", pos[0], describe(err))
	}
	fmt.Fprintf(stdout, "imported %d rows into %s: %d created, %d updated\n", len(rows), *org, created, updated)
	return nil
}

// describe spells out a validation error field by field, in order.
func describe(err error) error {
	var ve *data.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	keys := make([]string, 0, len(ve.Fields))
	for k := range ve.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("nothing imported (rows[i] counts data rows from 0, after a CSV header):")
	for _, k := range keys {
		b.WriteString("\n  " + escapeControl(k) + " " + escapeControl(ve.Fields[k]))
	}
	return errors.New(b.String())
}

// readContactsFile reads a CSV or JSON contact file.
func readContactsFile(path string) ([]data.Contact, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxImportFile+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxImportFile {
		return nil, fmt.Errorf("larger than %d MiB; split the file", maxImportFile>>20)
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(body) {
		return nil, errors.New("not UTF-8 text")
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return parseContactsJSON(body)
	case ".csv":
		return data.ParseContactsCSV(body)
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		return parseContactsJSON(body)
	}
	return data.ParseContactsCSV(body)
}

// contactJSON is one element of a JSON import file: the API's members.
type contactJSON struct {
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Phone     string `json:"phone"`
	Company   string `json:"company"`
	AccountID string `json:"accountId"`
}

func parseContactsJSON(body []byte) ([]data.Contact, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in []contactJSON
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("not a JSON array of contacts: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the JSON array")
	}
	rows := make([]data.Contact, len(in))
	for i, c := range in {
		rows[i] = data.Contact{Email: c.Email, FirstName: c.FirstName, LastName: c.LastName,
			Phone: c.Phone, Company: c.Company, AccountID: c.AccountID}
	}
	return rows, nil
}
