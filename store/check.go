package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/salesos/portal/data"
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

// idLength is the length of a record ID (a ULID), which ends the keys of
// user_sessions.
const idLength = 26

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
// process, such as a running server, holds the file) and checks it:
// bbolt's own consistency check of pages and freelist, then the service's
// invariants. Every index entry must point at a record that agrees with
// it, every record must be in the indexes it belongs in, and every counter
// must equal a recount of its organization's records. The error is for a
// file that cannot be opened at all; breaches are in the Report.
func Check(path string) (Report, error) {
	r := Report{Path: path, Records: map[string]int{}}
	b, err := bbolt.Open(path, 0o600, BoltOptions(true))
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return r, fmt.Errorf("check %s: %w", path, ErrLocked)
		}
		return r, fmt.Errorf("check %s: %w", path, err)
	}
	defer b.Close()
	err = b.View(func(tx *bbolt.Tx) error {
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
	tx *bbolt.Tx
	r  *Report
}

func (c *checker) add(kind string, org data.TenantID, bucket, key, format string, args ...any) {
	c.r.Breaches = append(c.r.Breaches, Breach{Kind: kind, Org: org, Bucket: bucket, Key: key,
		Problem: fmt.Sprintf(format, args...)})
}

// file runs bbolt's page-level check.
func (c *checker) file() {
	n := 0
	for err := range c.tx.Check() {
		if n < maxFileBreaches {
			c.add(BreachFile, "", "(file)", "", "%v", err)
		}
		n++
	}
	if n > maxFileBreaches {
		c.add(BreachFile, "", "(file)", "", "%d more page errors not listed", n-maxFileBreaches)
	}
}

// walk checks the service's invariants. A damaged page can make bbolt
// panic while reading; that is reported, not propagated.
func (c *checker) walk() {
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
	c.invitationTokens()
	c.sessionTokens()
	c.slugs()
	c.outbox()
	c.resetTokens()
}

// bucketSince is the schema that added each organization bucket added after
// the first.
var bucketSince = map[string]int{"user_passwords": 2}

// orgCheck is one organization's buckets, those present.
type orgCheck struct {
	*checker
	org data.TenantID
	b   map[string]*bbolt.Bucket
}

func (c *checker) org(tenant data.TenantID, ob *bbolt.Bucket) {
	o := orgCheck{checker: c, org: tenant, b: map[string]*bbolt.Bucket{}}
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
	o.users()
	o.invitations()
	o.sessions()
	o.contacts()
	o.config()
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

// counterIs compares a stored counter with a recount.
func (o orgCheck) counterIs(name string, recount int64) {
	if got := btoi(o.b["counters"].Get([]byte(name))); got != recount {
		o.add(BreachCounter, o.org, "counters", name, "is %d, a recount finds %d", got, recount)
	}
}

func (o orgCheck) users() {
	users, emails := o.b["users"], o.b["user_emails"]
	byStatus := map[data.UserStatus]int64{}
	_ = users.ForEach(func(k, v []byte) error {
		o.r.Records["users"]++
		var u data.User
		if !o.decode("users", k, v, &u) {
			return nil
		}
		if u.ID != string(k) {
			o.add(BreachRecord, o.org, "users", string(k), "holds user %s", u.ID)
		}
		if !u.Status.Valid() {
			o.add(BreachRecord, o.org, "users", string(k), "has unknown status %q", u.Status)
		}
		// Before schema 2 a user record also held its password hash.
		if canon, err := gojson.Marshal(u); err == nil && o.r.Schema >= 2 && !bytes.Equal(canon, v) {
			o.add(BreachRecord, o.org, "users", string(k), "is not stored as the API shows it (it would be served as stored)")
		}
		byStatus[u.Status]++
		key := emailKey(u.Email)
		if got := emails.Get(key); string(got) != string(k) {
			o.add(BreachIndex, o.org, "user_emails", maskEmail(string(key)), "%s, want user %s", pointsAt(got), k)
		}
		return nil
	})
	_ = emails.ForEach(func(k, v []byte) error {
		var u data.User
		raw := users.Get(v)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "user_emails", maskEmail(string(k)), "points at missing user %s", printable(v))
		case jsonDecode(raw, &u) == nil && string(emailKey(u.Email)) != string(k):
			o.add(BreachIndex, o.org, "user_emails", maskEmail(string(k)), "points at user %s, whose email is %s",
				printable(v), maskEmail(u.Email))
		}
		return nil
	})
	if passwords := o.b["user_passwords"]; passwords != nil { // absent before schema 2
		_ = passwords.ForEach(func(k, v []byte) error {
			switch {
			case users.Get(k) == nil:
				o.add(BreachIndex, o.org, "user_passwords", printable(k), "belongs to a missing user")
			case len(v) == 0:
				o.add(BreachRecord, o.org, "user_passwords", printable(k), "is empty")
			}
			return nil
		})
	}
	for _, s := range data.UserStatuses {
		o.counterIs(userCounter(s), byStatus[s])
	}
}

