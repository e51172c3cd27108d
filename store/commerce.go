package store

// Quotes, invoices and orders are the CRM's records, pushed into the portal
// by upserts keyed by the CRM's ID. Each kind has two buckets of the
// organization, made by the first write that needs them:
//
//	orgs/<org>/quotes/<id>              -> commerceStored[data.Quote]
//	orgs/<org>/quote_refs/<externalId>  -> id
//
// and the same for invoices (invoices, invoice_refs) and orders (orders,
// order_refs). IDs are ULIDs, so lists walk in creation order. A record is
// stored with the SHA-256 of the content the CRM last sent (CRMContent),
// so that the same version sent again with the same content changes
// nothing, and with other content is a conflict.
//
// A customer's acceptance or refusal of a quote is one transaction each
// (AcceptQuote, DeclineQuote), so whatever must happen with it (an audit
// entry now, an event for the CRM) commits with it or not at all.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

var (
	bQuotes      = []byte("quotes")
	bQuoteRefs   = []byte("quote_refs")
	bInvoices    = []byte("invoices")
	bInvoiceRefs = []byte("invoice_refs")
	bOrders      = []byte("orders")
	bOrderRefs   = []byte("order_refs")
)

// commerceStored is a record as stored: the record and the hex SHA-256 of
// the content the CRM sent.
type commerceStored[T any] struct {
	Record   T      `json:"record"`
	BodyHash string `json:"bodyHash"`
}

// UpsertResult says what an upsert did.
type UpsertResult string

// Upsert results.
const (
	UpsertCreated   UpsertResult = "created"
	UpsertUpdated   UpsertResult = "updated"
	UpsertUnchanged UpsertResult = "unchanged"
)

// CommerceFilter narrows a list of quotes, invoices or orders. Empty
// fields do not filter. For a customer the status is the one they see
// (an open invoice past due is overdue).
type CommerceFilter struct {
	AccountID string
	Status    string
}

// recordPtr is a pointer to a quote, an invoice or an order.
type recordPtr[T any] interface {
	*T
	data.CommerceRecord
}

// kindOps is how the store treats one kind.
type kindOps[T any] struct {
	kind          data.CommerceKind
	records, refs []byte
	status        func(T) string
	// view is the record as a customer sees it at now.
	view func(T, time.Time) T
	// visible reports whether a customer of account sees the record.
	visible func(T, string) bool
	// merge carries what the portal holds over into next, a newer version
	// of cur from the CRM, or refuses it.
	merge func(cur T, next *T) error
}

var (
	quoteOps = kindOps[data.Quote]{
		kind: data.KindQuote, records: bQuotes, refs: bQuoteRefs,
		status:  func(q data.Quote) string { return string(q.Status) },
		view:    data.Quote.CustomerView,
		visible: data.Quote.VisibleToAccount,
		merge:   mergeQuote,
	}
	invoiceOps = kindOps[data.Invoice]{
		kind: data.KindInvoice, records: bInvoices, refs: bInvoiceRefs,
		status:  func(v data.Invoice) string { return string(v.Status) },
		view:    data.Invoice.CustomerView,
		visible: func(v data.Invoice, account string) bool { return account != "" && v.AccountID == account },
	}
	orderOps = kindOps[data.Order]{
		kind: data.KindOrder, records: bOrders, refs: bOrderRefs,
		status:  func(o data.Order) string { return string(o.Status) },
		view:    func(o data.Order, _ time.Time) data.Order { return o.CustomerView() },
		visible: func(o data.Order, account string) bool { return account != "" && o.AccountID == account },
	}
)

// mergeQuote keeps a customer's decision over a newer version from the
// CRM: the CRM may confirm it (same status, same terms) but not undo or
// rewrite what the customer decided on.
func mergeQuote(cur data.Quote, next *data.Quote) error {
	if !cur.Decided() {
		return nil
	}
	if next.Status != cur.Status || !data.SameTerms(cur, *next) {
		return data.Conflict("the customer has " + string(cur.Status) + " quote " + cur.ExternalID +
			"; a newer version must keep its status " + string(cur.Status) + " and its terms")
	}
	next.Acceptance, next.Decline = cur.Acceptance, cur.Decline
	return nil
}

