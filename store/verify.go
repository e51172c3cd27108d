package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"time"
)

// bbolt maps its file into memory and trusts what it finds there: a page id
// past the end of a truncated file is a SIGBUS or SIGSEGV on the first read
// of it, which no recover catches; a forged page count makes its check loop
// for ever; a freelist page of the wrong type panics inside Open or inside
// the goroutine of tx.Check. So the store reads the file's structure itself,
// with bounds on everything, before bbolt sees it. The layout below is
// bbolt's (go.etcd.io/bbolt/internal/common), written in the machine's byte
// order.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize         = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	metaChecksummed  = 56 // the bytes before checksum
	bucketHeaderSize = 16 // root pgid u64, sequence u64

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)

	// bbolt looks for the second meta page at 1 KiB to 16 MiB.
	minPageSize = 1 << 10
	maxPageSize = 16 << 20
	// maxTreeDepth bounds the walk through nested buckets and their B+trees
	// (each level at least halves what is left of the file).
	maxTreeDepth = 256
)

var boltOrder = binary.NativeEndian

// ErrDamaged is wrapped by the errors of Open and Verify for a database file
// whose structure is broken; *DamageError names the damage.
var ErrDamaged = errors.New("damaged database file")

// ErrNotDatabase is wrapped by the errors of Open, Verify and Check for a
// file that is not a bbolt database at all.
var ErrNotDatabase = errors.New("not a bbolt database file")

// DamageError lists what is wrong with a damaged database file. It wraps
// ErrDamaged.
type DamageError struct {
	// Problems says what is wrong, one entry per finding, such as
	// "meta page 0: checksum ... does not match its content ...".
	Problems []string
}

func (e *DamageError) Error() string {
	return ErrDamaged.Error() + ": " + strings.Join(e.Problems, "; ")
}

func (e *DamageError) Unwrap() error { return ErrDamaged }

// Verify reads the structure of the database file at path without handing
// it to bbolt: both meta pages (magic, version, checksum, page size), the
// file's length against the page count, the freelist, and every page of
// every bucket's tree (in the file, of its type, referenced once, element
// bounds inside the page). It fails with ErrLocked while another process
// writes to the file, with an error wrapping ErrNotDatabase or ErrDamaged
// (a *DamageError) for a file bbolt could not safely open, or with the I/O
// error. Check runs it first; restore runs it on the backup.
func Verify(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(f, false, time.Second); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if err := verifyFile(f, true); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	return nil
}

// verifyOpen is Open's test of an existing file: the meta pages, the
// length, the freelist and the root page, which is what bbolt reads while
// opening. Reading every page would make a start as slow as a check.
func verifyOpen(path string, readOnly bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // bbolt creates it, or says it is missing
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(f, false, time.Second); err != nil {
		return err
	}
	if !readOnly {
		if st, err := f.Stat(); err == nil && st.Size() == 0 {
			return nil // a new file, which bbolt fills in
		}
	}
	return verifyFile(f, false)
}

// boltMeta is a meta page.
type boltMeta struct {
	magic, version, pageSize           uint32
	root, freelist, pgid, txid, stored uint64
	sum                                uint64
}

func parseMeta(b []byte) boltMeta {
	h := fnv.New64a()
	_, _ = h.Write(b[:metaChecksummed])
	return boltMeta{
		magic:    boltOrder.Uint32(b[0:]),
		version:  boltOrder.Uint32(b[4:]),
		pageSize: boltOrder.Uint32(b[8:]),
		root:     boltOrder.Uint64(b[16:]),
		freelist: boltOrder.Uint64(b[32:]),
		pgid:     boltOrder.Uint64(b[40:]),
		txid:     boltOrder.Uint64(b[48:]),
		stored:   boltOrder.Uint64(b[56:]),
		sum:      h.Sum64(),
	}
}

// invalid is bbolt's own test of a meta page, as a reason, or "".
func (m boltMeta) invalid() string {
	switch {
	case m.magic != boltMagic:
		return fmt.Sprintf("magic is %#08x, not bbolt's %#08x", m.magic, uint32(boltMagic))
	case m.version != boltVersion:
		return fmt.Sprintf("format version %d, this binary reads %d", m.version, boltVersion)
	case m.stored != m.sum:
		return fmt.Sprintf("checksum %#016x does not match its content (%#016x)", m.stored, m.sum)
	}
	return ""
}

