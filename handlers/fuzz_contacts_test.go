package handlers

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// FuzzDecodeContactRequest feeds the decoders of contact create and patch
// bodies (and of JSON import files). Errors are fine; a panic fails, and so
// does a success whose value does not survive a re-encode and decode.
func FuzzDecodeContactRequest(f *testing.F) {
	for _, seed := range []string{
		`{"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "phone": "+44", "company": "E", "accountId": "acc-1"}`,
		`{"email": null, "phone": ""}`,
		`{}`,
		`{"email": 5}`,
		`{"nickname": "x"}`,
		`{"email": "a@example.com"} {}`,
		`[{"email": "a@example.com"}, {"firstName": "B"}, 7, null]`,
		`[]`,
		`null`,
		`{"email": "\ud800"}`,
		"{\"firstName\": \"J\xf6rg\"}",
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"email": `,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeBytes[contactRequest](body); err == nil {
			raw, err := json.Marshal(req)
			if err != nil {
				t.Fatalf("create request %+v does not encode: %v", req, err)
			}
			again, err := decodeBytes[contactRequest](raw)
			if err != nil || again != req {
				t.Fatalf("create request %+v re-decodes as %+v, %v", req, again, err)
			}
		}
		if req, err := decodeBytes[contactPatchRequest](body); err == nil {
			raw, err := json.Marshal(req)
			if err != nil {
				t.Fatalf("patch request %+v does not encode: %v", req, err)
			}
			again, err := decodeBytes[contactPatchRequest](raw)
			if err != nil || again != req {
				t.Fatalf("patch request %+v re-decodes from %s as %+v, %v", req, raw, again, err)
			}
		}
		if rows, err := decodeContactsJSON(bytes.NewReader(body)); err == nil {
			reqs := make([]contactRequest, len(rows))
			for i, c := range rows {
				reqs[i] = contactRequest{c.Email, c.FirstName, c.LastName, c.Phone, c.Company, c.AccountID}
			}
			raw, err := json.Marshal(reqs)
			if err != nil {
				t.Fatalf("import rows do not encode: %v", err)
			}
			again, err := decodeContactsJSON(bytes.NewReader(raw))
			if err != nil || !sameContacts(again, rows) {
				t.Fatalf("import rows %+v re-decode as %+v, %v", rows, again, err)
			}
		}
	})
}

// FuzzParseContactsCSV feeds the CSV import parser. Errors are fine; a panic
// fails, and so does a success that does not survive being written back as
// CSV and parsed again.
func FuzzParseContactsCSV(f *testing.F) {
	for _, seed := range []string{
		"email,firstName,lastName,phone,company,accountId\na@example.com,Ada,Lovelace,+44,\"E, Ltd\",acc-1\n",
		"\ufeffEMAIL,FirstName\r\nb@example.com,Bob\r\n",
		"email\n",
		"email,nickname\na@example.com,x\n",
		"email,email\na,b\n",
		"email,firstName\na@example.com\n",
		"email,firstName\na@example.com,\"unclosed\n",
		"email,firstName\na@example.com,bare\"quote\n",
		"email,company\na@example.com,\"multi\nline\"\n",
		"email,company\na@example.com,\"cr\rinside\"\n",
		"email\n\xff\xfe\n",
		"",
		"\ufeff",
		",\n,\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, err := data.ParseContactsCSV(body)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write([]string{"email", "firstName", "lastName", "phone", "company", "accountId"})
		for _, c := range rows {
			_ = w.Write([]string{c.Email, c.FirstName, c.LastName, c.Phone, c.Company, c.AccountID})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			t.Fatalf("rows %+v do not encode: %v", rows, err)
		}
		again, err := data.ParseContactsCSV(buf.Bytes())
		if err != nil || !sameContacts(again, rows) {
			t.Fatalf("rows %+v re-parse from %q as %+v, %v", rows, buf.Bytes(), again, err)
		}
	})
}

func sameContacts(a, b []data.Contact) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestDecodeContactsJSON_Streams checks that a JSON import is decoded as it
// arrives: a body that is not an array is refused while the client is still
// sending, which a decoder that reads the whole body first cannot do.
func TestDecodeContactsJSON_Streams(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = io.WriteString(pw, `{"email": "a@example.com"} [`) }()
	done := make(chan error, 1)
	go func() {
		_, err := decodeContactsJSON(pr)
		done <- err
	}()
	select {
	case err := <-done:
		var me *malformedError
		if !errors.As(err, &me) {
			t.Fatalf("got %v, want a malformed body", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("got no answer while the body was open, want one once the start was read")
	}
}
