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
	if b == nil {
		return p, nil
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
	var last []byte
	for ; k != nil; k, v = c.Prev() {
		if match == nil && len(p.Items) == limit {
			p.Next = string(last) // another record exists: no need to decode it
			return p, nil
		}
		var item T
		if err := gojson.Unmarshal(v, &item); err != nil {
			return p, fmt.Errorf("decode %s: %w", k, err)
		}
		if match != nil && !match(&item) {
			continue
		}
		if len(p.Items) == limit {
			p.Next = string(last)
			return p, nil
		}
		p.Items = append(p.Items, item)
		last = append(last[:0], k...)
	}
	return p, nil
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
