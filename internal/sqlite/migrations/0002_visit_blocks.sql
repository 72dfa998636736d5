-- Visits in blocks: a run of visit events with consecutive seqs, appended
-- together with the same recorded time, actor and batch, is one row here
-- instead of one events row each. Visits are most of the log, and one
-- B-tree insert per visit (plus two index entries) was the write path's
-- cost. The log is the union of events and visit_blocks, merged by seq;
-- a seq is in exactly one of them. Visits with data or ref stay in events,
-- as do all visits written before this migration.
CREATE TABLE visit_blocks (
    first_seq INTEGER PRIMARY KEY, -- seq of the first visit; the block holds first_seq .. first_seq+n-1
    n         INTEGER NOT NULL,    -- number of visits, >= 1
    recorded  INTEGER NOT NULL,    -- unix ms: when the node appended them
    actor     TEXT NOT NULL,
    batch     TEXT NOT NULL,
    data      BLOB NOT NULL        -- the visits, packed (format: blocks.go)
) STRICT;
-- Rolling back an abusive batch must find its visits.
CREATE INDEX visit_blocks_batch ON visit_blocks(batch);
