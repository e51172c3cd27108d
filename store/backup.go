package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

// ErrLocked is returned when another process, such as a running server,
// holds the database file.
var ErrLocked = errors.New("database is locked by another process")

// Backup streams a consistent snapshot of the whole database to w from one
// read transaction, so writers go on meanwhile. size, when not nil, is told
// the snapshot's length before its first byte is written (for a
// Content-Length). A long backup keeps the pages it reads from being
// reused, so the file may grow while it runs. The snapshot is the bbolt
// file itself; on another engine (etcd) it is a bbolt file of the same
// format written from one read transaction (a logical, consistent export),
// so restore and check read both.
func (db *DB) Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	if db.bolt == nil {
		return db.backupExport(ctx, w, size)
	}
	var n int64
	err := db.read(ctx, func(tx kv.Tx) error {
		n = 0
		btx := boltkv.Tx(tx)
		if btx == nil {
			return ErrNoFile
		}
		if size != nil {
			size(btx.Size())
		}
		var err error
		n, err = btx.WriteTo(w)
		return err
	})
	return n, err
}

// Restore writes the file at from, which the caller has checked (see
// Check), to path. It verifies from's structure again (see Verify) and
// refuses a damaged file. The copy is written beside path, synced and
// renamed over it, so path holds either the old or the new file whatever
// happens. It fails with ErrLocked while a process holds path, and with
// os.ErrExist when path exists and replace is false. It holds a shared lock
// on the old file until the rename is done, so a server starting meanwhile
// waits for it. The old file is never handed to bbolt: it may be the
// damaged one being replaced.
func Restore(from, path string, replace bool) (err error) {
	if err := Verify(from); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	held, err := os.Open(path)
	switch {
	case err == nil:
		defer held.Close()
		if err := lockFile(held, false, time.Second); err != nil {
			return fmt.Errorf("restore %s: %w", path, err)
		}
		if !replace {
			return fmt.Errorf("restore %s: %w", path, os.ErrExist)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("restore: %w", err)
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
