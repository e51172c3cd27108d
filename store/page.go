package store

import (
	"context"
	"fmt"

	gojson "github.com/goccy/go-json"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// Page is one page of a list, newest first. Next is the ID to continue
// after, empty on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// scanPage walks bucket b from the newest key down, starting below after
// (all keys when after is empty), and returns up to limit values that match.
// Keys are ULIDs, so newer records sort last and a page continues exactly
// where the previous one stopped even while records are being added.
func scanPage[T any](b kv.Bucket, after string, limit int, match func(*T) bool) (Page[T], error) {
	var p Page[T]
	var last []byte
	err := walkDown(b, after, walkSize(limit, match == nil), func(k, v []byte) (bool, error) {
		if match == nil && len(p.Items) == limit {
			p.Next = string(last) // another record exists: no need to decode it
			return false, nil
		}
		var item T
		if err := gojson.Unmarshal(v, &item); err != nil {
			return false, fmt.Errorf("decode %s: %w", k, err)
		}
		if match != nil && !match(&item) {
			return true, nil
		}
		if len(p.Items) == limit {
			p.Next = string(last)
			return false, nil
		}
		p.Items = append(p.Items, item)
		last = append(last[:0], k...)
		return true, nil
	})
	return p, err
}

// MaxScanPerPage bounds the records one filtered page of the contact or
// user list looks at. A search that matches little walks the whole list;
// past this many records the page ends early, with what it found so far
// (possibly nothing) and a cursor that continues the walk, so one request's
// cost does not grow with the directory.
const MaxScanPerPage = 10000

// scanRaw is scanPage for records served as stored: it returns copies of
// the stored values, and decodes nothing unless match (which may) is set.
// A filtered walk stops after MaxScanPerPage records with Next set to the
// last record it looked at.
func scanRaw(b kv.Bucket, after string, limit int, match func(k, v []byte) (bool, error)) (Page[[]byte], error) {
	var p Page[[]byte]
	var last, seen []byte
	scanned := 0
	err := walkDown(b, after, walkSize(limit, match == nil), func(k, v []byte) (bool, error) {
		if match != nil {
			if scanned == MaxScanPerPage {
				p.Next = string(seen)
				return false, nil
			}
			scanned++
			seen = append(seen[:0], k...)
			ok, err := match(k, v)
			if err != nil || !ok {
				return err == nil, err
			}
		}
		if len(p.Items) == limit {
			p.Next = string(last)
			return false, nil
		}
		p.Items = append(p.Items, append([]byte(nil), v...))
		last = append(last[:0], k...)
		return true, nil
	})
	return p, err
}

// walkSize is how many keys a walk for a page of limit records likely
// visits: limit and one more when every record is taken, unknown (0) when a
// filter may skip some.
func walkSize(limit int, all bool) int {
	if all {
		return limit + 1
	}
	return 0
}

// walkDown calls visit for the records of b from the newest key down,
// starting below after (all keys when after is empty), while visit asks for
// more. size, when not 0, is how many keys the walk likely visits: an
// engine whose cursors read pages from a server (kv.Sizer) reads pages of
// that size.
func walkDown(b kv.Bucket, after string, size int, visit func(k, v []byte) (more bool, err error)) error {
	if b == nil {
		return nil
	}
	c := b.Cursor()
	if s, ok := b.(kv.Sizer); ok && size > 0 {
		c = s.CursorSized(size)
	}
	var k, v []byte
	if after == "" {
		k, v = c.Last()
	} else {
		k, v = c.Seek(bytesOf(after))
		if k == nil {
			k, v = c.Last()
		}
		for k != nil && string(k) >= after {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = c.Prev() {
		more, err := visit(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// AuditTrail lists the organization's audit entries, newest first.
func (db *DB) AuditTrail(ctx context.Context, tenant data.TenantID, after string, limit int) (Page[data.AuditEntry], error) {
	var p Page[data.AuditEntry]
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[data.AuditEntry]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		p, err = scanPage[data.AuditEntry](b.Bucket(bAudit), after, limit, nil)
		return err
	})
	return p, err
}
