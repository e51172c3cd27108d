package store

import (
	"context"
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/data"
)

// boltFile is a database file's bytes with what a damage needs to find.
type boltFile struct {
	raw    []byte
	ps     int
	active int // the meta page bbolt uses
	meta   boltMeta
	orgs   uint64 // root page of the orgs bucket
}

func readBoltFile(t *testing.T, path string) boltFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := boltFile{raw: raw}
	m0 := parseMeta(raw[pageHeaderSize:])
	f.ps = int(m0.pageSize)
	m1 := parseMeta(raw[f.ps+pageHeaderSize:])
	f.meta = m0
	if m1.txid > m0.txid {
		f.active, f.meta = 1, m1
	}
	b, err := bbolt.Open(path, 0o600, BoltOptions(true))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = b.View(func(tx *bbolt.Tx) error {
		f.orgs = uint64(tx.Bucket(bOrgs).Root())
		return nil
	})
	if f.orgs == 0 {
		t.Fatal("the orgs bucket is inline, want a page of its own")
	}
	return f
}

// page returns page id's bytes.
func (f boltFile) page(id uint64) []byte { return f.raw[int(id)*f.ps : int(id+1)*f.ps] }

// forgeMeta changes the active meta page; sign recomputes its checksum, as
// someone forging it would.
func (f boltFile) forgeMeta(sign bool, change func(m []byte)) {
	m := f.page(uint64(f.active))[pageHeaderSize:]
	change(m)
	if sign {
		h := fnv.New64a()
		_, _ = h.Write(m[:metaChecksummed])
		boltOrder.PutUint64(m[metaChecksummed:], h.Sum64())
	}
}

func zero(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// runWithin runs fn and fails the test if it has not returned in time: a
// safety net against a check that spins, not a measure of speed.
func runWithin(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s has not returned after 2 minutes", what)
	}
}

