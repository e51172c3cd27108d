// Package boltkv is the kv seam over bbolt, in today's file format: a kv
// bucket is a bbolt bucket and a key a bbolt key, so a file written through
// the seam and one written by bbolt directly are the same file.
//
// The wrappers are bbolt's own types under other names: a *bbolt.Bucket
// converts to the kv.Bucket it is with no allocation and no indirection
// beyond the interface call, so the bbolt mode costs what bbolt costs.
package boltkv

import (
	"errors"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/salesos/portal/store/kv"
)

// DB is a bbolt database behind the kv seam.
type DB struct{ bolt *bbolt.DB }

// Wrap puts db behind the seam. Closing the returned DB closes db.
func Wrap(db *bbolt.DB) *DB { return &DB{bolt: db} }

// Bolt is the wrapped database, for bbolt-only features (Stats, Path).
func (db *DB) Bolt() *bbolt.DB { return db.bolt }

// View runs fn in a bbolt read transaction. It runs fn exactly once.
func (db *DB) View(fn func(kv.Tx) error) error {
	return db.bolt.View(func(t *bbolt.Tx) error { return fn((*tx)(t)) })
}

// Update runs fn in a bbolt write transaction. bbolt serializes writers, so
// it runs fn exactly once and never returns kv.ErrConflict.
func (db *DB) Update(fn func(kv.Tx) error) error {
	return db.bolt.Update(func(t *bbolt.Tx) error { return fn((*tx)(t)) })
}

// Close closes the bbolt file.
func (db *DB) Close() error { return db.bolt.Close() }

// Tx is the bbolt transaction under t, for bbolt-only features (WriteTo for
// backups, Check, Size). It is nil if t is not a boltkv transaction.
func Tx(t kv.Tx) *bbolt.Tx {
	if t, ok := t.(*tx); ok {
		return (*bbolt.Tx)(t)
	}
	return nil
}

// Bucket is the bbolt bucket under b, for bbolt-only settings such as
// FillPercent. It is nil if b is not a boltkv bucket.
func Bucket(b kv.Bucket) *bbolt.Bucket {
	if b, ok := b.(*bucket); ok {
		return (*bbolt.Bucket)(b)
	}
	return nil
}

type (
	tx     bbolt.Tx
	bucket bbolt.Bucket
	cursor bbolt.Cursor
)

// wrap converts a bbolt bucket, keeping a missing one a nil interface.
func wrap(b *bbolt.Bucket) kv.Bucket {
	if b == nil {
		return nil
	}
	return (*bucket)(b)
}

// kvErr gives bbolt's errors the seam's names, so callers test one set.
func kvErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrTxNotWritable):
		return kv.ErrTxNotWritable
	case errors.Is(err, berrors.ErrKeyRequired), errors.Is(err, berrors.ErrBucketNameRequired):
		return kv.ErrKeyRequired
	case errors.Is(err, berrors.ErrBucketNotFound):
		return kv.ErrBucketNotFound
	case errors.Is(err, berrors.ErrBucketExists):
		return kv.ErrBucketExists
	case errors.Is(err, berrors.ErrIncompatibleValue):
		return kv.ErrIncompatibleValue
	}
	return err
}

func (t *tx) Bucket(name []byte) kv.Bucket { return wrap((*bbolt.Tx)(t).Bucket(name)) }

func (t *tx) CreateBucket(name []byte) (kv.Bucket, error) {
	b, err := (*bbolt.Tx)(t).CreateBucket(name)
	return wrap(b), kvErr(err)
}

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := (*bbolt.Tx)(t).CreateBucketIfNotExists(name)
	return wrap(b), kvErr(err)
}

func (t *tx) DeleteBucket(name []byte) error { return kvErr((*bbolt.Tx)(t).DeleteBucket(name)) }

func (t *tx) ForEachBucket(fn func(name []byte) error) error {
	return (*bbolt.Tx)(t).ForEach(func(name []byte, _ *bbolt.Bucket) error { return fn(name) })
}

func (t *tx) Writable() bool { return (*bbolt.Tx)(t).Writable() }

func (b *bucket) Get(key []byte) []byte { return (*bbolt.Bucket)(b).Get(key) }

func (b *bucket) Put(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return kvErr((*bbolt.Bucket)(b).Put(key, value))
}

func (b *bucket) Delete(key []byte) error { return kvErr((*bbolt.Bucket)(b).Delete(key)) }

func (b *bucket) Bucket(name []byte) kv.Bucket { return wrap((*bbolt.Bucket)(b).Bucket(name)) }

func (b *bucket) CreateBucket(name []byte) (kv.Bucket, error) {
	nb, err := (*bbolt.Bucket)(b).CreateBucket(name)
	return wrap(nb), kvErr(err)
}

func (b *bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	nb, err := (*bbolt.Bucket)(b).CreateBucketIfNotExists(name)
	return wrap(nb), kvErr(err)
}

func (b *bucket) DeleteBucket(name []byte) error {
	return kvErr((*bbolt.Bucket)(b).DeleteBucket(name))
}

func (b *bucket) ForEach(fn func(k, v []byte) error) error { return (*bbolt.Bucket)(b).ForEach(fn) }

func (b *bucket) ForEachBucket(fn func(name []byte) error) error {
	return (*bbolt.Bucket)(b).ForEachBucket(fn)
}

func (b *bucket) Cursor() kv.Cursor { return (*cursor)((*bbolt.Bucket)(b).Cursor()) }

func (b *bucket) KeyN() int { return (*bbolt.Bucket)(b).Stats().KeyN }

func (b *bucket) Writable() bool { return (*bbolt.Bucket)(b).Writable() }

func (c *cursor) First() ([]byte, []byte)           { return (*bbolt.Cursor)(c).First() }
func (c *cursor) Last() ([]byte, []byte)            { return (*bbolt.Cursor)(c).Last() }
func (c *cursor) Seek(seek []byte) ([]byte, []byte) { return (*bbolt.Cursor)(c).Seek(seek) }
func (c *cursor) Next() ([]byte, []byte)            { return (*bbolt.Cursor)(c).Next() }
func (c *cursor) Prev() ([]byte, []byte)            { return (*bbolt.Cursor)(c).Prev() }
