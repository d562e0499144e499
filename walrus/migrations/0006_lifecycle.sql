-- A bucket's lifecycle configuration (issue 13): its rules as JSON (walrus/lifecycle.py),
-- one row per bucket that has one; gone with the bucket. Applied by walrus/expiry.py.
CREATE TABLE bucket_lifecycle (
    bucket  TEXT PRIMARY KEY,  -- buckets.name
    rules   TEXT NOT NULL
) WITHOUT ROWID;
