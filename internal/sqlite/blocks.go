package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"healthcode/internal/health"
)

// Visit blocks (table visit_blocks, migration 0002) hold runs of visit
// events in one row each. A run is a maximal sequence of events in one
// Append that are all plain visits (kind EvVisit, no Data, no Ref) with
// consecutive seqs and the same Recorded (to the millisecond, as stored),
// Actor and Batch, cut at maxBlock visits. Runs of any length, even 1, are
// blocks, so a store written by this code has no plain visits in events.
//
// The data column, format version 1:
//
//	byte    version (1)
//	then per visit, in seq order:
//	uvarint person<<1 | hasUntil
//	uvarint place
//	uvarint region
//	varint  at - previous visit's at, unix ms (the first visit: at itself)
//	varint  until - at, unix ms (only if hasUntil)
//	varint  aux
//
// Region is in the block because the node sets it on every visit (the
// place's region); a visit with a region is a plain visit. About 13 bytes a
// visit for the node's visits.
//
// Person, Place and Region 0 mean none, as NULL does in events. Until is
// absent exactly when the event's Until is the zero time (NULL in events).
// Differences use wrapping int64 arithmetic, so any value round-trips. The
// blob must hold exactly n visits: a short, long or malformed blob is an
// error, never a panic.

const (
	blockVersion = 1
	maxBlock     = 1024 // visits per block: bounds the blob (~16 KiB) that Scan holds and Event reads
)

// plainVisit reports whether e can go into a visit block.
func plainVisit(e *health.Event) bool {
	return e.Kind == health.EvVisit && e.Data == nil && e.Ref == 0
}

// sameBlock reports whether e can follow prev in prev's block.
func sameBlock(prev, e *health.Event) bool {
	return plainVisit(e) && e.Seq == prev.Seq+1 && e.Recorded.UnixMilli() == prev.Recorded.UnixMilli() &&
		e.Actor == prev.Actor && e.Batch == prev.Batch
}

// encodeVisits appends the block data of the visits vs (a run) to dst.
func encodeVisits(dst []byte, vs []health.Event) []byte {
	dst = append(dst, blockVersion)
	var prevAt int64
	for i := range vs {
		e := &vs[i]
		at := e.At.UnixMilli()
		head := uint64(e.Person) << 1
		hasUntil := !e.Until.IsZero()
		if hasUntil {
			head |= 1
		}
		dst = binary.AppendUvarint(dst, head)
		dst = binary.AppendUvarint(dst, uint64(e.Place))
		dst = binary.AppendUvarint(dst, uint64(e.Region))
		dst = binary.AppendVarint(dst, at-prevAt)
		if hasUntil {
			dst = binary.AppendVarint(dst, e.Until.UnixMilli()-at)
		}
		dst = binary.AppendVarint(dst, e.Aux)
		prevAt = at
	}
	return dst
}

// errBlock is wrapped by every block decoding error.
var errBlock = errors.New("corrupt visit block")

// blockReader decodes the visits of one block in order.
type blockReader struct {
	data     []byte
	seq      uint64 // seq of the next visit
	left     int    // visits still to decode
	prevAt   int64
	recorded time.Time
	actor    string
	batch    string
	err      error // sticky: the first decoding error
}

// reset starts decoding a block row. It checks the version and n.
func (r *blockReader) reset(firstSeq, n, recorded int64, actor, batch string, data []byte) error {
	*r = blockReader{seq: uint64(firstSeq), recorded: time.UnixMilli(recorded).UTC(), actor: actor, batch: batch}
	switch {
	case firstSeq < 0 || n < 1 || n > math.MaxInt32 || firstSeq > math.MaxInt64-(n-1):
		return r.fail("bad first_seq %d or n %d", firstSeq, n)
	case len(data) == 0:
		return r.fail("empty data")
	case data[0] != blockVersion:
		return r.fail("unknown format version %d", data[0])
	}
	r.data, r.left = data[1:], int(n)
	return nil
}

func (r *blockReader) uvarint() (uint64, bool) {
	v, k := binary.Uvarint(r.data)
	if k <= 0 {
		return 0, false
	}
	r.data = r.data[k:]
	return v, true
}

func (r *blockReader) varint() (int64, bool) {
	v, k := binary.Varint(r.data)
	if k <= 0 {
		return 0, false
	}
	r.data = r.data[k:]
	return v, true
}

// next decodes the next visit into e, overwriting every field. It returns
// false with a nil error after the last visit.
func (r *blockReader) next(e *health.Event) (bool, error) {
	if r.err != nil {
		return false, r.err
	}
	if r.left == 0 {
		if len(r.data) != 0 {
			return false, r.fail("%d bytes after the last visit", len(r.data))
		}
		return false, nil
	}
	head, ok1 := r.uvarint()
	place, ok2 := r.uvarint()
	reg, ok3 := r.uvarint()
	dAt, ok4 := r.varint()
	if !(ok1 && ok2 && ok3 && ok4) {
		return false, r.fail("truncated or malformed")
	}
	at := r.prevAt + dAt
	var until time.Time
	if head&1 != 0 {
		d, ok := r.varint()
		if !ok {
			return false, r.fail("truncated or malformed until")
		}
		until = time.UnixMilli(at + d).UTC()
	}
	aux, ok := r.varint()
	if !ok {
		return false, r.fail("truncated or malformed aux")
	}
	if head>>1 > math.MaxUint32 || place > math.MaxUint32 || reg > math.MaxUint32 {
		return false, r.fail("index out of range")
	}
	*e = health.Event{Seq: r.seq, Kind: health.EvVisit, At: time.UnixMilli(at).UTC(), Until: until, Recorded: r.recorded,
		Person: uint32(head >> 1), Place: uint32(place), Region: uint32(reg), Aux: aux, Actor: r.actor, Batch: r.batch}
	r.prevAt = at
	r.seq++
	r.left--
	return true, nil
}

// skip passes over the next k visits (at most the ones left) without
// building them.
func (r *blockReader) skip(k int) error {
	if r.err != nil {
		return r.err
	}
	for ; k > 0 && r.left > 0; k-- {
		head, ok1 := r.uvarint()
		_, ok2 := r.uvarint()
		_, ok3 := r.uvarint()
		dAt, ok4 := r.varint()
		if !(ok1 && ok2 && ok3 && ok4) {
			return r.fail("truncated or malformed")
		}
		if head&1 != 0 {
			if _, ok := r.varint(); !ok {
				return r.fail("truncated or malformed until")
			}
		}
		if _, ok := r.varint(); !ok {
			return r.fail("truncated or malformed aux")
		}
		r.prevAt += dAt
		r.seq++
		r.left--
	}
	return nil
}

func (r *blockReader) fail(format string, args ...any) error {
	r.err = fmt.Errorf("sqlite: visit %d in a block: %w: %s", r.seq, errBlock, fmt.Sprintf(format, args...))
	return r.err
}
