package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

// Kinds of Breach.
const (
	// BreachFile is damage to the bbolt file itself (tx.Check, a missing
	// top-level bucket, a walk that could not finish): the file is not safe
	// to serve from or to restore.
	BreachFile = "file"
	// BreachRecord is a record that does not decode or contradicts its key.
	BreachRecord = "record"
	// BreachIndex is an index entry without its record, or a record
	// missing from an index it belongs in.
	BreachIndex = "index"
	// BreachCounter is a counter that differs from a recount.
	BreachCounter = "counter"
)

// maxFileBreaches bounds the tx.Check errors a report lists: a badly damaged
// file yields one per page.
const maxFileBreaches = 100

// Breach is one broken invariant found by Check.
type Breach struct {
	// Kind is BreachFile, BreachRecord, BreachIndex or BreachCounter.
	Kind string
	// Org is the organization whose buckets hold the breach; empty for the
	// global buckets and the file.
	Org data.TenantID
	// Bucket names the bucket, such as "user_emails".
	Bucket string
	// Key is a printable form of the key: emails masked, token hashes
	// shortened, time keys decoded.
	Key string
	// Problem says what is wrong.
	Problem string
}

func (b Breach) String() string {
	var where strings.Builder
	if b.Org != "" {
		where.WriteString("orgs/" + string(b.Org) + "/")
	}
	where.WriteString(b.Bucket)
	if b.Key != "" {
		where.WriteString("/" + b.Key)
	}
	return fmt.Sprintf("[%s] %s: %s", b.Kind, where.String(), b.Problem)
}

// Report is what Check found.
type Report struct {
	Path   string
	Schema int
	Orgs   int
	// Records counts what the walk examined, by bucket name.
	Records  map[string]int
	Breaches []Breach
}

// OK reports whether Check found no breach.
func (r Report) OK() bool { return len(r.Breaches) == 0 }

// Corrupt reports whether the file itself is damaged (a BreachFile), as
// opposed to records, indexes or counters that disagree.
func (r Report) Corrupt() bool {
	for _, b := range r.Breaches {
		if b.Kind == BreachFile {
			return true
		}
	}
	return false
}

