-- Encryption at rest (issue 13): how a row's blob is sealed (walrus/sse.py's
-- Encryption as JSON: mode, sealed data key, SSE-C key MD5 and check, and per segment
-- of plaintext its size and nonce prefix), or '' for plaintext. An upload keeps its
-- data key for its parts; a part its own segment.
ALTER TABLE objects ADD COLUMN encryption TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN encryption TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN encryption TEXT NOT NULL DEFAULT '';
ALTER TABLE parts ADD COLUMN encryption TEXT NOT NULL DEFAULT '';
-- Until now the x-amz-server-side-encryption header was only kept and echoed; those
-- blobs are plaintext, so they stop claiming otherwise.
UPDATE objects SET headers = json_remove(headers, '$."x-amz-server-side-encryption"')
    WHERE headers LIKE '%x-amz-server-side-encryption%';
UPDATE versions SET headers = json_remove(headers, '$."x-amz-server-side-encryption"')
    WHERE headers LIKE '%x-amz-server-side-encryption%';
UPDATE uploads SET headers = json_remove(headers, '$."x-amz-server-side-encryption"')
    WHERE headers LIKE '%x-amz-server-side-encryption%';
