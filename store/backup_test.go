package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDB_Backup(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	db, err := Open(f.path, time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := filepath.Join(t.TempDir(), "backup.db")
	var size int64 = -1
	err = WriteFileAtomic(out, func(w io.Writer) error {
		n, err := db.Backup(context.Background(), w, func(s int64) { size = s })
		if err == nil && n != size {
			t.Errorf("got %d bytes written, want the announced %d", n, size)
		}
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Check(out)
	if err != nil || !r.OK() {
		t.Fatalf("got %v, %v checking the backup, want OK", err, r.Breaches)
	}
	if r.Records["users"] != 5 {
		t.Errorf("got %d users in the backup, want 5", r.Records["users"])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Backup(ctx, io.Discard, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v with a cancelled context, want context.Canceled", err)
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	f := newCheckFixture(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "portal.db")

	if err := Restore(f.path, target, false); err != nil {
		t.Fatalf("restore to a new file: got %v, want nil", err)
	}
	if r, err := Check(target); err != nil || !r.OK() {
		t.Fatalf("got %v, %v checking the restored file, want OK", err, r.Breaches)
	}
	if err := Restore(f.path, target, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("restore over a file without replace: got %v, want os.ErrExist", err)
	}
	db, err := Open(target, time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Restore(f.path, target, true); !errors.Is(err, ErrLocked) {
		t.Errorf("restore over a held file: got %v, want ErrLocked", err)
	}
	_ = db.Close()
	if err := os.WriteFile(target, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(f.path, target, true); err != nil {
		t.Errorf("restore over a damaged file: got %v, want nil", err)
	}
	if r, err := Check(target); err != nil || !r.OK() {
		t.Errorf("got %v, %v checking the restored file, want OK", err, r.Breaches)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("got %d files in the directory, want only the database (no temporary files)", len(entries))
	}
}

func TestWriteFileAtomic_VerifyFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write([]byte("new"))
		return err
	}, func(string) error { return errors.New("no") })
	if err == nil {
		t.Fatal("got nil, want the verify error")
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Errorf("got %q, want the old content kept", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("got %d files, want the temporary file removed", len(entries))
	}
}
