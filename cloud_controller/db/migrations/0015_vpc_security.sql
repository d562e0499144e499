-- VPC mode's security (docs/vpc.md): security groups in own VPCs, network ACLs,
-- VPC attributes and secondary CIDR blocks.
--
-- security_groups gains vpc_id (NULL: the account's default VPC, EDGE's groups as
-- before) and its names become unique per VPC instead of per account. SQLite cannot
-- drop a table constraint, so the table is made anew; its two children (rules and
-- instance_groups) are made anew first, pointing at the new table, so dropping the
-- old one cascades nothing (foreign keys are on while migrations run).
CREATE TABLE security_groups_v2 (
    id          TEXT PRIMARY KEY,              -- sg-...
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  REAL NOT NULL,
    vpc_id      TEXT REFERENCES vpcs(id)       -- NULL: the default VPC (EDGE)
);
INSERT INTO security_groups_v2 (id, account_id, name, description, created_at)
    SELECT id, account_id, name, description, created_at FROM security_groups;

CREATE TABLE security_group_rules_v2 (
    id              TEXT PRIMARY KEY,           -- sgr-...
    group_id        TEXT NOT NULL REFERENCES security_groups_v2(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    egress          INTEGER NOT NULL CHECK (egress IN (0, 1)),
    protocol        TEXT NOT NULL,
    from_port       INTEGER NOT NULL,
    to_port         INTEGER NOT NULL,
    cidr            TEXT,
    source_group_id TEXT REFERENCES security_groups_v2(id),
    description     TEXT,
    created_at      REAL NOT NULL,
    cidr_ipv6       TEXT,
    prefix_list_id  TEXT,
    CHECK ((cidr IS NOT NULL) + (source_group_id IS NOT NULL) + (cidr_ipv6 IS NOT NULL)
           + (prefix_list_id IS NOT NULL) = 1)
);
INSERT INTO security_group_rules_v2 SELECT id, group_id, account_id, egress, protocol,
    from_port, to_port, cidr, source_group_id, description, created_at, cidr_ipv6,
    prefix_list_id FROM security_group_rules;

CREATE TABLE instance_groups_v2 (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    group_id    TEXT NOT NULL REFERENCES security_groups_v2(id),
    PRIMARY KEY (instance_id, group_id)
);
INSERT INTO instance_groups_v2 SELECT instance_id, group_id FROM instance_groups;

DROP TRIGGER security_groups_defaults;
DROP TABLE instance_groups;
DROP TABLE security_group_rules;
DROP TABLE security_groups;
ALTER TABLE security_groups_v2 RENAME TO security_groups;
ALTER TABLE security_group_rules_v2 RENAME TO security_group_rules;
ALTER TABLE instance_groups_v2 RENAME TO instance_groups;

CREATE UNIQUE INDEX security_groups_name ON security_groups(account_id, IFNULL(vpc_id, ''),
                                                            name);
CREATE INDEX security_groups_vpc ON security_groups(vpc_id);
CREATE UNIQUE INDEX security_group_rules_unique ON security_group_rules(
    group_id, egress, protocol, from_port, to_port, IFNULL(cidr, ''),
    IFNULL(source_group_id, ''), IFNULL(cidr_ipv6, ''), IFNULL(prefix_list_id, ''));
CREATE INDEX security_group_rules_source ON security_group_rules(source_group_id);
CREATE INDEX security_group_rules_account ON security_group_rules(account_id);
CREATE INDEX instance_groups_group ON instance_groups(group_id);

-- AWS's default rules: all IPv4 egress; the default group open to its own members.
CREATE TRIGGER security_groups_defaults AFTER INSERT ON security_groups BEGIN
    INSERT INTO security_group_rules (id, group_id, account_id, egress, protocol, from_port,
                                      to_port, cidr, created_at) VALUES (
        'sgr-' || substr(lower(hex(randomblob(9))), 1, 17), NEW.id, NEW.account_id, 1, '-1',
        -1, -1, '0.0.0.0/0', NEW.created_at);
    INSERT INTO security_group_rules (id, group_id, account_id, egress, protocol, from_port,
                                      to_port, source_group_id, created_at) SELECT
        'sgr-' || substr(lower(hex(randomblob(9))), 1, 17), NEW.id, NEW.account_id, 0, '-1',
        -1, -1, NEW.id, NEW.created_at
        WHERE NEW.name = 'default';
END;

-- DescribeVpcAttribute / ModifyVpcAttribute on own VPCs (EC2's defaults for a
-- non-default VPC: DNS support on, DNS hostnames off, usage metrics off).
ALTER TABLE vpcs ADD COLUMN enable_dns_support INTEGER NOT NULL DEFAULT 1;
ALTER TABLE vpcs ADD COLUMN enable_dns_hostnames INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vpcs ADD COLUMN enable_nau_metrics INTEGER NOT NULL DEFAULT 0;

-- AssociateVpcCidrBlock: secondary IPv4 blocks (the primary stays vpcs.cidr).
CREATE TABLE vpc_cidr_blocks (
    id          TEXT PRIMARY KEY,              -- vpc-cidr-assoc-...
    vpc_id      TEXT NOT NULL REFERENCES vpcs(id),
    cidr        TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX vpc_cidr_blocks_vpc ON vpc_cidr_blocks(vpc_id);

-- Network ACLs of own VPCs: entries in rule-number order per direction, and the
-- one ACL each subnet is associated with.
CREATE TABLE network_acls (
    id          TEXT PRIMARY KEY,              -- acl-...
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    vpc_id      TEXT NOT NULL REFERENCES vpcs(id),
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);
CREATE UNIQUE INDEX network_acls_default ON network_acls(vpc_id) WHERE is_default = 1;
CREATE INDEX network_acls_vpc ON network_acls(vpc_id);

CREATE TABLE network_acl_entries (
    acl_id      TEXT NOT NULL REFERENCES network_acls(id) ON DELETE CASCADE,
    egress      INTEGER NOT NULL CHECK (egress IN (0, 1)),
    rule_number INTEGER NOT NULL CHECK (rule_number BETWEEN 1 AND 32766),
    protocol    TEXT NOT NULL,                 -- -1, or an IANA number (6, 17, 1...)
    rule_action TEXT NOT NULL CHECK (rule_action IN ('allow', 'deny')),
    cidr        TEXT NOT NULL,
    from_port   INTEGER,                       -- tcp/udp: PortRange
    to_port     INTEGER,
    icmp_type   INTEGER,                       -- icmp: IcmpTypeCode (-1: all)
    icmp_code   INTEGER,
    PRIMARY KEY (acl_id, egress, rule_number)
);

CREATE TABLE network_acl_associations (
    id          TEXT PRIMARY KEY,              -- aclassoc-...
    subnet_id   TEXT NOT NULL UNIQUE REFERENCES subnets(id),
    acl_id      TEXT NOT NULL REFERENCES network_acls(id)
);
CREATE INDEX network_acl_associations_acl ON network_acl_associations(acl_id);

-- Own VPCs made before this migration get what a new one has: a `default` group
-- (its rules by the trigger) and a default network ACL for their subnets.
INSERT INTO security_groups (id, account_id, name, description, created_at, vpc_id)
    SELECT 'sg-' || substr(lower(hex(randomblob(9))), 1, 17), account_id, 'default',
           'default VPC security group', created_at, id FROM vpcs WHERE is_default = 0;
INSERT INTO network_acls (id, account_id, vpc_id, is_default, created_at)
    SELECT 'acl-' || substr(lower(hex(randomblob(9))), 1, 17), account_id, id, 1, created_at
    FROM vpcs WHERE is_default = 0;
INSERT INTO network_acl_entries (acl_id, egress, rule_number, protocol, rule_action, cidr)
    SELECT a.id, d.egress, 100, '-1', 'allow', '0.0.0.0/0'
    FROM network_acls a, (SELECT 0 AS egress UNION ALL SELECT 1) d;
INSERT INTO network_acl_associations (id, subnet_id, acl_id)
    SELECT 'aclassoc-' || substr(lower(hex(randomblob(9))), 1, 17), s.id, a.id
    FROM subnets s JOIN network_acls a ON a.vpc_id = s.vpc_id AND a.is_default = 1
    WHERE s.is_default = 0;
