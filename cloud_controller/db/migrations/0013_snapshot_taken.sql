-- When the SC took a snapshot's point-in-time copy (NULL: not yet): DeleteVolume
-- waits for it (docs/ebs.md). Snapshots that finished before this column existed
-- were taken long ago; pending ones are asked again when the CLC starts.
ALTER TABLE snapshots ADD COLUMN taken_at REAL;
UPDATE snapshots SET taken_at = started_at WHERE state != 'pending';
CREATE INDEX snapshots_volume ON snapshots(volume_id);
