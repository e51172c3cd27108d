//go:build etcd

package etcdkv

import (
	"bytes"
	"encoding/binary"
)

// Key layout under the configured prefix P (see docs/storage-seam.md):
//
//	P 00 t {01 seg}* 02 item   an item of a bucket: a key or a nested bucket's name
//	P 00 r {01 seg}*           the bucket's revision key, put by every write into it
//	P 00 c <id> <i>            chunk i of a large value
//	P 00 o <id>                the item key that owns chunk group id
//	P 00 g                     the generation key, put by every commit that deletes a bucket
//
// (DB.prefix is P 00.)
//
// A segment or item is escaped (00 -> 00 ff) and ends in 00 01, so no
// encoded name is a prefix of another and encoded names sort as the names
// do. A bucket's own items are one contiguous range ({01 seg}* 02 ...), and
// its whole subtree another ({01 seg}* ...).
const (
	spaceTree  = 't'
	spaceRev   = 'r'
	spaceChunk = 'c'
	spaceOwner = 'o'
	spaceGen   = 'g'

	sepBucket = 0x01
	sepItems  = 0x02
)

// Item values carry a tag byte.
const (
	tagValue    = 'v' // the rest is the value
	tagBucket   = 'b' // a nested bucket's marker
	tagManifest = 'm' // a large value: id, length and chunk count
)

// appendEnc appends the escaped, terminated form of s.
func appendEnc(dst, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, 0x00)
		if i < 0 {
			dst = append(dst, s...)
			break
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, 0xff)
		s = s[i+1:]
	}
	return append(dst, 0x00, 0x01)
}

// decodeItem returns the name encoded at the start of enc. When the name
// holds no zero byte it is a subslice of enc, with no copy.
func decodeItem(enc []byte) []byte {
	i := bytes.IndexByte(enc, 0x00)
	if i >= 0 && i+1 < len(enc) && enc[i+1] == 0x01 {
		return enc[:i:i]
	}
	var out []byte
	for len(enc) > 0 {
		i := bytes.IndexByte(enc, 0x00)
		if i < 0 || i+1 >= len(enc) {
			return append(out, enc...) // malformed: keep the bytes
		}
		out = append(out, enc[:i]...)
		if enc[i+1] == 0x01 {
			return out
		}
		out = append(out, 0x00) // 00 ff
		enc = enc[i+2:]
	}
	return out
}

// prefixEnd is the first key after every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0} // p is all 0xff: to the end of the keyspace
}

// manifest is the item value of a large value stored in chunks.
type manifest struct {
	id     [16]byte
	size   uint64
	chunks uint32
}

const manifestLen = 1 + 16 + 8 + 4

func (m manifest) encode() []byte {
	b := make([]byte, 0, manifestLen)
	b = append(b, tagManifest)
	b = append(b, m.id[:]...)
	b = binary.BigEndian.AppendUint64(b, m.size)
	return binary.BigEndian.AppendUint32(b, m.chunks)
}

func decodeManifest(v []byte) (manifest, bool) {
	var m manifest
	if len(v) != manifestLen || v[0] != tagManifest {
		return m, false
	}
	copy(m.id[:], v[1:17])
	m.size = binary.BigEndian.Uint64(v[17:25])
	m.chunks = binary.BigEndian.Uint32(v[25:29])
	return m, true
}
