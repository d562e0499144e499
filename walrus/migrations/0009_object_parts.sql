-- The parts a completed multipart upload was made of (issue 13), kept per object row
-- (named by its id, as tags are) for GetObjectAttributes' ObjectParts and GetObject's
-- partNumber: each part's size and its checksum ("crc32:<base64>", or ''). Gone with
-- the version, in the same transaction.
CREATE TABLE object_parts (
    object_id    TEXT NOT NULL,  -- objects.id / versions.id
    part_number  INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    checksum     TEXT NOT NULL,
    PRIMARY KEY (object_id, part_number)
) WITHOUT ROWID;
