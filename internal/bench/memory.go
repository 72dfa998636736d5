package bench

import (
	"runtime"
	"sync/atomic"
)

// codeViewChunk mirrors the node's code view chunk: 64Ki packed 8-byte states.
const codeViewChunk = 1 << 16

// CodeViewFormulaBytes is the size of the node's code view for n persons by
// its layout: whole 64Ki-entry chunks of 8 bytes (the chunk pointer slice and
// the reasons map of non-green codes are not included).
func CodeViewFormulaBytes(n int) int {
	chunks := (n + 1 + codeViewChunk - 1) / codeViewChunk // person indexes start at 1
	return chunks * codeViewChunk * 8
}

// EquivalentCodeViewHeap allocates the same structure the node's code view
// uses for n persons (a slice of pointers to 64Ki-entry arrays of
// atomic.Uint64) and returns its measured HeapAlloc growth in bytes.
func EquivalentCodeViewHeap(n int) int {
	before := HeapAlloc()
	chunks := make([]*[codeViewChunk]atomic.Uint64, 0)
	need := (n + 1 + codeViewChunk - 1) / codeViewChunk
	for len(chunks) < need {
		grown := make([]*[codeViewChunk]atomic.Uint64, len(chunks)+1)
		copy(grown, chunks)
		grown[len(chunks)] = new([codeViewChunk]atomic.Uint64)
		chunks = grown
	}
	after := HeapAlloc()
	runtime.KeepAlive(chunks)
	return int(after) - int(before)
}

// MapPeerHeap measures the naive alternative: a Go map[uint32]uint64 with one
// 8-byte code per person, by HeapAlloc growth in bytes.
func MapPeerHeap(n int) int {
	before := HeapAlloc()
	m := make(map[uint32]uint64)
	for p := 1; p <= n; p++ {
		m[uint32(p)] = uint64(p)
	}
	after := HeapAlloc()
	runtime.KeepAlive(m)
	return int(after) - int(before)
}
