-- EDGE networking: each account's network is its default VPC with one default
-- subnet per zone (ids derived from the account, so they never change);
-- security group rules; elastic and launch-time public addresses; and the
-- version of each cluster's network view.

CREATE TABLE vpcs (
    id         TEXT PRIMARY KEY,                -- vpc-...
    account_id TEXT NOT NULL REFERENCES accounts(id),
    cidr       TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (account_id)
);

CREATE TABLE subnets (
    id         TEXT PRIMARY KEY,                -- subnet-...
    account_id TEXT NOT NULL REFERENCES accounts(id),
    vpc_id     TEXT NOT NULL REFERENCES vpcs(id),
    zone       TEXT NOT NULL,
    cidr       TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (account_id, zone)
);

-- One row per permission target (a CIDR or a source group), as AWS's
-- security group rules (sgr-) are.
CREATE TABLE security_group_rules (
    id              TEXT PRIMARY KEY,           -- sgr-...
    group_id        TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    egress          INTEGER NOT NULL CHECK (egress IN (0, 1)),
    protocol        TEXT NOT NULL,              -- tcp, udp, icmp, -1
    from_port       INTEGER NOT NULL,           -- -1: all (icmp: type)
    to_port         INTEGER NOT NULL,           -- -1: all (icmp: code)
    cidr            TEXT,
    source_group_id TEXT REFERENCES security_groups(id),
    description     TEXT,
    created_at      REAL NOT NULL,
    CHECK ((cidr IS NULL) != (source_group_id IS NULL))
);
CREATE UNIQUE INDEX security_group_rules_unique ON security_group_rules(
    group_id, egress, protocol, from_port, to_port, IFNULL(cidr, ''),
    IFNULL(source_group_id, ''));
CREATE INDEX security_group_rules_source ON security_group_rules(source_group_id);

-- AWS's defaults, however a group is made: every group allows all egress,
-- and an account's `default` group lets its members talk to each other.
-- (Every group is in its account's default VPC.)
CREATE TRIGGER security_groups_defaults AFTER INSERT ON security_groups BEGIN
    INSERT INTO security_group_rules VALUES (
        'sgr-' || substr(lower(hex(randomblob(9))), 1, 17), NEW.id, NEW.account_id, 1, '-1',
        -1, -1, '0.0.0.0/0', NULL, NULL, NEW.created_at);
    INSERT INTO security_group_rules SELECT
        'sgr-' || substr(lower(hex(randomblob(9))), 1, 17), NEW.id, NEW.account_id, 0, '-1',
        -1, -1, NULL, NEW.id, NULL, NEW.created_at
        WHERE NEW.name = 'default';
END;
INSERT INTO security_group_rules
    SELECT 'sgr-' || substr(lower(hex(randomblob(9))), 1, 17), id, account_id, 0, '-1', -1, -1,
           NULL, id, NULL, created_at
    FROM security_groups WHERE name = 'default';
INSERT INTO security_group_rules
    SELECT 'sgr-' || substr(lower(hex(randomblob(9))), 1, 17), id, account_id, 1, '-1', -1, -1,
           '0.0.0.0/0', NULL, NULL, created_at
    FROM security_groups;

-- Public addresses from the clusters' pools. kind 'elastic' rows are the
-- account's elastic IPs (eipalloc-); kind 'launch' rows are the addresses
-- EDGE gives an instance at launch (released when it ends, never listed).
CREATE TABLE addresses (
    id             TEXT PRIMARY KEY,            -- eipalloc-... (launch rows too)
    account_id     TEXT NOT NULL REFERENCES accounts(id),
    public_ip      TEXT NOT NULL UNIQUE,
    cluster        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('elastic', 'launch')),
    domain         TEXT NOT NULL,               -- vpc or standard
    instance_id    TEXT REFERENCES instances(id),
    association_id TEXT UNIQUE,                 -- eipassoc-...
    allocated_at   REAL NOT NULL
);
CREATE INDEX addresses_account ON addresses(account_id);
CREATE UNIQUE INDEX addresses_instance ON addresses(instance_id) WHERE instance_id IS NOT NULL;

-- The network view of each cluster: its version grows whenever its content
-- (digest) changes, and survives restarts so nodes never see it go back.
CREATE TABLE network_views (
    cluster TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    digest  TEXT NOT NULL
);
