-- ModifyInstanceAttribute's settable attributes that are not columns of the
-- instance already (instance_type, user_data, kernel_id, ramdisk_id are; the
-- groups are instance_groups; DeleteOnTermination is volume_attachments'):
-- one row per instance, written at RunInstances. An instance without a row
-- (launched before this migration) has EC2's defaults for instance-store.
CREATE TABLE instance_attributes (
    instance_id             TEXT PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
    disable_api_termination INTEGER NOT NULL DEFAULT 0,
    disable_api_stop        INTEGER NOT NULL DEFAULT 0,
    shutdown_behavior       TEXT NOT NULL DEFAULT 'terminate'
                            CHECK (shutdown_behavior IN ('stop', 'terminate')),
    source_dest_check       INTEGER NOT NULL DEFAULT 1,
    ebs_optimized           INTEGER NOT NULL DEFAULT 0,
    ena_support             INTEGER NOT NULL DEFAULT 0,
    sriov_net_support       TEXT                -- 'simple' or NULL
);