// fileCheck reads one file's structure and collects its problems.
type fileCheck struct {
	f        *os.File
	size     uint64
	ps       uint64
	meta     boltMeta
	problems []string
	seen     []bool // pages reached by the walk
	free     []bool // pages on the freelist
}

func (v *fileCheck) fail(format string, args ...any) {
	if len(v.problems) < maxFileBreaches {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

// full reports whether enough has been found to stop looking.
func (v *fileCheck) full() bool { return len(v.problems) >= maxFileBreaches }

// read returns n bytes at off, which the caller has bounded by the file.
func (v *fileCheck) read(off, n uint64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := v.f.ReadAt(b, int64(off)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file shrank while being read: %w", err)
		}
		return nil, err
	}
	return b, nil
}

// verifyFile tests f's structure; deep also walks every page of every
// bucket. The error is nil, wraps ErrNotDatabase, is a *DamageError, or is
// an I/O error.
func verifyFile(f *os.File, deep bool) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	v := &fileCheck{f: f, size: uint64(st.Size())}
	if err := v.metas(); err != nil {
		return err
	}
	if deep && len(v.problems) == 0 {
		v.seen, v.free = make([]bool, v.meta.pgid), make([]bool, v.meta.pgid)
		v.seen[0], v.seen[1] = true, true
	}
	if len(v.problems) == 0 {
		if err := v.freelist(deep); err != nil {
			return err
		}
	}
	if len(v.problems) == 0 {
		if err := v.rootPage(); err != nil {
			return err
		}
	}
	if deep && len(v.problems) == 0 {
		if err := v.page(v.meta.root, 0); err != nil {
			return err
		}
	}
	if len(v.problems) > 0 {
		return &DamageError{Problems: v.problems}
	}
	return nil
}

// metas finds the page size as bbolt does (meta page 0, else the first valid
// meta page at 1 KiB to 16 MiB), then tests both meta pages and the one
// bbolt would use.
func (v *fileCheck) metas() error {
	const at = pageHeaderSize
	if v.size < at+metaSize {
		return fmt.Errorf("%w: %d bytes, too short for one meta page", ErrNotDatabase, v.size)
	}
	head, err := v.read(0, at+metaSize)
	if err != nil {
		return err
	}
	m0 := parseMeta(head[at:])
	magic := m0.magic == boltMagic
	if m0.invalid() == "" {
		v.ps = uint64(m0.pageSize)
	} else {
		for pos := uint64(minPageSize); pos <= maxPageSize && pos+at+metaSize <= v.size; pos <<= 1 {
			b, err := v.read(pos, at+metaSize)
			if err != nil {
				return err
			}
			m := parseMeta(b[at:])
			magic = magic || m.magic == boltMagic
			if m.invalid() == "" {
				v.ps = uint64(m.pageSize)
				break
			}
		}
	}
	if !magic {
		return fmt.Errorf("%w: neither meta page holds bbolt's magic number", ErrNotDatabase)
	}
	if v.ps == 0 {
		v.fail("no valid meta page: meta page 0: %s", m0.invalid())
		return nil
	}
	if v.ps < minPageSize || v.ps > maxPageSize || v.ps&(v.ps-1) != 0 {
		v.fail("meta page size %d is not a power of two from %d to %d", v.ps, minPageSize, maxPageSize)
		return nil
	}
	if v.size < 2*v.ps {
		v.fail("the file is %d bytes, shorter than its two meta pages of %d bytes: it is truncated", v.size, v.ps)
		return nil
	}
	var metas [2]boltMeta
	valid := 0
	for i := range metas {
		b, err := v.read(uint64(i)*v.ps, at+metaSize)
		if err != nil {
			return err
		}
		metas[i] = parseMeta(b[at:])
		switch id, flags := boltOrder.Uint64(b[0:]), boltOrder.Uint16(b[8:]); {
		case metas[i].invalid() != "":
			v.fail("meta page %d: %s", i, metas[i].invalid())
		case id != uint64(i):
			v.fail("meta page %d: holds page %d", i, id)
		case uint64(metas[i].pageSize) != v.ps:
			v.fail("meta page %d: page size %d, meta page %d says %d", i, metas[i].pageSize, 1-i, v.ps)
		case flags != metaPageFlag:
			v.fail("meta page %d: page type %#x is not a meta page", i, flags)
		default:
			valid |= 1 << i
		}
	}
	switch valid {
	case 0:
		return nil
	case 1:
		v.meta = metas[0]
	case 2:
		v.meta = metas[1]
	default: // bbolt uses the later transaction
		v.meta = metas[0]
		if metas[1].txid > metas[0].txid {
			v.meta = metas[1]
		}
	}
	m := v.meta
	pages := v.size / v.ps
	switch {
	case m.pgid < 4:
		v.fail("meta page of transaction %d counts %d pages, fewer than a new file has", m.txid, m.pgid)
	case m.pgid > pages:
		v.fail("the file is %d bytes (%d pages of %d), but its meta page of transaction %d counts %d pages: it is truncated",
			v.size, pages, v.ps, m.txid, m.pgid)
	}
	if len(v.problems) > 0 {
		return nil
	}
	if m.root < 2 || m.root >= m.pgid {
		v.fail("meta page of transaction %d: root page %d is outside pages 2 to %d", m.txid, m.root, m.pgid-1)
	}
	if m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid) {
		v.fail("meta page of transaction %d: freelist page %d is outside pages 2 to %d", m.txid, m.freelist, m.pgid-1)
	}
	return nil
}

