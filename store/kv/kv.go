// Package kv is the store's key-value seam: the subset of bbolt the store
// uses (nested buckets of byte keys in byte order, cursors, managed
// read and write transactions), as interfaces that more than one engine
// implements. boltkv wraps bbolt itself, the single-file default; etcdkv
// keeps the same tree in an etcd cluster.
//
// Converting the store onto the seam is mechanical: *bbolt.Tx, *bbolt.Bucket
// and *bbolt.Cursor become Tx, Bucket and Cursor. The semantics follow bbolt:
//
//   - Keys sort in byte order within a bucket. A nested bucket's name is a
//     key of its parent: it shows up in ForEach and cursors with a nil value,
//     and no plain key may have the same name.
//   - Bytes returned by Get, ForEach and cursors are valid only until the
//     transaction ends; copy what must outlive it.
//   - Values passed to Put must stay unchanged until the transaction ends.
//   - Engines never write into the key and value slices they are given, so
//     a caller may pass the bytes of a string without copying them.
//   - A read-only transaction's writes fail with ErrTxNotWritable.
package kv

import "errors"

// DB is a key-value database with managed transactions.
type DB interface {
	// View runs fn in a read-only transaction that sees one consistent
	// snapshot. An engine may run fn again when its snapshot became
	// unreadable before fn finished (etcd: the revision was compacted), so
	// fn must set its results afresh on every run.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it if fn
	// returns nil; an error from fn rolls every write back and is returned
	// as it is. fn may run more than once: engines with optimistic
	// concurrency (etcd) run it again with fresh reads when another
	// transaction committed a conflicting write first, so fn must be
	// idempotent, set its results afresh on every run, and have no effects
	// outside the transaction. After the engine's attempts are spent Update
	// returns an error wrapping ErrConflict.
	Update(fn func(Tx) error) error
	// Close releases the database. Transactions must have ended.
	Close() error
}

// Tx is a transaction: the root of the bucket tree. The root holds only
// buckets.
type Tx interface {
	// Bucket returns the top-level bucket name, or nil if there is none.
	Bucket(name []byte) Bucket
	// CreateBucket creates the top-level bucket name; ErrBucketExists if
	// it exists.
	CreateBucket(name []byte) (Bucket, error)
	// CreateBucketIfNotExists returns the top-level bucket name, creating it
	// if needed.
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	// DeleteBucket deletes the top-level bucket name and everything in it;
	// ErrBucketNotFound if there is none.
	DeleteBucket(name []byte) error
	// ForEachBucket calls fn with each top-level bucket's name in byte
	// order, stopping at the first error, which it returns.
	ForEachBucket(fn func(name []byte) error) error
	// Writable reports whether the transaction may write.
	Writable() bool
}

// Bucket is a collection of keys in byte order, some of which may be
// nested buckets.
type Bucket interface {
	// Get returns the value of key, or nil if key is absent or names a
	// nested bucket.
	Get(key []byte) []byte
	// Put sets key to value. The key must be non-empty; a nil value is
	// stored as an empty one.
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
	// Bucket returns the nested bucket name, or nil if there is none.
	Bucket(name []byte) Bucket
	// CreateBucket creates the nested bucket name; ErrBucketExists if it
	// exists, ErrIncompatibleValue if name is a plain key.
	CreateBucket(name []byte) (Bucket, error)
	// CreateBucketIfNotExists returns the nested bucket name, creating it if
	// needed; ErrIncompatibleValue if name is a plain key.
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	// DeleteBucket deletes the nested bucket name and everything in it.
	DeleteBucket(name []byte) error
	// ForEach calls fn for every key in byte order; a nested bucket's name
	// comes with a nil value. fn must not write to the bucket.
	ForEach(fn func(k, v []byte) error) error
	// ForEachBucket calls fn with the name of every nested bucket in byte
	// order.
	ForEachBucket(fn func(name []byte) error) error
	// Cursor returns a cursor over the bucket's keys.
	Cursor() Cursor
	// KeyN counts the keys in the bucket and in all its nested buckets, a
	// nested bucket's own name included (bbolt's Stats().KeyN). It walks
	// the bucket: O(n) on bbolt and on etcd alike (on etcd one counting
	// request, the work done by the server).
	KeyN() int
	// Writable reports whether the bucket may be written.
	Writable() bool
}

// Cursor walks a bucket's keys in byte order. Each method returns the key
// and value it lands on, a nil key past either end, and a nil value for a
// nested bucket. After a nil key, reposition with First, Last or Seek.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	// Seek moves to the first key >= seek.
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
}

var (
	// ErrConflict means Update gave up: other transactions kept committing
	// conflicting writes through every attempt. Nothing was written; the
	// caller may try again later.
	ErrConflict = errors.New("kv: transaction conflict, retries exhausted")
	// ErrUnavailable means the engine could not be reached or has no leader.
	// An Update that fails with it while committing may or may not have
	// committed. The HTTP layer answers 503 with Retry-After.
	ErrUnavailable = errors.New("kv: storage unavailable")
	// ErrTooLarge means a transaction is bigger than the engine takes in
	// one commit (etcd: more operations or compares than its max-txn-ops).
	// Transactions are never split, so such a write must be made smaller
	// (see Limited).
	ErrTooLarge = errors.New("kv: transaction too large")

	// ErrTxNotWritable is a write in a read-only transaction.
	ErrTxNotWritable = errors.New("kv: tx not writable")
	// ErrKeyRequired is an empty key.
	ErrKeyRequired = errors.New("kv: key required")
	// ErrBucketNotFound is a missing bucket.
	ErrBucketNotFound = errors.New("kv: bucket not found")
	// ErrBucketExists is CreateBucket on an existing bucket.
	ErrBucketExists = errors.New("kv: bucket already exists")
	// ErrIncompatibleValue is a bucket operation on a plain key or a plain
	// operation on a bucket's name.
	ErrIncompatibleValue = errors.New("kv: incompatible value")
)

// Prefetcher is implemented by the buckets of an engine whose reads are
// round trips to a server (etcd). A transaction announces what it is about
// to read, and the engine reads it along with its next request, at the
// transaction's revision, instead of one request per read. Announcing
// changes no result, and nothing announced has to be read.
type Prefetcher interface {
	// Prefetch announces Gets of keys.
	Prefetch(keys ...[]byte)
	// PrefetchSeek announces a cursor's Seek(seek) and a walk forward over
	// about n keys (the engine reads one more, to see where the walk ends).
	PrefetchSeek(seek []byte, n int)
}

// Sizer is implemented by the buckets of an engine whose cursors read pages
// of keys from a server (etcd). CursorSized returns a cursor that reads
// about n keys per request, for a walk that will likely stop after about n
// keys: one page of a list, rather than the engine's default page.
type Sizer interface {
	CursorSized(n int) Cursor
}

// Spreader is implemented by the buckets of an engine with optimistic
// transactions, where concurrent writes of one key conflict and all but one
// run again. Spread is a number fixed for one run of a transaction, and
// different for the runs the process has under way at the same time, so a
// key every write updates (a counter) can be spread over several.
type Spreader interface {
	Spread() uint32
}

// Limited is implemented by an engine whose transactions carry a bounded
// number of writes (etcd: its --max-txn-ops). Work over many records is
// then split into transactions of a size that fits.
type Limited interface {
	// MaxWrites is how many keys one transaction may write at most.
	MaxWrites() int
}
