-- EBS snapshots (docs/ebs.md): the CLC's record of each snapshot; the SC and
-- Walrus hold its chunks. state: pending | completed | error | deleting (a
-- deleting snapshot is no longer shown; its row goes once the SC has let go).
-- volume_id is the volume it was taken from (a copy: EC2's vol-ffffffff), kept
-- after that volume is deleted; source_snapshot_id is set on a copy.
CREATE TABLE snapshots (
    id                 TEXT PRIMARY KEY,        -- snap-...
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    volume_id          TEXT NOT NULL,
    source_snapshot_id TEXT,
    size_gib           INTEGER NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL,
    progress           INTEGER NOT NULL DEFAULT 0,   -- 0..100
    status_message     TEXT,
    is_public          INTEGER NOT NULL DEFAULT 0,   -- createVolumePermission group all
    started_at         REAL NOT NULL,
    completed_at       REAL,
    updated_at         REAL NOT NULL
);
CREATE INDEX snapshots_account ON snapshots(account_id, id);
CREATE INDEX snapshots_state ON snapshots(state);

-- createVolumePermission: the accounts a snapshot is shared with.
CREATE TABLE snapshot_permissions (
    snapshot_id TEXT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, account_id)
);
CREATE INDEX snapshot_permissions_account ON snapshot_permissions(account_id);

-- An image's block device mapping (RegisterImage with BlockDeviceMapping.N fills
-- it). DeleteSnapshot refuses a snapshot a mapping here names (InvalidSnapshot.InUse).
CREATE TABLE image_block_devices (
    image_id              TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    device_name           TEXT NOT NULL,
    snapshot_id           TEXT,
    volume_size           INTEGER,
    volume_type           TEXT,
    delete_on_termination INTEGER NOT NULL DEFAULT 1,
    no_device             INTEGER NOT NULL DEFAULT 0,
    virtual_name          TEXT,                 -- ephemeralN
    iops                  INTEGER,
    encrypted             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, device_name)
);
CREATE INDEX image_block_devices_snapshot ON image_block_devices(snapshot_id);
