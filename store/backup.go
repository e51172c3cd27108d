package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is returned when another process, such as a running server,
// holds the database file.
var ErrLocked = errors.New("database is locked by another process")

// Backup streams a consistent snapshot of the whole database to w from one
// read transaction, so writers go on meanwhile. size, when not nil, is told
// the snapshot's length before its first byte is written (for a
// Content-Length). A long backup keeps the pages it reads from being
// reused, so the file may grow while it runs.
func (db *DB) Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := db.read(ctx, func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Restore writes the file at from, which the caller has checked (see
// Check), to path. The copy is written beside path, synced and renamed over
// it, so path holds either the old or the new file whatever happens. It
// fails with ErrLocked while a process holds path, and with os.ErrExist when
// path exists and replace is false. It holds a shared lock on the old file
// until the rename is done, so a server starting meanwhile waits for it and
// then opens the restored file.
func Restore(from, path string, replace bool) (err error) {
	if _, statErr := os.Stat(path); statErr == nil {
		held, openErr := bbolt.Open(path, 0o600, BoltOptions(true))
		switch {
		case errors.Is(openErr, bolterrors.ErrTimeout):
			return fmt.Errorf("restore %s: %w", path, ErrLocked)
		case openErr == nil:
			defer func() { err = errors.Join(err, held.Close()) }()
		}
		// Any other error is a damaged file: replacing it is the point.
		if !replace {
			return fmt.Errorf("restore %s: %w", path, os.ErrExist)
		}
	}
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	return WriteFileAtomic(path, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	}, nil)
}

// WriteFileAtomic writes path through a temporary file in the same
// directory: fill writes the content, the file is synced, verify (when not
// nil) may inspect it by name, and only then is it renamed over path and the
// directory synced. On any error path is untouched and the temporary file
// removed. The file is created readable by its owner only: databases and
// backups hold every organization's data and the generated secrets.
func WriteFileAtomic(path string, fill func(io.Writer) error, verify func(tmp string) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if verify != nil {
		if err := verify(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
