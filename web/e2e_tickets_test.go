package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser_Tickets: a customer opens a ticket on the pages; staff answer
// it in the console with an internal note and a public reply; the customer
// sees the reply and not the note, and solves the ticket.
func TestBrowser_Tickets(t *testing.T) {
	browser := newBrowser(t)
	shots := screenshotDir(t)
	e := newEnv(t)
	base := e.srv.URL

	customer := openTab(t, browser, "customer", shots)
	admin := openTab(t, customer.ctx, "admin", shots, chromedp.WithNewBrowserContext())

	_, token := e.invite("dana@customer.test")
	customer.do(chromedp.Navigate(base+"/p/"+testSlug+"/accept?token="+token), chromedp.WaitVisible(css("#passwordConfirm")),
		chromedp.SendKeys(css("#password"), testPassword), chromedp.SendKeys(css("#passwordConfirm"), testPassword),
		chromedp.Click(css("main form button[type=submit]")), chromedp.WaitVisible(css("#features-title")))
	customer.do(chromedp.Click(css(`.site-nav a[href$="/tickets"]`)), chromedp.WaitVisible(css(`a[href$="/tickets/new"]`)),
		chromedp.Click(css(`a[href$="/tickets/new"]`)), chromedp.WaitVisible(css("#subject")),
		chromedp.SendKeys(css("#subject"), "Where is my invoice?"), chromedp.SendKeys(css("#body"), "The October one is missing."),
		chromedp.Click(css("main form button[type=submit]")), chromedp.WaitVisible(css("#ticket-status")))
	customer.shot("tickets-01-customer-thread")

	admin.do(chromedp.Navigate(base+"/admin/#token="+e.staffToken()), chromedp.WaitVisible(css("#stats .stat")),
		chromedp.Click(css("#tab-tickets")), chromedp.WaitVisible(css("#tickets-body button[data-ticket]")),
		chromedp.Click(css("#tickets-body button[data-ticket]")), chromedp.WaitVisible(css("#ticket-thread .message")))
	admin.do(chromedp.SendKeys(css("#ticket-reply-body"), "Legacy plan, regenerate it."), chromedp.Click(css("#ticket-internal")),
		chromedp.Click(css("#ticket-send")), chromedp.WaitVisible(css("#ticket-thread .message-internal")))
	admin.do(chromedp.SendKeys(css("#ticket-reply-body"), "Here it is, sorry for the wait."), chromedp.Click(css("#ticket-send")))
	admin.waitFor(`document.querySelectorAll('#ticket-thread .message').length === 3`, "the reply is in the thread")
	admin.shot("tickets-02-admin-thread")

	customer.do(chromedp.Reload(), chromedp.WaitVisible(css("#ticket-status-button")))
	body := customer.text("main")
	if !strings.Contains(body, "Here it is, sorry for the wait.") || strings.Contains(body, "Legacy plan") {
		t.Errorf("customer thread: got %q, want the reply and not the note", body)
	}
	// The page already shows the notice of the new ticket: wait for the
	// page the solve leads to, not for any notice.
	customer.do(chromedp.Click(css("#ticket-status-button")), chromedp.WaitVisible(css("#ticket-status.status-solved")))
	if loc := customer.location(); !strings.HasSuffix(loc, "?m=ticket-solved") {
		t.Errorf("after solving: at %s, want the ticket page with its notice", loc)
	}
	if got := customer.text("#ticket-status"); got != "Solved" {
		t.Errorf("got status %q after solving, want Solved", got)
	}
	customer.shot("tickets-03-customer-solved")

	customer.checkClean()
	admin.checkClean()
}
