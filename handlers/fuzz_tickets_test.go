package handlers

import (
	"testing"
	"unicode/utf8"

	"github.com/salesos/portal/data"
)

// FuzzDecodeTicketMessage feeds the decoders of the ticket bodies: a
// message (customer and staff), a new ticket and both patches. Errors are
// fine; a panic fails, so does a success that does not survive a re-encode,
// and so does a message the rules accept whose body is not bounded UTF-8
// text.
func FuzzDecodeTicketMessage(f *testing.F) {
	for _, seed := range []string{
		`{"body": "Hello,\nwhere is my invoice?"}`,
		`{"body": "note", "internal": true}`,
		`{"body": "x", "internal": "yes"}`,
		`{"body": null}`,
		`{"body": ""}`,
		`{"body": "\u202e"}`,
		`{"subject": "Invoice", "body": "b", "priority": "urgent"}`,
		`{"subject": "Invoice", "body": "b", "priority": null}`,
		`{"status": "solved"}`,
		`{"status": "closed", "priority": "low", "assignee": null}`,
		`{"assignee": "sam@salesos.example"}`,
		`{"body": "a"} {}`,
		`{"body": "\ud800"}`,
		"{\"body\": \"J\xf6rg\"}",
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"body": `,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeBytes[messageRequest](body); err == nil {
			roundTrip(t, req)
			var bad data.FieldErrors
			data.CheckMessageBody(&bad, req.Body)
			if bad.Err() == nil && (!utf8.ValidString(req.Body) || utf8.RuneCountInString(req.Body) > data.MaxMessageBody || !data.MultiLine(req.Body)) {
				t.Fatalf("body %q passes the rules, want it refused", req.Body)
			}
		}
		if req, err := decodeBytes[staffMessageRequest](body); err == nil {
			roundTrip(t, req)
		}
		if req, err := decodeBytes[ticketRequest](body); err == nil {
			roundTrip(t, req)
			nt := data.NewTicket{Subject: req.Subject, Body: req.Body}
			if nt.Validate() == nil && (!data.SingleLine(req.Subject) || utf8.RuneCountInString(req.Subject) > data.MaxTicketSubject) {
				t.Fatalf("subject %q passes the rules, want it refused", req.Subject)
			}
		}
		if req, err := decodeBytes[customerTicketPatch](body); err == nil {
			roundTrip(t, req)
		}
		if req, err := decodeBytes[staffTicketPatch](body); err == nil {
			roundTrip(t, req)
		}
	})
}
