-- Walrus metadata. Object bytes live in blob files; a row names its blob.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The credential set last pushed by the CLC (secrets sealed with SecretBox).
CREATE TABLE credentials (
    access_key_id  TEXT PRIMARY KEY,
    sealed_secret  BLOB NOT NULL,
    account_id     TEXT NOT NULL,
    account_name   TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    is_admin       INTEGER NOT NULL,
    active         INTEGER NOT NULL
);

CREATE TABLE buckets (
    name        TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL,
    owner_name  TEXT NOT NULL,
    region      TEXT NOT NULL,
    created     REAL NOT NULL,
    acl         TEXT NOT NULL
);
CREATE INDEX buckets_owner ON buckets (owner_id, name);

CREATE TABLE objects (
    bucket         TEXT NOT NULL,
    key            TEXT NOT NULL,
    blob           TEXT NOT NULL,
    size           INTEGER NOT NULL,
    etag           TEXT NOT NULL,
    last_modified  REAL NOT NULL,
    owner_id       TEXT NOT NULL,
    owner_name     TEXT NOT NULL,
    headers        TEXT NOT NULL,  -- JSON: content-type, x-amz-meta-*, checksum, ...
    acl            TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

CREATE TABLE uploads (
    upload_id   TEXT PRIMARY KEY,
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    initiated   REAL NOT NULL,
    owner_id    TEXT NOT NULL,
    owner_name  TEXT NOT NULL,
    headers     TEXT NOT NULL,
    acl         TEXT NOT NULL
);
CREATE INDEX uploads_bucket ON uploads (bucket, key, initiated);

CREATE TABLE parts (
    upload_id      TEXT NOT NULL,
    part_number    INTEGER NOT NULL,
    blob           TEXT NOT NULL,
    size           INTEGER NOT NULL,
    etag           TEXT NOT NULL,
    last_modified  REAL NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;

-- Bytes stored per account (objects and pending parts), kept in the same
-- transactions that change them so quota checks need no table scan.
CREATE TABLE usage (
    account_id  TEXT PRIMARY KEY,
    bytes       INTEGER NOT NULL
);
