package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

var ticketPathRE = regexp.MustCompile(`^/p/acme/tickets/([0-9A-Z]{26})\?m=ticket-created$`)

// openTicketPage opens a ticket through the new-ticket form and returns its ID.
func openTicketPage(t *testing.T, c *client, subject, body string) string {
	t.Helper()
	form := c.get("/p/" + testSlug + "/tickets/new")
	wantStatus(t, form, http.StatusOK)
	p := c.post("/p/"+testSlug+"/tickets", url.Values{"csrf": {form.csrf(t)}, "subject": {subject}, "body": {body}, "priority": {"high"}})
	wantStatus(t, p, http.StatusSeeOther)
	m := ticketPathRE.FindStringSubmatch(p.header.Get("Location"))
	if m == nil {
		t.Fatalf("got Location %q, want the new ticket's page", p.header.Get("Location"))
	}
	return m[1]
}

func TestTicketPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.acceptInvitation("dana@customer.test")
	home := c.get("/p/" + testSlug + "/")
	wantContains(t, home, `href="/p/acme/tickets"`)

	// A form post without its token is refused and opens nothing.
	p := c.post("/p/"+testSlug+"/tickets", url.Values{"subject": {"s"}, "body": {"b"}})
	wantStatus(t, p, http.StatusForbidden)
	// An invalid form is shown again with the reasons and the values.
	form := c.get("/p/" + testSlug + "/tickets/new")
	p = c.post("/p/"+testSlug+"/tickets", url.Values{"csrf": {form.csrf(t)}, "subject": {""}, "body": {"Kept <b>text</b>"}, "priority": {"normal"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "Subject is required.", "Kept &lt;b&gt;text&lt;/b&gt;")

	id := openTicketPage(t, c, "Invoice <missing>", "Line one\r\nLine two")
	thread := c.get("/p/" + testSlug + "/tickets/" + id + "?m=ticket-created")
	wantStatus(t, thread, http.StatusOK)
	wantContains(t, thread, "Invoice &lt;missing&gt;", "Line one\nLine two", "Your ticket has been sent", "Mark as solved")

	// Staff write a note and a reply: the page shows the reply only.
	staff := data.Author{Kind: data.AuthorStaff, ID: "alex@salesos.test", Name: "Support team"}
	for _, m := range []store.NewMessage{{Author: staff, Body: "SECRET-NOTE", Internal: true}, {Author: staff, Body: "Here is your invoice"}} {
		if _, err := e.db.AddMessage(ctx, testTenant, nil, id, m); err != nil {
			t.Fatal(err)
		}
	}
	thread = c.get("/p/" + testSlug + "/tickets/" + id)
	wantContains(t, thread, "Here is your invoice", "Awaiting your reply")
	wantNotContains(t, thread, "SECRET-NOTE", "alex@salesos.test")

	// A file of a message downloads from the thread; another ticket's path
	// does not serve it.
	file, err := e.db.PutDocumentFile(ctx, testTenant, strings.NewReader("%PDF-1.4 statement"), store.DocumentLimits{MaxSize: 1 << 20, Quota: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	withFile, err := e.db.AddMessage(ctx, testTenant, nil, id, store.NewMessage{Author: staff, Body: "Statement attached",
		Files: []store.AttachmentFile{{File: file, Name: "statement.pdf"}}})
	if err != nil {
		t.Fatal(err)
	}
	fileURL := "/p/" + testSlug + "/tickets/" + id + "/files/" + withFile.Attachments[0].ID
	thread = c.get("/p/" + testSlug + "/tickets/" + id)
	wantContains(t, thread, `href="`+fileURL+`"`, "statement.pdf")
	dl := c.get(fileURL)
	wantStatus(t, dl, http.StatusOK)
	if dl.body != "%PDF-1.4 statement" || dl.header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(dl.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: got %q with headers %v, want the file as an attachment with nosniff", dl.body, dl.header)
	}
	wantStatus(t, c.get("/p/"+testSlug+"/tickets/01ARZ3NDEKTSV4RRFFQ69G5FAV/files/"+withFile.Attachments[0].ID), http.StatusNotFound)

	// Reply, then solve, then reopen.
	p = c.post("/p/"+testSlug+"/tickets/"+id+"/reply", url.Values{"csrf": {thread.csrf(t)}, "body": {"Thanks!"}})
	wantStatus(t, p, http.StatusSeeOther)
	thread = c.follow(p)
	wantContains(t, thread, "Thanks!", "Your message has been sent")
	p = c.post("/p/"+testSlug+"/tickets/"+id+"/status", url.Values{"csrf": {thread.csrf(t)}, "status": {"solved"}})
	thread = c.follow(p)
	wantContains(t, thread, "The ticket is marked as solved", "Reopen the ticket")
	if s := mustStats(t, e.db); s.Tickets.Solved != 1 || s.Tickets.Open != 0 {
		t.Errorf("got ticket stats %+v, want one solved", s.Tickets)
	}
	// A status a customer may not set is refused.
	p = c.post("/p/"+testSlug+"/tickets/"+id+"/status", url.Values{"csrf": {thread.csrf(t)}, "status": {"closed"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)

	list := c.get("/p/" + testSlug + "/tickets")
	wantContains(t, list, `href="/p/acme/tickets/`+id+`"`, "Invoice &lt;missing&gt;", "Solved")

	// Another customer of the portal sees neither the ticket nor its page.
	other := e.acceptInvitation("eve@customer.test")
	wantStatus(t, other.get("/p/"+testSlug+"/tickets/"+id), http.StatusNotFound)
	wantStatus(t, other.get(fileURL), http.StatusNotFound)
	wantNotContains(t, other.get("/p/"+testSlug+"/tickets"), id)
	p = other.post("/p/"+testSlug+"/tickets/"+id+"/reply", url.Values{"csrf": {other.get("/p/" + testSlug + "/tickets/new").csrf(t)}, "body": {"hijack"}})
	wantStatus(t, p, http.StatusNotFound)

	// With the feature off every ticket page is 404 and the link is gone.
	off := false
	if _, err := e.db.SetFeature(ctx, testTenant, "test", "tickets", &off); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"tickets", "tickets/new", "tickets/" + id} {
		wantStatus(t, c.get("/p/"+testSlug+"/"+path), http.StatusNotFound)
	}
	wantNotContains(t, c.get("/p/"+testSlug+"/"), `href="/p/acme/tickets"`)
}

func mustStats(t *testing.T, db *store.DB) data.Stats {
	t.Helper()
	s, err := db.Stats(context.Background(), testTenant)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A ticket page of an ID of another form is the not-found page.
func TestTicketPages_UnknownPaths(t *testing.T) {
	e := newEnv(t)
	c := e.acceptInvitation("dana@customer.test")
	for _, path := range []string{"tickets/not-an-id", "tickets/01ARZ3NDEKTSV4RRFFQ69G5FAV", "tickets/01ARZ3NDEKTSV4RRFFQ69G5FAV/other"} {
		p := c.get("/p/" + testSlug + "/" + path)
		wantStatus(t, p, http.StatusNotFound)
		if strings.Contains(p.body, "csrf") {
			t.Errorf("%s: got a form on the not-found page", path)
		}
	}
}
