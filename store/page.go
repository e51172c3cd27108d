package store

import (
	"context"
	"fmt"

	gojson "github.com/goccy/go-json"
	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
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
func scanPage[T any](b *bbolt.Bucket, after string, limit int, match func(*T) bool) (Page[T], error) {
	var p Page[T]
	var last []byte
	err := walkDown(b, after, func(k, v []byte) (bool, error) {
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

// scanRaw is scanPage for records served as stored: it returns copies of
// the stored values, and decodes nothing unless match (which may) is set.
func scanRaw(b *bbolt.Bucket, after string, limit int, match func(k, v []byte) (bool, error)) (Page[[]byte], error) {
	var p Page[[]byte]
	var last []byte
	err := walkDown(b, after, func(k, v []byte) (bool, error) {
		if match != nil {
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

// walkDown calls visit for the records of b from the newest key down,
// starting below after (all keys when after is empty), while visit asks for
// more.
func walkDown(b *bbolt.Bucket, after string, visit func(k, v []byte) (more bool, err error)) error {
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	if after == "" {
		k, v = c.Last()
	} else {
		k, v = c.Seek([]byte(after))
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
	err := db.read(ctx, func(tx *bbolt.Tx) error {
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		p, err = scanPage[data.AuditEntry](b.Bucket(bAudit), after, limit, nil)
		return err
	})
	return p, err
}
