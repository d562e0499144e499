-- A bucket's CORS configuration (issue 13): its rules as JSON (walrus/cors.py),
-- one row per bucket that has one; gone with the bucket.
CREATE TABLE bucket_cors (
    bucket  TEXT PRIMARY KEY,  -- buckets.name
    rules   TEXT NOT NULL
) WITHOUT ROWID;
