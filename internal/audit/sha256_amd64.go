//go:build amd64 && !purego

package audit

import (
	"crypto/sha256"
	"encoding/binary"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/cpu"
)

// useSHANI: the CPU has the SHA extensions (and AVX, SSE4.1, SSSE3, which
// blockSHANI also uses), as crypto/sha256 requires for its own use of them.
var useSHANI = func() bool {
	if !cpu.X86.HasAVX || !cpu.X86.HasSSE41 || !cpu.X86.HasSSSE3 {
		return false
	}
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, b, _, _ := cpuid(7, 0)
	return b&(1<<29) != 0
}()

func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// blockSHANI runs the SHA-256 compression function over the 64-byte blocks
// of p (len(p) a multiple of 64) from state h.
//
//go:noescape
func blockSHANI(h *[8]uint32, p []byte)

var zeros [64]byte

var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

func digest(h *[8]uint32) (out tlog.Hash) {
	for i, v := range h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// sum256 returns the SHA-256 of buf. It may append the padding to buf
// (scratch space: the caller no longer needs what follows its contents)
// and returns it grown. crypto/sha256 spends about as long around the
// compression function as in it for messages of two blocks, the size of a
// leaf or a node; this calls the same compression function directly.
func sum256(buf []byte) (tlog.Hash, []byte) {
	if !useSHANI {
		return sha256.Sum256(buf), buf
	}
	n := len(buf)
	buf = append(buf, 0x80)
	buf = append(buf, zeros[:(64-(n+9)%64)%64]...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(n)*8)
	h := sha256IV
	blockSHANI(&h, buf)
	return digest(&h), buf[:n]
}

// nodeHash is tlog.NodeHash: the SHA-256 of 0x01 || l || r.
func nodeHash(l, r tlog.Hash) tlog.Hash {
	if !useSHANI {
		return tlog.NodeHash(l, r)
	}
	var b [128]byte
	b[0] = 1
	copy(b[1:33], l[:])
	copy(b[33:65], r[:])
	b[65] = 0x80
	b[126] = 65 * 8 >> 8
	b[127] = 65 * 8 & 0xff
	h := sha256IV
	blockSHANI(&h, b[:])
	return digest(&h)
}
