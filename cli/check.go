package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/salesos/portal/store"
)

func cmdCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], "[--db FILE | --store URL]",
		"Checks a database file without changing it: bbolt's own check of pages and freelist,\n"+
			"then the service's invariants. Every index entry (user_emails, user_invitation,\n"+
			"invitation_tokens, invitation_expiry, session_tokens, user_sessions, session_expiry,\n"+
			"contact_emails, slugs, outbox_due) must point at a record that agrees with it, every record must be\n"+
			"in its indexes, every stored user must be the API's JSON of it, every password hash\n"+
			"must belong to a user and every queued invitation email to its pending invitation, and\n"+
			"every counter (users by status, invitations by status, active sessions) must equal a\n"+
			"recount of its organization. A file of an older schema is checked by its own rules.\n"+
			"Prints a report and exits non-zero on any breach.\n\n"+
			"The file is opened read-only and must not be held by a running server: to check a\n"+
			"live database, take a backup (portal backup --url ...) and check that. An etcd store\n"+
			"(--store etcd://...) is checked in one read transaction while servers run.", stderr)
	dbPath := fs.envString("db", "PORTAL_DB", "portal.db", "database file to check")
	storeURL := fs.envString("store", "PORTAL_STORE", "", "the database as a URL instead of --db: bolt:///path or etcd://host:port,... (see serve --help)")
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("check: unexpected argument %q", pos[0])
	}
	var r store.Report
	switch path, perr := boltPath(*storeURL); {
	case *storeURL == "":
		r, err = store.Check(*dbPath)
	case isEtcdURL(*storeURL):
		e, name, oerr := openBare(ctx, *storeURL, true)
		if oerr != nil {
			return fmt.Errorf("check: %w", oerr)
		}
		r, err = store.CheckKV(e, name)
		_ = e.Close()
	case perr != nil:
		return fmt.Errorf("check: %w", perr)
	default:
		*dbPath = path
		r, err = store.Check(path)
	}
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w; a running server holds it: check a backup instead (portal backup --url ... --out F, then portal check --db F)", err)
	}
	if err != nil {
		return err
	}
	if _, err := printableReport(r).WriteTo(stdout); err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("check: %s: %d breaches", *dbPath, len(r.Breaches))
	}
	return nil
}
