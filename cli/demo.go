package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// demoPassword is the password of the demo's active users.
const demoPassword = "demo-password-123"

// demoActor is who the demo's audit entries name.
const demoActor = "cli:demo"

// demoPerson is one contact of the demo and what becomes of it.
type demoPerson struct {
	contact data.Contact
	fate    string // active, revoked, pending, cancelled, expired, contact
}

func demoPeople() []demoPerson {
	c := func(email, first, last, company, acct string) data.Contact {
		return data.Contact{Email: email, FirstName: first, LastName: last, Company: company, AccountID: acct,
			Phone: "+1 555 0100"}
	}
	return []demoPerson{
		{c("alice@example.com", "Alice", "Adams", "Acme Corp", "acct-acme"), "active"},
		{c("bob@example.com", "Bob", "Brown", "Acme Corp", "acct-acme"), "active"},
		{c("carol@example.com", "Carol", "Chen", "Globex", "acct-globex"), "revoked"},
		{c("dan@example.com", "Dan", "Diaz", "Globex", "acct-globex"), "pending"},
		{c("erin@example.com", "Erin", "Evans", "Initech", "acct-initech"), "cancelled"},
		{c("frank@example.com", "Frank", "Fischer", "Initech", "acct-initech"), "expired"},
		{c("grace@example.com", "Grace", "Green", "Umbrella", "acct-umbrella"), "contact"},
	}
}

// shiftedClock is the store's clock for the demo: real time plus an offset,
// so that an invitation can be made in the past and be expired by a sweep now.
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet(args[0], "[--db FILE] [--org ORG]",
		"Creates (or adds to) a database with one demo organization, so a first look shows a\n"+
			"living portal: a branded configuration, contacts, users in every state (invited,\n"+
			"active with the password "+demoPassword+", revoked), invitations in every state\n"+
			"(pending, accepted, expired, cancelled), sessions and logins. Everything is made\n"+
			"through the service's own store and account flows. Prints what it made and how to\n"+
			"log in. Refuses an organization that already has users or contacts.", stderr)
	dbPath := fs.envString("db", "PORTAL_DB", "portal.db", "database file, created when missing")
	org := fs.String("org", "demo", "organization to create")
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("demo: unexpected argument %q", pos[0])
	}
	tenant := data.TenantID(*org)
	if tenant == "" {
		return errors.New("demo: --org must not be empty")
	}
	publicURL := envOr(getenv, "PORTAL_PUBLIC_URL", "http://localhost:8080")
	clk := &shiftedClock{}
	db, err := store.Open(*dbPath, clk.now, store.Options{PublicURL: publicURL})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("demo: %w; a running server holds it: stop the server, run demo, then start it again", err)
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	d := &demo{db: db, tenant: tenant, clk: clk,
		accounts: account.New(db, slog.New(slog.DiscardHandler), account.Options{Now: clk.now})}
	if err := d.build(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return d.print(ctx, stdout, *dbPath, publicURL)
}

// demo builds the demo organization.
type demo struct {
	db       *store.DB
	tenant   data.TenantID
	clk      *shiftedClock
	accounts *account.Service
	people   []demoPerson
	ids      map[string]string // contact email -> contact ID
	pending  string            // accept link of the pending invitation
	slug     string
}

func (d *demo) build(ctx context.Context) error {
	stats, err := d.db.Stats(ctx, d.tenant)
	if err != nil {
		return err
	}
	contacts, err := d.db.Contacts(ctx, d.tenant, store.ContactFilter{}, "", 1)
	if err != nil {
		return err
	}
	if stats.Users.Total > 0 || len(contacts.Items) > 0 {
		return fmt.Errorf("organization %s already has users or contacts; choose another --org or --db", d.tenant)
	}
	d.people = demoPeople()

	// Three hours ago: the directory is filled and one person is invited
	// for an hour, so that a sweep now finds the invitation expired.
	d.clk.offset.Store(int64(-3 * time.Hour))
	rows := make([]data.Contact, len(d.people))
	for i, p := range d.people {
		rows[i] = p.contact
	}
	if _, _, err := d.db.ImportContacts(ctx, d.tenant, demoActor, rows); err != nil {
		return err
	}
	if err := d.contactIDs(ctx); err != nil {
		return err
	}
	for _, p := range d.people {
		if p.fate == "expired" {
			if _, err := d.invite(ctx, p, 1); err != nil {
				return err
			}
		}
	}
	d.clk.offset.Store(0)
	if _, err := d.db.Sweep(ctx); err != nil {
		return err
	}

	cfg, err := d.db.UpdateConfig(ctx, d.tenant, demoActor, func(c data.Config) (data.Config, error) {
		c.PortalName = "Demo Customer Portal"
		c.WelcomeMessage = "Welcome to the demo portal. Sign in to see your tickets and the knowledge base."
		c.SupportEmail = "support@example.com"
		c.Branding.PrimaryColor, c.Branding.AccentColor = "#6f42c1", "#d63384"
		return c, nil
	})
	if err != nil {
		return err
	}
	d.slug = cfg.Slug

	client := store.Client{IP: "127.0.0.1", UserAgent: "portal demo"}
	for _, p := range d.people {
		switch p.fate {
		case "active", "revoked":
			inv, err := d.invite(ctx, p, 0)
			if err != nil {
				return err
			}
			a, err := d.accounts.Accept(ctx, account.AcceptRequest{Token: tokenOf(inv.AcceptURL), Password: demoPassword}, client)
			if err != nil {
				return fmt.Errorf("accept %s: %w", p.contact.Email, err)
			}
			if p.fate == "revoked" {
				if _, err := d.db.RevokeUser(ctx, d.tenant, demoActor, a.User.ID); err != nil {
					return err
				}
			}
		case "pending":
			inv, err := d.invite(ctx, p, 0)
			if err != nil {
				return err
			}
			d.pending = inv.AcceptURL
		case "cancelled":
			inv, err := d.invite(ctx, p, 0)
			if err != nil {
				return err
			}
			if err := d.db.CancelInvitation(ctx, d.tenant, demoActor, inv.ID); err != nil {
				return err
			}
		}
	}
	// The knowledge base: two published articles and a draft customers
	// never see.
	for _, a := range demoArticles() {
		if err := d.db.CreateArticle(ctx, d.tenant, demoActor, &a); err != nil {
			return fmt.Errorf("article %s: %w", a.Slug, err)
		}
	}
	// Later logins of the active users: more sessions and login counts.
	for _, email := range []string{"alice@example.com", "alice@example.com", "bob@example.com"} {
		if _, err := d.accounts.Login(ctx, d.slug, email, demoPassword, client); err != nil {
			return fmt.Errorf("login %s: %w", email, err)
		}
	}
	return nil
}

