package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// fillContacts imports n contacts of the realistic shape into tenant.
func fillContacts(tb testing.TB, db *store.DB, tenant data.TenantID, n int) {
	tb.Helper()
	for start := 0; start < n; start += data.MaxImportRows {
		rows := make([]data.Contact, 0, data.MaxImportRows)
		for i := start; i < min(n, start+data.MaxImportRows); i++ {
			rows = append(rows, data.Contact{
				Email:     fmt.Sprintf("firstname.lastname%05d@example-company-%03d.com", i, i%300),
				FirstName: fmt.Sprintf("Firstname%05d", i), LastName: fmt.Sprintf("Lastname%05d", i),
				Phone: fmt.Sprintf("+1 555 %04d", i%10000), Company: fmt.Sprintf("Example Company %03d", i%300),
				AccountID: fmt.Sprintf("ACC-%05d", i%500),
			})
		}
		if _, _, err := db.ImportContacts(context.Background(), tenant, "bench", rows); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkDB_Contacts_Search is the q= search of the contact list at
// 50,000 contacts: a term that matches nothing (every record is looked at),
// one that matches one contact, and a full name across two fields.
func BenchmarkDB_Contacts_Search(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "portal.db"), time.Now, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	fillContacts(b, db, "acme", 50000)
	for _, q := range []struct{ name, q string }{
		{"no match", "nobody-has-this"},
		{"one email", "lastname00042@"},
		{"full name", "firstname00042 lastname00042"},
		{"company", "example company 007"},
	} {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := db.Contacts(context.Background(), "acme", store.ContactFilter{Q: q.q}, "", 20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDB_Contacts_SearchAgreesWithMatches checks the search against
// data.Contact.Matches over every contact, for terms the byte prefilter
// must not get wrong: full names across two fields, case, characters JSON
// escapes, non-ASCII case folding (the Kelvin sign lower-cases to k).
func TestDB_Contacts_SearchAgreesWithMatches(t *testing.T) {
	db := openContactDB(t)
	ctx := context.Background()
	contacts := []data.Contact{
		{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines"},
		{FirstName: "\u212Aate", LastName: "Bell", Company: "K&R <Press>"},
		{Email: "grace@navy.example", FirstName: "Grace", LastName: "Hopper", Company: `The "Navy"`, AccountID: "ACC-1"},
		{FirstName: "José", LastName: "Ñúñez", Company: "Ácme", AccountID: "ACC-2"},
		{Email: "x@example.org", FirstName: "Mary Jane", LastName: "Watson", AccountID: "ACC-1"},
	}
	for i := range contacts {
		if err := db.CreateContact(ctx, contactOrgA, "t", &contacts[i]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []store.ContactFilter{
		{Q: "ada"}, {Q: "ADA LOVE"}, {Q: "a love"}, {Q: "kate"}, {Q: "KATE bell"}, {Q: "k&r"}, {Q: "<press>"},
		{Q: `"navy"`}, {Q: "josé ñú"}, {Q: "JOSÉ"}, {Q: "ácme"}, {Q: "mary jane wat"}, {Q: "jane"}, {Q: "@example."},
		{Q: "nobody"}, {AccountID: "ACC-1"}, {Q: "grace", AccountID: "ACC-1"}, {Q: "grace", AccountID: "ACC-2"},
		{AccountID: "acc-1"},
	}
	for _, f := range tests {
		var want []string
		for i := len(contacts) - 1; i >= 0; i-- {
			c := contacts[i]
			if (f.AccountID == "" || c.AccountID == f.AccountID) && c.Matches(f.Q) {
				want = append(want, c.ID)
			}
		}
		var got []string
		for _, c := range listAllContacts(t, db, contactOrgA, f) {
			got = append(got, c.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("filter %+v: got %v, want %v", f, got, want)
		}
	}
}

// cancelAfter is a context whose Err reports cancellation from its n-th
// call on, so a test can cancel in the middle of a walk without timing.
type cancelAfter struct {
	context.Context
	calls, n int
}

func (c *cancelAfter) Err() error {
	if c.calls++; c.calls >= c.n {
		return context.Canceled
	}
	return nil
}

// TestDB_Search_StopsOnCancel checks that a search looks at its context
// while it walks, and stops with its error, instead of only before.
func TestDB_Search_StopsOnCancel(t *testing.T) {
	db := openContactDB(t)
	fillContacts(t, db, contactOrgA, 2000)
	ctx := &cancelAfter{Context: context.Background(), n: 2} // the first look is before the walk
	_, err := db.Contacts(ctx, contactOrgA, store.ContactFilter{Q: "nobody-has-this"}, "", 20)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("contacts: got %v, want context.Canceled", err)
	}
	ctx = &cancelAfter{Context: context.Background(), n: 2}
	if _, err := db.Contacts(ctx, contactOrgA, store.ContactFilter{}, "", 20); err != nil {
		t.Errorf("unfiltered page: got %v, want nil (a page of 20 stops long before a check)", err)
	}
}

// TestDB_Contacts_SearchBoundedPerPage checks that one filtered page looks
// at no more than store.MaxScanPerPage records: a search whose only match
// is the oldest of many contacts answers short pages with a cursor, and
// following the cursors finds every match exactly once.
func TestDB_Contacts_SearchBoundedPerPage(t *testing.T) {
	db := openContactDB(t)
	n := 2*store.MaxScanPerPage + 500
	fillContacts(t, db, contactOrgA, n)
	ctx := context.Background()
	f := store.ContactFilter{Q: "lastname00000"} // the first imported, so the last walked
	p, err := db.Contacts(ctx, contactOrgA, f, "", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 0 || p.Next == "" {
		t.Fatalf("got %d items and cursor %q, want an empty first page with a cursor", len(p.Items), p.Next)
	}
	pages := 1
	var found []data.Contact
	for after := p.Next; after != ""; pages++ {
		p, err := db.Contacts(ctx, contactOrgA, f, after, 20)
		if err != nil {
			t.Fatal(err)
		}
		found, after = append(found, p.Items...), p.Next
	}
	if len(found) != 1 || found[0].LastName != "Lastname00000" {
		t.Errorf("got %+v, want the one contact Lastname00000", found)
	}
	if want := n/store.MaxScanPerPage + 1; pages != want {
		t.Errorf("got %d pages, want %d", pages, want)
	}
	// A search with many matches fills its page as before.
	all := listAllContacts(t, db, contactOrgA, store.ContactFilter{Q: "example company 007"})
	if want := (n + 299 - 7) / 300; len(all) != want {
		t.Errorf("got %d contacts of company 007, want %d", len(all), want)
	}
}
