package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// The audit log's tables (migration 0003): audit_hashes, the tlog stored
// hashes of the events packed into rows, and audit_heads, the signed tree
// heads the node published. The hashes are computed by the node
// (internal/audit); the store writes them in the transaction of their
// events and serves them back as a tlog.HashReader for proofs.

// AuditHashes is the audit log's part of an Append: the stored hashes of
// the appended events, as internal/audit's Tree produced them.
type AuditHashes struct {
	First  uint64 // leaf index of the first event: its seq - 1
	N      int    // events
	Hashes []byte // their stored hashes, 32 bytes each, from stored-hash index tlog.StoredHashIndex(0, First) on
}

// AuditHead is a signed tree head as stored.
type AuditHead struct {
	Size int64
	Root [32]byte
	Time time.Time
	Note []byte
}

// maxAuditRow is the most events whose hashes share a row: it bounds the
// blob (about 64 KiB) that a proof's read of one hash loads.
const maxAuditRow = 1024

const (
	// auditEndSQL is the number of events the stored hashes cover.
	auditEndSQL = `SELECT coalesce((SELECT first_seq + n - 1 FROM audit_hashes ORDER BY first_index DESC LIMIT 1), 0)`
	insAuditSQL = `INSERT INTO audit_hashes(first_index, first_seq, n, data) VALUES (?, ?, ?, ?)`
	// auditHashSQL reads stored hash ?1 from the row holding it.
	auditHashSQL = `SELECT substr(data, (?1 - first_index) * 32 + 1, 32) FROM audit_hashes WHERE first_index <= ?1 ORDER BY first_index DESC LIMIT 1`
)

// insertAudit writes h in tx, in rows of at most maxAuditRow events. It
// returns an error if h does not continue the stored hashes exactly or has
// the wrong number of hashes for its events.
func (db *DB) insertAudit(ctx context.Context, tx *sql.Tx, h *AuditHashes) error {
	if h.N <= 0 {
		return nil
	}
	var end int64
	if err := tx.QueryRowContext(ctx, auditEndSQL).Scan(&end); err != nil {
		return fmt.Errorf("sqlite: append audit hashes: %w", err)
	}
	if uint64(end) != h.First {
		return fmt.Errorf("sqlite: append audit hashes: they start at seq %d but the audit log covers seqs 1..%d", h.First+1, end)
	}
	first := int64(h.First)
	base := tlog.StoredHashIndex(0, first)
	if want := tlog.StoredHashIndex(0, first+int64(h.N)) - base; int64(len(h.Hashes)) != want*tlog.HashSize {
		return fmt.Errorf("sqlite: append audit hashes: %d bytes for %d events, want %d hashes", len(h.Hashes), h.N, want)
	}
	ins := tx.StmtContext(ctx, db.insAudit)
	for off := int64(0); off < int64(h.N); off += maxAuditRow {
		k := min(maxAuditRow, int64(h.N)-off)
		lo, hi := tlog.StoredHashIndex(0, first+off), tlog.StoredHashIndex(0, first+off+k)
		if _, err := ins.ExecContext(ctx, lo, first+off+1, k, h.Hashes[(lo-base)*tlog.HashSize:(hi-base)*tlog.HashSize]); err != nil {
			return fmt.Errorf("sqlite: append audit hashes: %w", err)
		}
	}
	return nil
}

// AppendAudit writes stored hashes of events already in the store (the
// node's catch-up for events appended without them) in one transaction.
// It returns an error if h does not continue the stored hashes or covers
// events that are not stored.
func (db *DB) AppendAudit(ctx context.Context, h AuditHashes) error {
	if db.w == nil {
		return errReadOnly
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	var last int64
	if err := tx.QueryRowContext(ctx, lastSeqSQL).Scan(&last); err != nil {
		return fmt.Errorf("sqlite: last seq: %w", err)
	}
	if h.First+uint64(h.N) > uint64(last) {
		return fmt.Errorf("sqlite: append audit hashes: they cover seqs up to %d but the log ends at %d", h.First+uint64(h.N), last)
	}
	if err := db.insertAudit(ctx, tx, &h); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// AuditSize returns the number of events the stored audit hashes cover
// (seqs 1 .. size).
func (db *DB) AuditSize(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, auditEndSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: audit size: %w", err)
	}
	return n, nil
}

// AuditHashReader returns a tlog.HashReader over the stored audit hashes,
// for tree hashes and proofs. ReadHashes returns an error for an index
// that is not stored.
func (db *DB) AuditHashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var b []byte
		for i, x := range indexes {
			err := db.auditHash.QueryRowContext(ctx, x).Scan(&b)
			if errors.Is(err, sql.ErrNoRows) || err == nil && len(b) != tlog.HashSize {
				return nil, fmt.Errorf("sqlite: audit hash %d is not stored", x)
			}
			if err != nil {
				return nil, fmt.Errorf("sqlite: read audit hash %d: %w", x, err)
			}
			copy(out[i][:], b)
		}
		return out, nil
	})
}

