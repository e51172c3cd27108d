package store

// The store on an engine it does not open itself (an etcd cluster, see
// store/kv/etcdkv and docs/storage-seam.md), and what moves a whole
// installation between engines: CopyTree for `portal migrate`, and the
// logical export that backs up a database that is not one file.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

// OpenKV opens the store on e and migrates it to SchemaVersion. name says
// where the data is, for logs and reports (a URL without its password).
// Writes are not grouped: on an engine with optimistic transactions a group
// would conflict as one and run again as one. Closing the DB closes e.
func OpenKV(e kv.DB, name string, now func() time.Time, opt Options) (*DB, error) {
	return newDB(e, nil, 1, name, now, opt)
}

// Engine is the store's engine, for the tools that work on the data
// beneath the store (migrate, check).
func (db *DB) Engine() kv.DB { return db.kv }

// ErrNotEmpty is returned by CopyTree when the target already holds data.
var ErrNotEmpty = errors.New("the target database is not empty")

// copyBatch bounds one transaction of CopyTree on the target: well under
// etcd's default of 128 operations and 1.5 MiB per transaction (a value
// past that is stored in chunks by the engine itself).
const (
	copyBatchKeys  = 48
	copyBatchBytes = 512 << 10
)

// CopyTree copies every bucket and key of from into to, which must hold no
// bucket (ErrNotEmpty otherwise). It reads from in one read transaction, a
// consistent snapshot on every engine, and writes to in transactions of a
// bounded size. It returns how many keys it copied. A copy that fails part
// way leaves to partly written: start again with an empty target.
func CopyTree(to, from kv.DB) (int, error) {
	empty := true
	if err := to.View(func(tx kv.Tx) error {
		empty = true
		return tx.ForEachBucket(func([]byte) error { empty = false; return nil })
	}); err != nil {
		return 0, err
	}
	if !empty {
		return 0, ErrNotEmpty
	}
	var n int
	err := from.View(func(tx kv.Tx) error {
		c := &treeCopier{to: to}
		n = 0
		err := tx.ForEachBucket(func(name []byte) error {
			return c.bucket([][]byte{clone(name)}, tx.Bucket(name))
		})
		if err == nil {
			err = c.flush()
		}
		n = c.keys
		return err
	})
	return n, err
}

// treeCopier buffers the writes of CopyTree into bounded transactions.
type treeCopier struct {
	to    kv.DB
	batch []copyOp
	bytes int
	keys  int
}

// copyOp is a bucket to create (value nil) or a key to put, under path.
type copyOp struct {
	path       [][]byte
	key, value []byte
}

func (c *treeCopier) bucket(path [][]byte, b kv.Bucket) error {
	if err := c.add(copyOp{path: path}); err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			sub := append(append([][]byte{}, path...), clone(k))
			return c.bucket(sub, b.Bucket(k))
		}
		c.keys++
		return c.add(copyOp{path: path, key: clone(k), value: clone(v)})
	})
}

func (c *treeCopier) add(op copyOp) error {
	c.batch = append(c.batch, op)
	c.bytes += len(op.key) + len(op.value)
	if len(c.batch) >= copyBatchKeys || c.bytes >= copyBatchBytes {
		return c.flush()
	}
	return nil
}

func (c *treeCopier) flush() error {
	if len(c.batch) == 0 {
		return nil
	}
	batch := c.batch
	err := c.to.Update(func(tx kv.Tx) error {
		for _, op := range batch {
			b, err := tx.CreateBucketIfNotExists(op.path[0])
			if err != nil {
				return err
			}
			for _, name := range op.path[1:] {
				if b, err = b.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			if op.key != nil {
				if err := b.Put(op.key, op.value); err != nil {
					return err
				}
			}
		}
		return nil
	})
	c.batch, c.bytes = c.batch[:0:0], 0
	return err
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

// exportTo writes the tree of tx into a new bbolt file in dir, in today's
// file format, and returns it open for reading (removed from dir already,
// so it goes when it is closed). It is the backup of a database on an
// engine without a file: the same format `portal restore` and `check`
// read, taken from one consistent read transaction.
func exportTo(dir string, tx kv.Tx) (*os.File, error) {
	tmp, err := os.CreateTemp(dir, "portal-export-*.db")
	if err != nil {
		return nil, err
	}
	path := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(path)
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	dst := boltkv.Wrap(b)
	c := &treeCopier{to: dst}
	err = tx.ForEachBucket(func(name []byte) error { return c.bucket([][]byte{clone(name)}, tx.Bucket(name)) })
	if err == nil {
		err = c.flush()
	}
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return f, nil
}

// backupExport is Backup on an engine without a file: the export of one
// read transaction, written to a temporary file first and streamed once the
// transaction has ended (a read transaction may run again on etcd, which
// must not write w twice).
func (db *DB) backupExport(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	var f *os.File
	err := db.read(ctx, func(tx kv.Tx) error {
		if f != nil {
			_ = f.Close() // an earlier run's
		}
		var err error
		f, err = exportTo("", tx)
		return err
	})
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		return 0, err
	}
	defer f.Close()
	if size != nil {
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		size(st.Size())
	}
	return io.Copy(w, f)
}

// OpenFile opens the bbolt file at path as a bare engine, without the
// store's schema migration: the source or target of CopyTree. A read-only
// file waits at most a second for a writer's lock (ErrLocked).
func OpenFile(path string, readOnly bool) (kv.DB, error) {
	if _, err := os.Stat(path); err != nil && readOnly {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := verifyOpen(path, readOnly); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	b, err := bbolt.Open(path, 0o600, BoltOptions(readOnly))
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return boltkv.Wrap(b), nil
}
