-- Snapshots (docs/ebs.md, "Snapshots"): their bytes are chunks in Walrus; these rows
-- say which chunks each snapshot holds, so the SC is the chunks' reference count.
-- A volume made from a snapshot is `creating` while it is filled from Walrus.
ALTER TABLE volumes ADD COLUMN state TEXT NOT NULL DEFAULT 'available';
ALTER TABLE volumes ADD COLUMN snapshot_id TEXT;
ALTER TABLE volumes ADD COLUMN message TEXT;

CREATE TABLE snapshots (
    snapshot_id     TEXT PRIMARY KEY,
    volume_id       TEXT NOT NULL,        -- the volume it was taken of (may be gone since)
    size_gib        INTEGER NOT NULL,
    size_bytes      INTEGER NOT NULL,     -- the copy's length, what a restore fills
    state           TEXT NOT NULL,        -- pending | completed | error
    progress        INTEGER NOT NULL DEFAULT 0,
    bytes_uploaded  INTEGER NOT NULL DEFAULT 0,  -- bytes of chunks Walrus lacked
    message         TEXT,
    created         REAL NOT NULL
);
-- Chunk `idx` of a snapshot (bytes idx*chunk size on) is the chunk named `sha256`;
-- an index with no row was all zeros.
CREATE TABLE snapshot_chunks (
    snapshot_id  TEXT NOT NULL REFERENCES snapshots (snapshot_id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, idx)
);
CREATE INDEX snapshot_chunks_by_hash ON snapshot_chunks (sha256);
-- Chunks no snapshot uses any more that Walrus has not yet been told to delete
-- (Walrus unreachable when their last snapshot went): tried again later.
CREATE TABLE chunk_garbage (
    sha256  TEXT PRIMARY KEY
);
-- Manifests of deleted snapshots that Walrus has yet to be told to delete.
CREATE TABLE manifest_garbage (
    snapshot_id  TEXT PRIMARY KEY
);
