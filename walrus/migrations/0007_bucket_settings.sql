-- Every bucket configuration document in one table (issue 13): kind is the S3
-- sub-resource that sets it (cors, lifecycle, policy, ...), document is what the
-- kind's module stores (JSON). One row per bucket and kind; gone with the bucket.
-- Replaces the per-kind tables of 0003 and 0006, whose rows move here.
CREATE TABLE bucket_settings (
    bucket    TEXT NOT NULL,  -- buckets.name
    kind      TEXT NOT NULL,
    document  TEXT NOT NULL,
    PRIMARY KEY (bucket, kind)
) WITHOUT ROWID;
CREATE INDEX bucket_settings_kind ON bucket_settings (kind, bucket);
INSERT INTO bucket_settings SELECT bucket, 'cors', rules FROM bucket_cors;
INSERT INTO bucket_settings SELECT bucket, 'lifecycle', rules FROM bucket_lifecycle;
DROP TABLE bucket_cors;
DROP TABLE bucket_lifecycle;
