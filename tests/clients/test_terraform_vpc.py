"""Terraform (hashicorp/aws 5.100, from the offline mirror) against a vpc-mode
cloud with a real OVN NB/SB/northd: aws_vpc, aws_subnet, aws_internet_gateway,
aws_route_table (inline route), aws_route_table_association, aws_route on the
main table, aws_eip and aws_nat_gateway for a private subnet apply; a second
plan shows no changes; destroy leaves nothing in the API or in OVN."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mallee.ovn_central import missing_binaries
from tests.ovn_nb import default_vpc_ids, nb_rows, rows_beyond
from tests.clients.test_terraform import failed_calls, run
from tests.clients.test_terraform_volume import tenant_workdir
from tests.harness import Cloud, available_components
from tests.reporting import write_summary

pytestmark = [pytest.mark.clients,
              pytest.mark.skipif(bool(missing_binaries()),
                                 reason=f"OVN not installed: {missing_binaries()}")]

CONFIG = Path(__file__).parent / "terraform_vpc" / "main.tf"


@pytest.fixture(scope="module")
def vpc_cloud(tmp_path_factory):
    c = Cloud(tmp_path_factory.mktemp("tf-vpc-cloud"), available_components(),
              env={"MALLEE_NETWORK_MODE": "vpc"}).start()
    yield c
    c.stop()


def test_terraform_builds_a_public_subnet_plans_clean_and_destroys(vpc_cloud,
                                                                  tmp_path_factory):
    cloud = vpc_cloud
    terraform, ec2 = tenant_workdir(cloud, tmp_path_factory, CONFIG, "terraform-vpc")
    started = time.monotonic()
    run(terraform, "apply", "-auto-approve", log="apply")
    apply_seconds = time.monotonic() - started
    out = {k: v["value"] for k, v in json.loads(
        run(terraform, "output", "-json", log="output").stdout).items()}
    vpc_id, rtb, main, igw = (out["vpc_id"], out["route_table_id"],
                              out["main_route_table_id"], out["igw_id"])
    (gateway,) = ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"]
    assert gateway["Attachments"] == [{"VpcId": vpc_id, "State": "available"}]
    tables = {t["RouteTableId"]: t for t in ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]}
    assert len(tables) == 3 and {rtb, main} < set(tables)
    for table_id in (rtb, main):
        assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw, "State": "active",
                "Origin": "CreateRoute"} in tables[table_id]["Routes"]
    assert [a.get("SubnetId") for a in tables[rtb]["Associations"]] == [out["subnet_id"]]
    assert [a["Main"] for a in tables[main]["Associations"]] == [True]
    # In OVN: both default routes, each in its table, out of the gateway port.
    routes = {(r["route_table"], r["ip_prefix"]): r
              for r in nb_rows(cloud, "Logical_Router_Static_Route")
              if r["external_ids"].get("mallee:vpc-id") == vpc_id}
    private_rtb = next(t for t in tables if t not in (rtb, main))
    assert set(routes) == {(rtb, "0.0.0.0/0"), (main, "0.0.0.0/0"), (private_rtb, "0.0.0.0/0")}
    assert {r["output_port"] for r in routes.values()} == {f"mallee-lrp-{igw}"}
    (nat,) = ec2.describe_nat_gateways(NatGatewayIds=[out["nat_id"]])["NatGateways"]
    assert nat["State"] == "available"
    assert nat["NatGatewayAddresses"][0]["PublicIp"] == out["eip"]
    assert [(n["type"], n["external_ip"], n["logical_ip"]) for n in nb_rows(cloud, "NAT")
            if n["external_ids"].get("mallee:vpc-id") == vpc_id] == [
        ("snat", out["eip"], "10.70.2.0/24")]

    run(terraform, "plan", "-detailed-exitcode", log="plan")  # 0: nothing to change
    started = time.monotonic()
    run(terraform, "destroy", "-auto-approve", log="destroy")
    destroy_seconds = time.monotonic() - started
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []
    assert len(ec2.describe_internet_gateways()["InternetGateways"]) == 1  # the default's
    assert ec2.describe_addresses()["Addresses"] == []
    assert [n["State"] for n in ec2.describe_nat_gateways()["NatGateways"]] == ["deleted"]
    default = default_vpc_ids(ec2)  # in vpc mode the default VPC is real and stays
    for table in ("Logical_Router", "Logical_Switch", "Logical_Router_Port",
                  "Logical_Router_Static_Route", "DHCP_Options", "NAT"):
        assert not rows_beyond(cloud, table, default), table
    write_summary(f"terraform vpc: apply {apply_seconds:.1f} s, destroy "
                           f"{destroy_seconds:.1f} s; provider calls answered with an error: "
                           f"{failed_calls(terraform[1]) or 'none'}")