// contentHash is the hex SHA-256 of what the CRM sent of r.
func contentHash(r data.CommerceRecord) (string, error) {
	raw, err := json.Marshal(r.CRMContent())
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// commerceBuckets returns the kind's buckets, creating them in a write
// transaction; in a read they may be nil.
func commerceBuckets(b kv.Bucket, records, refs []byte) (kv.Bucket, kv.Bucket, error) {
	if b == nil {
		return nil, nil, nil
	}
	if !b.Writable() {
		return b.Bucket(records), b.Bucket(refs), nil
	}
	rb, err := b.CreateBucketIfNotExists(records)
	if err != nil {
		return nil, nil, err
	}
	xb, err := b.CreateBucketIfNotExists(refs)
	if err != nil {
		return nil, nil, err
	}
	setFill(rb) // ULID keys: new ones arrive at the end
	return rb, xb, nil
}

// recordIn reads record id, as a customer of viewer's account sees it
// (every record when viewer is nil). A record the viewer may not see is
// not found, exactly like a missing one.
func recordIn[T any](ops kindOps[T], records kv.Bucket, id string, viewer *data.User) (commerceStored[T], error) {
	var s commerceStored[T]
	ok, err := getJSON(records, bytesOf(id), &s)
	if err != nil {
		return s, err
	}
	if !ok || (viewer != nil && !ops.visible(s.Record, viewer.AccountID)) {
		return commerceStored[T]{}, fmt.Errorf("%s %s: %w", ops.kind, id, data.ErrNotFound)
	}
	return s, nil
}

// upsertPlan is what an upsert will do, decided before anything is
// written: a write transaction does every check before its first write, as
// a domain error returned after it would still commit (store.go, write).
type upsertPlan[T any] struct {
	next T
	hash string
	res  UpsertResult
	// prev is the stored version an update replaces.
	prev int64
}

// planUpsert checks in, validated, against the record with its external
// ID, and returns what to write. It writes nothing.
func planUpsert[T any, P recordPtr[T]](ops kindOps[T], records, refs kv.Bucket, in T) (upsertPlan[T], error) {
	pl := upsertPlan[T]{next: in}
	nb := P(&pl.next).Base()
	hash, err := contentHash(P(&pl.next))
	if err != nil {
		return pl, err
	}
	pl.hash = hash
	if nb.Lines == nil {
		nb.Lines = []data.LineItem{}
	}
	idb := refs.Get(bytesOf(nb.ExternalID))
	if idb == nil {
		pl.res = UpsertCreated
		return pl, nil
	}
	cur, err := recordIn(ops, records, string(idb), nil)
	if err != nil {
		return pl, err
	}
	cb := P(&cur.Record).Base()
	switch {
	case nb.Version < cb.Version:
		return pl, data.Conflict(fmt.Sprintf("%s %s: version %d is older than the stored version %d",
			ops.kind, nb.ExternalID, nb.Version, cb.Version))
	case nb.Version == cb.Version && hash == cur.BodyHash:
		pl.next, pl.res = cur.Record, UpsertUnchanged
		return pl, nil
	case nb.Version == cb.Version:
		return pl, data.Conflict(fmt.Sprintf("%s %s: version %d was sent before with other content; send a newer version",
			ops.kind, nb.ExternalID, nb.Version))
	}
	if ops.merge != nil {
		if err := ops.merge(cur.Record, &pl.next); err != nil {
			return pl, err
		}
	}
	nb.ID, nb.CreatedAt = cb.ID, cb.CreatedAt
	pl.res, pl.prev = UpsertUpdated, cb.Version
	return pl, nil
}

// applyUpsert writes what planUpsert decided, with its audit entry, and
// returns the record as stored. An unchanged record writes nothing.
func applyUpsert[T any, P recordPtr[T]](db *DB, b, records, refs kv.Bucket, ops kindOps[T], now time.Time, actor string, pl upsertPlan[T]) (T, error) {
	next := pl.next
	nb := P(&next).Base()
	var detail string
	switch pl.res {
	case UpsertUnchanged:
		return next, nil
	case UpsertCreated:
		nb.ID, nb.CreatedAt = db.ids.New(now), now
		detail = "version " + strconv.FormatInt(nb.Version, 10)
		if err := refs.Put(bytesOf(nb.ExternalID), bytesOf(nb.ID)); err != nil {
			return next, err
		}
	default:
		detail = fmt.Sprintf("version %d -> %d", pl.prev, nb.Version)
	}
	nb.UpdatedAt = now
	if err := putJSON(records, bytesOf(nb.ID), commerceStored[T]{Record: next, BodyHash: pl.hash}); err != nil {
		return next, err
	}
	action := string(ops.kind) + "." + map[UpsertResult]string{UpsertCreated: "create", UpsertUpdated: "update"}[pl.res]
	return next, db.audit(b, now, actor, action, string(ops.kind), nb.ID, detail)
}

// upsert stores in, a record from the CRM, in its own transaction.
func upsert[T any, P recordPtr[T]](ctx context.Context, db *DB, ops kindOps[T], tenant data.TenantID, actor string, in T) (T, UpsertResult, error) {
	var out T
	var res UpsertResult
	if err := P(&in).Validate(); err != nil {
		return out, "", err
	}
	// The CRM resends what it sent before (retries, periodic full syncs):
	// answered from a read, without a write transaction and its fsync.
	err := db.read(ctx, func(tx kv.Tx) error {
		var zero T
		out, res = zero, ""
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		records, refs, err := commerceBuckets(b, ops.records, ops.refs)
		if err != nil || records == nil || refs == nil {
			return err
		}
		pl, err := planUpsert[T, P](ops, records, refs, in)
		if err == nil && pl.res == UpsertUnchanged {
			out, res = pl.next, pl.res
		}
		return nil // anything else is decided by the write below
	})
	if err != nil || res == UpsertUnchanged {
		return out, res, err
	}
	err = db.write(ctx, func(tx kv.Tx) error {
		var zero T
		out, res = zero, ""
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		records, refs, err := commerceBuckets(b, ops.records, ops.refs)
		if err != nil {
			return err
		}
		pl, err := planUpsert[T, P](ops, records, refs, in)
		if err != nil {
			return err
		}
		out, err = applyUpsert[T, P](db, b, records, refs, ops, db.Now(), actor, pl)
		res = pl.res
		return err
	})
	return out, res, err
}

// list lists the kind's records that match f, newest first, as viewer sees
// them (every record, as stored, when viewer is nil, for staff).
func list[T any](ctx context.Context, db *DB, ops kindOps[T], tenant data.TenantID, viewer *data.User, f CommerceFilter, after string, limit int) (Page[T], error) {
	var p Page[T]
	if limit < 1 || limit > data.MaxCommerceList {
		return p, data.Invalid("limit", "must be from 1 to "+strconv.Itoa(data.MaxCommerceList))
	}
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[T]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		records, _, err := commerceBuckets(b, ops.records, ops.refs)
		if err != nil || records == nil {
			return err
		}
		var match func(k, v []byte) (bool, error)
		if f != (CommerceFilter{}) || viewer != nil {
			match = func(k, v []byte) (bool, error) {
				var s commerceStored[T]
				if err := jsonDecode(v, &s); err != nil {
					return false, fmt.Errorf("decode %s: %w", k, err)
				}
				r := s.Record
				if viewer != nil {
					if !ops.visible(r, viewer.AccountID) {
						return false, nil
					}
					r = ops.view(r, now)
				}
				return (f.Status == "" || ops.status(r) == f.Status) &&
					(f.AccountID == "" || any(&r).(data.CommerceRecord).Base().AccountID == f.AccountID), nil
			}
		}
		raw, err := scanRaw(records, after, limit, match)
		if err != nil {
			return err
		}
		p = Page[T]{Items: make([]T, len(raw.Items)), Next: raw.Next}
		for i, v := range raw.Items {
			var s commerceStored[T]
			if err := jsonDecode(v, &s); err != nil {
				return fmt.Errorf("decode %s: %w", ops.kind, err)
			}
			p.Items[i] = s.Record
			if viewer != nil {
				p.Items[i] = ops.view(s.Record, now)
			}
		}
		return nil
	})
	return p, err
}

