// Package store keeps every record of the portal in a key-value database.
//
// All of its transaction logic runs on the key-value seam of package kv
// (kv.DB, kv.Tx, kv.Bucket, kv.Cursor): the default engine is one bbolt
// file, opened by Open and wrapped with boltkv, in the file format bbolt
// itself writes. A few features are the bbolt file's own and are marked
// so where they are: streaming a backup (WriteTo, Backup), the file size,
// the engine counters (EngineStats), the page-level file check, Verify and
// Restore, and page fill of append-only buckets.
//
// Buckets (names are bytes; values are JSON of the data types):
//
//	meta/schema                      -> schema version (decimal)
//	meta/secret:<name>               -> generated secrets (JWT HS256 key, cursor key)
//	slugs/<slug>                     -> organization that holds the slug
//	invitation_tokens/<sha256>       -> <org> 0x00 <invitation id>
//	session_tokens/<sha256>          -> <org> 0x00 <session id>
//	reset_tokens/<sha256>            -> resetToken JSON
//	outbox/<id>                      -> data.OutboxMessage
//	outbox_due/<org>/<nextAttemptAt><id> -> nil, every outbox message (schema 3)
//	orgs/<org>/config/config         -> data.Config
//	orgs/<org>/users/<id>            -> data.User, exactly the API's JSON of it
//	orgs/<org>/user_passwords/<id>   -> the user's password hash (PHC string)
//	orgs/<org>/user_emails/<email>   -> user id (email lower-cased)
//	orgs/<org>/user_invitation/<uid> -> id of the user's pending invitation
//	orgs/<org>/invitations/<id>      -> data.Invitation
//	orgs/<org>/invitation_expiry/<expiresAt><id> -> nil, pending invitations only
//	orgs/<org>/contacts/<id>         -> data.Contact
//	orgs/<org>/contact_emails/<email> -> contact id
//	orgs/<org>/sessions/<id>         -> data.Session
//	orgs/<org>/user_sessions/<uid><sid> -> nil
//	orgs/<org>/session_expiry/<endsAt><sid> -> nil
//	orgs/<org>/counters/<name>       -> int64, big-endian
//	orgs/<org>/logins/<hour>         -> int64 logins in that UTC hour
//	orgs/<org>/audit/<id>            -> data.AuditEntry
//	orgs/<org>/tickets/<id>          -> data.Ticket (made on first use, see ticket.go)
//	orgs/<org>/ticket_messages/<tid><mid> -> data.Message
//	orgs/<org>/blobs/<id>            -> Blob, a file held by a record (blob.go)
//	orgs/<org>/blob_chunks/<id><i>   -> chunk i of blob id, 256 KiB but the last
//	orgs/<org>/blob_loose/<id>       -> time: chunks no record holds (yet or any more)
//	orgs/<org>/webhooks/<id>         -> a webhook and its secrets (made on first use, see webhook.go)
//	orgs/<org>/webhook_deliveries/<webhookId>/<id> -> one event for one webhook
//	webhook_due/<nextAttemptAt><org>0x00<webhookId>0x00<id> -> nil, pending deliveries (made on first use)
//	orgs/<org>/kb_articles/<id>      -> data.Article (made on first use, see article.go)
//	orgs/<org>/kb_slugs/<slug>       -> article id
//
// IDs are ULIDs, so key order is creation order and cursors walk it. Every
// exported method is one transaction: a record, its indexes, its counters,
// its audit entry and its outbox message are written together or not at all.
package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	gojson "github.com/goccy/go-json"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/kb"
	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 3

var (
	bMeta             = []byte("meta")
	bSlugs            = []byte("slugs")
	bInvitationTokens = []byte("invitation_tokens")
	bSessionTokens    = []byte("session_tokens")
	bResetTokens      = []byte("reset_tokens")
	bOutbox           = []byte("outbox")
	bOrgs             = []byte("orgs")

	bConfig           = []byte("config")
	bUsers            = []byte("users")
	bUserEmails       = []byte("user_emails")
	bUserPasswords    = []byte("user_passwords")
	bUserInvitation   = []byte("user_invitation")
	bInvitations      = []byte("invitations")
	bInvitationExpiry = []byte("invitation_expiry")
	bContacts         = []byte("contacts")
	bContactEmails    = []byte("contact_emails")
	bSessions         = []byte("sessions")
	bUserSessions     = []byte("user_sessions")
	bSessionExpiry    = []byte("session_expiry")
	bCounters         = []byte("counters")
	bLogins           = []byte("logins")
	bAudit            = []byte("audit")

	topBuckets = [][]byte{bMeta, bSlugs, bInvitationTokens, bSessionTokens, bResetTokens, bOutbox, bOrgs}
	orgBuckets = [][]byte{bConfig, bUsers, bUserEmails, bUserPasswords, bUserInvitation, bInvitations, bInvitationExpiry,
		bContacts, bContactEmails, bSessions, bUserSessions, bSessionExpiry, bCounters, bLogins, bAudit}

	keySchema = []byte("schema")
	keyConfig = []byte("config")
)

