-- S3 tags (issue 12). Tags belong to one object row, named by the row's id,
-- not by (bucket, key): when versioning comes, each version row has its own
-- id and its own tags, and this table stays as it is. Tags change in the same
-- transactions as the rows they belong to: a PUT, copy or completed upload
-- that replaces an object replaces its tags, a delete drops them.
ALTER TABLE objects ADD COLUMN id TEXT NOT NULL DEFAULT '';
UPDATE objects SET id = lower(hex(randomblob(16)));

CREATE TABLE object_tags (
    object_id  TEXT NOT NULL,  -- objects.id
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (object_id, key)
) WITHOUT ROWID;

CREATE TABLE bucket_tags (
    bucket  TEXT NOT NULL,     -- buckets.name
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

-- x-amz-tagging of CreateMultipartUpload, applied when the upload completes:
-- a JSON list of [key, value] pairs.
ALTER TABLE uploads ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