// demoArticles are the demo's knowledge base.
func demoArticles() []data.Article {
	return []data.Article{
		{Title: "Download your invoices", Slug: "download-invoices", Category: "Billing", Status: data.ArticlePublished,
			Body: "Open **Billing** and choose *Download* next to an invoice.\n\n" +
				"- Invoices are PDF files.\n- Older invoices are under *Archive*.\n\n" +
				"Questions? [Open a ticket](../tickets/new)."},
		{Title: "Reset your password", Slug: "reset-password", Category: "Account", Status: data.ArticlePublished,
			Body: "On the sign-in page choose **Forgot your password?** and follow the link we email you. " +
				"The link works for one hour."},
		{Title: "Coming soon: invoice reminders", Slug: "invoice-reminders", Category: "Billing", Status: data.ArticleDraft,
			Body: "A draft: reminders before an invoice is due."},
	}
}

func (d *demo) contactIDs(ctx context.Context) error {
	d.ids = map[string]string{}
	p, err := d.db.Contacts(ctx, d.tenant, store.ContactFilter{}, "", data.MaxContactList)
	if err != nil {
		return err
	}
	for _, c := range p.Items {
		d.ids[c.Email] = c.ID
	}
	return nil
}

func (d *demo) invite(ctx context.Context, p demoPerson, hours int) (data.Invitation, error) {
	inv, err := d.db.InviteContact(ctx, d.tenant, demoActor, d.ids[p.contact.Email], data.InvitationRequest{
		Message: "Hello " + p.contact.FirstName + ", here is your access to our customer portal.", ExpiresInHours: hours})
	if err != nil {
		return inv, fmt.Errorf("invite %s: %w", p.contact.Email, err)
	}
	return inv, nil
}

// tokenOf takes the token out of an accept link.
func tokenOf(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	return u.Query().Get("token")
}

func (d *demo) print(ctx context.Context, w io.Writer, dbPath, publicURL string) error {
	stats, err := d.db.Stats(ctx, d.tenant)
	if err != nil {
		return err
	}
	users, err := d.db.Users(ctx, d.tenant, store.UserFilter{}, "", 100)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Demo organization %q in %s, portal %q at slug %q\n\n", d.tenant, dbPath, "Demo Customer Portal", d.slug)
	fmt.Fprintf(w, "Contacts: %d\n", len(d.people))
	fmt.Fprintf(w, "Users: %d invited, %d active, %d revoked\n", stats.Users.Invited, stats.Users.Active, stats.Users.Revoked)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := len(users.Items) - 1; i >= 0; i-- {
		u := users.Items[i]
		note := ""
		if u.Status == data.UserActive {
			note = "password " + demoPassword
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", escapeControl(u.Email), u.Status, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "Invitations: %d pending, %d accepted, %d expired, %d cancelled\n",
		stats.Invitations.Pending, stats.Invitations.Accepted, stats.Invitations.Expired, stats.Invitations.Cancelled)
	fmt.Fprintf(w, "Sessions: %d active; logins in the last 24 hours: %d\n\n", stats.Sessions.Active, stats.Logins.Last24h)
	fmt.Fprintf(w, "The commands below name the built binary, portal; from the source checkout,\n"+
		"go run . stands for it (go run . serve --db %s).\n\n", dbPath)
	fmt.Fprintf(w, "Start the server:\n  portal serve --db %s\n\n", dbPath)
	fmt.Fprintf(w, "Log in as a customer:\n  curl -s %s/v1/portal/login -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"portal\":%q,\"email\":\"alice@example.com\",\"password\":%q}'\n\n", publicURL, d.slug, demoPassword)
	fmt.Fprintf(w, "Use the admin API:\n  TOKEN=$(portal token --org %s --db %s)\n"+
		"  curl -s %s/v1/customer-portal/stats -H \"Authorization: Bearer $TOKEN\"\n\n", d.tenant, dbPath, publicURL)
	if d.pending != "" {
		fmt.Fprintf(w, "Accept dan@example.com's pending invitation (POST /v1/portal/invitations/accept\n"+
			"with {\"token\": ..., \"password\": ...}), token in this link:\n  %s\n", d.pending)
	}
	return nil
}
