package node

import (
	"sync"
	"sync/atomic"
	"time"

	"healthcode/internal/health"
)

// A code state packs a person's current code into one uint64 so that reads
// are a single atomic load (8 bytes a person):
//
//	bits  0-1  colour
//	bit   2    star
//	bit   3    has detail (reasons kept in the detail map)
//	bit   4    evaluated at least once
//	bits  5-30 next re-evaluation, minutes since health.Epoch (0 = none)
//	bits 31-32 last test result
//	bits 33-58 last test sampling time, minutes since health.Epoch
type state uint64

const minuteBits = 26

func (s state) colour() health.Colour { return health.Colour(s & 3) }
func (s state) star() bool            { return s&4 != 0 }
func (s state) hasDetail() bool       { return s&8 != 0 }
func (s state) nextEval() time.Time   { return fromMinute(uint32(s>>5) & (1<<minuteBits - 1)) }
func (s state) lastResult() health.Result {
	return health.Result(s >> 31 & 3)
}
func (s state) lastTest() time.Time { return fromMinute(uint32(s>>33) & (1<<minuteBits - 1)) }

func packState(c health.Colour, star, detail bool, next time.Time, lastRes health.Result, lastAt time.Time) state {
	s := state(c & 3)
	if star {
		s |= 4
	}
	if detail {
		s |= 8
	}
	s |= 16
	s |= state(toMinuteCeil(next)) << 5
	s |= state(lastRes&3) << 31
	s |= state(toMinuteFloor(lastAt)) << 33
	return s
}

func toMinuteFloor(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	m := t.Sub(health.Epoch) / time.Minute
	if m < 1 {
		return 1
	}
	if m >= 1<<minuteBits {
		return 1<<minuteBits - 1
	}
	return uint32(m)
}

func toMinuteCeil(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	d := t.Sub(health.Epoch)
	m := (d + time.Minute - 1) / time.Minute
	if m < 1 {
		return 1
	}
	if m >= 1<<minuteBits {
		return 1<<minuteBits - 1
	}
	return uint32(m)
}

func fromMinute(m uint32) time.Time {
	if m == 0 {
		return time.Time{}
	}
	return health.Epoch.Add(time.Duration(m) * time.Minute)
}

const chunkBits = 16
const chunkSize = 1 << chunkBits

type chunk [chunkSize]atomic.Uint64

// codeView is the in-memory view person → code. Reads are lock-free; there
// is one writer (the node's writer goroutine).
type codeView struct {
	chunks atomic.Pointer[[]*chunk]
	mu     sync.RWMutex
	detail map[uint32]*health.Code // persons whose code has reasons
	counts [3]atomic.Int64         // codes by colour
	stars  atomic.Int64
}

func newCodeView() *codeView {
	v := &codeView{detail: map[uint32]*health.Code{}}
	empty := []*chunk{}
	v.chunks.Store(&empty)
	return v
}

// ensure makes room for person index p and counts the new persons as green.
func (v *codeView) ensure(p uint32) {
	cs := *v.chunks.Load()
	need := int(p>>chunkBits) + 1
	if need <= len(cs) {
		return
	}
	grown := make([]*chunk, need)
	copy(grown, cs)
	for i := len(cs); i < need; i++ {
		grown[i] = new(chunk)
	}
	v.chunks.Store(&grown)
}

func (v *codeView) load(p uint32) state {
	cs := *v.chunks.Load()
	c := int(p >> chunkBits)
	if c >= len(cs) {
		return 0
	}
	return state(cs[c][p&(chunkSize-1)].Load())
}

// set stores a person's evaluated code. Only the writer goroutine calls it.
func (v *codeView) set(p uint32, code *health.Code, lastRes health.Result, lastAt time.Time) {
	v.ensure(p)
	detail := len(code.Reasons) > 0
	s := packState(code.Colour, code.Star, detail, code.NextEval, lastRes, lastAt)
	cs := *v.chunks.Load()
	slot := &cs[p>>chunkBits][p&(chunkSize-1)]
	old := state(slot.Load())
	oldColour := old.colour()
	if old&16 == 0 {
		oldColour = health.Green
	}
	if oldColour != code.Colour {
		v.counts[oldColour].Add(-1)
		v.counts[code.Colour].Add(1)
	}
	if old.star() != code.Star {
		if code.Star {
			v.stars.Add(1)
		} else {
			v.stars.Add(-1)
		}
	}
	if detail || old.hasDetail() {
		v.mu.Lock()
		if detail {
			c := *code
			v.detail[p] = &c
		} else {
			delete(v.detail, p)
		}
		v.mu.Unlock()
	}
	slot.Store(uint64(s))
}

func (v *codeView) reasons(p uint32) *health.Code {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.detail[p]
}

// memBytes is the memory of the packed states (by allocated chunks).
func (v *codeView) memBytes() int { return len(*v.chunks.Load()) * chunkSize * 8 }