// one reads record id as viewer sees it (as stored when viewer is nil).
func one[T any](ctx context.Context, db *DB, ops kindOps[T], tenant data.TenantID, viewer *data.User, id string) (T, error) {
	var out T
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		var zero T
		out = zero
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		records, _, err := commerceBuckets(b, ops.records, ops.refs)
		if err != nil {
			return err
		}
		if records == nil {
			return fmt.Errorf("%s %s: %w", ops.kind, id, data.ErrNotFound)
		}
		s, err := recordIn(ops, records, id, viewer)
		if err != nil {
			return err
		}
		out = s.Record
		if viewer != nil {
			out = ops.view(out, now)
		}
		return nil
	})
	return out, err
}

// byRef reads the record with the CRM's ID externalID.
func byRef[T any](ctx context.Context, db *DB, ops kindOps[T], tenant data.TenantID, externalID string) (T, error) {
	var out T
	err := db.read(ctx, func(tx kv.Tx) error {
		var zero T
		out = zero
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		records, refs, err := commerceBuckets(b, ops.records, ops.refs)
		if err != nil {
			return err
		}
		notFound := fmt.Errorf("%s %s: %w", ops.kind, externalID, data.ErrNotFound)
		if refs == nil {
			return notFound
		}
		id := refs.Get(bytesOf(externalID))
		if id == nil {
			return notFound
		}
		s, err := recordIn(ops, records, string(id), nil)
		out = s.Record
		return err
	})
	return out, err
}

