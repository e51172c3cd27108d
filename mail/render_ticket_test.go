package mail_test

import (
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/mail"
)

func TestRender_Tickets(t *testing.T) {
	link := "https://portal.example.com/p/acme/tickets/01JDQ2X3Y4Z5A6B7C8D9E0F1G2"
	tests := []struct {
		kind, subject string
		text          []string
	}{
		{data.MailTicketReply, "Re: Invoice <missing> [Acme Portal]",
			[]string{"Hi Ada,", "Sam from Support replied", "> Here it is.", "> Regards", link}},
		{data.MailTicketMessage, "[Acme Portal] Invoice <missing>",
			[]string{"Sam from Support wrote", "> Here it is.", link}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			m := data.OutboxMessage{Kind: tt.kind, To: "ada@example.com", Data: data.MailData{
				PortalName: "Acme Portal", FirstName: "Ada", Link: link, Message: "Here it is.\nRegards",
				TicketSubject: "Invoice\n<missing>", AuthorName: "Sam from Support"}}
			subject, text, body, err := mail.Render(m)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if subject != tt.subject {
				t.Errorf("subject: got %q, want %q", subject, tt.subject)
			}
			for _, want := range tt.text {
				if !strings.Contains(text, want) {
					t.Errorf("text: got %q, want it to contain %q", text, want)
				}
			}
			if strings.Contains(body, "<missing>") || !strings.Contains(body, "Invoice &lt;missing&gt;") {
				t.Errorf("html: want the subject escaped; got\n%s", body)
			}
			if !strings.Contains(body, `href="`+link+`"`) {
				t.Errorf("html: want the link %s; got\n%s", link, body)
			}
		})
	}
}
