-- The tamper-evident audit log (internal/audit, D42). Leaf i of an RFC 6962
-- Merkle tree is the event with seq i+1; audit_hashes holds the tree's
-- stored hashes (the golang.org/x/mod/sumdb/tlog layout: every leaf hash and
-- every complete subtree's hash, about two per event) packed, one row per
-- run of at most 1024 events of one Append, written in the same transaction
-- as the events. Rows are contiguous from stored-hash index 0.
CREATE TABLE audit_hashes (
    first_index INTEGER PRIMARY KEY, -- tlog stored-hash index of the first hash in data
    first_seq   INTEGER NOT NULL,    -- the row holds the hashes written by seqs first_seq .. first_seq+n-1
    n           INTEGER NOT NULL,
    data        BLOB NOT NULL        -- the hashes, 32 bytes each, in stored-hash index order
) STRICT;

-- The signed tree heads the node has published (served or signed on its
-- own), each stored before it was served.
CREATE TABLE audit_heads (
    size INTEGER PRIMARY KEY, -- events covered: seqs 1 .. size
    root BLOB NOT NULL,       -- tree hash, 32 bytes
    time INTEGER NOT NULL,    -- unix ms: when it was signed
    note TEXT NOT NULL        -- the signed note (checkpoint and signature)
) STRICT;
