package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/salesos/portal/store"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], "--from STORE --to STORE",
		"Copies a whole installation from one store to another: a bbolt file to an etcd cluster\n"+
			"or back, or file to file. A store is a file, bolt:///path/portal.db, or\n"+
			"etcd://host1:2379,host2:2379[/prefix][?ca=&cert=&key=] (etcd in a binary built with\n"+
			"-tags etcd). The source is read in one consistent read transaction and is not changed;\n"+
			"the target must be empty (a new file, or an unused etcd prefix). The copy is then\n"+
			"brought to this binary's schema and checked as portal check does. Stop the servers of\n"+
			"the source first: what they write during the copy is not in it.", stderr)
	from := fs.String("from", "", "store to copy from (required)")
	to := fs.String("to", "", "empty store to copy into (required)")
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", pos[0])
	}
	if *from == "" || *to == "" {
		return errors.New("migrate: --from and --to are required")
	}
	if !isEtcdURL(*from) && !isEtcdURL(*to) {
		a, errA := boltPath(*from)
		b, errB := boltPath(*to)
		if errA == nil && errB == nil && sameFile(a, b) {
			return errors.New("migrate: --from and --to name the same file")
		}
	}
	src, srcName, err := openBare(ctx, *from, true)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("migrate: %w; stop the server that holds it first", err)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer src.Close()
	dst, dstName, err := openBare(ctx, *to, false)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	n, err := store.CopyTree(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("migrate: %s: %w; choose a new file or an unused etcd prefix", dstName, err)
	}
	if err != nil {
		return fmt.Errorf("migrate: copying into %s: %w (the target is incomplete: empty it before trying again)", dstName, err)
	}
	// Open the copy as the server would (bringing an older schema up to
	// this binary's) and check it.
	eng, err := openEngine(ctx, *to, time.Now, store.Options{})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	report, err := store.CheckKV(eng.db.Engine(), dstName)
	if cerr := eng.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("migrate: checking %s: %w", dstName, err)
	}
	if _, err := printableReport(report).WriteTo(stdout); err != nil {
		return err
	}
	if !report.OK() {
		return fmt.Errorf("migrate: the copy in %s has %d breaches", dstName, len(report.Breaches))
	}
	fmt.Fprintf(stdout, "migrated %s to %s: %d keys\n", srcName, dstName, n)
	return nil
}
