-- The x-amz-checksum-* a part was uploaded with ("sha256:<base64>", or ''), so a
-- completed upload created with x-amz-checksum-algorithm gets S3's composite
-- checksum (the checksum of the parts' checksums, "-N").
ALTER TABLE parts ADD COLUMN checksum TEXT NOT NULL DEFAULT '';
