-- EBS-backed images and instances (docs/ebs.md). An image registered from a
-- snapshot has no bundle (location '' and parts '[]'); its mappings are in
-- image_block_devices. An instance's root_device_type says whether it boots
-- from its image's bundle (instance-store) or from a volume (ebs).
ALTER TABLE images ADD COLUMN root_device_type TEXT NOT NULL DEFAULT 'instance-store'
    CHECK (root_device_type IN ('instance-store', 'ebs'));
ALTER TABLE instances ADD COLUMN root_device_type TEXT NOT NULL DEFAULT 'instance-store'
    CHECK (root_device_type IN ('instance-store', 'ebs'));
ALTER TABLE instances ADD COLUMN root_device_name TEXT NOT NULL DEFAULT '/dev/sda1';

-- The volumes an EBS-backed launch makes (its image's mappings, with RunInstances'
-- BlockDeviceMapping over them): written with the instance, so a restarted CLC
-- makes whatever is missing. A volume is made with the client token
-- '<instance id>:<device>', so asking twice makes one. tags: JSON [[key, value]].
CREATE TABLE instance_block_devices (
    instance_id           TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    device_name           TEXT NOT NULL,
    snapshot_id           TEXT,
    volume_size           INTEGER,
    volume_type           TEXT,
    iops                  INTEGER,
    delete_on_termination INTEGER NOT NULL,
    tags                  TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (instance_id, device_name)
);