// DB is the portal's database.
type DB struct {
	// kv is the engine every transaction runs on.
	kv kv.DB
	// bolt is the bbolt file under kv, for the bbolt-only features (WriteTo
	// backups, Size, EngineStats); nil on another engine.
	bolt    *bbolt.DB
	commit  *committer
	configs configCache
	now     func() time.Time
	ids     *data.IDSource
	path    string
	// publicURL prefixes the links in emails (accept, reset).
	publicURL string
	disk      diskState
	// kb is the full-text index of the published articles (article.go)
	// and render renders their Markdown; kbMu orders the writes of
	// articles with the index updates that follow them.
	kb     *kb.Index
	render *kb.Renderer
	kbMu   sync.Mutex
	// maxWrites is how many keys one transaction may write (kv.Limited);
	// 0 for no bound (bbolt).
	maxWrites int
}

// perTx is how many records of about costs keys each one transaction
// writes when the engine bounds its writes, else def.
func (db *DB) perTx(def, cost int) int {
	if db.maxWrites <= 0 {
		return def
	}
	return max(1, min(def, db.maxWrites/cost))
}

// Options tune Open. The zero value is the production setting.
type Options struct {
	// IDs makes record IDs; nil uses crypto/rand.
	IDs *data.IDSource
	// ReadOnly opens the file without taking the write lock.
	ReadOnly bool
	// PublicURL is the service's public base URL, for links in emails
	// (default http://localhost:8080).
	PublicURL string
	// CommitFault, when not nil, is called at the end of every write
	// transaction; an error it returns fails the commit as a failing disk
	// would (the transaction rolls back). It is for tests of storage
	// failures such as a full disk.
	CommitFault func() error
}

// BoltOptions are the bbolt settings the store always opens with: every
// commit is fsynced and a second process waits at most a second for the lock.
func BoltOptions(readOnly bool) *bbolt.Options {
	return &bbolt.Options{Timeout: time.Second, ReadOnly: readOnly, FreelistType: bbolt.FreelistMapType}
}

