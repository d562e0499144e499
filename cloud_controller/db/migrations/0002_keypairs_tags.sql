CREATE TABLE key_pairs (
    id          TEXT PRIMARY KEY,          -- key-...
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,             -- OpenSSH format, served to guests
    created_at  REAL NOT NULL,
    UNIQUE (account_id, name)
);

-- Tags on any resource; resource ids are unique cloud-wide.
CREATE TABLE tags (
    account_id    TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (resource_id, key)
);
CREATE INDEX tags_account ON tags(account_id, key);
