package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/salesos/portal/store"
	"github.com/salesos/portal/store/kv"
)

// engine is the database the commands work on: a bbolt file (the default)
// or an etcd cluster that several portal processes share, named by a store
// URL:
//
//	portal.db, bolt:///var/lib/portal/portal.db     a bbolt file
//	etcd://host1:2379,host2:2379[/prefix][?...]     an etcd cluster (etcds:// for TLS)
//
// The etcd engine is in binaries built with -tags etcd (see
// docs/storage-seam.md); without the tag an etcd URL is refused with a
// message that says so.
type engine struct {
	db *store.DB
	// name is where the data is, for logs and reports: the file, or the
	// URL without its password.
	name string
	// lead runs fn while this process holds the lead called name among the
	// processes that share the data, campaigning again when it is lost,
	// until ctx ends; standby is told whether it waits (true) or leads.
	// A bbolt file has one process: it leads at once.
	lead func(ctx context.Context, name string, standby func(bool), fn func(context.Context))
	// changes, when not nil, receives after each write by any process into
	// the top-level bucket named (the outbox, for the mail sender).
	changes func(ctx context.Context, bucket string) <-chan struct{}
	// changesBelow, when not nil, calls fn after each write by any
	// process into a bucket below the top-level bucket named, with that
	// bucket's path below it (nil after a watch broke: anything may have
	// changed).
	changesBelow func(ctx context.Context, bucket string, fn func(sub [][]byte))
	// shared is true for a store that several processes share: what must
	// hold across them (per-account login limits) is kept in the store.
	shared bool
	// mapped is true for a database file this process maps into memory
	// (bbolt), whose reads may wait for pages from disk.
	mapped bool
}

// leadAlone is lead for an engine that one process holds.
func leadAlone(ctx context.Context, _ string, standby func(bool), fn func(context.Context)) {
	if standby != nil {
		standby(false)
	}
	fn(ctx)
}

// isEtcdURL reports whether s names an etcd cluster.
func isEtcdURL(s string) bool {
	return strings.HasPrefix(s, "etcd://") || strings.HasPrefix(s, "etcds://")
}

// boltPath is the file a bbolt store URL or plain path names.
func boltPath(s string) (string, error) {
	if p, ok := strings.CutPrefix(s, "bolt://"); ok {
		s = p
	} else if strings.Contains(s, "://") {
		return "", fmt.Errorf("store %q: want a file, bolt:///path or etcd://host:port[,host:port]", redactURL(s))
	}
	if s == "" {
		return "", errors.New("store: the file name is empty")
	}
	return s, nil
}

// openEngine opens the store URL (or file) s.
func openEngine(ctx context.Context, s string, now func() time.Time, opt store.Options) (*engine, error) {
	if isEtcdURL(s) {
		return openEtcd(ctx, s, now, opt)
	}
	path, err := boltPath(s)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(path, now, opt)
	if err != nil {
		return nil, err
	}
	return &engine{db: db, name: path, lead: leadAlone, mapped: true}, nil
}

// openBare opens the store URL (or file) s as a bare engine, without the
// store's schema migration, for migrate. A bbolt source is opened
// read-only.
func openBare(ctx context.Context, s string, readOnly bool) (kv.DB, string, error) {
	if isEtcdURL(s) {
		e, err := openEtcdBare(ctx, s)
		return e, redactURL(s), err
	}
	path, err := boltPath(s)
	if err != nil {
		return nil, "", err
	}
	e, err := store.OpenFile(path, readOnly)
	return e, path, err
}
