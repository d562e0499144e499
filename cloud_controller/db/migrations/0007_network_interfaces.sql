-- Each instance's primary network interface as a resource of its own (an eni-
-- id stored with its account, so it can be listed, filtered and tagged), and
-- each instance's metadata options (ModifyInstanceMetadataOptions).
-- Interfaces of instances made before this migration get ids now (before it,
-- ids were derived from the instance id and never stored).

CREATE TABLE network_interfaces (
    id                    TEXT PRIMARY KEY,     -- eni-...
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    instance_id           TEXT NOT NULL UNIQUE REFERENCES instances(id) ON DELETE CASCADE,
    description           TEXT NOT NULL DEFAULT '',
    delete_on_termination INTEGER NOT NULL DEFAULT 1,
    created_at            REAL NOT NULL
);
CREATE INDEX network_interfaces_account ON network_interfaces(account_id);
INSERT INTO network_interfaces (id, account_id, instance_id, created_at)
    SELECT 'eni-' || substr(lower(hex(randomblob(9))), 1, 17), account_id, id, launched_at
    FROM instances;

ALTER TABLE instances ADD COLUMN http_tokens TEXT NOT NULL DEFAULT 'optional';
ALTER TABLE instances ADD COLUMN http_put_response_hop_limit INTEGER NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN http_endpoint TEXT NOT NULL DEFAULT 'enabled';
ALTER TABLE instances ADD COLUMN http_protocol_ipv6 TEXT NOT NULL DEFAULT 'disabled';
ALTER TABLE instances ADD COLUMN instance_metadata_tags TEXT NOT NULL DEFAULT 'disabled';

-- An instance as the API shows it: with its interface's id.
CREATE VIEW instances_with_interface AS
    SELECT i.*, n.id AS eni_id FROM instances i
    LEFT JOIN network_interfaces n ON n.instance_id = i.id;
