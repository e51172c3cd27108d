package data_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

// TestErrorCap checks that every collector of field errors lists at most
// data.MaxFieldErrors of them and counts the rest, however many the input
// holds: a hostile body must not turn into a problem document (and the map
// behind it) many times its own size.
func TestErrorCap(t *testing.T) {
	const n = 5000
	manyKeys := map[string]any{}
	for i := range n {
		manyKeys["unknown"+strconv.Itoa(i)] = true
	}
	header := make([]string, n)
	for i := range header {
		header[i] = "col" + strconv.Itoa(i)
	}
	tests := []struct {
		name string
		err  func() error
	}{
		{"config patch unknown members", func() error {
			_, err := data.ApplyConfigPatch(data.DefaultConfig("acme", cfgNow), manyKeys, data.DefaultConfig("acme", cfgNow))
			return err
		}},
		{"csv unknown header columns", func() error {
			_, err := data.ParseContactsCSV([]byte(strings.Join(header, ",") + "\n"))
			return err
		}},
		{"csv bad rows", func() error {
			rows, err := data.ParseContactsCSV([]byte("email\n" + strings.Repeat("not-an-email\n", n)))
			if err != nil {
				return err
			}
			return data.ValidateImport(rows)
		}},
		{"collector", func() error {
			var f data.FieldErrors
			for i := range n {
				f.Add("f"+strconv.Itoa(i), "is bad")
			}
			for i := range data.MaxFieldErrors {
				f.Add("f"+strconv.Itoa(i), "is bad twice") // a listed field is not counted again
			}
			return f.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ve *data.ValidationError
			if err := tt.err(); !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *data.ValidationError", err)
			}
			if len(ve.Fields) != data.MaxFieldErrors {
				t.Errorf("got %d fields listed, want %d", len(ve.Fields), data.MaxFieldErrors)
			}
			if ve.Count() != n {
				t.Errorf("got count %d, want %d", ve.Count(), n)
			}
			if !strings.Contains(ve.Error(), "more") {
				t.Errorf("got %q, want it to say more errors were found", ve.Error())
			}
		})
	}
}