// header reads the header of page id, which is below the page count: its
// flags and overflow. ok is false when the page names another id.
func (v *fileCheck) header(id uint64) (flags uint16, overflow uint64, ok bool, err error) {
	b, err := v.read(id*v.ps, pageHeaderSize)
	if err != nil {
		return 0, 0, false, err
	}
	if got := boltOrder.Uint64(b[0:]); got != id {
		v.fail("page %d: holds page %d", id, got)
		return 0, 0, false, nil
	}
	return boltOrder.Uint16(b[8:]), uint64(boltOrder.Uint32(b[12:])), true, nil
}

// freelist tests the freelist page and the ids it lists; deep keeps them
// for the walk.
func (v *fileCheck) freelist(deep bool) error {
	id := v.meta.freelist
	if id == noFreelist {
		return nil
	}
	flags, overflow, ok, err := v.header(id)
	if err != nil || !ok {
		return err
	}
	if flags != freelistPageFlag {
		v.fail("freelist page %d: page type %#x is not a freelist", id, flags)
		return nil
	}
	if id+overflow >= v.meta.pgid {
		v.fail("freelist page %d: %d overflow pages run past the page count %d", id, overflow, v.meta.pgid)
		return nil
	}
	span := (overflow + 1) * v.ps
	head, err := v.read(id*v.ps, pageHeaderSize+8)
	if err != nil {
		return err
	}
	n, first := uint64(boltOrder.Uint16(head[10:])), uint64(0)
	if n == 0xFFFF { // bbolt's escape: the first id is the count
		n, first = boltOrder.Uint64(head[pageHeaderSize:]), 1
	}
	if n > (span-pageHeaderSize)/8-first {
		v.fail("freelist page %d: %d free page ids do not fit in its %d bytes", id, n, span)
		return nil
	}
	b, err := v.read(id*v.ps+pageHeaderSize+8*first, 8*n)
	if err != nil {
		return err
	}
	for i := range n {
		p := boltOrder.Uint64(b[8*i:])
		if p < 2 || p >= v.meta.pgid {
			v.fail("freelist page %d: lists page %d, outside pages 2 to %d", id, p, v.meta.pgid-1)
			if v.full() {
				return nil
			}
			continue
		}
		if deep {
			v.free[p] = true
		}
	}
	if deep {
		for p := id; p <= id+overflow; p++ {
			if v.free[p] {
				v.fail("freelist page %d: lists its own page %d", id, p)
			}
			v.seen[p] = true
		}
	}
	return nil
}

// rootPage tests the header of the root bucket's page, which Open reads.
func (v *fileCheck) rootPage() error {
	id := v.meta.root
	flags, overflow, ok, err := v.header(id)
	if err != nil || !ok {
		return err
	}
	switch {
	case flags != branchPageFlag && flags != leafPageFlag:
		v.fail("root page %d: page type %#x is neither a branch nor a leaf", id, flags)
	case id+overflow >= v.meta.pgid:
		v.fail("root page %d: %d overflow pages run past the page count %d", id, overflow, v.meta.pgid)
	}
	return nil
}

