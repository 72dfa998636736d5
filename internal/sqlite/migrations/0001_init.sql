-- The append-only event log: the system of record. Views are rebuilt from it.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,  -- position in the log, also the event id
    kind     INTEGER NOT NULL,
    at       INTEGER NOT NULL,     -- unix ms: the time the event is about
    until    INTEGER,              -- unix ms: end of the covered interval
    recorded INTEGER NOT NULL,     -- unix ms: when the node appended it
    person   INTEGER,
    place    INTEGER,
    region   INTEGER,
    ref      INTEGER,
    aux      INTEGER,
    actor    TEXT NOT NULL,
    batch    TEXT NOT NULL,
    data     BLOB
) STRICT;
CREATE INDEX events_person ON events(person, at) WHERE person IS NOT NULL;
CREATE INDEX events_batch ON events(batch);

-- The identity vault: name, ID number and phone sealed with AES-256-GCM,
-- found only by the keyed hash of the ID number.
CREATE TABLE identities (
    person   INTEGER PRIMARY KEY,
    id_hash  BLOB NOT NULL UNIQUE,
    sealed   BLOB NOT NULL,
    created  INTEGER NOT NULL
) STRICT;
