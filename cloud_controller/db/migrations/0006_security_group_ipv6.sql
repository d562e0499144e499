-- Security group rules with every target AWS has: an IPv4 CIDR, an IPv6 CIDR
-- (Ipv6Ranges/CidrIpv6), a prefix list (PrefixListIds) or a source group;
-- exactly one per rule. SQLite cannot change a CHECK in place: the table is
-- made anew and its rows copied, and the defaults trigger is written with a
-- column list so later columns never break it. The default egress rule stays
-- AWS's for a VPC without an IPv6 block (the default VPC's case): all IPv4.

CREATE TABLE security_group_rules_new (
    id              TEXT PRIMARY KEY,           -- sgr-...
    group_id        TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    egress          INTEGER NOT NULL CHECK (egress IN (0, 1)),
    protocol        TEXT NOT NULL,              -- tcp, udp, icmp, icmpv6, -1, or a number
    from_port       INTEGER NOT NULL,           -- -1: all (icmp: type)
    to_port         INTEGER NOT NULL,           -- -1: all (icmp: code)
    cidr            TEXT,                       -- IPv4
    source_group_id TEXT REFERENCES security_groups(id),
    description     TEXT,
    created_at      REAL NOT NULL,
    cidr_ipv6       TEXT,
    prefix_list_id  TEXT,
    CHECK ((cidr IS NOT NULL) + (source_group_id IS NOT NULL) + (cidr_ipv6 IS NOT NULL)
           + (prefix_list_id IS NOT NULL) = 1)
);
INSERT INTO security_group_rules_new (id, group_id, account_id, egress, protocol, from_port,
                                      to_port, cidr, source_group_id, description, created_at)
    SELECT id, group_id, account_id, egress, protocol, from_port, to_port, cidr,
           source_group_id, description, created_at FROM security_group_rules;
DROP TRIGGER security_groups_defaults;
DROP TABLE security_group_rules;
ALTER TABLE security_group_rules_new RENAME TO security_group_rules;

CREATE UNIQUE INDEX security_group_rules_unique ON security_group_rules(
    group_id, egress, protocol, from_port, to_port, IFNULL(cidr, ''),
    IFNULL(source_group_id, ''), IFNULL(cidr_ipv6, ''), IFNULL(prefix_list_id, ''));
CREATE INDEX security_group_rules_source ON security_group_rules(source_group_id);
CREATE INDEX security_group_rules_account ON security_group_rules(account_id);

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