func (o orgCheck) invitations() {
	invs, users := o.b["invitations"], o.b["users"]
	userInv, expiry := o.b["user_invitation"], o.b["invitation_expiry"]
	tokens := o.tx.Bucket(bInvitationTokens)
	byStatus := map[data.InvitationStatus]int64{}
	_ = invs.ForEach(func(k, v []byte) error {
		o.r.Records["invitations"]++
		var inv data.Invitation
		if !o.decode("invitations", k, v, &inv) {
			return nil
		}
		id := string(k)
		if inv.ID != id {
			o.add(BreachRecord, o.org, "invitations", id, "holds invitation %s", inv.ID)
		}
		if !inv.Status.Valid() {
			o.add(BreachRecord, o.org, "invitations", id, "has unknown status %q", inv.Status)
		}
		byStatus[inv.Status]++
		if inv.Status != data.InvitationPending {
			if inv.TokenHash != "" {
				o.add(BreachRecord, o.org, "invitations", id, "is %s but keeps a live token", inv.Status)
			}
			return nil
		}
		if users.Get([]byte(inv.UserID)) == nil {
			o.add(BreachRecord, o.org, "invitations", id, "is pending for missing user %s", inv.UserID)
		}
		if got := userInv.Get([]byte(inv.UserID)); string(got) != id {
			o.add(BreachIndex, o.org, "user_invitation", inv.UserID, "%s, want pending invitation %s", pointsAt(got), id)
		}
		if expiry.Get(timeKey(inv.ExpiresAt, id)) == nil {
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(timeKey(inv.ExpiresAt, id)),
				"is missing for pending invitation %s", id)
		}
		if inv.TokenHash == "" {
			o.add(BreachRecord, o.org, "invitations", id, "is pending without a token")
		} else if got, want := tokens.Get([]byte(inv.TokenHash)), tokenRef(o.org, id); !bytes.Equal(got, want) {
			o.add(BreachIndex, "", "invitation_tokens", shortHash(inv.TokenHash), "%s, want %s", refString(got), refString(want))
		}
		return nil
	})
	_ = userInv.ForEach(func(k, v []byte) error {
		var inv data.Invitation
		raw := invs.Get(v)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "user_invitation", printable(k), "points at missing invitation %s", printable(v))
		case jsonDecode(raw, &inv) != nil:
		case inv.Status != data.InvitationPending || inv.UserID != string(k):
			o.add(BreachIndex, o.org, "user_invitation", printable(k), "points at invitation %s, which is %s for user %s",
				printable(v), inv.Status, inv.UserID)
		}
		return nil
	})
	_ = expiry.ForEach(func(k, _ []byte) error {
		if len(k) <= 8 {
			o.add(BreachIndex, o.org, "invitation_expiry", printable(k), "key is too short")
			return nil
		}
		id := k[8:]
		var inv data.Invitation
		raw := invs.Get(id)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(k), "points at missing invitation %s", printable(id))
		case jsonDecode(raw, &inv) != nil:
		case inv.Status != data.InvitationPending:
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(k), "points at invitation %s, which is %s",
				printable(id), inv.Status)
		case !bytes.Equal(timeKey(inv.ExpiresAt, inv.ID), k):
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(k), "disagrees with the expiry %s of invitation %s",
				inv.ExpiresAt.UTC().Format(time.RFC3339), inv.ID)
		}
		return nil
	})
	for _, s := range data.InvitationStatuses {
		o.counterIs(invitationCounter(s), byStatus[s])
	}
}

