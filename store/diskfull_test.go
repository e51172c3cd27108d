package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

// faultyDisk makes the commits of a database fail with its error while set.
type faultyDisk struct {
	err   atomic.Pointer[error]
	calls atomic.Int64
}

func (d *faultyDisk) set(err error) { d.err.Store(&err) }

func (d *faultyDisk) fault() error {
	d.calls.Add(1)
	if p := d.err.Load(); p != nil {
		return *p
	}
	return nil
}

func noSpace(path string, errno syscall.Errno) error {
	return &fs.PathError{Op: "write", Path: path, Err: errno}
}

func TestDB_DiskFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portal.db")
	now := checkT0
	disk := &faultyDisk{}
	db, err := Open(path, func() time.Time { return now }, Options{CommitFault: disk.fault})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const org = data.TenantID("acme")
	create := func(email string) error {
		return db.CreateContact(ctx, org, "t", &data.Contact{Email: email, FirstName: "A"})
	}
	if err := create("before@example.com"); err != nil {
		t.Fatal(err)
	}

	disk.set(noSpace(path, syscall.ENOSPC))
	err = create("first@example.com")
	var dfe *DiskFullError
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &dfe) || !dfe.First {
		t.Fatalf("first refused write: got %v, want a *DiskFullError with First set wrapping ENOSPC", err)
	}
	disk.set(noSpace(path, syscall.EDQUOT))
	err = create("second@example.com")
	if !errors.As(err, &dfe) || dfe.First || !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("second refused write: got %v, want a *DiskFullError without First wrapping EDQUOT", err)
	}
	if full, since := db.DiskFull(); !full || !since.Equal(checkT0) {
		t.Errorf("got DiskFull %v since %v, want true since %v", full, since, checkT0)
	}
	if n := db.RefusedWrites(); n != 2 {
		t.Errorf("got %d refused writes, want 2", n)
	}

	// The probe fails while the disk stays full, and tries at most every
	// diskProbeInterval.
	calls := disk.calls.Load()
	if !db.ProbeDiskFull(ctx) {
		t.Error("probe on a full disk: got not full, want full")
	}
	if !db.ProbeDiskFull(ctx) {
		t.Error("second probe: got not full, want full")
	}
	if got := disk.calls.Load() - calls; got != 1 {
		t.Errorf("got %d probe commits for two probes within the interval, want 1", got)
	}
	if n := db.RefusedWrites(); n != 2 {
		t.Errorf("got %d refused writes after probing, want 2 (a probe is not a client's write)", n)
	}

	// Space freed: the next probe clears the state without any other write.
	disk.set(nil)
	now = now.Add(diskProbeInterval)
	if db.ProbeDiskFull(ctx) {
		t.Error("probe after space was freed: got full, want not full")
	}
	if full, _ := db.DiskFull(); full {
		t.Error("got DiskFull true after a successful probe, want false")
	}

	// A new episode is reported First again; another error is not a full disk.
	disk.set(noSpace(path, syscall.ENOSPC))
	if err := create("third@example.com"); !errors.As(err, &dfe) || !dfe.First {
		t.Errorf("first write of a new episode: got %v, want First set", err)
	}
	disk.set(nil)
	if err := create("after@example.com"); err != nil {
		t.Fatalf("write after space came back: got %v, want nil", err)
	}
	if full, _ := db.DiskFull(); full {
		t.Error("got DiskFull true after a successful write, want false")
	}
	disk.set(noSpace(path, syscall.EIO))
	if err := create("io@example.com"); err == nil || errors.Is(err, ErrDiskFull) {
		t.Errorf("EIO: got %v, want an error that is not ErrDiskFull", err)
	}
	disk.set(nil)

	// Nothing of a refused write was stored, and the file is sound.
	p, err := db.Contacts(ctx, org, ContactFilter{}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, c := range p.Items {
		emails = append(emails, c.Email)
	}
	slices.Sort(emails)
	if got := strings.Join(emails, ","); got != "after@example.com,before@example.com" {
		t.Errorf("got contacts %s, want only the two written with space", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if r, err := Check(path); err != nil || !r.OK() {
		t.Errorf("got %v, %v checking the file, want OK", err, r.Breaches)
	}
}

// TestDB_DiskFull_Tmpfs fills a real, small file system. It needs root and
// mount(8); elsewhere it is skipped (TestDB_DiskFull covers the store's
// handling with an injected error).
func TestDB_DiskFull_Tmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	ctx := context.Background()
	path := filepath.Join(dir, "portal.db")
	db, err := Open(path, time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Fill what bbolt has not taken yet, leaving the file's own free pages.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			break
		}
	}
	_ = f.Close()
	company := strings.Repeat("c", data.MaxCompany)
	var refused error
	for i := 0; i < 20000 && refused == nil; i++ {
		c := data.Contact{Email: "c" + strconv.Itoa(i) + "@example.com", FirstName: "A", Company: company}
		refused = db.CreateContact(ctx, "acme", "t", &c)
	}
	if !errors.Is(refused, ErrDiskFull) {
		t.Fatalf("got %v filling the disk, want ErrDiskFull", refused)
	}
	if full, _ := db.DiskFull(); !full {
		t.Error("got DiskFull false, want true")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateContact(ctx, "acme", "t", &data.Contact{Email: "back@example.com", FirstName: "B"}); err != nil {
		t.Fatalf("write after freeing space: got %v, want nil", err)
	}
	if full, _ := db.DiskFull(); full {
		t.Error("got DiskFull true after a successful write, want false")
	}
}
