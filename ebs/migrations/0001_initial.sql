-- The storage controller's own record (docs/ebs.md): the volumes it holds and to
-- which initiators each is exported. tgtd keeps nothing; the SC re-creates every
-- target from these rows when it or tgtd starts.
CREATE TABLE volumes (
    volume_id  TEXT PRIMARY KEY,
    size_gib   INTEGER NOT NULL,
    tid        INTEGER NOT NULL UNIQUE,  -- its tgt target id, for its whole life
    created    REAL NOT NULL
);
-- One row per attachment's export: the node's initiator IQN, and a CHAP account
-- of its own whose password is sealed with the cloud's secret key.
CREATE TABLE exports (
    volume_id    TEXT NOT NULL REFERENCES volumes (volume_id),
    initiator    TEXT NOT NULL,
    chap_user    TEXT NOT NULL UNIQUE,
    chap_sealed  BLOB NOT NULL,
    PRIMARY KEY (volume_id, initiator)
);
