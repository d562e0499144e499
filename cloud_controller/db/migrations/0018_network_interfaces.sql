-- Network interfaces as resources of their own (VPC mode, docs/vpc.md): an
-- interface may exist unattached (CreateNetworkInterface, status available),
-- be attached to an instance at a device index, carry secondary private
-- addresses and a group set of its own. An EDGE instance's one interface keeps
-- its address and groups on the instance, as before.
--
-- network_interfaces is rebuilt: instance_id becomes the attachment (NULL:
-- available), with device_index, attachment_id and attached_at; an own
-- subnet's interface records its subnet, VPC, zone, MAC and sourceDestCheck.
-- Its addresses are network_interface_addresses (the primary one flagged),
-- unique per subnet; its groups network_interface_groups (a primary
-- interface's, device index 0, stay instance_groups: the instance's groupSet).

DROP VIEW instances_with_interface;

CREATE TABLE network_interfaces_v2 (
    id                    TEXT PRIMARY KEY,     -- eni-...
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    instance_id           TEXT REFERENCES instances(id) ON DELETE CASCADE,
    device_index          INTEGER,
    attachment_id         TEXT,                 -- eni-attach-...
    attached_at           REAL,
    description           TEXT NOT NULL DEFAULT '',
    delete_on_termination INTEGER NOT NULL DEFAULT 1,
    subnet_id             TEXT,                 -- an own subnet; NULL: EDGE's interface
    vpc_id                TEXT,
    zone                  TEXT,
    mac                   TEXT,
    source_dest_check     INTEGER NOT NULL DEFAULT 1,
    created_at            REAL NOT NULL
);
INSERT INTO network_interfaces_v2 (id, account_id, instance_id, device_index, attachment_id,
                                   attached_at, description, delete_on_termination,
                                   subnet_id, vpc_id, zone, mac, created_at)
    SELECT n.id, n.account_id, n.instance_id, 0, 'eni-attach-' || substr(n.id, 5),
           i.launched_at, n.description, n.delete_on_termination, i.subnet_id, i.vpc_id,
           i.zone, i.mac, n.created_at
    FROM network_interfaces n JOIN instances i ON i.id = n.instance_id;
DROP TABLE network_interfaces;
ALTER TABLE network_interfaces_v2 RENAME TO network_interfaces;
CREATE INDEX network_interfaces_account ON network_interfaces(account_id);
CREATE INDEX network_interfaces_subnet ON network_interfaces(subnet_id)
    WHERE subnet_id IS NOT NULL;
CREATE UNIQUE INDEX network_interfaces_device ON network_interfaces(instance_id, device_index)
    WHERE instance_id IS NOT NULL;

CREATE TABLE network_interface_addresses (
    interface_id TEXT NOT NULL REFERENCES network_interfaces(id) ON DELETE CASCADE,
    subnet_id    TEXT NOT NULL,
    private_ip   TEXT NOT NULL,
    is_primary   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (interface_id, private_ip)
);
CREATE UNIQUE INDEX network_interface_addresses_subnet
    ON network_interface_addresses(subnet_id, private_ip);
-- Interfaces of live instances in own subnets made before this migration.
INSERT INTO network_interface_addresses (interface_id, subnet_id, private_ip, is_primary)
    SELECT n.id, i.subnet_id, i.private_ip, 1 FROM network_interfaces n
    JOIN instances i ON i.id = n.instance_id
    WHERE i.subnet_id IS NOT NULL AND i.private_ip IS NOT NULL AND i.state <> 'terminated';

CREATE TABLE network_interface_groups (
    interface_id TEXT NOT NULL REFERENCES network_interfaces(id) ON DELETE CASCADE,
    group_id     TEXT NOT NULL REFERENCES security_groups(id),
    PRIMARY KEY (interface_id, group_id)
);
CREATE INDEX network_interface_groups_group ON network_interface_groups(group_id);

-- An elastic IP on an interface of an own subnet maps one of its private
-- addresses (target_eni, target_ip; NULL: an EDGE instance's one address), one
-- address per (interface, private address); EDGE keeps one per instance.
ALTER TABLE addresses ADD COLUMN target_eni TEXT;
ALTER TABLE addresses ADD COLUMN target_ip TEXT;
UPDATE addresses SET
    target_eni = (SELECT n.id FROM network_interfaces n WHERE n.instance_id = addresses.instance_id
                  AND n.subnet_id IS NOT NULL),
    target_ip = (SELECT i.private_ip FROM instances i WHERE i.id = addresses.instance_id
                 AND i.subnet_id IS NOT NULL)
    WHERE instance_id IS NOT NULL;
UPDATE addresses SET target_ip = NULL WHERE target_eni IS NULL;
DROP INDEX addresses_instance;
CREATE UNIQUE INDEX addresses_instance ON addresses(instance_id)
    WHERE instance_id IS NOT NULL AND target_eni IS NULL;
CREATE UNIQUE INDEX addresses_target ON addresses(target_eni, target_ip)
    WHERE target_eni IS NOT NULL;

-- An instance as the API shows it: with its primary interface's id.
CREATE VIEW instances_with_interface AS
    SELECT i.*, n.id AS eni_id FROM instances i
    LEFT JOIN network_interfaces n ON n.instance_id = i.id AND n.device_index = 0;