// WriteTo writes the report for a person to read: a summary line, the
// counts, and one line per breach.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "database %s: schema %d, %d organizations\n", r.Path, r.Schema, r.Orgs)
	if r.Schema >= 1 && r.Schema < SchemaVersion {
		fmt.Fprintf(&b, "  (an older schema: a server migrates it to %d when it opens the file)\n", SchemaVersion)
	}
	for _, name := range []string{"users", "invitations", "sessions", "contacts", "outbox"} {
		fmt.Fprintf(&b, "  %-12s %d\n", name, r.Records[name])
	}
	if n := r.Records["blob_loose"]; n > 0 || r.Records["blobs"] > 0 {
		fmt.Fprintf(&b, "  %-12s %d (%d chunks; %d loose: uploads cut short or files deleted, which the server's sweeper removes)\n",
			"files", r.Records["blobs"], r.Records["blob_chunks"], n)
	}
	if r.OK() {
		b.WriteString("OK: the file is sound, every index entry points at its record, every record is indexed, every counter equals a recount\n")
	} else {
		fmt.Fprintf(&b, "FAILED: %d breaches\n", len(r.Breaches))
		for _, br := range r.Breaches {
			b.WriteString("  " + br.String() + "\n")
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Check opens the database at path read-only (it fails while another
// process, such as a running server, holds the file) and checks it: the
// file's structure as Verify reads it, then bbolt's own consistency check of
// pages and freelist, then the service's invariants. Every index entry must
// point at a record that agrees with it, every record must be in the
// indexes it belongs in, and every counter must equal a recount of its
// organization's records. The error is for a file that cannot be read or
// is not a bbolt database at all; damage and breaches are in the Report.
func Check(path string) (Report, error) {
	r := Report{Path: path, Records: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return r, fmt.Errorf("check %s: %w", path, err)
	}
	defer f.Close()
	// The shared lock is held until bbolt has opened the file with its own,
	// so no writer can change what was verified in between.
	if err := lockFile(f, false, time.Second); err != nil {
		return r, fmt.Errorf("check %s: %w", path, err)
	}
	var damage *DamageError
	switch err := verifyFile(f, true); {
	case errors.As(err, &damage):
		for _, p := range damage.Problems {
			r.Breaches = append(r.Breaches, Breach{Kind: BreachFile, Bucket: "(file)", Problem: p})
		}
		return r, nil // bbolt would crash, spin or panic on it
	case err != nil:
		return r, fmt.Errorf("check %s: %w", path, err)
	}
	b, err := bbolt.Open(path, 0o600, BoltOptions(true))
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return r, fmt.Errorf("check %s: %w", path, ErrLocked)
		}
		return r, fmt.Errorf("check %s: %w", path, err)
	}
	defer b.Close()
	return checkKV(boltkv.Wrap(b), path)
}

// CheckKV is Check of a database on an engine without a file (etcd): the
// same invariants, read from one read transaction; name is where it is, for
// the report.
func CheckKV(e kv.DB, name string) (Report, error) { return checkKV(e, name) }

func checkKV(e kv.DB, name string) (Report, error) {
	var r Report
	err := e.View(func(tx kv.Tx) error {
		r = Report{Path: name, Records: map[string]int{}} // afresh on every run
		c := &checker{tx: tx, r: &r}
		c.file()
		if !r.Corrupt() {
			c.walk()
		}
		return nil
	})
	return r, err
}

// checker walks one read transaction and collects breaches.
type checker struct {
	tx kv.Tx
	r  *Report
}

func (c *checker) add(kind string, org data.TenantID, bucket, key, format string, args ...any) {
	c.r.Breaches = append(c.r.Breaches, Breach{Kind: kind, Org: org, Bucket: bucket, Key: key,
		Problem: fmt.Sprintf(format, args...)})
}

// walk checks the service's invariants. A damaged page can make bbolt
// panic while reading; that is reported, not propagated, and so is a fault
// on a page of the memory map (the file shrinking meanwhile).
func (c *checker) walk() {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			c.add(BreachFile, "", "(file)", "", "walk stopped: %v", v)
		}
	}()
	for _, name := range topBuckets {
		if c.tx.Bucket(name) == nil {
			c.add(BreachFile, "", string(name), "", "top-level bucket is missing")
		}
	}
	if c.r.Corrupt() {
		return
	}
	raw := c.tx.Bucket(bMeta).Get(keySchema)
	v, err := strconv.Atoi(string(raw))
	switch {
	case err != nil:
		c.add(BreachRecord, "", "meta", "schema", "schema version %q is not a number", raw)
	case v > SchemaVersion || v < 1:
		c.add(BreachRecord, "", "meta", "schema", "schema version %d, this binary reads 1 to %d", v, SchemaVersion)
	}
	c.r.Schema = v

	orgs := c.tx.Bucket(bOrgs)
	_ = orgs.ForEach(func(k, v []byte) error {
		if v != nil {
			c.add(BreachRecord, "", "orgs", printable(k), "is a value, not an organization bucket")
			return nil
		}
		c.r.Orgs++
		c.org(data.TenantID(k), orgs.Bucket(k))
		return nil
	})
	for _, check := range globalChecks {
		check(c)
	}
}

// The invariants, one file per concern (check_users.go, check_sessions.go,
// ...). orgChecks run in each organization, after its buckets were found;
// globalChecks run once, after every organization, on the top-level
// buckets. A new invariant is a method in its concern's file, listed here.
var (
	orgChecks = []func(orgCheck){
		orgCheck.users, orgCheck.invitations, orgCheck.sessions, orgCheck.contacts, orgCheck.config, orgCheck.blobs,
		orgCheck.tickets, orgCheck.documents, orgCheck.commerce, orgCheck.webhooks, orgCheck.articles,
	}
	globalChecks = []func(*checker){
		(*checker).invitationTokens, (*checker).sessionTokens, (*checker).slugs, (*checker).outbox, (*checker).outboxDue, (*checker).resetTokens, (*checker).webhookDue,
	}
)

