package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/store/kv"
	"github.com/salesos/portal/store/kv/boltkv"
)

// PeekSecret reads the secret stored under name from the database at path
// while another process (a running server) holds the file's lock. It reads
// a copy of the file: bbolt writes pages before the meta page that points at
// them, so a copy whose meta page is valid sees a committed state; a copy
// torn by a concurrent commit fails to open or to read and is taken again.
func PeekSecret(path, name string) ([]byte, error) {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		secret, err := peekOnce(path, name)
		if err == nil {
			return secret, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("read secret from %s: %w", path, last)
}

func peekOnce(path, name string) ([]byte, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dir, err := os.MkdirTemp("", "portal-peek-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	copyPath := filepath.Join(dir, "copy.db")
	dst, err := os.OpenFile(copyPath, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return nil, err
	}
	if err := dst.Close(); err != nil {
		return nil, err
	}
	b, err := bbolt.Open(copyPath, 0o600, BoltOptions(true))
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var secret []byte
	err = boltkv.Wrap(b).View(func(tx kv.Tx) error {
		secret = nil
		m := tx.Bucket(bMeta)
		if m == nil {
			return errors.New("no meta bucket")
		}
		v := m.Get(bytesOf("secret:" + name))
		if v == nil {
			return fmt.Errorf("no secret %q", name)
		}
		secret = append([]byte(nil), v...)
		return nil
	})
	return secret, err
}