func (o orgCheck) sessions() {
	sessions, users := o.b["sessions"], o.b["users"]
	userSess, expiry := o.b["user_sessions"], o.b["session_expiry"]
	tokens := o.tx.Bucket(bSessionTokens)
	var n int64
	_ = sessions.ForEach(func(k, v []byte) error {
		o.r.Records["sessions"]++
		n++
		var s data.Session
		if !o.decode("sessions", k, v, &s) {
			return nil
		}
		id := string(k)
		if s.ID != id {
			o.add(BreachRecord, o.org, "sessions", id, "holds session %s", s.ID)
		}
		if users.Get([]byte(s.UserID)) == nil {
			o.add(BreachRecord, o.org, "sessions", id, "belongs to missing user %s", s.UserID)
		}
		if userSess.Get([]byte(s.UserID+id)) == nil {
			o.add(BreachIndex, o.org, "user_sessions", s.UserID+"/"+id, "is missing for session %s", id)
		}
		if expiry.Get(timeKey(s.EndsAt(), id)) == nil {
			o.add(BreachIndex, o.org, "session_expiry", timeKeyString(timeKey(s.EndsAt(), id)), "is missing for session %s", id)
		}
		if got, want := tokens.Get([]byte(s.TokenHash)), tokenRef(o.org, id); s.TokenHash == "" || !bytes.Equal(got, want) {
			o.add(BreachIndex, "", "session_tokens", shortHash(s.TokenHash), "%s, want %s", refString(got), refString(want))
		}
		return nil
	})
	_ = userSess.ForEach(func(k, _ []byte) error {
		if len(k) <= idLength {
			o.add(BreachIndex, o.org, "user_sessions", printable(k), "key is too short")
			return nil
		}
		uid, sid := k[:len(k)-idLength], k[len(k)-idLength:]
		var s data.Session
		raw := sessions.Get(sid)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "user_sessions", printable(uid)+"/"+printable(sid), "points at missing session %s", printable(sid))
		case jsonDecode(raw, &s) != nil:
		case s.UserID != string(uid):
			o.add(BreachIndex, o.org, "user_sessions", printable(uid)+"/"+printable(sid), "names session %s of user %s",
				printable(sid), s.UserID)
		}
		return nil
	})
	_ = expiry.ForEach(func(k, _ []byte) error {
		if len(k) <= 8 {
			o.add(BreachIndex, o.org, "session_expiry", printable(k), "key is too short")
			return nil
		}
		id := k[8:]
		var s data.Session
		raw := sessions.Get(id)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "session_expiry", timeKeyString(k), "points at missing session %s", printable(id))
		case jsonDecode(raw, &s) != nil:
		case !bytes.Equal(timeKey(s.EndsAt(), s.ID), k):
			o.add(BreachIndex, o.org, "session_expiry", timeKeyString(k), "disagrees with the end %s of session %s",
				s.EndsAt().UTC().Format(time.RFC3339), s.ID)
		}
		return nil
	})
	o.counterIs(cSessionsActive, n)
}

func (o orgCheck) contacts() {
	contacts, emails := o.b["contacts"], o.b["contact_emails"]
	_ = contacts.ForEach(func(k, v []byte) error {
		o.r.Records["contacts"]++
		var c data.Contact
		if !o.decode("contacts", k, v, &c) {
			return nil
		}
		if c.ID != string(k) {
			o.add(BreachRecord, o.org, "contacts", string(k), "holds contact %s", c.ID)
		}
		if c.Email == "" {
			return nil
		}
		key := emailKey(c.Email)
		if got := emails.Get(key); string(got) != string(k) {
			o.add(BreachIndex, o.org, "contact_emails", maskEmail(string(key)), "%s, want contact %s", pointsAt(got), k)
		}
		return nil
	})
	_ = emails.ForEach(func(k, v []byte) error {
		var c data.Contact
		raw := contacts.Get(v)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "contact_emails", maskEmail(string(k)), "points at missing contact %s", printable(v))
		case jsonDecode(raw, &c) == nil && string(emailKey(c.Email)) != string(k):
			o.add(BreachIndex, o.org, "contact_emails", maskEmail(string(k)), "points at contact %s, whose email is %s",
				printable(v), maskEmail(c.Email))
		}
		return nil
	})
}

// config checks that a stored configuration holds its slug.
func (o orgCheck) config() {
	raw := o.b["config"].Get(keyConfig)
	if raw == nil {
		return // an organization with records but no configuration reads the defaults
	}
	var cfg data.Config
	if !o.decode("config", keyConfig, raw, &cfg) {
		return
	}
	if got := o.tx.Bucket(bSlugs).Get([]byte(cfg.Slug)); string(got) != string(o.org) {
		o.add(BreachIndex, "", "slugs", cfg.Slug, "%s, want organization %s", pointsAt(got), o.org)
	}
}

// refOrg returns the organization bucket a global index value names.
func (c *checker) refOrg(bucket string, k, v []byte) (*bbolt.Bucket, string, bool) {
	tenant, id, ok := splitRef(v)
	if !ok {
		c.add(BreachIndex, "", bucket, shortHash(string(k)), "value %s is not org NUL id", printable(v))
		return nil, "", false
	}
	b := c.tx.Bucket(bOrgs).Bucket([]byte(tenant))
	if b == nil {
		c.add(BreachIndex, "", bucket, shortHash(string(k)), "points at missing organization %s", tenant)
		return nil, "", false
	}
	return b, id, true
}

