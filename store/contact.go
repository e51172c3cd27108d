package store

// The contact directory lives in two buckets of the organization:
//
//	orgs/<org>/contacts/<id>          -> data.Contact (JSON)
//	orgs/<org>/contact_emails/<email> -> contact id, email lower-cased
//
// The index holds only contacts that have an email; it makes emails unique
// per organization, compared case-insensitively, and lets an import match
// existing contacts without scanning the directory.

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// ContactFilter narrows a contact list. Empty fields do not filter.
type ContactFilter struct {
	// Q is a case-insensitive substring of the email, first name, last
	// name, full name or company.
	Q string
	// AccountID matches the contact's accountId exactly.
	AccountID string
}

const errDuplicateContactEmail = "a contact with this email exists"

// Contact returns the organization's contact id.
func (db *DB) Contact(ctx context.Context, tenant data.TenantID, id string) (data.Contact, error) {
	var c data.Contact
	err := db.read(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		c, err = contactIn(b, id)
		return err
	})
	return c, err
}

// Contacts lists the organization's contacts that match f, newest first,
// starting after the contact ID after (from the start when empty).
func (db *DB) Contacts(ctx context.Context, tenant data.TenantID, f ContactFilter, after string, limit int) (Page[data.Contact], error) {
	var p Page[data.Contact]
	if limit < 1 || limit > data.MaxContactList {
		return p, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxContactList))
	}
	var raw Page[[]byte]
	err := db.read(ctx, func(tx kv.Tx) error {
		raw = Page[[]byte]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		var match func(k, v []byte) (bool, error)
		if f != (ContactFilter{}) {
			pre := newSearchFilter(ctx, f.Q, f.AccountID)
			match = func(k, v []byte) (bool, error) {
				if ok, err := pre.mayMatch(v); !ok || err != nil {
					return false, err
				}
				var c data.Contact
				if err := jsonDecode(v, &c); err != nil {
					return false, fmt.Errorf("decode %s: %w", k, err)
				}
				return (f.AccountID == "" || c.AccountID == f.AccountID) && c.Matches(f.Q), nil
			}
		}
		raw, err = scanRaw(b.Bucket(bContacts), after, limit, match)
		return err
	})
	if err != nil {
		return p, err
	}
	p = Page[data.Contact]{Items: make([]data.Contact, len(raw.Items)), Next: raw.Next}
	for i, v := range raw.Items {
		if err := jsonDecode(v, &p.Items[i]); err != nil {
			return Page[data.Contact]{}, fmt.Errorf("decode contact: %w", err)
		}
	}
	return p, nil
}

// CreateContact stores c for the organization and sets c.ID, c.CreatedAt and
// c.UpdatedAt. A contact's email is unique in its organization, ignoring
// case: a duplicate is a conflict.
func (db *DB) CreateContact(ctx context.Context, tenant data.TenantID, actor string, c *data.Contact) error {
	if err := c.Validate(); err != nil {
		return err
	}
	var out data.Contact
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Contact{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		emails := b.Bucket(bContactEmails)
		if c.Email != "" && emails.Get(emailKey(c.Email)) != nil {
			return data.Conflict(errDuplicateContactEmail)
		}
		// Every check is done: from here on the transaction writes.
		now := db.Now()
		n := *c
		n.ID, n.CreatedAt, n.UpdatedAt = db.ids.New(now), now, now
		if err := putContact(b, n); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "contact.create", "contact", n.ID, ""); err != nil {
			return err
		}
		out = n
		return nil
	})
	if err != nil {
		return err
	}
	*c = out
	return nil
}

// UpdateContact applies patch to the organization's contact id and returns
// the result. The email index follows an email change; an email another
// contact holds is a conflict. A patch that changes nothing writes nothing.
func (db *DB) UpdateContact(ctx context.Context, tenant data.TenantID, actor, id string, patch data.ContactPatch) (data.Contact, error) {
	var out data.Contact
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Contact{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		cur, err := contactIn(b, id)
		if err != nil {
			return err
		}
		next := cur
		patch.Apply(&next)
		if err := next.Validate(); err != nil {
			return err
		}
		if next == cur {
			out = cur
			return nil
		}
		newKey := emailKey(next.Email)
		if next.Email != "" {
			if owner := b.Bucket(bContactEmails).Get(newKey); owner != nil && string(owner) != id {
				return data.Conflict(errDuplicateContactEmail)
			}
		}
		// Every check is done: from here on the transaction writes.
		now := db.Now()
		next.UpdatedAt = now
		if err := moveContactEmail(b, cur, next); err != nil {
			return err
		}
		if err := putJSON(b.Bucket(bContacts), bytesOf(id), next); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "contact.update", "contact", id, contactDiff(cur, next)); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

// DeleteContact removes the organization's contact id and frees its email.
func (db *DB) DeleteContact(ctx context.Context, tenant data.TenantID, actor, id string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		cur, err := contactIn(b, id)
		if err != nil {
			return err
		}
		// Every check is done: from here on the transaction writes.
		if err := moveContactEmail(b, cur, data.Contact{}); err != nil {
			return err
		}
		if err := b.Bucket(bContacts).Delete(bytesOf(id)); err != nil {
			return err
		}
		return db.audit(b, db.Now(), actor, "contact.delete", "contact", id, "")
	})
}

