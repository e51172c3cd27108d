package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

var contactClock = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// openContactDB opens a fresh database in a temp dir with a fixed clock.
func openContactDB(t *testing.T) *store.DB {
	t.Helper()
	return openTestDB(t, func() time.Time { return contactClock }, store.Options{})
}

const contactOrgA, contactOrgB data.TenantID = "org-a", "org-b"

// listAllContacts lists every contact of tenant, newest first.
func listAllContacts(t *testing.T, db *store.DB, tenant data.TenantID, f store.ContactFilter) []data.Contact {
	t.Helper()
	var out []data.Contact
	after := ""
	for {
		p, err := db.Contacts(context.Background(), tenant, f, after, data.MaxContactList)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out
		}
		after = p.Next
	}
}

func contactAuditActions(t *testing.T, db *store.DB, tenant data.TenantID) []string {
	t.Helper()
	p, err := db.AuditTrail(context.Background(), tenant, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range p.Items {
		out = append(out, e.Action)
	}
	return out
}

func TestDB_CreateContact(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	c := data.Contact{Email: "Ada@Example.com", FirstName: "Ada"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &c); err != nil {
		t.Fatal(err)
	}
	if !data.ValidID(c.ID) || !c.CreatedAt.Equal(contactClock) || !c.UpdatedAt.Equal(contactClock) {
		t.Fatalf("got %+v, want an ID and both timestamps at %v", c, contactClock)
	}
	got, err := db.Contact(ctx, contactOrgA, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("got %+v, want %+v", got, c)
	}
	if _, err := db.Contact(ctx, contactOrgB, c.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("other organization: got %v, want ErrNotFound", err)
	}
	if got := contactAuditActions(t, db, contactOrgA); len(got) != 1 || got[0] != "contact.create" {
		t.Errorf("got audit %v, want [contact.create]", got)
	}
}

func TestDB_CreateContact_Invalid(t *testing.T) {
	db := openContactDB(t)
	c := data.Contact{Email: "nope"}
	var ve *data.ValidationError
	if err := db.CreateContact(context.Background(), contactOrgA, "staff-1", &c); !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	if got := listAllContacts(t, db, contactOrgA, store.ContactFilter{}); len(got) != 0 {
		t.Errorf("got %d contacts, want 0", len(got))
	}
}

func TestDB_CreateContact_Conflict(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	first := data.Contact{Email: "ada@example.com"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &first); err != nil {
		t.Fatal(err)
	}
	dup := data.Contact{Email: "ADA@example.COM", FirstName: "Other"}
	err := db.CreateContact(ctx, contactOrgA, "staff-1", &dup)
	if !errors.Is(err, data.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if dup.ID != "" {
		t.Errorf("got ID %q on a refused contact, want none", dup.ID)
	}
	// Emails are unique per organization only.
	other := data.Contact{Email: "ada@example.com"}
	if err := db.CreateContact(ctx, contactOrgB, "staff-1", &other); err != nil {
		t.Errorf("other organization: got %v, want nil", err)
	}
	// Contacts without email never conflict.
	for i := 0; i < 2; i++ {
		c := data.Contact{FirstName: "No", LastName: "Mail"}
		if err := db.CreateContact(ctx, contactOrgA, "staff-1", &c); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDB_CreateContact_ConcurrentConflict(t *testing.T) {
	db := openContactDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "same@example.com"
			if i%2 == 1 {
				email = "SAME@example.com"
			}
			c := data.Contact{Email: email}
			errs[i] = db.CreateContact(context.Background(), contactOrgA, "staff-1", &c)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, data.ErrConflict):
			t.Errorf("got %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("got %d successes, want 1", ok)
	}
}

func TestDB_UpdateContact(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	a := data.Contact{Email: "a@example.com", FirstName: "A", Phone: "123"}
	b := data.Contact{Email: "b@example.com"}
	for _, c := range []*data.Contact{&a, &b} {
		if err := db.CreateContact(ctx, contactOrgA, "staff-1", c); err != nil {
			t.Fatal(err)
		}
	}
	str := func(s string) *string { return &s }

	// Taking another contact's email (in another case) is a conflict.
	if _, err := db.UpdateContact(ctx, contactOrgA, "staff-1", a.ID, data.ContactPatch{Email: str("B@EXAMPLE.com")}); !errors.Is(err, data.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	// A change of case of one's own email is fine.
	got, err := db.UpdateContact(ctx, contactOrgA, "staff-1", a.ID, data.ContactPatch{Email: str("A@example.com")})
	if err != nil || got.Email != "A@example.com" {
		t.Fatalf("got %+v, %v, want email A@example.com", got, err)
	}
	// The index follows an email change: the old email is free again.
	got, err = db.UpdateContact(ctx, contactOrgA, "staff-1", a.ID, data.ContactPatch{Email: str("c@example.com"), Phone: str("")})
	if err != nil || got.Email != "c@example.com" || got.Phone != "" || got.FirstName != "A" {
		t.Fatalf("got %+v, %v, want email c@example.com, phone cleared, name kept", got, err)
	}
	free := data.Contact{Email: "a@example.com"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &free); err != nil {
		t.Errorf("old email: got %v, want it free", err)
	}
	taken := data.Contact{Email: "C@example.com"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &taken); !errors.Is(err, data.ErrConflict) {
		t.Errorf("new email: got %v, want ErrConflict", err)
	}
	// Invalid results and unknown or foreign IDs change nothing.
	var ve *data.ValidationError
	if _, err := db.UpdateContact(ctx, contactOrgA, "staff-1", a.ID, data.ContactPatch{Email: str("x")}); !errors.As(err, &ve) {
		t.Errorf("got %v, want ValidationError", err)
	}
	if _, err := db.UpdateContact(ctx, contactOrgB, "staff-1", a.ID, data.ContactPatch{FirstName: str("B")}); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("other organization: got %v, want ErrNotFound", err)
	}
	if now, _ := db.Contact(ctx, contactOrgA, a.ID); now != got {
		t.Errorf("got %+v, want unchanged %+v", now, got)
	}
}

func TestDB_DeleteContact(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	c := data.Contact{Email: "a@example.com"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &c); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteContact(ctx, contactOrgB, "staff-1", c.ID); !errors.Is(err, data.ErrNotFound) {
		t.Fatalf("other organization: got %v, want ErrNotFound", err)
	}
	if err := db.DeleteContact(ctx, contactOrgA, "staff-1", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Contact(ctx, contactOrgA, c.ID); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound after delete", err)
	}
	again := data.Contact{Email: "A@example.com"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &again); err != nil {
		t.Errorf("got %v, want the email free after delete", err)
	}
	want := []string{"contact.create", "contact.delete", "contact.create"}
	got := contactAuditActions(t, db, contactOrgA)
	if strings.Join(got, " ") != strings.Join([]string{want[2], want[1], want[0]}, " ") {
		t.Errorf("got audit %v, want %v newest first", got, want)
	}
}

func TestDB_Contacts_Filter(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	for _, c := range []data.Contact{
		{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", AccountID: "acc-1"},
		{Email: "charles@example.com", FirstName: "Charles", LastName: "Babbage", Company: "Difference Engines", AccountID: "acc-1"},
		{FirstName: "Mary", LastName: "Somerville", AccountID: "acc-2"},
	} {
		if err := db.CreateContact(ctx, contactOrgA, "staff-1", &c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.ContactFilter
		want []string
	}{
		{"all newest first", store.ContactFilter{}, []string{"Mary", "Charles", "Ada"}},
		{"full name", store.ContactFilter{Q: "ADA LOVE"}, []string{"Ada"}},
		{"company", store.ContactFilter{Q: "engines"}, []string{"Charles"}},
		{"email", store.ContactFilter{Q: "@EXAMPLE"}, []string{"Charles", "Ada"}},
		{"account", store.ContactFilter{AccountID: "acc-1"}, []string{"Charles", "Ada"}},
		{"account and q", store.ContactFilter{AccountID: "acc-1", Q: "ada"}, []string{"Ada"}},
		{"none", store.ContactFilter{Q: "zzz"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range listAllContacts(t, db, contactOrgA, tt.f) {
				got = append(got, c.FirstName)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := listAllContacts(t, db, contactOrgB, store.ContactFilter{}); len(got) != 0 {
		t.Errorf("other organization: got %d contacts, want 0", len(got))
	}
	for _, limit := range []int{0, data.MaxContactList + 1} {
		if _, err := db.Contacts(ctx, contactOrgA, store.ContactFilter{}, "", limit); err == nil {
			t.Errorf("limit %d: got nil, want an error", limit)
		}
	}
}

func TestDB_ImportContacts_Upsert(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	existing := data.Contact{Email: "ada@example.com", FirstName: "Ada", Phone: "123"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &existing); err != nil {
		t.Fatal(err)
	}
	created, updated, err := db.ImportContacts(ctx, contactOrgA, "staff-1", []data.Contact{
		{Email: "ADA@example.com", LastName: "Lovelace"}, // updates, keeps the phone
		{Email: "new@example.com", FirstName: "New"},
		{FirstName: "No", LastName: "Email"},
		{FirstName: "No", LastName: "Email"}, // rows without email are always created
	})
	if err != nil {
		t.Fatal(err)
	}
	if created != 3 || updated != 1 {
		t.Fatalf("got created %d, updated %d, want 3 and 1", created, updated)
	}
	got, err := db.Contact(ctx, contactOrgA, existing.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastName != "Lovelace" || got.FirstName != "Ada" || got.Phone != "123" || got.Email != "ADA@example.com" {
		t.Errorf("got %+v, want the row's last name and email over the kept fields", got)
	}
	if n := len(listAllContacts(t, db, contactOrgA, store.ContactFilter{})); n != 4 {
		t.Errorf("got %d contacts, want 4", n)
	}
	dup := data.Contact{Email: "NEW@example.com"}
	if err := db.CreateContact(ctx, contactOrgA, "staff-1", &dup); !errors.Is(err, data.ErrConflict) {
		t.Errorf("imported email: got %v, want ErrConflict (indexed)", err)
	}
	p, err := db.AuditTrail(ctx, contactOrgA, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Items[0]; e.Action != "contacts.import" || e.Detail != "created 3, updated 1" {
		t.Errorf("got audit %+v, want contacts.import, created 3, updated 1", e)
	}
}

func TestDB_ImportContacts_Atomic(t *testing.T) {
	tests := []struct {
		name   string
		rows   []data.Contact
		fields []string
	}{
		{"bad rows", []data.Contact{{Email: "ok@example.com"}, {Email: "bad"}, {FirstName: "x", AccountID: "a b"}},
			[]string{"rows[1].email", "rows[2].accountId"}},
		{"duplicate in file", []data.Contact{{Email: "a@example.com"}, {FirstName: "x"}, {Email: "A@example.com"}},
			[]string{"rows[0].email", "rows[2].email"}},
		{"too many", make([]data.Contact, data.MaxImportRows+1), []string{"rows"}},
		{"empty", nil, []string{"rows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openContactDB(t)
			_, _, err := db.ImportContacts(context.Background(), contactOrgA, "staff-1", tt.rows)
			var ve *data.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			for _, f := range tt.fields {
				if _, ok := ve.Fields[f]; !ok {
					t.Errorf("got fields %v, want %s", ve.Fields, f)
				}
			}
			if got := listAllContacts(t, db, contactOrgA, store.ContactFilter{}); len(got) != 0 {
				t.Errorf("got %d contacts, want none written", len(got))
			}
			if got := contactAuditActions(t, db, contactOrgA); len(got) != 0 {
				t.Errorf("got audit %v, want none", got)
			}
		})
	}
}

func TestDB_ImportContacts_Large(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	rows := make([]data.Contact, data.MaxImportRows)
	for i := range rows {
		rows[i] = data.Contact{Email: fmt.Sprintf("person%05d@example.com", (i*7919)%data.MaxImportRows), FirstName: "P"}
	}
	start := time.Now()
	created, updated, err := db.ImportContacts(ctx, contactOrgA, "staff-1", rows)
	if err != nil {
		t.Fatal(err)
	}
	if created != data.MaxImportRows || updated != 0 {
		t.Fatalf("got created %d, updated %d, want %d and 0", created, updated, data.MaxImportRows)
	}
	// The second run matches every row by email.
	created, updated, err = db.ImportContacts(ctx, contactOrgA, "staff-1", rows)
	if err != nil || created != 0 || updated != data.MaxImportRows {
		t.Fatalf("got created %d, updated %d, %v, want 0 and %d", created, updated, err, data.MaxImportRows)
	}
	// About 1.5s under -race on an idle machine; the bound is loose because
	// test machines are shared, and still catches a quadratic import.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("two imports of %d rows took %v, want a few seconds", data.MaxImportRows, d)
	}
	if n := len(listAllContacts(t, db, contactOrgA, store.ContactFilter{})); n != data.MaxImportRows {
		t.Errorf("got %d contacts, want %d", n, data.MaxImportRows)
	}
}

func ExampleDB_CreateContact() {
	dir, _ := os.MkdirTemp("", "portal")
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "portal.db"), func() time.Time { return contactClock }, store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	c := data.Contact{Email: "ada@example.com", FirstName: "Ada"}
	fmt.Println(db.CreateContact(ctx, "org-a", "staff-1", &c), c.CreatedAt.Format(time.RFC3339))
	dup := data.Contact{Email: "ADA@example.com"}
	fmt.Println(db.CreateContact(ctx, "org-a", "staff-1", &dup))
	// Output:
	// <nil> 2026-11-26T12:00:00Z
	// a contact with this email exists
}
