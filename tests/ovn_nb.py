"""Reading a test cloud's OVN northbound database with ovn-nbctl (VPC mode tests)."""
import json
import subprocess

from mallee.ovn_central import OvnCentral


def nbctl(cloud, *args: str) -> str:
    nb = OvnCentral.of(cloud.settings).nb.remote
    out = subprocess.run(["ovn-nbctl", f"--db={nb}", *args], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def nb_rows(cloud, table: str) -> list[dict]:
    """A table of the NB database as a list of {column: value} (ovn-nbctl's JSON)."""
    data = json.loads(nbctl(cloud, "--format=json", "list", table))

    def value(v):
        if isinstance(v, list) and v and v[0] == "map":
            return {k: value(x) for k, x in v[1]}
        if isinstance(v, list) and v and v[0] == "set":
            return [value(x) for x in v[1]]
        if isinstance(v, list) and v and v[0] == "uuid":
            return v[1]
        return v
    return [{h: value(v) for h, v in zip(data["headings"], row)} for row in data["data"]]


def as_list(value) -> list:
    """ovn-nbctl's JSON writes a one-element set as the element itself."""
    return value if isinstance(value, list) else [value]


def by_mallee_id(cloud, table: str, key: str) -> dict[str, dict]:
    return {r["external_ids"][key]: r for r in nb_rows(cloud, table)
            if key in r["external_ids"]}


def default_vpc_ids(ec2) -> set[str]:
    """The ids of the account's default VPC and its parts, which in vpc mode are real
    OVN rows from the account's first call on (docs/vpc.md)."""
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]]
    if not vpcs:
        return set()
    by_vpc = [{"Name": "vpc-id", "Values": vpcs}]
    return {*vpcs,
            *(s["SubnetId"] for s in ec2.describe_subnets(Filters=by_vpc)["Subnets"]),
            *(t["RouteTableId"] for t in ec2.describe_route_tables(Filters=by_vpc)[
                "RouteTables"]),
            *(g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=[
                {"Name": "attachment.vpc-id", "Values": vpcs}])["InternetGateways"])}


def rows_beyond(cloud, table: str, ids: set[str]) -> list[dict]:
    """The table's mallee rows that name anything but `ids` (the account aside)."""
    return [r for r in nb_rows(cloud, table)
            if (named := {v for k, v in r["external_ids"].items()
                          if k.startswith("mallee:") and k != "mallee:account"})
            and not named <= ids]
