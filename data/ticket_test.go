package data_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

func TestNewTicket_Validate(t *testing.T) {
	tests := []struct {
		name string
		in   data.NewTicket
		bad  []string // fields reported, none when valid
	}{
		{"valid", data.NewTicket{Subject: "Invoice missing", Body: "Where is it?\nThanks"}, nil},
		{"valid priority", data.NewTicket{Subject: "Down", Body: "All down", Priority: data.PriorityUrgent}, nil},
		{"subject required", data.NewTicket{Subject: "  ", Body: "x"}, []string{"subject"}},
		{"subject one line", data.NewTicket{Subject: "a\nb", Body: "x"}, []string{"subject"}},
		{"subject direction override", data.NewTicket{Subject: "a\u202eb", Body: "x"}, []string{"subject"}},
		{"subject 200", data.NewTicket{Subject: strings.Repeat("é", 200), Body: "x"}, nil},
		{"subject 201", data.NewTicket{Subject: strings.Repeat("é", 201), Body: "x"}, []string{"subject"}},
		{"body required", data.NewTicket{Subject: "s", Body: "\n\t "}, []string{"body"}},
		{"body 20000", data.NewTicket{Subject: "s", Body: strings.Repeat("x", 20000)}, nil},
		{"body 20001", data.NewTicket{Subject: "s", Body: strings.Repeat("x", 20001)}, []string{"body"}},
		{"body escape code", data.NewTicket{Subject: "s", Body: "a\x1b[31m"}, []string{"body"}},
		{"bad priority", data.NewTicket{Subject: "s", Body: "b", Priority: "asap"}, []string{"priority"}},
		{"everything", data.NewTicket{Priority: "x"}, []string{"subject", "body", "priority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			var ve *data.ValidationError
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a validation error", err)
			}
			if len(ve.Fields) != len(tt.bad) {
				t.Errorf("got fields %v, want %v", ve.Fields, tt.bad)
			}
			for _, f := range tt.bad {
				if _, ok := ve.Fields[f]; !ok {
					t.Errorf("got fields %v, want %s among them", ve.Fields, f)
				}
			}
		})
	}
}

func TestMessage_Validate(t *testing.T) {
	staff := data.Author{Kind: data.AuthorStaff, ID: "staff-1", Name: "Support"}
	customer := data.Author{Kind: data.AuthorCustomer, ID: "u", Name: "Ann"}
	tests := []struct {
		name string
		in   data.Message
		ok   bool
	}{
		{"customer message", data.Message{Author: customer, Body: "hi"}, true},
		{"staff note", data.Message{Author: staff, Body: "hi", Internal: true}, true},
		{"customer note", data.Message{Author: customer, Body: "hi", Internal: true}, false},
		{"unknown author", data.Message{Author: data.Author{Kind: "bot"}, Body: "hi"}, false},
		{"empty body", data.Message{Author: staff, Body: ""}, false},
		{"name with line break", data.Message{Author: data.Author{Kind: data.AuthorStaff, Name: "a\nb"}, Body: "x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.in.Validate(); (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestTicket_CustomerView(t *testing.T) {
	tk := data.Ticket{ID: "t", Assignee: "agent@example.com", NoteCount: 3, MessageCount: 2}
	v := tk.CustomerView()
	if v.Assignee != "" || v.NoteCount != 0 || v.MessageCount != 2 {
		t.Errorf("got %+v, want no assignee, no note count, 2 messages", v)
	}
	m := data.Message{Author: data.Author{Kind: data.AuthorStaff, ID: "staff-1", Name: "Support"}}.CustomerView()
	if m.Author.ID != "" || m.Author.Name != "Support" {
		t.Errorf("got author %+v, want the name without the staff subject", m.Author)
	}
}

func TestTicketStatus(t *testing.T) {
	for _, s := range data.TicketStatuses {
		if !s.Valid() {
			t.Errorf("%s: got invalid, want valid", s)
		}
		want := s == data.TicketOpen || s == data.TicketSolved
		if got := s.CustomerSettable(); got != want {
			t.Errorf("%s customer settable: got %v, want %v", s, got, want)
		}
	}
	if data.TicketStatus("").Valid() || data.TicketStatus("OPEN").Valid() {
		t.Error("got valid for an empty or upper-case status, want invalid")
	}
}