// bucketSince is the schema that added each organization bucket added after
// the first.
var bucketSince = map[string]int{"user_passwords": 2}

// orgCheck is one organization's buckets, those present.
type orgCheck struct {
	*checker
	org data.TenantID
	b   map[string]kv.Bucket
	// ob is the organization's bucket, for the buckets made on first use
	// (tickets), which an organization may not have.
	ob kv.Bucket
}

func (c *checker) org(tenant data.TenantID, ob kv.Bucket) {
	o := orgCheck{checker: c, org: tenant, b: map[string]kv.Bucket{}, ob: ob}
	want := 0
	for _, name := range orgBuckets {
		if bucketSince[string(name)] > c.r.Schema {
			continue // an older file, migrated when a server opens it
		}
		want++
		sub := ob.Bucket(name)
		if sub == nil {
			c.add(BreachFile, tenant, string(name), "", "bucket is missing")
			continue
		}
		o.b[string(name)] = sub
	}
	if len(o.b) != want {
		return
	}
	for _, name := range lazyOrgBuckets {
		if sub := ob.Bucket(name); sub != nil {
			o.b[string(name)] = sub
		}
	}
	for _, check := range orgChecks {
		check(o)
	}
}

// decode reads a JSON record, reporting one that does not decode.
func (o orgCheck) decode(bucket string, k, v []byte, dst any) bool {
	if v == nil {
		o.add(BreachRecord, o.org, bucket, printable(k), "is a bucket, not a record")
		return false
	}
	if err := jsonDecode(v, dst); err != nil {
		o.add(BreachRecord, o.org, bucket, printable(k), "does not decode: %v", err)
		return false
	}
	return true
}

// refOrg returns the organization bucket a global index value names.
func (c *checker) refOrg(bucket string, k, v []byte) (kv.Bucket, string, bool) {
	tenant, id, ok := splitRef(v)
	if !ok {
		c.add(BreachIndex, "", bucket, shortHash(string(k)), "value %s is not org NUL id", printable(v))
		return nil, "", false
	}
	b := c.tx.Bucket(bOrgs).Bucket(bytesOf(tenant))
	if b == nil {
		c.add(BreachIndex, "", bucket, shortHash(string(k)), "points at missing organization %s", tenant)
		return nil, "", false
	}
	return b, id, true
}

// pointsAt describes an index value for a breach.
func pointsAt(v []byte) string {
	if v == nil {
		return "is missing"
	}
	return "points at " + printable(v)
}

// refString shows a global index value, org NUL id, as org/id.
func refString(v []byte) string {
	if v == nil {
		return "nothing"
	}
	tenant, id, ok := splitRef(v)
	if !ok {
		return printable(v)
	}
	return string(tenant) + "/" + id
}

// shortHash shows enough of a token hash to find the key.
func shortHash(h string) string {
	if h == "" {
		return "(empty hash)"
	}
	if len(h) > 12 {
		return printable([]byte(h[:12])) + "…"
	}
	return printable([]byte(h))
}

// timeKeyString shows a time index key as time/id.
func timeKeyString(k []byte) string {
	if len(k) < 8 {
		return printable(k)
	}
	t := time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
	return t.Format(time.RFC3339) + "/" + printable(k[8:])
}

// printable shows a key as text when it is printable ASCII, else as hex.
func printable(k []byte) string {
	for _, c := range k {
		if c < ' ' || c > '~' {
			return "0x" + hex.EncodeToString(k)
		}
	}
	return string(k)
}