// remove deletes the record with the CRM's ID externalID.
func remove[T any](ctx context.Context, db *DB, ops kindOps[T], tenant data.TenantID, actor, externalID string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		records, refs, err := commerceBuckets(b, ops.records, ops.refs)
		if err != nil {
			return err
		}
		id := refs.Get(bytesOf(externalID))
		if id == nil {
			return fmt.Errorf("%s %s: %w", ops.kind, externalID, data.ErrNotFound)
		}
		sid := string(id) // bytes die with the next write
		if err := records.Delete(bytesOf(sid)); err != nil {
			return err
		}
		if err := refs.Delete(bytesOf(externalID)); err != nil {
			return err
		}
		return db.audit(b, db.Now(), actor, string(ops.kind)+".delete", string(ops.kind), sid, "")
	})
}

// UpsertQuote stores quote q from the CRM under its externalId: created,
// updated by a newer version, or unchanged when the same version comes
// with the same content. An older version, or the same with other content,
// is a conflict; so is a newer version that changes a quote the customer
// has accepted or declined (its status and terms stay).
func (db *DB) UpsertQuote(ctx context.Context, tenant data.TenantID, actor string, q data.Quote) (data.Quote, UpsertResult, error) {
	return upsert(ctx, db, quoteOps, tenant, actor, q)
}

// UpsertInvoice stores invoice v from the CRM, as UpsertQuote does.
func (db *DB) UpsertInvoice(ctx context.Context, tenant data.TenantID, actor string, v data.Invoice) (data.Invoice, UpsertResult, error) {
	return upsert(ctx, db, invoiceOps, tenant, actor, v)
}

// UpsertOrder stores order o from the CRM, as UpsertQuote does.
func (db *DB) UpsertOrder(ctx context.Context, tenant data.TenantID, actor string, o data.Order) (data.Order, UpsertResult, error) {
	return upsert(ctx, db, orderOps, tenant, actor, o)
}