func TestOpen_DamagedFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(f *boltFile)
		want   string // in Open's error and in a breach (or Check's error)
		// deepOnly is damage Open does not read (it tests what bbolt reads
		// on opening); Check and Verify find it.
		deepOnly bool
		// notDatabase: nothing in the file says bbolt; Check fails rather
		// than reports.
		notDatabase bool
	}{
		{name: "truncated to half", damage: func(f *boltFile) {
			f.raw = f.raw[:len(f.raw)/2]
		}, want: "it is truncated"},
		{name: "truncated inside the meta pages", damage: func(f *boltFile) {
			f.raw = f.raw[:f.ps+f.ps/2]
		}, want: "shorter than its two meta pages"},
		{name: "meta page 0 zeroed", damage: func(f *boltFile) {
			zero(f.page(0))
		}, want: "meta page 0: magic is 0x00000000"},
		{name: "meta page 1 zeroed", damage: func(f *boltFile) {
			zero(f.page(1))
		}, want: "meta page 1: magic is 0x00000000"},
		{name: "both meta pages zeroed", damage: func(f *boltFile) {
			zero(f.page(0))
			zero(f.page(1))
		}, want: "neither meta page holds bbolt's magic", notDatabase: true},
		{name: "forged meta with a huge page count", damage: func(f *boltFile) {
			f.forgeMeta(true, func(m []byte) { boltOrder.PutUint64(m[40:], 1<<60) })
		}, want: "counts 1152921504606846976 pages"},
		{name: "forged meta with a wrong checksum", damage: func(f *boltFile) {
			f.forgeMeta(false, func(m []byte) { boltOrder.PutUint64(m[40:], f.meta.pgid+1) })
		}, want: "does not match its content"},
		{name: "forged meta with an unknown format version", damage: func(f *boltFile) {
			f.forgeMeta(true, func(m []byte) { boltOrder.PutUint32(m[4:], 7) })
		}, want: "format version 7"},
		{name: "forged meta with an odd page size", damage: func(f *boltFile) {
			f.forgeMeta(true, func(m []byte) { boltOrder.PutUint32(m[8:], 3000) })
		}, want: "page size 3000"},
		{name: "forged meta with the root past the end", damage: func(f *boltFile) {
			f.forgeMeta(true, func(m []byte) { boltOrder.PutUint64(m[16:], f.meta.pgid+3) })
		}, want: "root page"},
		{name: "forged meta with the freelist past the end", damage: func(f *boltFile) {
			f.forgeMeta(true, func(m []byte) { boltOrder.PutUint64(m[32:], f.meta.pgid) })
		}, want: "freelist page"},
		{name: "freelist page of another type", damage: func(f *boltFile) {
			boltOrder.PutUint16(f.page(f.meta.freelist)[8:], leafPageFlag)
		}, want: "is not a freelist"},
		{name: "freelist page listing a page past the end", damage: func(f *boltFile) {
			p := f.page(f.meta.freelist)
			boltOrder.PutUint16(p[10:], 1)
			boltOrder.PutUint64(p[pageHeaderSize:], f.meta.pgid+100)
		}, want: "outside pages 2 to"},
		{name: "freelist page claiming more ids than fit", damage: func(f *boltFile) {
			p := f.page(f.meta.freelist)
			boltOrder.PutUint16(p[10:], 0xFFFF)
			boltOrder.PutUint64(p[pageHeaderSize:], 1<<40)
		}, want: "do not fit"},
		{name: "root page zeroed", damage: func(f *boltFile) {
			zero(f.page(f.meta.root))
		}, want: "holds page 0"},
		{name: "bucket page zeroed", damage: func(f *boltFile) {
			zero(f.page(f.orgs))
		}, want: "holds page 0", deepOnly: true},
		{name: "bucket page with elements past its end", damage: func(f *boltFile) {
			boltOrder.PutUint16(f.page(f.orgs)[10:], 0xFFFF)
		}, want: "overrun", deepOnly: true},
		{name: "meta page naming another page", damage: func(f *boltFile) {
			boltOrder.PutUint64(f.page(1)[0:], 7)
		}, want: "meta page 1: holds page 7"},
		{name: "bucket page turned into an empty branch", damage: func(f *boltFile) {
			p := f.page(f.orgs)
			boltOrder.PutUint16(p[8:], branchPageFlag)
			boltOrder.PutUint16(p[10:], 0)
		}, want: "a branch page without elements", deepOnly: true},
		{name: "bucket page of another type", damage: func(f *boltFile) {
			boltOrder.PutUint16(f.page(f.orgs)[8:], metaPageFlag)
		}, want: "neither a branch nor a leaf", deepOnly: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := newCheckFixture(t).path
			f := readBoltFile(t, path)
			tt.damage(&f)
			if err := os.WriteFile(path, f.raw, 0o600); err != nil {
				t.Fatal(err)
			}

			runWithin(t, "Open", func() {
				db, err := Open(path, time.Now, Options{})
				switch {
				case tt.deepOnly:
					if err != nil {
						t.Errorf("Open: got %v, want the file opened (this damage is found by Check)", err)
					} else {
						_ = db.Close()
					}
				case err == nil:
					_ = db.Close()
					t.Error("Open: got nil, want the damage refused")
				case !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNotDatabase):
					t.Errorf("Open: got %v, want ErrDamaged or ErrNotDatabase", err)
				case !strings.Contains(err.Error(), tt.want):
					t.Errorf("Open: got %q, want it to name %q", err, tt.want)
				}
			})
			if _, err := Open(path, time.Now, Options{ReadOnly: true}); err == nil && !tt.deepOnly {
				t.Error("Open read-only: got nil, want the damage refused")
			}

			var r Report
			var err error
			runWithin(t, "Check", func() { r, err = Check(path) })
			if tt.notDatabase {
				if !errors.Is(err, ErrNotDatabase) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Check: got %v, want ErrNotDatabase naming %q", err, tt.want)
				}
			} else {
				if err != nil {
					t.Fatalf("Check: got %v, want a report", err)
				}
				if !r.Corrupt() {
					t.Fatalf("Check: got breaches %v, want a file breach", r.Breaches)
				}
				found := false
				for _, b := range r.Breaches {
					found = found || (b.Kind == BreachFile && strings.Contains(b.Problem, tt.want))
				}
				if !found {
					t.Errorf("Check: got breaches %v, want a file breach saying %q", r.Breaches, tt.want)
				}
			}

			if err := Verify(path); !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNotDatabase) {
				t.Errorf("Verify: got %v, want ErrDamaged or ErrNotDatabase", err)
			}
			target := filepath.Join(t.TempDir(), "restored.db")
			if err := Restore(path, target, false); err == nil {
				t.Error("Restore: got nil, want the damaged file refused")
			}
			if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Restore: got %v, want no file written", err)
			}
		})
	}
}

func TestVerify_Sound(t *testing.T) {
	t.Parallel()
	path := newCheckFixture(t).path
	if err := Verify(path); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	// A bigger file: overflow pages, branch pages, a persisted freelist
	// with ids on it, nested buckets that are not inline.
	db, err := Open(path, time.Now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 3*os.Getpagesize())
	err = db.bolt.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("scratch"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put([]byte(strings.Repeat("k", i%50)+string(rune('a'+i%26))+strconv.Itoa(i)), []byte(big[:i%len(big)])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("scratch")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Verify(path); err != nil {
		t.Fatalf("after growing and freeing: got %v, want nil", err)
	}
	if r, err := Check(path); err != nil || !r.OK() {
		t.Fatalf("Check: got %v, %v, want OK", err, r.Breaches)
	}
}

func TestVerify_Missing(t *testing.T) {
	t.Parallel()
	if err := Verify(filepath.Join(t.TempDir(), "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want os.ErrNotExist", err)
	}
}

// FuzzCheck feeds damaged variants of a real database file to Check, which
// must report or refuse them, never panic, fault or hang: the file is
// untrusted input (a backup from elsewhere, a disk that lied).
func FuzzCheck(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := Open(path, func() time.Time { return checkT0 }, Options{})
	if err != nil {
		f.Fatal(err)
	}
	if err := db.CreateContact(context.Background(), "acme", "t", &data.Contact{Email: "a@example.com", FirstName: "A"}); err != nil {
		f.Fatal(err)
	}
	if err := db.Close(); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Check(path)
		if err == nil && !r.Corrupt() {
			if verr := Verify(path); verr != nil {
				t.Errorf("Verify finds %v, which Check does not report", verr)
			}
		}
	})
}
