-- The audit log keeps one hash per complete block of 256 events (D51)
-- instead of every tlog stored hash: the hash of the complete, aligned
-- subtree of leaves 256k .. 256k+255 (seqs 256k+1 .. 256k+256, tree level
-- 8), written in the transaction of the events that complete the block.
-- Leaf hashes and the levels inside a block are recomputed from the events.
-- The old table is dropped: the node re-derives the blocks from the events
-- at its next start, and the heads already signed (audit_heads, and any
-- kept outside) bind those events.
DROP TABLE audit_hashes;

CREATE TABLE audit_blocks (
    block INTEGER PRIMARY KEY, -- k: the block of seqs 256k+1 .. 256k+256; dense from 0
    hash  BLOB NOT NULL        -- its subtree hash, 32 bytes
) STRICT;