// Quotes lists the organization's quotes that match f, newest first: every
// one for staff (viewer nil), or those of viewer's account that are no
// longer drafts, as the customer sees them.
func (db *DB) Quotes(ctx context.Context, tenant data.TenantID, viewer *data.User, f CommerceFilter, after string, limit int) (Page[data.Quote], error) {
	return list(ctx, db, quoteOps, tenant, viewer, f, after, limit)
}

// Invoices lists invoices as Quotes lists quotes.
func (db *DB) Invoices(ctx context.Context, tenant data.TenantID, viewer *data.User, f CommerceFilter, after string, limit int) (Page[data.Invoice], error) {
	return list(ctx, db, invoiceOps, tenant, viewer, f, after, limit)
}

// Orders lists orders as Quotes lists quotes.
func (db *DB) Orders(ctx context.Context, tenant data.TenantID, viewer *data.User, f CommerceFilter, after string, limit int) (Page[data.Order], error) {
	return list(ctx, db, orderOps, tenant, viewer, f, after, limit)
}

// Quote returns quote id as viewer sees it (as stored for staff, viewer
// nil); one viewer may not see is not found.
func (db *DB) Quote(ctx context.Context, tenant data.TenantID, viewer *data.User, id string) (data.Quote, error) {
	return one(ctx, db, quoteOps, tenant, viewer, id)
}

// Invoice returns invoice id as Quote returns a quote.
func (db *DB) Invoice(ctx context.Context, tenant data.TenantID, viewer *data.User, id string) (data.Invoice, error) {
	return one(ctx, db, invoiceOps, tenant, viewer, id)
}

// Order returns order id as Quote returns a quote.
func (db *DB) Order(ctx context.Context, tenant data.TenantID, viewer *data.User, id string) (data.Order, error) {
	return one(ctx, db, orderOps, tenant, viewer, id)
}

// QuoteByRef returns the quote with the CRM's ID externalID.
func (db *DB) QuoteByRef(ctx context.Context, tenant data.TenantID, externalID string) (data.Quote, error) {
	return byRef(ctx, db, quoteOps, tenant, externalID)
}

// InvoiceByRef returns the invoice with the CRM's ID externalID.
func (db *DB) InvoiceByRef(ctx context.Context, tenant data.TenantID, externalID string) (data.Invoice, error) {
	return byRef(ctx, db, invoiceOps, tenant, externalID)
}

// OrderByRef returns the order with the CRM's ID externalID.
func (db *DB) OrderByRef(ctx context.Context, tenant data.TenantID, externalID string) (data.Order, error) {
	return byRef(ctx, db, orderOps, tenant, externalID)
}

// DeleteQuote deletes the quote with the CRM's ID externalID.
func (db *DB) DeleteQuote(ctx context.Context, tenant data.TenantID, actor, externalID string) error {
	return remove(ctx, db, quoteOps, tenant, actor, externalID)
}

// DeleteInvoice deletes the invoice with the CRM's ID externalID.
func (db *DB) DeleteInvoice(ctx context.Context, tenant data.TenantID, actor, externalID string) error {
	return remove(ctx, db, invoiceOps, tenant, actor, externalID)
}

// DeleteOrder deletes the order with the CRM's ID externalID.
func (db *DB) DeleteOrder(ctx context.Context, tenant data.TenantID, actor, externalID string) error {
	return remove(ctx, db, orderOps, tenant, actor, externalID)
}

// SyncItem is one record of a sync batch: exactly one of the three set.
type SyncItem struct {
	Quote   *data.Quote
	Invoice *data.Invoice
	Order   *data.Order
}

// record is the item's record.
func (it SyncItem) record() data.CommerceRecord {
	switch {
	case it.Quote != nil:
		return it.Quote
	case it.Invoice != nil:
		return it.Invoice
	case it.Order != nil:
		return it.Order
	}
	return nil
}

// SyncResult is what the batch did with one item.
type SyncResult struct {
	Kind       data.CommerceKind `json:"kind"`
	ExternalID string            `json:"externalId"`
	ID         string            `json:"id"`
	Version    int64             `json:"version"`
	Result     UpsertResult      `json:"result"`
}

