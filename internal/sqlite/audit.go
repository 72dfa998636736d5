package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/audit"
)

// The audit log's tables (migrations 0003 and 0004): audit_blocks, the
// hash of every complete block of audit.BlockSize events (the tree's
// subtree at level audit.BlockLevel), and audit_heads, the signed tree
// heads the node published. The hashes are computed by the node
// (internal/audit); the store writes each block's hash in the transaction
// of the events that complete it and hands them back at start. Leaf hashes
// and the levels inside a block are not stored: they are recomputed from
// the events.

// AuditBlocks is the audit log's part of an Append: the hashes of the
// blocks the appended events complete.
type AuditBlocks struct {
	First  uint64      // leaf index of the first event: its seq - 1
	N      int         // events
	Hashes []tlog.Hash // the hashes of blocks First/audit.BlockSize .. (First+N)/audit.BlockSize - 1, in order
}

// AuditHead is a signed tree head as stored.
type AuditHead struct {
	Size int64
	Root [32]byte
	Time time.Time
	Note []byte
}

// auditBlocksSQL is the number of stored blocks: they are dense from 0, so
// the last one's number + 1.
const auditBlocksSQL = `SELECT coalesce(max(block) + 1, 0) FROM audit_blocks`

func insertBlocksSQL(rows int) string {
	return "INSERT INTO audit_blocks(block, hash) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?),", rows), ",")
}

// insertAudit writes the block hashes of h in tx. It returns an error if
// they do not continue the stored blocks exactly or their number is not
// that of the blocks h's events complete.
func (db *DB) insertAudit(ctx context.Context, tx *sql.Tx, h *AuditBlocks) error {
	if h.N <= 0 {
		return nil
	}
	first := h.First / audit.BlockSize
	if want := (h.First+uint64(h.N))/audit.BlockSize - first; uint64(len(h.Hashes)) != want {
		return fmt.Errorf("sqlite: append audit blocks: %d block hashes for the events of seqs %d..%d, which complete %d blocks", len(h.Hashes), h.First+1, h.First+uint64(h.N), want)
	}
	var stored int64
	if err := tx.QueryRowContext(ctx, auditBlocksSQL).Scan(&stored); err != nil {
		return fmt.Errorf("sqlite: append audit blocks: %w", err)
	}
	if uint64(stored) != first {
		return fmt.Errorf("sqlite: append audit blocks: the events of seqs %d..%d continue block %d but the audit log has %d blocks (seqs 1..%d)",
			h.First+1, h.First+uint64(h.N), first, stored, stored*audit.BlockSize)
	}
	args := make([]any, 0, 2*64)
	for k, rest := int64(first), h.Hashes; len(rest) > 0; {
		n := 1
		for _, c := range []int{64, 8} {
			if len(rest) >= c {
				n = c
				break
			}
		}
		args = args[:0]
		for i := range n {
			args = append(args, k+int64(i), rest[i][:])
		}
		if _, err := tx.StmtContext(ctx, db.insBlocks[n]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: append audit blocks: %w", err)
		}
		k, rest = k+int64(n), rest[n:]
	}
	return nil
}

// AppendAudit writes block hashes of events already in the store (the
// node's catch-up for events appended without them) in one transaction.
// It returns an error if they do not continue the stored blocks or cover
// events that are not stored.
func (db *DB) AppendAudit(ctx context.Context, h AuditBlocks) error {
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
		return fmt.Errorf("sqlite: append audit blocks: they cover seqs up to %d but the log ends at %d", h.First+uint64(h.N), last)
	}
	if err := db.insertAudit(ctx, tx, &h); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// AuditBlocks returns every stored block hash, by block number. It returns
// an error if the numbers are not dense from 0 or a hash is not 32 bytes
// (the table was changed: healthcode audit verify says how).
func (db *DB) AuditBlocks(ctx context.Context) ([]tlog.Hash, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, auditBlocksSQL).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: audit blocks: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT block, hash FROM audit_blocks ORDER BY block`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read audit blocks: %w", err)
	}
	defer rows.Close()
	out := make([]tlog.Hash, 0, n)
	var (
		k int64
		h []byte
	)
	for rows.Next() {
		if err := rows.Scan(&k, &h); err != nil {
			return nil, fmt.Errorf("sqlite: read audit blocks: %w", err)
		}
		if k != int64(len(out)) || len(h) != tlog.HashSize {
			return nil, fmt.Errorf("sqlite: audit block %d (%d bytes) where block %d should follow: the audit table was changed (run healthcode audit verify)", k, len(h), len(out))
		}
		out = append(out, tlog.Hash(h))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read audit blocks: %w", err)
	}
	return out, nil
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

// AuditBlockRows is a cursor over the stored block hashes of a snapshot,
// by block number. It implements audit.StoredBlocks.
type AuditBlockRows struct {
	rows *sql.Rows
	hash []byte
}

// AuditBlocks opens a cursor over the stored block hashes. Close it before
// the snapshot.
func (s *Snapshot) AuditBlocks(ctx context.Context) (*AuditBlockRows, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT block, hash FROM audit_blocks ORDER BY block`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read audit blocks: %w", err)
	}
	return &AuditBlockRows{rows: rows}, nil
}

// Next returns the next stored block: its number and hash, valid until the
// next call; ok is false after the last.
func (r *AuditBlockRows) Next() (block int64, hash []byte, ok bool, err error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return 0, nil, false, fmt.Errorf("sqlite: read audit blocks: %w", err)
		}
		return 0, nil, false, nil
	}
	if err := r.rows.Scan(&block, &r.hash); err != nil {
		return 0, nil, false, fmt.Errorf("sqlite: read audit blocks: %w", err)
	}
	return block, r.hash, true, nil
}

// Close closes the cursor.
func (r *AuditBlockRows) Close() error { return r.rows.Close() }