// page walks the tree under page id: the page must be inside the file, a
// branch or a leaf, reached once and not free, with its elements inside it.
func (v *fileCheck) page(id uint64, depth int) error {
	switch {
	case v.full():
		return nil
	case depth > maxTreeDepth:
		v.fail("page %d: the tree is deeper than %d levels", id, maxTreeDepth)
		return nil
	case id < 2 || id >= v.meta.pgid:
		v.fail("page %d: outside pages 2 to %d", id, v.meta.pgid-1)
		return nil
	case v.seen[id]:
		v.fail("page %d: reached twice (a loop, or two parents)", id)
		return nil
	case v.free[id]:
		v.fail("page %d: in use and on the freelist", id)
		return nil
	}
	v.seen[id] = true
	flags, overflow, ok, err := v.header(id)
	if err != nil || !ok {
		return err
	}
	if flags != branchPageFlag && flags != leafPageFlag {
		v.fail("page %d: page type %#x is neither a branch nor a leaf", id, flags)
		return nil
	}
	if id+overflow >= v.meta.pgid {
		v.fail("page %d: %d overflow pages run past the page count %d", id, overflow, v.meta.pgid)
		return nil
	}
	for p := id + 1; p <= id+overflow; p++ {
		if v.seen[p] || v.free[p] {
			v.fail("page %d: its overflow page %d is also used elsewhere", id, p)
			return nil
		}
		v.seen[p] = true
	}
	b, err := v.read(id*v.ps, (overflow+1)*v.ps)
	if err != nil {
		return err
	}
	return v.elements(b, fmt.Sprint("page ", id), depth)
}

// elements tests the elements of the page in b (a page of the file or an
// inline bucket's page) and walks what they point at.
func (v *fileCheck) elements(b []byte, where string, depth int) error {
	flags, count := boltOrder.Uint16(b[8:]), uint64(boltOrder.Uint16(b[10:]))
	size := uint64(len(b))
	if pageHeaderSize+count*elementSize > size {
		v.fail("%s: %d elements overrun its %d bytes", where, count, size)
		return nil
	}
	if flags == branchPageFlag && count == 0 {
		// bbolt never writes one, and a cursor would read its first child
		// from whatever bytes follow the header.
		v.fail("%s: a branch page without elements", where)
		return nil
	}
	for i := range count {
		off := pageHeaderSize + i*elementSize
		e := b[off : off+elementSize]
		if flags == branchPageFlag {
			pos, ksize := uint64(boltOrder.Uint32(e[0:])), uint64(boltOrder.Uint32(e[4:]))
			if off+pos+ksize > size {
				v.fail("%s: key %d lies outside the page", where, i)
				continue
			}
			if err := v.page(boltOrder.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
			continue
		}
		lflags := boltOrder.Uint32(e[0:])
		pos, ksize, vsize := uint64(boltOrder.Uint32(e[4:])), uint64(boltOrder.Uint32(e[8:])), uint64(boltOrder.Uint32(e[12:]))
		if off+pos+ksize+vsize > size {
			v.fail("%s: key or value %d lies outside the page", where, i)
			continue
		}
		if lflags&bucketLeafFlag == 0 {
			continue
		}
		if err := v.bucket(b[off+pos+ksize:off+pos+ksize+vsize], fmt.Sprintf("%s, bucket %d", where, i), depth+1); err != nil {
			return err
		}
		if v.full() {
			return nil
		}
	}
	return nil
}

// bucket walks a nested bucket: its root page, or its inline page.
func (v *fileCheck) bucket(val []byte, where string, depth int) error {
	if len(val) < bucketHeaderSize {
		v.fail("%s: bucket header of %d bytes is too short", where, len(val))
		return nil
	}
	if root := boltOrder.Uint64(val); root != 0 {
		return v.page(root, depth)
	}
	inline := val[bucketHeaderSize:]
	if len(inline) < pageHeaderSize {
		v.fail("%s: inline page of %d bytes is too short", where, len(inline))
		return nil
	}
	if flags := boltOrder.Uint16(inline[8:]); flags != leafPageFlag {
		v.fail("%s: inline page type %#x is not a leaf", where, flags)
		return nil
	}
	if depth > maxTreeDepth {
		v.fail("%s: buckets nest deeper than %d levels", where, maxTreeDepth)
		return nil
	}
	return v.elements(inline, where+" (inline)", depth)
}