// maxListedConflicts bounds the items a batch's conflict names.
const maxListedConflicts = 10

// Sync upserts every item in one transaction: all are stored or none. Each
// item is validated first, and every invalid one reported at once (fields
// named items[i].field); an item listed twice is invalid. A version
// conflict of any item fails the batch, naming the items that conflict.
func (db *DB) Sync(ctx context.Context, tenant data.TenantID, actor string, items []SyncItem) ([]SyncResult, error) {
	if len(items) > data.MaxSyncBatch {
		return nil, data.Invalid("items", "must be at most "+strconv.Itoa(data.MaxSyncBatch)+" items")
	}
	bad := &data.FieldErrors{}
	seen := make(map[string]int, len(items))
	for i, it := range items {
		prefix := "items[" + strconv.Itoa(i) + "]."
		r := it.record()
		if r == nil {
			bad.Add(prefix+"kind", "must be quote, invoice or order")
			continue
		}
		bad.AddErr(prefix, r.Validate())
		key := string(r.Kind()) + "\x00" + r.Base().ExternalID
		if j, dup := seen[key]; dup {
			bad.Add(prefix+"externalId", "is also item "+strconv.Itoa(j)+": send each record once")
		}
		seen[key] = i
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	var out []SyncResult
	err := db.write(ctx, func(tx kv.Tx) error {
		out = make([]SyncResult, 0, len(items))
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		now := db.Now()
		// Plan every item, then write: the batch writes nothing unless
		// every item can be stored.
		var conflicts []string
		omitted := 0
		apply := make([]func() (SyncResult, error), 0, len(items))
		for i, it := range items {
			var fn func() (SyncResult, error)
			var err error
			switch {
			case it.Quote != nil:
				fn, err = syncPlan(db, b, quoteOps, now, actor, *it.Quote)
			case it.Invoice != nil:
				fn, err = syncPlan(db, b, invoiceOps, now, actor, *it.Invoice)
			default:
				fn, err = syncPlan(db, b, orderOps, now, actor, *it.Order)
			}
			var ce *data.ConflictError
			switch {
			case errors.As(err, &ce) && len(conflicts) < maxListedConflicts:
				conflicts = append(conflicts, "items["+strconv.Itoa(i)+"]: "+ce.Reason)
			case errors.As(err, &ce):
				omitted++
			case err != nil:
				return err
			}
			apply = append(apply, fn)
		}
		if len(conflicts) > 0 {
			msg := "nothing was stored: " + strings.Join(conflicts, "; ")
			if omitted > 0 {
				msg += "; and " + strconv.Itoa(omitted) + " more"
			}
			return data.Conflict(msg)
		}
		// Every check is done: from here on the transaction writes.
		for _, fn := range apply {
			res, err := fn()
			if err != nil {
				return err
			}
			out = append(out, res)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// syncPlan plans the upsert of in and returns the function that applies
// it.
func syncPlan[T any, P recordPtr[T]](db *DB, b kv.Bucket, ops kindOps[T], now time.Time, actor string, in T) (func() (SyncResult, error), error) {
	records, refs, err := commerceBuckets(b, ops.records, ops.refs)
	if err != nil {
		return nil, err
	}
	pl, err := planUpsert[T, P](ops, records, refs, in)
	if err != nil {
		return nil, err
	}
	return func() (SyncResult, error) {
		r, err := applyUpsert[T, P](db, b, records, refs, ops, now, actor, pl)
		base := P(&r).Base()
		return SyncResult{Kind: ops.kind, ExternalID: base.ExternalID, ID: base.ID, Version: base.Version, Result: pl.res}, err
	}, nil
}

// decide applies a customer's decision to quote id in one transaction: the
// quote must be visible to viewer, the viewer allowed to decide (a customer
// admin, or any customer when the portal's quotesMemberAccept is on), and
// the quote sent and still valid, and, when expect is set, the quote as
// shown now the one whose QuoteHash it is. set fills in the decision on
// the quote as it was shown.
func (db *DB) decide(ctx context.Context, tenant data.TenantID, viewer data.User, id, action, expect string, set func(q *data.Quote, shown data.Quote, now time.Time)) (data.Quote, error) {
	var out data.Quote
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Quote{}
		now := db.Now()
		cfg, err := db.configOf(tx, tenant, now)
		if err != nil {
			return err
		}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		records, _, err := commerceBuckets(b, bQuotes, bQuoteRefs)
		if err != nil {
			return err
		}
		cur, err := recordIn(quoteOps, records, id, &viewer)
		if err != nil {
			return err
		}
		if viewer.Role != data.RoleAdmin && !cfg.QuotesMemberAccept {
			return fmt.Errorf("%s quote %s: only a customer admin may: %w", action, id, data.ErrForbidden)
		}
		shown := cur.Record.CustomerView(now)
		if shown.Status != data.QuoteSent {
			return data.Conflict("the quote is " + string(shown.Status) + "; only a sent quote before its validUntil can be " +
				map[string]string{"accept": "accepted", "decline": "declined"}[action])
		}
		if expect != "" && data.QuoteHash(shown) != expect {
			return data.Conflict("the quote has changed since it was shown; review it and decide again")
		}
		// Every check is done: from here on the transaction writes.
		next := cur.Record
		set(&next, shown, now)
		next.UpdatedAt = now
		if err := putJSON(records, bytesOf(id), commerceStored[data.Quote]{Record: next, BodyHash: cur.BodyHash}); err != nil {
			return err
		}
		if err := db.audit(b, now, "user:"+viewer.ID, "quote."+action, "quote", id, ""); err != nil {
			return err
		}
		event := data.EventQuoteAccepted
		if action == "decline" {
			event = data.EventQuoteDeclined
		}
		if err := db.enqueueWebhookEvent(tx, tenant, now, event, map[string]any{"quote": next}); err != nil {
			return err
		}
		out = next.CustomerView(now)
		return nil
	})
	return out, err
}

// AcceptQuote records viewer's acceptance of quote id, in one transaction:
// signer, time, client address and user agent, and the SHA-256 of the
// quote as the customer saw it (data.QuoteHash of its CustomerView). Only
// a sent quote before its validUntil can be accepted, once: after that it
// is a conflict. A quote of another account is not found; a member who may
// not accept is forbidden. When a.ShownSHA256 is set and the quote as shown
// now has another hash (the CRM changed it meanwhile), it is a conflict.
func (db *DB) AcceptQuote(ctx context.Context, tenant data.TenantID, viewer data.User, id string, a data.QuoteAccept) (data.Quote, error) {
	if err := a.Validate(); err != nil {
		return data.Quote{}, err
	}
	c := Client{IP: a.IP, UserAgent: a.UserAgent}.clip()
	return db.decide(ctx, tenant, viewer, id, "accept", a.ShownSHA256, func(q *data.Quote, shown data.Quote, now time.Time) {
		q.Status = data.QuoteAccepted
		q.Acceptance = &data.QuoteAcceptance{SignerName: a.SignerName, UserID: viewer.ID, AcceptedAt: now,
			IP: c.IP, UserAgent: c.UserAgent, QuoteSHA256: data.QuoteHash(shown)}
	})
}

// DeclineQuote records viewer's refusal of quote id, with an optional
// reason, in one transaction, under the rules of AcceptQuote.
func (db *DB) DeclineQuote(ctx context.Context, tenant data.TenantID, viewer data.User, id, reason string) (data.Quote, error) {
	if err := data.CheckDeclineReason(reason); err != nil {
		return data.Quote{}, err
	}
	return db.decide(ctx, tenant, viewer, id, "decline", "", func(q *data.Quote, _ data.Quote, now time.Time) {
		q.Status = data.QuoteDeclined
		q.Decline = &data.QuoteDecline{UserID: viewer.ID, Reason: reason, DeclinedAt: now}
	})
}
