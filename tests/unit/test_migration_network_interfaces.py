"""Migration 0018 (network interfaces as resources) on a database with an EDGE
instance, a live and a terminated instance in an own subnet (each with its one
interface from 0007) and an elastic IP on the live one."""
import sqlite3
from importlib.resources import files

import pytest

from mallee import migrations

DIRECTORY = files("cloud_controller.db") / "migrations"


@pytest.fixture
def conn(tmp_path):
    c = sqlite3.connect(tmp_path / "clc.sqlite", isolation_level=None)
    c.execute("PRAGMA foreign_keys=ON")  # as the CLC runs its migrations
    for migration in migrations.pending(DIRECTORY, 0):
        if migration.version <= 17:
            c.executescript(migration.script)
    c.executescript("""
        INSERT INTO accounts (id, name, created_at) VALUES ('111111111111', 'a', 0);
        INSERT INTO vpcs (id, account_id, cidr, is_default, created_at)
            VALUES ('vpc-00000001', '111111111111', '10.0.0.0/16', 0, 0);
        INSERT INTO subnets (id, account_id, vpc_id, zone, cidr, is_default, created_at)
            VALUES ('subnet-00000001', '111111111111', 'vpc-00000001', 'z', '10.0.1.0/24',
                    0, 0);
        INSERT INTO security_groups (id, account_id, name, description, vpc_id, created_at)
            VALUES ('sg-00000001', '111111111111', 'default', 'd', 'vpc-00000001', 0);
        INSERT INTO instances (id, account_id, reservation_id, launch_index, image_id,
            instance_type, zone, cluster, state, launched_at, updated_at, private_ip, mac,
            subnet_id, vpc_id, public_ip)
            VALUES ('i-00000001', '111111111111', 'r-1', 0, 'ami-1', 'm1.small', 'z', 'c',
                    'running', 5, 5, '10.64.0.5', 'd0:0d:00:00:00:01', NULL, NULL, NULL),
                   ('i-00000002', '111111111111', 'r-2', 0, 'ami-1', 'm1.small', 'z', 'c',
                    'running', 6, 6, '10.0.1.4', 'd0:0d:00:00:00:02', 'subnet-00000001',
                    'vpc-00000001', '198.51.100.7'),
                   ('i-00000003', '111111111111', 'r-3', 0, 'ami-1', 'm1.small', 'z', 'c',
                    'terminated', 7, 7, '10.0.1.5', 'd0:0d:00:00:00:03', 'subnet-00000001',
                    'vpc-00000001', NULL);
        INSERT INTO instance_groups VALUES ('i-00000002', 'sg-00000001');
        INSERT INTO network_interfaces (id, account_id, instance_id, created_at)
            VALUES ('eni-00000001', '111111111111', 'i-00000001', 5),
                   ('eni-00000002', '111111111111', 'i-00000002', 6),
                   ('eni-00000003', '111111111111', 'i-00000003', 7);
        INSERT INTO addresses (id, account_id, public_ip, cluster, kind, domain, instance_id,
            association_id, allocated_at)
            VALUES ('eipalloc-1', '111111111111', '198.51.100.7', 'c', 'elastic', 'vpc',
                    'i-00000002', 'eipassoc-1', 0);
    """)
    assert 18 in [m.version for m in migrations.apply(c, DIRECTORY)]  # and any later ones
    return c


def test_each_instance_keeps_its_interface_as_device_0(conn):
    rows = conn.execute(
        "SELECT id, instance_id, device_index, attachment_id, attached_at, subnet_id, vpc_id, "
        "zone, mac, delete_on_termination FROM network_interfaces ORDER BY id").fetchall()
    assert rows == [
        ("eni-00000001", "i-00000001", 0, "eni-attach-00000001", 5, None, None, "z",
         "d0:0d:00:00:00:01", 1),
        ("eni-00000002", "i-00000002", 0, "eni-attach-00000002", 6, "subnet-00000001",
         "vpc-00000001", "z", "d0:0d:00:00:00:02", 1),
        ("eni-00000003", "i-00000003", 0, "eni-attach-00000003", 7, "subnet-00000001",
         "vpc-00000001", "z", "d0:0d:00:00:00:03", 1)]
    assert conn.execute("SELECT id, eni_id FROM instances_with_interface ORDER BY id"
                        ).fetchall() == [("i-00000001", "eni-00000001"),
                                         ("i-00000002", "eni-00000002"),
                                         ("i-00000003", "eni-00000003")]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_own_subnet_addresses_and_elastic_ips_follow(conn):
    # the live own-subnet instance's address becomes its interface's primary one; EDGE's
    # and the terminated instance's hold nothing
    assert conn.execute("SELECT interface_id, subnet_id, private_ip, is_primary FROM "
                        "network_interface_addresses").fetchall() == [
        ("eni-00000002", "subnet-00000001", "10.0.1.4", 1)]
    assert conn.execute("SELECT instance_id, target_eni, target_ip FROM addresses"
                        ).fetchall() == [("i-00000002", "eni-00000002", "10.0.1.4")]
    # one address per (interface, private address); a second interface cannot take it
    conn.execute("INSERT INTO network_interfaces (id, account_id, created_at) "
                 "VALUES ('eni-00000009', '111111111111', 0)")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO network_interface_addresses VALUES "
                     "('eni-00000009', 'subnet-00000001', '10.0.1.4', 1)")
    with pytest.raises(sqlite3.IntegrityError):  # device 0 of i-00000002 is taken
        conn.execute("UPDATE network_interfaces SET instance_id='i-00000002', "
                     "device_index=0 WHERE id='eni-00000009'")
