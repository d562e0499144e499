"""Migration 0015 (VPC mode's security) on a database that has EDGE groups with
rules and members, and an own VPC with a subnet made before it."""
import sqlite3
from importlib.resources import files

import pytest

from mallee import migrations

DIRECTORY = files("cloud_controller.db") / "migrations"


def _upto(conn, version: int) -> None:
    for migration in migrations.pending(DIRECTORY, 0):
        if migration.version <= version:
            conn.executescript(migration.script)


@pytest.fixture
def migrated(tmp_path):
    """The connection after 0015, and the rules before it."""
    c = sqlite3.connect(tmp_path / "clc.sqlite", isolation_level=None)
    c.execute("PRAGMA foreign_keys=ON")  # as the CLC runs its migrations
    _upto(c, 14)
    c.executescript("""
        INSERT INTO accounts (id, name, created_at) VALUES ('111111111111', 'a', 0);
        INSERT INTO security_groups (id, account_id, name, description, created_at)
            VALUES ('sg-00000001', '111111111111', 'default', 'default group', 0),
                   ('sg-00000002', '111111111111', 'web', 'web', 0);
        INSERT INTO security_group_rules (id, group_id, account_id, egress, protocol,
            from_port, to_port, source_group_id, created_at)
            VALUES ('sgr-00000009', 'sg-00000002', '111111111111', 0, 'tcp', 22, 22,
                    'sg-00000001', 0);
        INSERT INTO instances (id, account_id, reservation_id, launch_index, image_id,
            instance_type, zone, cluster, state, launched_at, updated_at)
            VALUES ('i-00000001', '111111111111', 'r-1', 0, 'ami-00000001', 'm1.small',
                    'z', 'c', 'running', 0, 0);
        INSERT INTO instance_groups VALUES ('i-00000001', 'sg-00000002');
        INSERT INTO vpcs (id, account_id, cidr, is_default, created_at)
            VALUES ('vpc-00000001', '111111111111', '10.0.0.0/16', 0, 0);
        INSERT INTO subnets (id, account_id, vpc_id, zone, cidr, is_default, created_at)
            VALUES ('subnet-00000001', '111111111111', 'vpc-00000001', 'z', '10.0.1.0/24',
                    0, 0);
    """)
    before = c.execute("SELECT * FROM security_group_rules ORDER BY id").fetchall()
    assert migrations.apply(c, DIRECTORY)[0].version == 15
    return c, before


def test_edge_groups_rules_and_members_are_kept(migrated):
    conn, before = migrated
    edge_rules = conn.execute("SELECT * FROM security_group_rules WHERE group_id IN "
                              "('sg-00000001', 'sg-00000002') ORDER BY id").fetchall()
    assert edge_rules == before
    assert conn.execute("SELECT * FROM instance_groups").fetchall() == [
        ("i-00000001", "sg-00000002")]
    assert conn.execute("SELECT vpc_id FROM security_groups WHERE id='sg-00000002'"
                        ).fetchone() == (None,)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_an_older_own_vpc_gets_its_default_group_and_acl(migrated):
    conn, _ = migrated
    (group_id,) = conn.execute("SELECT id FROM security_groups WHERE vpc_id='vpc-00000001' "
                               "AND name='default'").fetchone()
    rules = conn.execute("SELECT egress, cidr, source_group_id FROM security_group_rules "
                         "WHERE group_id=? ORDER BY egress", (group_id,)).fetchall()
    assert rules == [(0, None, group_id), (1, "0.0.0.0/0", None)]
    (acl_id,) = conn.execute("SELECT id FROM network_acls WHERE vpc_id='vpc-00000001' "
                             "AND is_default=1").fetchone()
    assert conn.execute("SELECT egress, rule_number, rule_action FROM network_acl_entries "
                        "WHERE acl_id=? ORDER BY egress", (acl_id,)).fetchall() == [
        (0, 100, "allow"), (1, 100, "allow")]
    assert conn.execute("SELECT subnet_id, acl_id FROM network_acl_associations").fetchall() \
        == [("subnet-00000001", acl_id)]
    assert conn.execute("SELECT enable_dns_support, enable_dns_hostnames, enable_nau_metrics "
                        "FROM vpcs WHERE id='vpc-00000001'").fetchone() == (1, 0, 0)


def test_names_are_unique_per_vpc(migrated):
    conn, _ = migrated
    # A "default" (and a "web") in the VPC beside the EDGE ones is fine...
    conn.execute("INSERT INTO security_groups (id, account_id, name, description, created_at, "
                 "vpc_id) VALUES ('sg-00000003', '111111111111', 'web', 'w', 0, "
                 "'vpc-00000001')")
    # ...twice in one VPC, or twice in the default one, is not.
    for vpc in ("'vpc-00000001'", "NULL"):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO security_groups (id, account_id, name, description, "
                         f"created_at, vpc_id) VALUES ('sg-00000004', '111111111111', 'web', "
                         f"'w', 0, {vpc})")