func (c *checker) invitationTokens() {
	_ = c.tx.Bucket(bInvitationTokens).ForEach(func(k, v []byte) error {
		b, id, ok := c.refOrg("invitation_tokens", k, v)
		if !ok {
			return nil
		}
		var inv data.Invitation
		raw := b.Bucket(bInvitations).Get([]byte(id))
		switch {
		case raw == nil:
			c.add(BreachIndex, "", "invitation_tokens", shortHash(string(k)), "points at missing invitation %s", refString(v))
		case jsonDecode(raw, &inv) != nil:
		case inv.Status != data.InvitationPending || inv.TokenHash != string(k):
			c.add(BreachIndex, "", "invitation_tokens", shortHash(string(k)), "points at invitation %s, which is %s with another token",
				refString(v), inv.Status)
		}
		return nil
	})
}

func (c *checker) sessionTokens() {
	_ = c.tx.Bucket(bSessionTokens).ForEach(func(k, v []byte) error {
		b, id, ok := c.refOrg("session_tokens", k, v)
		if !ok {
			return nil
		}
		var s data.Session
		raw := b.Bucket(bSessions).Get([]byte(id))
		switch {
		case raw == nil:
			c.add(BreachIndex, "", "session_tokens", shortHash(string(k)), "points at missing session %s", refString(v))
		case jsonDecode(raw, &s) != nil:
		case s.TokenHash != string(k):
			c.add(BreachIndex, "", "session_tokens", shortHash(string(k)), "points at session %s, which has another token", refString(v))
		}
		return nil
	})
}

func (c *checker) slugs() {
	_ = c.tx.Bucket(bSlugs).ForEach(func(k, v []byte) error {
		b := c.tx.Bucket(bOrgs).Bucket(v)
		if b == nil {
			c.add(BreachIndex, "", "slugs", printable(k), "points at missing organization %s", printable(v))
			return nil
		}
		var cfg data.Config
		cb := b.Bucket(bConfig)
		if cb == nil {
			return nil // reported with the organization
		}
		raw := cb.Get(keyConfig)
		switch {
		case raw == nil:
			c.add(BreachIndex, "", "slugs", printable(k), "points at organization %s, which has no configuration", printable(v))
		case jsonDecode(raw, &cfg) != nil:
		case cfg.Slug != string(k):
			c.add(BreachIndex, "", "slugs", printable(k), "points at organization %s, whose slug is %s", printable(v), cfg.Slug)
		}
		return nil
	})
}

func (c *checker) outbox() {
	_ = c.tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
		c.r.Records["outbox"]++
		var m data.OutboxMessage
		if v == nil || jsonDecode(v, &m) != nil {
			c.add(BreachRecord, "", "outbox", printable(k), "does not decode")
			return nil
		}
		if m.InvitationID == "" || c.r.Schema < 2 { // before schema 2 invitations did not name their email
			return nil
		}
		var inv data.Invitation
		ok := false
		if b := c.tx.Bucket(bOrgs).Bucket([]byte(m.Tenant)); b != nil {
			ok, _ = getJSON(b.Bucket(bInvitations), []byte(m.InvitationID), &inv)
		}
		switch {
		case !ok:
			c.add(BreachIndex, m.Tenant, "outbox", printable(k), "is the email of missing invitation %s", m.InvitationID)
		case inv.OutboxID != string(k) || inv.Status != data.InvitationPending:
			c.add(BreachIndex, m.Tenant, "outbox", printable(k), "is queued, but its invitation %s (%s) names %q", inv.ID, inv.Status, inv.OutboxID)
		}
		return nil
	})
}

func (c *checker) resetTokens() {
	_ = c.tx.Bucket(bResetTokens).ForEach(func(k, v []byte) error {
		var rt resetToken
		if v == nil || jsonDecode(v, &rt) != nil {
			c.add(BreachRecord, "", "reset_tokens", shortHash(string(k)), "does not decode")
		}
		return nil
	})
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

// ActiveSessions counts the sessions of every organization that are usable
// now: the sessions.active counters less the sessions whose deadline passed
// since the last sweep. It reads one counter and a short index prefix per
// organization, whatever the number of sessions, so metrics can call it on
// every scrape.
func (db *DB) ActiveSessions(ctx context.Context) (int64, error) {
	var n int64
	now := db.Now()
	err := db.read(ctx, func(tx *bbolt.Tx) error {
		orgs := tx.Bucket(bOrgs)
		return orgs.ForEachBucket(func(k []byte) error {
			b := orgs.Bucket(k)
			if b.Bucket(bCounters) == nil || b.Bucket(bSessionExpiry) == nil {
				return nil
			}
			n += counter(b, cSessionsActive) - overdue(b.Bucket(bSessionExpiry), now)
			return nil
		})
	})
	return n, err
}
