-- What RegisterImage verified: the SHA-256 of the manifest's bytes, whose
-- signature it checked. A launch runs the image only if the manifest it
-- fetches has this digest (the manifest's SHA-1 part digests then pin the
-- parts), since the owner can still write the bundle's bucket. NULL: an image
-- registered before digests were kept, launched as fetched.
ALTER TABLE images ADD COLUMN manifest_sha256 TEXT;
