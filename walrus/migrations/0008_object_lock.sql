-- S3 Object Lock (issue 13): each version's retention and legal hold, in the version's
-- own row so they move with it between `objects` (current) and `versions`
-- (noncurrent). lock_mode '' (none), GOVERNANCE or COMPLIANCE; lock_until the
-- retain-until date (epoch seconds, 0: none); legal_hold '' (never set), ON or OFF.
-- A bucket's lock configuration is its `object-lock` row in bucket_settings.
ALTER TABLE objects ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN lock_until REAL NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN legal_hold TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN lock_until REAL NOT NULL DEFAULT 0;
ALTER TABLE versions ADD COLUMN legal_hold TEXT NOT NULL DEFAULT '';