// ImportContacts upserts rows into the organization's directory in one
// transaction: all rows are written or none. A row whose email (ignoring
// case) belongs to an existing contact updates it, and its non-empty fields
// replace the stored ones (an empty cell never erases data); every other row,
// including every row without an email, creates a contact. Invalid rows,
// emails repeated within rows and more than data.MaxImportRows rows are
// reported together as a *data.ValidationError naming rows[i].<field>.
//
// On an engine that bounds a transaction's writes (etcd), an import of more
// rows than one transaction carries is checked in full in one read
// transaction first (so invalid rows still write nothing) and then written
// in consecutive transactions; a failure of the engine part way leaves the
// earlier ones written, and importing the same file again converges, since
// rows match contacts by email.
func (db *DB) ImportContacts(ctx context.Context, tenant data.TenantID, actor string, rows []data.Contact) (created, updated int, err error) {
	if err := data.ValidateImport(rows); err != nil {
		return 0, 0, err
	}
	// A row writes its contact and an email index entry, and may drop an
	// old entry.
	per := db.perTx(len(rows), 4)
	if per >= len(rows) {
		err = db.write(ctx, func(tx kv.Tx) error {
			created, updated = 0, 0
			var err error
			created, updated, err = db.importRows(tx, tenant, actor, rows, true, true, 0, 0)
			return err
		})
		if err != nil {
			return 0, 0, err
		}
		return created, updated, nil
	}
	err = db.read(ctx, func(tx kv.Tx) error {
		_, _, err := db.importRows(tx, tenant, actor, rows, false, false, 0, 0)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		last := start+per >= len(rows)
		var c, u int
		err := db.write(ctx, func(tx kv.Tx) error {
			var err error
			c, u, err = db.importRows(tx, tenant, actor, chunk, true, last, created, updated)
			return err
		})
		if err != nil {
			return created, updated, err
		}
		created, updated = created+c, updated+u
	}
	return created, updated, nil
}

// importRows plans rows in tx (errors of every row together) and, when
// write is set, writes them; when audit is set it records the import in
// the audit trail with the counts of earlier transactions (doneC, doneU)
// added. It returns how many contacts it created and updated.
func (db *DB) importRows(tx kv.Tx, tenant data.TenantID, actor string, rows []data.Contact, write, audit bool, doneC, doneU int) (created, updated int, err error) {
	b, err := org(tx, tenant)
	if err != nil {
		return 0, 0, err
	}
	if b == nil { // a read of an organization with no records yet
		return len(rows), 0, nil
	}
	contacts, emails := b.Bucket(bContacts), b.Bucket(bContactEmails)
	// Plan every row before the first write, so that a failure leaves
	// nothing behind and a re-run of this function starts clean.
	type change struct {
		old  data.Contact // zero for a new contact
		next data.Contact
	}
	plan := make([]change, len(rows))
	var errs data.ImportErrors
	now := db.Now()
	for i, row := range rows {
		if row.Email != "" {
			if id := emails.Get(emailKey(row.Email)); id != nil {
				cur, err := contactIn(b, string(id))
				if err != nil {
					return 0, 0, fmt.Errorf("import row %d: index names missing contact %s: %w", i, id, err)
				}
				next := mergeImported(cur, row)
				next.UpdatedAt = now
				if err := next.Validate(); err != nil {
					errs.AddErr(i, err)
				}
				plan[i] = change{old: cur, next: next}
				updated++
				continue
			}
		}
		n := row
		n.ID, n.CreatedAt, n.UpdatedAt = "", now, now
		plan[i] = change{next: n}
		created++
	}
	if err := errs.Err(); err != nil {
		return 0, 0, err
	}
	if !write {
		return created, updated, nil
	}
	// IDs are made in row order, so new contacts append to the end of
	// the contacts bucket; the index keys are written sorted. Both keep
	// bbolt's in-memory nodes from shifting on every insert, which would
	// make a large import quadratic.
	type indexEntry struct{ key, id []byte }
	var index []indexEntry
	var drop [][]byte
	for i := range plan {
		c := &plan[i]
		if c.old.ID == "" {
			c.next.ID = db.ids.New(now)
		}
		if err := putJSON(contacts, bytesOf(c.next.ID), c.next); err != nil {
			return 0, 0, err
		}
		oldKey, newKey := emailKey(c.old.Email), emailKey(c.next.Email)
		if c.old.Email != "" && !bytes.Equal(oldKey, newKey) {
			drop = append(drop, oldKey)
		}
		if c.next.Email != "" && (c.old.Email == "" || !bytes.Equal(oldKey, newKey)) {
			index = append(index, indexEntry{newKey, bytesOf(c.next.ID)})
		}
	}
	for _, k := range drop {
		if err := emails.Delete(k); err != nil {
			return 0, 0, err
		}
	}
	sort.Slice(index, func(i, j int) bool { return bytes.Compare(index[i].key, index[j].key) < 0 })
	for _, e := range index {
		if err := emails.Put(e.key, e.id); err != nil {
			return 0, 0, err
		}
	}
	if !audit {
		return created, updated, nil
	}
	return created, updated, db.audit(b, now, actor, "contacts.import", "contact", "",
		fmt.Sprintf("created %d, updated %d", doneC+created, doneU+updated))
}

// mergeImported returns cur with the non-empty fields of row.
func mergeImported(cur, row data.Contact) data.Contact {
	set := func(dst *string, src string) {
		if src != "" {
			*dst = src
		}
	}
	set(&cur.Email, row.Email)
	set(&cur.FirstName, row.FirstName)
	set(&cur.LastName, row.LastName)
	set(&cur.Phone, row.Phone)
	set(&cur.Company, row.Company)
	set(&cur.AccountID, row.AccountID)
	return cur
}

// contactIn reads contact id from the organization's bucket b, which may be
// nil (an organization with no records yet).
func contactIn(b kv.Bucket, id string) (data.Contact, error) {
	var c data.Contact
	if b == nil {
		return c, fmt.Errorf("contact %s: %w", id, data.ErrNotFound)
	}
	ok, err := getJSON(b.Bucket(bContacts), bytesOf(id), &c)
	if err != nil {
		return c, err
	}
	if !ok {
		return c, fmt.Errorf("contact %s: %w", id, data.ErrNotFound)
	}
	return c, nil
}

// putContact writes a new contact and its email index entry.
func putContact(b kv.Bucket, c data.Contact) error {
	if err := putJSON(b.Bucket(bContacts), bytesOf(c.ID), c); err != nil {
		return err
	}
	if c.Email == "" {
		return nil
	}
	return b.Bucket(bContactEmails).Put(emailKey(c.Email), bytesOf(c.ID))
}

// moveContactEmail makes the email index follow a change from cur to next;
// a zero next removes cur's entry.
func moveContactEmail(b kv.Bucket, cur, next data.Contact) error {
	emails := b.Bucket(bContactEmails)
	oldKey, newKey := emailKey(cur.Email), emailKey(next.Email)
	if cur.Email != "" && (next.Email == "" || !bytes.Equal(oldKey, newKey)) {
		// Delete only an entry that points at this contact: the index must
		// never lose another contact's claim.
		if string(emails.Get(oldKey)) == cur.ID {
			if err := emails.Delete(oldKey); err != nil {
				return err
			}
		}
	}
	if next.Email != "" {
		return emails.Put(newKey, bytesOf(cur.ID))
	}
	return nil
}

// emailKey is the index key of an email: its normalized (lower-case) form.
func emailKey(email string) []byte { return bytesOf(data.NormalizeEmail(email)) }

// contactDiff names the fields that changed, for the audit trail (the
// values are personal data and stay out of it).
func contactDiff(a, b data.Contact) string {
	var changed []string
	add := func(name string, differ bool) {
		if differ {
			changed = append(changed, name)
		}
	}
	add("email", a.Email != b.Email)
	add("firstName", a.FirstName != b.FirstName)
	add("lastName", a.LastName != b.LastName)
	add("phone", a.Phone != b.Phone)
	add("company", a.Company != b.Company)
	add("accountId", a.AccountID != b.AccountID)
	if len(changed) == 0 {
		return "no change"
	}
	return "changed " + strings.Join(changed, ", ")
}
