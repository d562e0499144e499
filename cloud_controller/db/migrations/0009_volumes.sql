-- EBS volumes (docs/ebs.md): the CLC's record of each volume; the SC holds its
-- file. state: creating | available | in-use | deleting | error (a deleted
-- volume's row goes). encrypted and multi_attach are 0 until this cloud has
-- keys and multi-attach.
CREATE TABLE volumes (
    id            TEXT PRIMARY KEY,        -- vol-...
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    zone          TEXT NOT NULL,
    size_gib      INTEGER NOT NULL,
    volume_type   TEXT NOT NULL,
    iops          INTEGER,                 -- NULL for standard, sc1, st1
    throughput    INTEGER,                 -- MiB/s, gp3 only
    snapshot_id   TEXT,
    state         TEXT NOT NULL,
    encrypted     INTEGER NOT NULL DEFAULT 0,
    multi_attach  INTEGER NOT NULL DEFAULT 0,
    client_token  TEXT,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    UNIQUE (account_id, client_token)
);
CREATE INDEX volumes_account ON volumes(account_id, id);
CREATE INDEX volumes_state ON volumes(state);

-- Where a volume is attached (AttachVolume, on the NC's side of EBS).
-- state: attaching | attached | detaching.
CREATE TABLE volume_attachments (
    volume_id             TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    instance_id           TEXT NOT NULL,
    device                TEXT NOT NULL,
    state                 TEXT NOT NULL,
    attached_at           REAL NOT NULL,
    delete_on_termination INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (volume_id, instance_id),
    UNIQUE (instance_id, device)
);

-- ModifyVolume: the latest modification of each volume, as
-- DescribeVolumesModifications shows it. state: modifying | completed | failed.
CREATE TABLE volume_modifications (
    volume_id           TEXT PRIMARY KEY REFERENCES volumes(id) ON DELETE CASCADE,
    state               TEXT NOT NULL,
    status_message      TEXT,
    original_size_gib   INTEGER NOT NULL,
    original_type       TEXT NOT NULL,
    original_iops       INTEGER,
    original_throughput INTEGER,
    target_size_gib     INTEGER NOT NULL,
    target_type         TEXT NOT NULL,
    target_iops         INTEGER,
    target_throughput   INTEGER,
    started_at          REAL NOT NULL,
    ended_at            REAL
);
