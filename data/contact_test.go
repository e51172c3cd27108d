package data_test

import (
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

func TestContact_Validate(t *testing.T) {
	tests := []struct {
		name string
		c    data.Contact
		want []string // invalid fields
	}{
		{"email only", data.Contact{Email: "a@example.com"}, nil},
		{"name only", data.Contact{FirstName: "Ada"}, nil},
		{"nothing", data.Contact{}, []string{"email"}},
		{"blank name", data.Contact{FirstName: "  "}, []string{"email"}},
		{"bad email", data.Contact{Email: "not-an-email", FirstName: "Ada"}, []string{"email"}},
		{"long phone and company", data.Contact{Email: "a@example.com", Phone: strings.Repeat("1", 41), Company: strings.Repeat("c", 201)}, []string{"company", "phone"}},
		{"bad account", data.Contact{Email: "a@example.com", AccountID: "has space"}, []string{"accountId"}},
		{"newline in name", data.Contact{Email: "a@example.com", LastName: "a\nb"}, []string{"lastName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := contactInvalidFields(tt.c.Validate())
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got invalid fields %v, want %v", got, tt.want)
			}
		})
	}
}

func TestContact_Matches(t *testing.T) {
	c := data.Contact{Email: "ada@Example.com", FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines"}
	tests := []struct {
		q    string
		want bool
	}{
		{"", true}, {"EXAMPLE", true}, {"ada love", true}, {"lovelace", true}, {"engines", true}, {"babbage", false},
	}
	for _, tt := range tests {
		if got := c.Matches(tt.q); got != tt.want {
			t.Errorf("Matches(%q): got %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestContactPatch_Apply(t *testing.T) {
	c := data.Contact{Email: "a@example.com", FirstName: "Ada", Phone: "1"}
	email, empty := "b@example.com", ""
	data.ContactPatch{Email: &email, Phone: &empty}.Apply(&c)
	if c.Email != email || c.Phone != "" || c.FirstName != "Ada" {
		t.Errorf("got %+v, want email %s, empty phone, first name kept", c, email)
	}
}

func TestValidateImport(t *testing.T) {
	ok := data.Contact{Email: "a@example.com"}
	many := make([]data.Contact, data.MaxImportRows+1)
	for i := range many {
		many[i] = data.Contact{FirstName: "x"}
	}
	garbage := make([]data.Contact, 500) // every row invalid
	tests := []struct {
		name string
		rows []data.Contact
		want []string // a subset of the invalid fields
		n    int      // exact number of errors, when not 0
	}{
		{"valid", []data.Contact{ok, {FirstName: "B"}, {FirstName: "C"}}, nil, 0},
		{"empty", nil, []string{"rows"}, 1},
		{"too many", many, []string{"rows"}, 1},
		{"bad rows", []data.Contact{ok, {Email: "x"}, {Phone: strings.Repeat("9", 50), FirstName: "P"}}, []string{"rows[1].email", "rows[2].phone"}, 2},
		{"duplicate email names both rows", []data.Contact{ok, {FirstName: "B"}, {Email: "A@EXAMPLE.com"}}, []string{"rows[0].email", "rows[2].email"}, 2},
		{"capped", garbage, []string{"rows[0].email"}, data.MaxImportErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := data.ValidateImport(tt.rows)
			got := contactInvalidFields(err)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			for _, f := range tt.want {
				if !slices.Contains(got, f) {
					t.Errorf("got fields %v, want %s among them", got, f)
				}
			}
			if tt.n != 0 && len(got) != tt.n {
				t.Errorf("got %d errors, want %d", len(got), tt.n)
			}
		})
	}
	var ve *data.ValidationError
	if err := data.ValidateImport(garbage); !errors.As(err, &ve) || ve.Count() != len(garbage) {
		t.Errorf("got %v, want %d errors counted", err, len(garbage))
	}
	err := data.ValidateImport([]data.Contact{ok, ok})
	if !errors.As(err, &ve) || !strings.Contains(ve.Fields["rows[1].email"], "rows[0]") {
		t.Errorf("got %v, want rows[1].email naming rows[0]", err)
	}
}

func contactInvalidFields(err error) []string {
	var ve *data.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for k := range ve.Fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestReadContactsCSV_Streams checks that a CSV import is read record by
// record: a bad header is refused while the rest of the body has not come.
func TestReadContactsCSV_Streams(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = io.WriteString(pw, "nope,email\n") }()
	done := make(chan error, 1)
	go func() {
		_, err := data.ReadContactsCSV(pr)
		done <- err
	}()
	select {
	case err := <-done:
		if got := contactInvalidFields(err); len(got) != 1 || got[0] != "header[0]" {
			t.Fatalf("got %v, want header[0] invalid", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("got no answer while the body was open, want one once the header was read")
	}
}
