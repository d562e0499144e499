-- Signing certificates issued to users (EC2_CERT): RegisterImage checks a
-- bundle manifest's signature against the caller's account's certificates.
CREATE TABLE certificates (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    pem        TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE images (
    id                  TEXT PRIMARY KEY,      -- ami-/aki-/ari-
    account_id          TEXT NOT NULL REFERENCES accounts(id),
    name                TEXT NOT NULL,
    description         TEXT,
    image_type          TEXT NOT NULL CHECK (image_type IN ('machine', 'kernel', 'ramdisk')),
    architecture        TEXT NOT NULL,
    location            TEXT NOT NULL,         -- bucket/key of the manifest
    parts               TEXT NOT NULL,         -- JSON list of the bundle's part files
    kernel_id           TEXT,
    ramdisk_id          TEXT,
    virtualization_type TEXT NOT NULL,
    root_device_name    TEXT NOT NULL,
    size_bytes          INTEGER NOT NULL,
    is_public           INTEGER NOT NULL DEFAULT 0,
    state               TEXT NOT NULL,
    created_at          REAL NOT NULL
);
CREATE UNIQUE INDEX images_name ON images(account_id, name) WHERE state != 'deregistered';

CREATE TABLE launch_permissions (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    PRIMARY KEY (image_id, account_id)
);

-- Each account's EDGE network is its default VPC; groups carry its id.
CREATE TABLE security_groups (
    id          TEXT PRIMARY KEY,              -- sg-...
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  REAL NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE instances (
    id               TEXT PRIMARY KEY,         -- i-...
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    reservation_id   TEXT NOT NULL,
    launch_index     INTEGER NOT NULL,
    client_token     TEXT,
    image_id         TEXT NOT NULL,
    kernel_id        TEXT,
    ramdisk_id       TEXT,
    instance_type    TEXT NOT NULL,
    key_name         TEXT,
    public_key       TEXT,                     -- served to the guest by metadata
    user_data        BLOB,
    zone             TEXT NOT NULL,
    cluster          TEXT NOT NULL,
    node             TEXT,
    state            TEXT NOT NULL,
    reason_code      TEXT,
    reason_message   TEXT,
    transition_reason TEXT,
    private_ip       TEXT,
    public_ip        TEXT,
    mac              TEXT,
    launched_at      REAL NOT NULL,
    updated_at       REAL NOT NULL,
    terminated_at    REAL
);
CREATE INDEX instances_account ON instances(account_id, id);
CREATE INDEX instances_state ON instances(state);
CREATE UNIQUE INDEX instances_token ON instances(account_id, client_token, launch_index)
    WHERE client_token IS NOT NULL;

CREATE TABLE instance_groups (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    group_id    TEXT NOT NULL REFERENCES security_groups(id),
    PRIMARY KEY (instance_id, group_id)
);
CREATE INDEX instance_groups_group ON instance_groups(group_id);