// Open opens (creating if needed) the database at path and migrates it to
// SchemaVersion. now is the clock every record's timestamps come from.
//
// An existing file is tested before bbolt maps it (its meta pages, its
// length against their page count, its freelist and root page; see
// Verify): a damaged file is refused with an error wrapping ErrDamaged or
// ErrNotDatabase rather than served until a read crashes the process.
func Open(path string, now func() time.Time, opt Options) (*DB, error) {
	if err := verifyOpen(path, opt.ReadOnly); err != nil {
		if errors.Is(err, ErrDamaged) || errors.Is(err, ErrNotDatabase) {
			return nil, fmt.Errorf("open %s: %w (restore a backup: portal restore --from BACKUP --force)", path, err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	b, err := bbolt.Open(path, 0o600, BoltOptions(opt.ReadOnly))
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	e := boltkv.Wrap(b)
	db, err := newDB(e, e.Bolt(), boltGroup, path, now, opt)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return db, nil
}

// newDB is the store on engine e (bolt is the file under it, or nil), its
// writes grouped by up to group, migrated to SchemaVersion unless opened
// read-only: what Open and OpenKV share.
func newDB(e kv.DB, bolt *bbolt.DB, group int, name string, now func() time.Time, opt Options) (*DB, error) {
	ids := opt.IDs
	if ids == nil {
		ids = data.NewIDSource(nil)
	}
	db := &DB{kv: e, bolt: bolt, commit: &committer{kv: e, group: group, fault: opt.CommitFault}, now: now, ids: ids,
		path: name, publicURL: strings.TrimRight(opt.PublicURL, "/"), kb: kb.NewIndex(), render: kb.NewRenderer()}
	if db.publicURL == "" {
		db.publicURL = "http://localhost:8080"
	}
	if l, ok := e.(kv.Limited); ok {
		db.maxWrites = l.MaxWrites()
	}
	if !opt.ReadOnly {
		if err := db.migrate(); err != nil {
			return nil, errors.Join(err, db.kb.Close())
		}
	}
	return db, nil
}

// Close closes the database and releases the article index.
func (db *DB) Close() error { return errors.Join(db.kv.Close(), db.kb.Close()) }

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// Now is the store's clock, to the second as the API shows time.
func (db *DB) Now() time.Time { return db.now().UTC().Truncate(time.Second) }

// NewID returns a fresh record ID.
func (db *DB) NewID() string { return db.ids.New(db.now()) }

// migrations[i] moves a database from schema i to i+1.
var migrations = []func(tx kv.Tx) error{
	// 0 -> 1: the initial layout.
	func(tx kv.Tx) error {
		for _, name := range topBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	},
	// 1 -> 2: password hashes move out of the user records into
	// user_passwords, so that a stored user is exactly the API's JSON of it;
	// and each invitation learns the outbox message of its queued email, so
	// that ending it drops the email without reading the whole outbox.
	func(tx kv.Tx) error {
		if err := movePasswords(tx); err != nil {
			return err
		}
		return linkOutbox(tx)
	},
	// 2 -> 3: the outbox is indexed by organization and next attempt
	// (outbox_due), so a sender finds due mail without reading the outbox.
	indexOutbox,
}

// linkOutbox is the second half of migration 1 -> 2.
func linkOutbox(tx kv.Tx) error {
	var queued []data.OutboxMessage
	err := tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
		var m data.OutboxMessage
		if err := jsonDecode(v, &m); err != nil {
			return fmt.Errorf("outbox %s: %w", k, err)
		}
		if m.InvitationID != "" {
			queued = append(queued, m)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range queued {
		b := tx.Bucket(bOrgs).Bucket(bytesOf(m.Tenant))
		if b == nil {
			continue
		}
		inv, err := getInvitation(b, m.InvitationID)
		if errors.Is(err, data.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		inv.OutboxID = m.ID
		if err := putJSON(b.Bucket(bInvitations), bytesOf(inv.ID), inv); err != nil {
			return err
		}
	}
	return nil
}

// movePasswords is migration 1 -> 2.
func movePasswords(tx kv.Tx) error {
	orgs := tx.Bucket(bOrgs)
	var names [][]byte
	if err := orgs.ForEachBucket(func(name []byte) error {
		names = append(names, append([]byte(nil), name...))
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		b := orgs.Bucket(name)
		passwords, err := b.CreateBucketIfNotExists(bUserPasswords)
		if err != nil {
			return err
		}
		users := b.Bucket(bUsers)
		if users == nil {
			continue
		}
		var stale [][]byte // records that still hold a hash
		err = users.ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte(`"passwordHash"`)) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			var old struct {
				data.User
				PasswordHash string `json:"passwordHash"`
			}
			if err := jsonDecode(users.Get(k), &old); err != nil {
				return fmt.Errorf("org %s, user %s: %w", name, k, err)
			}
			if old.PasswordHash != "" {
				if err := passwords.Put(k, []byte(old.PasswordHash)); err != nil {
					return err
				}
			}
			if err := putJSON(users, k, old.User); err != nil {
				return err
			}
		}
	}
	return nil
}

func (db *DB) migrate() error {
	return db.kv.Update(func(tx kv.Tx) error {
		v := 0
		if m := tx.Bucket(bMeta); m != nil {
			if raw := m.Get(keySchema); raw != nil {
				n, err := strconv.Atoi(string(raw))
				if err != nil {
					return fmt.Errorf("migrate: schema version %q: %w", raw, err)
				}
				v = n
			}
		}
		if v > SchemaVersion {
			return fmt.Errorf("migrate: database schema %d is newer than this binary's %d", v, SchemaVersion)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate %d to %d: %w", v, v+1, err)
			}
		}
		return tx.Bucket(bMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

// Schema returns the schema version stored in the file.
func (db *DB) Schema() (int, error) {
	var v int
	err := db.kv.View(func(tx kv.Tx) error {
		v = 0
		if m := tx.Bucket(bMeta); m != nil {
			n, err := strconv.Atoi(string(m.Get(keySchema)))
			if err == nil {
				v = n
			}
		}
		return nil
	})
	return v, err
}

// isResult reports whether err is a domain outcome (not found, conflict,
// validation, ...) rather than a storage failure.
func isResult(err error) bool {
	var ve *data.ValidationError
	var rl *data.RateLimitError
	var qe *data.StorageQuotaError
	return errors.As(err, &qe) || errors.Is(err, data.ErrNotFound) || errors.Is(err, data.ErrConflict) ||
		errors.Is(err, data.ErrPreconditionFailed) || errors.Is(err, data.ErrGone) ||
		errors.Is(err, data.ErrUnauthorized) || errors.Is(err, data.ErrForbidden) ||
		errors.As(err, &ve) || errors.As(err, &rl)
}

// write runs fn in a durable transaction shared with other concurrent
// writes (group commit: one commit, one fsync for the group). fn may run more
// than once, so it must set its results afresh on every run and do every
// check before its first write. A domain outcome returned by fn is passed
// back to the caller without failing the group the others share.
func (db *DB) write(ctx context.Context, fn func(tx kv.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err // bbolt cannot cancel a running transaction, so check before starting
	}
	var result error
	err := db.commit.do(func(tx kv.Tx) error {
		result = nil
		fillAppendOnlyTop(tx)
		if err := fn(tx); err != nil {
			if isResult(err) {
				result = err
				return nil
			}
			return err
		}
		return nil
	})
	if err := db.noteCommit(err); err != nil {
		return err
	}
	return result
}

// read runs fn in a read-only transaction.
func (db *DB) read(ctx context.Context, fn func(tx kv.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.kv.View(fn)
}

// org returns the organization's bucket, creating it and its record buckets
// on first use. In a read-only transaction a missing organization yields nil.
func org(tx kv.Tx, tenant data.TenantID) (kv.Bucket, error) {
	if tenant == "" {
		return nil, errors.New("empty organization")
	}
	orgs := tx.Bucket(bOrgs)
	if b := orgs.Bucket(bytesOf(tenant)); b != nil {
		if tx.Writable() {
			fillAppendOnly(b)
		}
		return b, nil
	}
	if !tx.Writable() {
		return nil, nil
	}
	b, err := orgs.CreateBucket(bytesOf(tenant))
	if err != nil {
		return nil, err
	}
	for _, name := range orgBuckets {
		if _, err := b.CreateBucket(name); err != nil {
			return nil, err
		}
	}
	fillAppendOnly(b)
	return b, nil
}

// appendOnly are the organization's buckets keyed in creation order (by
// ULID, by a time, or by a token's time prefix): new keys arrive at the end,
// so their pages are best split full rather than at bbolt's default half.
// appendOnlyTop are the top-level ones.
var (
	appendOnly    = [][]byte{bUsers, bUserInvitation, bInvitations, bInvitationExpiry, bContacts, bSessions, bSessionExpiry, bLogins, bAudit}
	appendOnlyTop = [][]byte{bOutbox, bInvitationTokens, bSessionTokens, bResetTokens}
)

// appendFill is the fill of a page split in an appendOnly bucket.
const appendFill = 0.95

// fillAppendOnly packs the pages of the organization's appendOnly buckets.
// bbolt keeps the setting on the bucket handle of this transaction only, and
// org is how every write reaches them. bbolt-only: other engines have no
// pages to fill, and it does nothing there.
func fillAppendOnly(b kv.Bucket) {
	if boltkv.Bucket(b) == nil {
		return
	}
	for _, name := range appendOnly {
		setFill(b.Bucket(name))
	}
}

// setFill packs the pages of the bbolt bucket under b, if it is one.
func setFill(b kv.Bucket) {
	if bb := boltkv.Bucket(b); bb != nil {
		bb.FillPercent = appendFill
	}
}

// fillAppendOnlyTop is fillAppendOnly for the top-level buckets, done by
// every write.
func fillAppendOnlyTop(tx kv.Tx) {
	if boltkv.Tx(tx) == nil {
		return
	}
	for _, name := range appendOnlyTop {
		setFill(tx.Bucket(name))
	}
}

// orgIfReadsAhead is the organization's bucket (org) on an engine that
// takes announced reads (kv.Prefetcher), nil on bbolt, whose reads are
// memory reads: its hot paths skip the bucket walks only announcing needs.
func orgIfReadsAhead(tx kv.Tx, tenant data.TenantID) (kv.Bucket, error) {
	if boltkv.Tx(tx) != nil {
		return nil, nil
	}
	return org(tx, tenant)
}

// prefetch announces Gets of keys of b to an engine whose reads are round
// trips (kv.Prefetcher), which then makes them with its next request.
func prefetch(b kv.Bucket, keys ...[]byte) {
	if p, ok := b.(kv.Prefetcher); ok {
		p.Prefetch(keys...)
	}
}

// prefetchSeek announces a walk of about n keys of b from seek
// (kv.Prefetcher).
func prefetchSeek(b kv.Bucket, seek []byte, n int) {
	if p, ok := b.(kv.Prefetcher); ok {
		p.PrefetchSeek(seek, n)
	}
}

func getJSON(b kv.Bucket, key []byte, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := gojson.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func putJSON(b kv.Bucket, key []byte, v any) error {
	raw, err := gojson.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// bytesOf is s as the key or value of a Get, Put, Delete, Seek or Bucket,
// without a copy. Through the kv interfaces the compiler cannot see that
// the engine keeps no reference to a key, so a []byte(s) conversion there
// would be a heap allocation on every call, which on bbolt called directly
// it was not. Borrowing s's bytes is sound: the seam never writes into the
// keys and values it is given, and s never changes, so a value stays
// unchanged until the transaction ends as Put requires. The result must not
// be written to.
func bytesOf[S ~string](s S) []byte {
	return unsafe.Slice(unsafe.StringData(string(s)), len(s))
}

func itob(n int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

func btoi(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// timeKey is a sortable key for t followed by id.
func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

// ErrNoFile is the error of a bbolt-only feature (a file snapshot) asked
// of a database on another engine.
var ErrNoFile = errors.New("the database engine has no single file")

// WriteTo streams a consistent snapshot of the whole database to w: the
// bbolt file as of one read transaction. bbolt-only; another engine fails
// with ErrNoFile.
func (db *DB) WriteTo(w io.Writer) (int64, error) {
	if db.bolt == nil {
		return 0, ErrNoFile
	}
	var n int64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Size is the database file's size in bytes. bbolt-only; 0 on another
// engine.
func (db *DB) Size() int64 {
	if db.bolt == nil {
		return 0
	}
	var n int64
	_ = db.bolt.View(func(tx *bbolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// Stats are the database engine's counters, for metrics.
type Stats struct {
	TxN, OpenTxN, WriteTxN     int
	FreePages, PendingPages    int
	FreeBytes                  int
	PageAlloc                  int
	Writes, Spills, Rebalances int
}

// EngineStats reads the engine's counters. bbolt-only; zero on another
// engine.
func (db *DB) EngineStats() Stats {
	if db.bolt == nil {
		return Stats{}
	}
	s := db.bolt.Stats()
	return Stats{TxN: s.TxN, OpenTxN: s.OpenTxN, FreePages: s.FreePageN, PendingPages: s.PendingPageN,
		FreeBytes: s.FreeAlloc, PageAlloc: int(s.TxStats.GetPageAlloc()), Writes: int(s.TxStats.GetWrite()),
		Spills: int(s.TxStats.GetSpill()), Rebalances: int(s.TxStats.GetRebalance())}
}

// Secret returns the random secret stored under name, creating it with n
// random bytes on first call. The service keeps its generated JWT key and
// its cursor-signing key this way, so a fresh install needs no set-up.
func (db *DB) Secret(name string, n int) ([]byte, error) {
	key := []byte("secret:" + name)
	var secret []byte
	err := db.kv.View(func(tx kv.Tx) error {
		secret = nil
		if v := tx.Bucket(bMeta).Get(key); v != nil {
			secret = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil || secret != nil {
		return secret, err
	}
	err = db.kv.Update(func(tx kv.Tx) error {
		m := tx.Bucket(bMeta)
		if v := m.Get(key); v != nil {
			secret = append([]byte(nil), v...)
			return nil
		}
		s := make([]byte, n)
		if _, err := rand.Read(s); err != nil {
			return err
		}
		secret = s
		return m.Put(key, s)
	})
	return secret, err
}

// jsonDecode decodes a stored record. Records are read on every request,
// so the store uses goccy/go-json, a drop-in encoding/json that decodes
// several times faster (it comes with jwx already).
func jsonDecode(raw []byte, v any) error { return gojson.Unmarshal(raw, v) }