// AddAuditHead stores a signed head durably. A head of a size already
// stored is kept as it was (one head per size).
func (db *DB) AddAuditHead(ctx context.Context, h AuditHead) error {
	if db.w == nil {
		return errReadOnly
	}
	_, err := db.w.ExecContext(ctx, `INSERT OR IGNORE INTO audit_heads(size, root, time, note) VALUES (?, ?, ?, ?)`,
		h.Size, h.Root[:], h.Time.UnixMilli(), string(h.Note))
	if err != nil {
		return fmt.Errorf("sqlite: store audit head: %w", err)
	}
	return nil
}

// LastAuditHead returns the stored head of the largest size; ok is false
// if none is stored.
func (db *DB) LastAuditHead(ctx context.Context) (h AuditHead, ok bool, err error) {
	heads, err := auditHeads(ctx, db.r, `ORDER BY size DESC LIMIT 1`)
	if err != nil || len(heads) == 0 {
		return AuditHead{}, false, err
	}
	return heads[0], true, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func auditHeads(ctx context.Context, q querier, suffix string) ([]AuditHead, error) {
	rows, err := q.QueryContext(ctx, `SELECT size, root, time, note FROM audit_heads `+suffix)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read audit heads: %w", err)
	}
	defer rows.Close()
	var out []AuditHead
	for rows.Next() {
		var (
			h    AuditHead
			root []byte
			ms   int64
			note string
		)
		if err := rows.Scan(&h.Size, &root, &ms, &note); err != nil {
			return nil, fmt.Errorf("sqlite: read audit head: %w", err)
		}
		copy(h.Root[:], root)
		h.Time, h.Note = time.UnixMilli(ms).UTC(), []byte(note)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read audit heads: %w", err)
	}
	return out, nil
}

// AuditHeads returns every stored head, by size.
func (s *Snapshot) AuditHeads(ctx context.Context) ([]AuditHead, error) {
	return auditHeads(ctx, s.tx, `ORDER BY size`)
}

// AuditRows is a cursor over the stored audit hashes of a snapshot, by
// stored-hash index. It implements audit.StoredRows.
type AuditRows struct {
	rows *sql.Rows
	data []byte
}

// AuditRows opens a cursor over the stored audit hashes. Close it before
// the snapshot.
func (s *Snapshot) AuditRows(ctx context.Context) (*AuditRows, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT first_index, data FROM audit_hashes ORDER BY first_index`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read audit hashes: %w", err)
	}
	return &AuditRows{rows: rows}, nil
}

// Next returns the next row: the stored-hash index of its first hash and
// its hashes, valid until the next call; ok is false after the last row.
func (r *AuditRows) Next() (first int64, hashes []byte, ok bool, err error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return 0, nil, false, fmt.Errorf("sqlite: read audit hashes: %w", err)
		}
		return 0, nil, false, nil
	}
	if err := r.rows.Scan(&first, &r.data); err != nil {
		return 0, nil, false, fmt.Errorf("sqlite: read audit hashes: %w", err)
	}
	return first, r.data, true, nil
}

// Close closes the cursor.
func (r *AuditRows) Close() error { return r.rows.Close() }

// AuditSize returns the number of events the snapshot's stored audit
// hashes cover.
func (s *Snapshot) AuditSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.tx.QueryRowContext(ctx, auditEndSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: audit size: %w", err)
	}
	return n, nil
}
