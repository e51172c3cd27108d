package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/salesos/portal/store"
)

func cmdRestore(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], "--from BACKUP [--db FILE] [--force]",
		"Replaces the database file with a backup. The backup is checked first (as portal check\n"+
			"does); a damaged file is always refused. The database must not be held by a running\n"+
			"server: stop the service, restore, start it. The backup is copied beside the database\n"+
			"and renamed over it once synced, so the database is the old or the new file, never a\n"+
			"mix.", stderr)
	from := fs.String("from", "", "backup file to restore (required)")
	dbPath := fs.envString("db", "PORTAL_DB", "portal.db", "database file to replace")
	force := fs.Bool("force", false, "replace an existing database file, and restore a backup whose check finds broken indexes or counters")
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("restore: unexpected argument %q", pos[0])
	}
	if *from == "" {
		return errors.New("restore: --from is required")
	}
	if sameFile(*from, *dbPath) {
		return errors.New("restore: --from and --db name the same file")
	}
	r, err := store.Check(*from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := printableReport(r).WriteTo(stdout); err != nil {
		return err
	}
	switch {
	case r.Corrupt():
		return fmt.Errorf("restore: %s is damaged; choose another backup", *from)
	case !r.OK() && !*force:
		return fmt.Errorf("restore: %s has %d breaches; pass --force to restore it anyway", *from, len(r.Breaches))
	}
	err = store.Restore(*from, *dbPath, *force)
	switch {
	case errors.Is(err, store.ErrLocked):
		return fmt.Errorf("restore: %s is held by a running server; stop it first", *dbPath)
	case errors.Is(err, os.ErrExist):
		return fmt.Errorf("restore: %s exists; pass --force to replace it", *dbPath)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "restored %s to %s\n", *from, *dbPath)
	return nil
}
