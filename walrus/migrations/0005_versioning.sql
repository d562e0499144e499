-- S3 versioning (issue 13). A bucket's status: '' (never versioned), 'Enabled' or
-- 'Suspended' (it never goes back to '').
ALTER TABLE buckets ADD COLUMN versioning TEXT NOT NULL DEFAULT '';

-- `objects` keeps one row per key: its current version when that is not a delete
-- marker, so GET of the latest is one primary-key lookup and ListObjects(V2) walks
-- exactly the rows it lists. Each row now has its version id ('null' for objects
-- written while the bucket was unversioned or suspended: every object of today) and
-- its place in the key's history (`seq`, larger is newer; 0 for today's objects).
ALTER TABLE objects ADD COLUMN version_id TEXT NOT NULL DEFAULT 'null';
ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- Every other version: noncurrent versions and delete markers (current or not; a
-- current marker is the key's newest row here while `objects` has none). Newest first
-- within a key, as ListObjectVersions lists them. A marker has no blob ('').
CREATE TABLE versions (
    bucket         TEXT NOT NULL,
    key            TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    version_id     TEXT NOT NULL,
    is_marker      INTEGER NOT NULL,
    blob           TEXT NOT NULL,
    size           INTEGER NOT NULL,
    etag           TEXT NOT NULL,
    last_modified  REAL NOT NULL,
    owner_id       TEXT NOT NULL,
    owner_name     TEXT NOT NULL,
    headers        TEXT NOT NULL,
    acl            TEXT NOT NULL,
    id             TEXT NOT NULL,  -- object_tags.object_id, as in `objects`
    PRIMARY KEY (bucket, key, seq DESC)
) WITHOUT ROWID;
CREATE UNIQUE INDEX versions_by_id ON versions (bucket, key, version_id);
