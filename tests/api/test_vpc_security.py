"""VPC mode's security (docs/vpc.md): security groups in own VPCs as OVN port
groups with ACLs, network ACLs as the subnets' switches' drop ACLs, VPC
attributes and secondary CIDRs; checked with boto3, awscli and ovn-nbctl on a
real NB database (ovsdb-server + ovn-northd of the test cloud)."""
import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from mallee.ovn_central import OvnCentral, missing_binaries
from tests.api.test_vpc_ovn import code
from tests.ovn_nb import by_mallee_id, nb_rows, nbctl

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"OVN not installed: {missing_binaries()} "
                                       "(scripts/host-deps.sh installs it)")


@pytest.fixture
def vpc(vec2):
    vpc_id = vec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    yield vpc_id
    for g in vec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]:
        if g["GroupName"] != "default":
            for other in vec2.describe_security_groups(
                    Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]:
                if other["IpPermissions"]:
                    vec2.revoke_security_group_ingress(GroupId=other["GroupId"],
                                                       IpPermissions=other["IpPermissions"])
    for g in vec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]:
        if g["GroupName"] != "default":
            vec2.delete_security_group(GroupId=g["GroupId"])
    for acl in vec2.describe_network_acls(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"]:
        if not acl["IsDefault"]:
            vec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
    for s in vec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        vec2.delete_subnet(SubnetId=s["SubnetId"])
    vec2.delete_vpc(VpcId=vpc_id)


def groups_of(vec2, vpc_id: str) -> dict[str, dict]:
    return {g["GroupName"]: g for g in vec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]}


def pg_name(group_id: str) -> str:
    return "mallee_" + group_id.replace("-", "_")


def port_groups(cloud) -> dict[str, dict]:
    return {r["name"]: r for r in nb_rows(cloud, "Port_Group")}


def acl_matches(cloud, group_id: str) -> set[tuple[str, str, str]]:
    return {(a["direction"], a["action"], a["match"]) for a in nb_rows(cloud, "ACL")
            if a["external_ids"].get("mallee:sg-id") == group_id}


def test_a_vpc_has_its_default_group_and_groups_are_per_vpc(vcloud, vec2, vpc):
    default = groups_of(vec2, vpc)["default"]
    assert default["VpcId"] == vpc and default["Description"] == "default VPC security group"
    assert default["IpPermissionsEgress"][0]["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"
    assert default["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == default["GroupId"]
    assert default["IpPermissions"][0]["UserIdGroupPairs"][0]["VpcId"] == vpc
    with pytest.raises(ClientError) as e:
        vec2.delete_security_group(GroupId=default["GroupId"])
    assert code(e) == "CannotDelete"

    # Names are unique per VPC: "web" in the VPC, and another "web" in the default one.
    web = vec2.create_security_group(GroupName="web", Description="web", VpcId=vpc,
                                     TagSpecifications=[{"ResourceType": "security-group",
                                                         "Tags": [{"Key": "t", "Value": "1"}]}])
    assert web["Tags"] == [{"Key": "t", "Value": "1"}]
    with pytest.raises(ClientError) as e:
        vec2.create_security_group(GroupName="web", Description="again", VpcId=vpc)
    assert code(e) == "InvalidGroup.Duplicate"
    with pytest.raises(ClientError) as e:
        vec2.create_security_group(GroupName="default", Description="again", VpcId=vpc)
    assert code(e) == "InvalidGroup.Duplicate"
    edge_web = vec2.create_security_group(GroupName="web", Description="edge web")["GroupId"]
    try:
        default_vpc = vec2.describe_vpcs(Filters=[{"Name": "is-default",
                                                   "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        by_id = {g["GroupId"]: g for g in vec2.describe_security_groups(
            GroupIds=[web["GroupId"], edge_web])["SecurityGroups"]}
        assert by_id[web["GroupId"]]["VpcId"] == vpc
        assert by_id[edge_web]["VpcId"] == default_vpc
        # A name names the default VPC's group, as in EC2.
        assert vec2.describe_security_groups(GroupNames=["web"])["SecurityGroups"][0][
            "GroupId"] == edge_web
        # Rules of a VPC group may name only groups of that VPC.
        with pytest.raises(ClientError) as e:
            vec2.authorize_security_group_ingress(GroupId=web["GroupId"], IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                 "UserIdGroupPairs": [{"GroupId": edge_web}]}])
        assert code(e) == "InvalidGroup.NotFound"
    finally:
        vec2.delete_security_group(GroupId=edge_web)
    with pytest.raises(ClientError) as e:
        vec2.create_security_group(GroupName="x", Description="x",
                                   VpcId="vpc-0123456789abcdef0")
    assert code(e) == "InvalidVpcID.NotFound"
    assert vec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [web["GroupId"]]}]
                              )["Tags"][0]["ResourceType"] == "security-group"


def test_rules_become_port_group_acls(vcloud, vec2, vpc):
    web = vec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    app = vec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    pg = pg_name(web)
    rows = port_groups(vcloud)
    assert rows[pg]["external_ids"] == {"mallee:sg-id": web, "mallee:vpc-id": vpc,
                                        "mallee:account": vcloud.admin.account_id}
    assert "mallee_pg_drop" in rows
    drops = {(a["direction"], a["priority"], a["match"]) for a in nb_rows(vcloud, "ACL")
             if a["external_ids"].get("mallee:role") == "drop" and a["action"] == "drop"}
    assert drops == {("from-lport", 1001, "inport == @mallee_pg_drop && ip"),
                     ("to-lport", 1001, "outport == @mallee_pg_drop && ip")}
    # A new group: EC2's allow-all egress rule, no ingress.
    assert acl_matches(vcloud, web) == {("from-lport", "allow-related", f"inport == @{pg} && ip4")}

    vec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 443,
         "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "UserIdGroupPairs": [{"GroupId": app}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    vec2.revoke_security_group_egress(GroupId=web, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    vec2.authorize_security_group_egress(GroupId=web, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
         "IpRanges": [{"CidrIp": "10.50.0.2/32"}]}])
    assert acl_matches(vcloud, web) == {
        ("to-lport", "allow-related",
         f"outport == @{pg} && ip4 && ip4.src == 192.0.2.0/24 && tcp.dst >= 80 && "
         "tcp.dst <= 443"),
        ("to-lport", "allow-related",
         f"outport == @{pg} && ip4 && ip4.src == ${pg_name(app)}_ip4 && tcp.dst == 22"),
        ("to-lport", "allow-related", f"outport == @{pg} && ip4 && icmp4 && icmp4.type == 8"),
        ("from-lport", "allow-related",
         f"inport == @{pg} && ip4 && ip4.dst == 10.50.0.2/32 && udp.dst == 53")}
    # ovn-northd compiles every one: the group has no ports yet (so no flows), so the
    # same matches go on a probe port group of our own with a port (a match northd
    # cannot parse gives no flow).
    assert_compiles(vcloud, pg, [(d, m) for d, _, m in acl_matches(vcloud, web)])
    assert_compiles(vcloud, "mallee_pg_drop", [
        (a["direction"], a["match"]) for a in nb_rows(vcloud, "ACL")
        if a["external_ids"].get("mallee:role") == "drop"])
    rules = vec2.describe_security_group_rules(Filters=[{"Name": "group-id",
                                                         "Values": [web]}])["SecurityGroupRules"]
    referenced = [r for r in rules if "ReferencedGroupInfo" in r]
    assert referenced[0]["ReferencedGroupInfo"] == {
        "GroupId": app, "UserId": vcloud.admin.account_id, "VpcId": vpc}
    assert {r["IsEgress"] for r in rules} == {True, False} and len(rules) == 4

    # The source group is referenced: it cannot go; a group in use by ports cannot either
    # (no instance ports yet: DependencyViolation for a rule's reference only).
    with pytest.raises(ClientError) as e:
        vec2.delete_security_group(GroupId=app)
    assert code(e) == "DependencyViolation"
    # A VPC with groups other than its default one cannot go.
    with pytest.raises(ClientError) as e:
        vec2.delete_vpc(VpcId=vpc)
    assert code(e) == "DependencyViolation"

    # Hand deletions in NB come back; an unknown Mallee-tagged port group goes.
    nbctl(vcloud, "pg-del", pg)
    assert vcloud.wait_for(lambda: len(acl_matches(vcloud, web)) == 4, timeout=10)
    acl = next(a for a in nb_rows(vcloud, "ACL")
               if a["external_ids"].get("mallee:sg-id") == web and "icmp4" in a["match"])
    nbctl(vcloud, "remove", "Port_Group", pg, "acls", acl["_uuid"])
    nbctl(vcloud, "pg-add", "mallee_sg_0000000000000dead", "--", "set", "Port_Group",
          "mallee_sg_0000000000000dead", 'external_ids:"mallee:sg-id"=sg-0000000000000dead')
    nbctl(vcloud, "pg-add", "someone_elses")
    assert vcloud.wait_for(lambda: len(acl_matches(vcloud, web)) == 4 and
                           "mallee_sg_0000000000000dead" not in port_groups(vcloud), timeout=10)
    assert "someone_elses" in port_groups(vcloud)
    nbctl(vcloud, "pg-del", "someone_elses")
    # Every port group gone at once (the drop group too): all come back.
    names = set(port_groups(vcloud))
    nbctl(vcloud, "--all", "destroy", "Port_Group")
    assert vcloud.wait_for(lambda: set(port_groups(vcloud)) == names and
                           len(acl_matches(vcloud, web)) == 4, timeout=10)

    vec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "UserIdGroupPairs": [{"GroupId": app}]}])
    vec2.delete_security_group(GroupId=app)
    assert pg_name(app) not in port_groups(vcloud)
    assert acl_matches(vcloud, app) == set()


def test_delete_vpc_takes_its_default_group_and_acl(vcloud, vec2):
    vpc_id = vec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    default = groups_of(vec2, vpc_id)["default"]["GroupId"]
    assert pg_name(default) in port_groups(vcloud)
    vec2.delete_vpc(VpcId=vpc_id)
    assert groups_of(vec2, vpc_id) == {}
    with pytest.raises(ClientError) as e:
        vec2.describe_security_groups(GroupIds=[default])
    assert code(e) == "InvalidGroup.NotFound"
    assert pg_name(default) not in port_groups(vcloud)
    assert vec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
                                      )["NetworkAcls"] == []
    assert not [r for r in nb_rows(vcloud, "Port_Group")
                if r["external_ids"].get("mallee:vpc-id") == vpc_id]
    assert by_mallee_id(vcloud, "Logical_Router", "mallee:vpc-id").get(vpc_id) is None


def sbctl(cloud, *args: str) -> str:
    sb = OvnCentral.of(cloud.settings).sb.remote
    out = subprocess.run(["ovn-sbctl", f"--db={sb}", *args], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def unparsed(cloud, datapath: str, inport: str) -> list[str]:
    """Logical flows that ovn-controller's parser refuses (ovn-trace parses every flow
    as ovn-controller does, and warns for each it cannot read: northd does not
    check, and ovn-controller leaves such a flow out, so the ACL silently does
    nothing)."""
    sb = OvnCentral.of(cloud.settings).sb.remote
    out = subprocess.run(["ovn-trace", f"--db={sb}", "--minimal", datapath,
                          f'inport == "{inport}"'], capture_output=True, text=True, timeout=30)
    return [line for line in out.stderr.splitlines() if "parsing expression failed" in line]


def assert_compiles(cloud, pg: str, acls: list[tuple[str, str]]) -> None:
    """ovn-northd turns each (direction, match) written for port group `pg` into a
    logical flow of the switch's ACL stage, on a probe port group with a port."""
    nbctl(cloud, "ls-add", "probe", "--", "lsp-add", "probe", "probe-port", "--",
          "lsp-set-addresses", "probe-port", "0a:00:00:00:00:01 192.0.2.9", "--",
          "pg-add", "probe_pg", "probe-port")
    try:
        probes = [match.replace(f"@{pg}", "@probe_pg") for _, match in acls]
        for (direction, _), probe in zip(acls, probes):
            nbctl(cloud, "--", "--id=@a", "create", "ACL", f"direction={direction}",
                  "priority=1002", f"match={json.dumps(probe)}", "action=allow-related",
                  "--", "add", "Port_Group", "probe_pg", "acls", "@a")

        def compiled() -> bool:
            flows = sbctl(cloud, "lflow-list", "probe").splitlines()
            return all(any(f"({probe})" in f and "_acl" in f for f in flows)
                       for probe in probes)
        assert cloud.wait_for(compiled, timeout=10), sbctl(cloud, "lflow-list", "probe")
        assert unparsed(cloud, "probe", "probe-port") == []
    finally:
        nbctl(cloud, "pg-del", "probe_pg", "--", "ls-del", "probe")


def acl_rows(cloud, subnet_id: str) -> set[tuple]:
    return {(r["direction"], r["priority"], r["action"], r["match"])
            for r in switch_acls(cloud, subnet_id)}


def default_rows(subnet_id: str) -> set[tuple]:
    """A subnet's ACLs under its VPC's default network ACL (rule 100 allows all)."""
    rows = set()
    for direction, side, peer in (("from-lport", "inport", "src"), ("to-lport", "outport", "dst")):
        edge = f'{side} == "mallee-rp-{subnet_id}"'
        rows |= {(direction, 32767, "allow", f"{edge} && ip4.{peer} == 169.254.169.254"),
                 (direction, 32667, "allow", f"{edge} && ip4"),
                 (direction, 0, "drop", f"{edge} && ip4")}
    return rows


def switch_acls(cloud, subnet_id: str) -> list[dict]:
    return [a for a in nb_rows(cloud, "ACL")
            if a["external_ids"].get("mallee:subnet-id") == subnet_id]


def test_network_acls(vcloud, vec2, vpc):
    subnet = vec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    acls = vec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "NetworkAcls"]
    assert len(acls) == 1 and acls[0]["IsDefault"] is True
    default = acls[0]
    assert [(e["RuleNumber"], e["RuleAction"], e["Egress"]) for e in default["Entries"]] == [
        (100, "allow", True), (32767, "deny", True), (100, "allow", False),
        (32767, "deny", False)]
    assert [a["SubnetId"] for a in default["Associations"]] == [subnet]
    assert acl_rows(vcloud, subnet) == default_rows(subnet)

    acl = vec2.create_network_acl(VpcId=vpc, TagSpecifications=[
        {"ResourceType": "network-acl", "Tags": [{"Key": "Name", "Value": "private"}]}])[
        "NetworkAcl"]
    acl_id = acl["NetworkAclId"]
    assert acl["IsDefault"] is False and acl["Tags"] == [{"Key": "Name", "Value": "private"}]
    assert [e["RuleNumber"] for e in acl["Entries"]] == [32767, 32767]
    vec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Egress=False,
                                  Protocol="6", RuleAction="deny", CidrBlock="0.0.0.0/0",
                                  PortRange={"From": 22, "To": 22})
    vec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=200, Egress=False,
                                  Protocol="-1", RuleAction="allow", CidrBlock="10.0.0.0/8")
    vec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=50, Egress=True,
                                  Protocol="-1", RuleAction="allow", CidrBlock="0.0.0.0/0")
    vec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=110, Egress=False,
                                  Protocol="1", RuleAction="allow", CidrBlock="0.0.0.0/0",
                                  IcmpTypeCode={"Type": 8, "Code": -1})
    base = dict(RuleNumber=300, Egress=False, Protocol="-1", RuleAction="allow",
                CidrBlock="0.0.0.0/0")
    errors = [({"RuleNumber": 100}, "NetworkAclEntryAlreadyExists"),
              ({"RuleNumber": 0}, "InvalidParameterValue"),
              ({"RuleNumber": 32767}, "InvalidParameterValue"),
              ({"Protocol": "6"}, "MissingParameter"),  # no PortRange
              ({"Protocol": "1"}, "MissingParameter"),  # no IcmpTypeCode
              ({"RuleAction": "maybe"}, "InvalidParameterValue"),
              ({"Protocol": "banana"}, "InvalidParameterValue"),
              ({"CidrBlock": "10.0.0.0/33"}, "InvalidParameterValue"),
              ({"Ipv6CidrBlock": "::/0"}, "UnsupportedOperation")]
    for changed, error in errors:
        with pytest.raises(ClientError) as e:
            vec2.create_network_acl_entry(NetworkAclId=acl_id, **{**base, **changed})
        assert code(e) == error, changed
    with pytest.raises(ClientError) as e:
        vec2.replace_network_acl_entry(NetworkAclId=acl_id, RuleNumber=999, Egress=False,
                                       Protocol="-1", RuleAction="allow", CidrBlock="0.0.0.0/0")
    assert code(e) == "InvalidNetworkAclEntry.NotFound"
    with pytest.raises(ClientError) as e:
        vec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=999, Egress=True)
    assert code(e) == "InvalidNetworkAclEntry.NotFound"
    with pytest.raises(ClientError) as e:
        vec2.create_network_acl_entry(NetworkAclId="acl-0123456789abcdef0", RuleNumber=1,
                                      Egress=True, Protocol="-1", RuleAction="allow",
                                      CidrBlock="0.0.0.0/0")
    assert code(e) == "InvalidNetworkAclID.NotFound"
    entries = {(e["RuleNumber"], e["Egress"]): e for e in vec2.describe_network_acls(
        NetworkAclIds=[acl_id])["NetworkAcls"][0]["Entries"]}
    assert entries[(100, False)]["PortRange"] == {"From": 22, "To": 22}
    assert entries[(100, False)]["Protocol"] == "6"
    assert entries[(110, False)]["IcmpTypeCode"] == {"Type": 8, "Code": -1}

    # Associate the subnet: its switch's ACLs at the router port become this ACL's.
    association = default["Associations"][0]["NetworkAclAssociationId"]
    new = vec2.replace_network_acl_association(AssociationId=association,
                                               NetworkAclId=acl_id)["NewAssociationId"]
    assert new.startswith("aclassoc-") and new != association
    assert [a["SubnetId"] for a in vec2.describe_network_acls(NetworkAclIds=[acl_id])[
        "NetworkAcls"][0]["Associations"]] == [subnet]
    rows = switch_acls(vcloud, subnet)
    switch = next(s for s in nb_rows(vcloud, "Logical_Switch")
                  if s["name"] == f"mallee-{subnet}")
    assert {r["_uuid"] for r in rows} <= set(switch["acls"] if isinstance(switch["acls"], list)
                                             else [switch["acls"]])
    rp_in, rp_out = f'inport == "mallee-rp-{subnet}"', f'outport == "mallee-rp-{subnet}"'
    assert acl_rows(vcloud, subnet) == {
        ("from-lport", 32767, "allow", f"{rp_in} && ip4.src == 169.254.169.254"),
        ("from-lport", 32667, "drop", f"{rp_in} && ip4 && tcp.dst == 22"),
        ("from-lport", 32657, "allow", f"{rp_in} && ip4 && icmp4 && icmp4.type == 8"),
        ("from-lport", 32567, "allow", f"{rp_in} && ip4 && ip4.src == 10.0.0.0/8"),
        ("from-lport", 0, "drop", f"{rp_in} && ip4"),
        ("to-lport", 32767, "allow", f"{rp_out} && ip4.dst == 169.254.169.254"),
        ("to-lport", 32717, "allow", f"{rp_out} && ip4"),
        ("to-lport", 0, "drop", f"{rp_out} && ip4")}
    # ovn-northd makes logical flows of them, and each parses as ovn-controller reads it.
    assert vcloud.wait_for(lambda: sum("tcp.dst == 22" in line and "drop" in line for line in
                                       sbctl(vcloud, "lflow-list", f"mallee-{subnet}")
                                       .splitlines()) >= 1, timeout=10)
    assert unparsed(vcloud, f"mallee-{subnet}", f"mallee-rp-{subnet}") == []
    # A hand deletion comes back.
    nbctl(vcloud, "acl-del", f"mallee-{subnet}")
    assert vcloud.wait_for(lambda: len(switch_acls(vcloud, subnet)) == 8, timeout=10)
    # The whole switch goes: it comes back with its network ACL's rows.
    expected = acl_rows(vcloud, subnet)
    nbctl(vcloud, "ls-del", f"mallee-{subnet}")
    assert vcloud.wait_for(lambda: acl_rows(vcloud, subnet) == expected and any(
        s["name"] == f"mallee-{subnet}" and len(s["acls"]) == 8
        for s in nb_rows(vcloud, "Logical_Switch")), timeout=10)

    # Replace an entry: the drops follow; the ACL cannot go while associated.
    vec2.replace_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Egress=False,
                                   Protocol="6", RuleAction="deny", CidrBlock="0.0.0.0/0",
                                   PortRange={"From": 22, "To": 23})
    assert any("tcp.dst >= 22 && tcp.dst <= 23" in r["match"]
               for r in switch_acls(vcloud, subnet))
    with pytest.raises(ClientError) as e:
        vec2.delete_network_acl(NetworkAclId=acl_id)
    assert code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:
        vec2.delete_network_acl(NetworkAclId=default["NetworkAclId"])
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        vec2.delete_vpc(VpcId=vpc)
    assert code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:
        vec2.replace_network_acl_association(AssociationId="aclassoc-0123456789abcdef0",
                                             NetworkAclId=acl_id)
    assert code(e) == "InvalidAssociationID.NotFound"

    # Back to the default ACL: its rows again; the other ACL can then be deleted.
    vec2.replace_network_acl_association(AssociationId=new,
                                         NetworkAclId=default["NetworkAclId"])
    assert acl_rows(vcloud, subnet) == default_rows(subnet)
    vec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Egress=False)
    vec2.delete_network_acl(NetworkAclId=acl_id)
    with pytest.raises(ClientError) as e:
        vec2.describe_network_acls(NetworkAclIds=[acl_id])
    assert code(e) == "InvalidNetworkAclID.NotFound"
    # A new subnet is associated with the VPC's default ACL.
    other = vec2.create_subnet(VpcId=vpc, CidrBlock="10.50.2.0/24")["Subnet"]["SubnetId"]
    assert sorted(a["SubnetId"] for a in vec2.describe_network_acls(
        Filters=[{"Name": "default", "Values": ["true"]},
                 {"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"][0]["Associations"]) == \
        sorted([subnet, other])


def test_vpc_attributes(vcloud, vec2, vpc):
    def value(attribute):
        key = attribute[0].upper() + attribute[1:]
        return vec2.describe_vpc_attribute(VpcId=vpc, Attribute=attribute)[key]["Value"]
    # EC2's defaults for a VPC that is not the default one.
    assert (value("enableDnsSupport"), value("enableDnsHostnames"),
            value("enableNetworkAddressUsageMetrics")) == (True, False, False)
    vec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    vec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": False})
    vec2.modify_vpc_attribute(VpcId=vpc, EnableNetworkAddressUsageMetrics={"Value": True})
    assert (value("enableDnsSupport"), value("enableDnsHostnames"),
            value("enableNetworkAddressUsageMetrics")) == (False, True, True)
    with pytest.raises(ClientError) as e:  # one at a time, as EC2
        vec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True},
                                  EnableDnsSupport={"Value": True})
    assert code(e) == "InvalidParameterCombination"
    default_vpc = vec2.describe_vpcs(Filters=[{"Name": "is-default",
                                               "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    # vpc mode: the default VPC is a real one, changed like any (AWS's values at first)
    def value_of(vpc_id, attribute):
        return vec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)[
            attribute[0].upper() + attribute[1:]]["Value"]

    assert value_of(default_vpc, "enableDnsHostnames") is True
    vec2.modify_vpc_attribute(VpcId=default_vpc, EnableDnsHostnames={"Value": False})
    assert value_of(default_vpc, "enableDnsHostnames") is False
    vec2.modify_vpc_attribute(VpcId=default_vpc, EnableDnsHostnames={"Value": True})
    with pytest.raises(ClientError) as e:
        vec2.modify_vpc_attribute(VpcId="vpc-0123456789abcdef0",
                                  EnableDnsHostnames={"Value": False})
    assert code(e) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as e:
        vec2.describe_vpc_attribute(VpcId="vpc-0123456789abcdef0", Attribute="enableDnsSupport")
    assert code(e) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as e:
        vec2.create_default_vpc()
    assert code(e) == "DefaultVpcAlreadyExists"


def test_secondary_cidr_blocks(vcloud, vec2, vpc):
    got = vec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.51.0.0/16")
    assert got["VpcId"] == vpc
    association = got["CidrBlockAssociation"]
    assert association["CidrBlock"] == "10.51.0.0/16"
    assert association["CidrBlockState"]["State"] == "associated"
    described = vec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    assert described["CidrBlock"] == "10.50.0.0/16"
    assert [a["CidrBlock"] for a in described["CidrBlockAssociationSet"]] == [
        "10.50.0.0/16", "10.51.0.0/16"]
    assert [v["VpcId"] for v in vec2.describe_vpcs(Filters=[
        {"Name": "cidr-block-association.cidr-block", "Values": ["10.51.0.0/16"]}])["Vpcs"]] \
        == [vpc]
    for cidr, error in (("10.50.128.0/17", "InvalidVpc.Range"),  # overlaps the primary
                        ("10.51.0.0/24", "InvalidVpc.Range"),  # overlaps the secondary
                        ("192.168.0.0/16", "InvalidVpc.Range"),  # another private range
                        ("10.60.0.0/29", "InvalidVpc.Range"),
                        ("10.60.0.1/16", "InvalidParameterValue")):
        with pytest.raises(ClientError) as e:
            vec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock=cidr)
        assert code(e) == error, cidr
    # A subnet in the secondary block; the block cannot go while it is there.
    subnet = vec2.create_subnet(VpcId=vpc, CidrBlock="10.51.3.0/24")["Subnet"]["SubnetId"]
    switches = by_mallee_id(vcloud, "Logical_Switch", "mallee:subnet-id")
    assert switches[subnet]["other_config"]["subnet"] == "10.51.3.0/24"
    with pytest.raises(ClientError) as e:
        vec2.disassociate_vpc_cidr_block(AssociationId=association["AssociationId"])
    assert code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:
        vec2.disassociate_vpc_cidr_block(
            AssociationId=described["CidrBlockAssociationSet"][0]["AssociationId"])
    assert code(e) == "OperationNotPermitted"
    with pytest.raises(ClientError) as e:
        vec2.disassociate_vpc_cidr_block(AssociationId="vpc-cidr-assoc-0123456789abcdef0")
    assert code(e) == "InvalidVpcCidrBlockAssociationID.NotFound"
    vec2.delete_subnet(SubnetId=subnet)
    gone = vec2.disassociate_vpc_cidr_block(AssociationId=association["AssociationId"])
    assert gone["CidrBlockAssociation"]["CidrBlockState"]["State"] == "disassociated"
    assert len(vec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlockAssociationSet"]) == 1
    with pytest.raises(ClientError) as e:  # the range left with it
        vec2.create_subnet(VpcId=vpc, CidrBlock="10.51.3.0/24")
    assert code(e) == "InvalidSubnet.Range"
    # Up to 5 blocks, the primary counted.
    for i in range(4):
        vec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock=f"10.{52 + i}.0.0/16")
    with pytest.raises(ClientError) as e:
        vec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.59.0.0/16")
    assert code(e) == "CidrLimitExceeded"


def test_accounts_are_apart(vcloud, vec2, vpc):
    """Another account's calls on this account's VPC parts: not found, nothing changes."""
    bob = vcloud.client("ec2", vcloud.new_account("bob-sec"))
    subnet = vec2.create_subnet(VpcId=vpc, CidrBlock="10.50.9.0/24")["Subnet"]["SubnetId"]
    group = vec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
    acl = vec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    default_acl = vec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}])[
        "NetworkAcls"][0]
    association = default_acl["Associations"][0]["NetworkAclAssociationId"]
    block = vec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.61.0.0/16")[
        "CidrBlockAssociation"]["AssociationId"]
    calls = [
        ("InvalidVpcID.NotFound", lambda: bob.create_security_group(
            GroupName="x", Description="x", VpcId=vpc)),
        ("InvalidGroup.NotFound", lambda: bob.delete_security_group(GroupId=group)),
        ("InvalidGroup.NotFound", lambda: bob.authorize_security_group_ingress(
            GroupId=group, IpPermissions=[{"IpProtocol": "-1",
                                           "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])),
        ("InvalidVpcID.NotFound", lambda: bob.create_network_acl(VpcId=vpc)),
        ("InvalidNetworkAclID.NotFound", lambda: bob.delete_network_acl(NetworkAclId=acl)),
        ("InvalidNetworkAclID.NotFound", lambda: bob.describe_network_acls(
            NetworkAclIds=[acl])),
        ("InvalidNetworkAclID.NotFound", lambda: bob.create_network_acl_entry(
            NetworkAclId=acl, RuleNumber=1, Egress=True, Protocol="-1", RuleAction="deny",
            CidrBlock="0.0.0.0/0")),
        ("InvalidNetworkAclID.NotFound", lambda: bob.delete_network_acl_entry(
            NetworkAclId=default_acl["NetworkAclId"], RuleNumber=100, Egress=True)),
        ("InvalidNetworkAclID.NotFound", lambda: bob.replace_network_acl_association(
            AssociationId=association, NetworkAclId=acl)),
        ("InvalidVpcID.NotFound", lambda: bob.modify_vpc_attribute(
            VpcId=vpc, EnableDnsHostnames={"Value": True})),
        ("InvalidVpcID.NotFound", lambda: bob.describe_vpc_attribute(
            VpcId=vpc, Attribute="enableDnsSupport")),
        ("InvalidVpcID.NotFound", lambda: bob.associate_vpc_cidr_block(
            VpcId=vpc, CidrBlock="10.62.0.0/16")),
        ("InvalidVpcCidrBlockAssociationID.NotFound", lambda: bob.disassociate_vpc_cidr_block(
            AssociationId=block)),
    ]
    for expected, call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == expected
    # Bob's own ACL cannot take this account's subnet either.
    bob_vpc = bob.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    try:
        bob_acl = bob.create_network_acl(VpcId=bob_vpc)["NetworkAcl"]["NetworkAclId"]
        with pytest.raises(ClientError) as e:
            bob.replace_network_acl_association(AssociationId=association,
                                                NetworkAclId=bob_acl)
        assert code(e) == "InvalidAssociationID.NotFound"
        assert group not in [g["GroupId"] for g in bob.describe_security_groups()[
            "SecurityGroups"]]
        bob.delete_network_acl(NetworkAclId=bob_acl)
    finally:
        bob.delete_vpc(VpcId=bob_vpc)
    assert vec2.describe_network_acls(NetworkAclIds=[default_acl["NetworkAclId"]])[
        "NetworkAcls"][0]["Associations"][0]["SubnetId"] == subnet
    assert len(vec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlockAssociationSet"]) == 2
    vec2.delete_subnet(SubnetId=subnet)


def test_awscli_and_tags(vcloud, vec2, vpc):
    """What a user types: a group in the VPC with a rule, a network ACL with entries
    (awscli's shorthand for PortRange and IcmpTypeCode), tags, the VPC attribute."""
    group = vcloud.aws("ec2", "create-security-group", "--group-name", "cli",
                       "--description", "cli", "--vpc-id", vpc)["GroupId"]
    vcloud.aws("ec2", "authorize-security-group-ingress", "--group-id", group,
               "--protocol", "tcp", "--port", "22", "--cidr", "198.51.100.0/24")
    listed = vcloud.aws("ec2", "describe-security-groups", "--filters",
                        f"Name=vpc-id,Values={vpc}")["SecurityGroups"]
    assert {g["GroupName"] for g in listed} == {"default", "cli"}
    assert (f"outport == @{pg_name(group)} && ip4 && ip4.src == 198.51.100.0/24 && "
            "tcp.dst == 22") in {m for _, _, m in acl_matches(vcloud, group)}

    acl = vcloud.aws("ec2", "create-network-acl", "--vpc-id", vpc)["NetworkAcl"]["NetworkAclId"]
    vcloud.aws("ec2", "create-network-acl-entry", "--network-acl-id", acl, "--ingress",
               "--rule-number", "100", "--protocol", "tcp", "--port-range", "From=22,To=22",
               "--cidr-block", "0.0.0.0/0", "--rule-action", "deny")
    vcloud.aws("ec2", "create-network-acl-entry", "--network-acl-id", acl, "--egress",
               "--rule-number", "100", "--protocol", "icmp", "--icmp-type-code",
               "Type=-1,Code=-1", "--cidr-block", "0.0.0.0/0", "--rule-action", "allow")
    entries = vcloud.aws("ec2", "describe-network-acls", "--network-acl-ids", acl)[
        "NetworkAcls"][0]["Entries"]
    assert {(e["RuleNumber"], e["Egress"], e["Protocol"]) for e in entries} == {
        (100, False, "6"), (100, True, "1"), (32767, False, "-1"), (32767, True, "-1")}
    vec2.create_tags(Resources=[acl, group], Tags=[{"Key": "tier", "Value": "private"}])
    tagged = vec2.describe_tags(Filters=[{"Name": "key", "Values": ["tier"]}])["Tags"]
    assert {(t["ResourceId"], t["ResourceType"]) for t in tagged} == {
        (acl, "network-acl"), (group, "security-group")}
    assert vec2.describe_network_acls(Filters=[{"Name": "tag:tier", "Values": ["private"]}])[
        "NetworkAcls"][0]["NetworkAclId"] == acl
    vcloud.aws("ec2", "delete-network-acl-entry", "--network-acl-id", acl, "--ingress",
               "--rule-number", "100")
    vcloud.aws("ec2", "modify-vpc-attribute", "--vpc-id", vpc, "--enable-dns-hostnames",
               "{\"Value\":true}")
    assert vcloud.aws("ec2", "describe-vpc-attribute", "--vpc-id", vpc, "--attribute",
                      "enableDnsHostnames")["EnableDnsHostnames"]["Value"] is True
    vcloud.aws("ec2", "delete-network-acl", "--network-acl-id", acl)
    assert vec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [acl]}])["Tags"] == []


def trace(cloud, datapath: str, microflow: str, minimal: bool = True) -> str:
    """ovn-trace's verdict on a packet through the logical pipelines (SB's flows); the
    packet is a new connection at each conntrack step."""
    sb = OvnCentral.of(cloud.settings).sb.remote
    out = subprocess.run(["ovn-trace", f"--db={sb}", *["--minimal"] * minimal,
                          *["--ct=new,trk"] * 4, datapath, microflow],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_network_acl_deny_wins_over_a_group_allow(vcloud, vec2, vpc):
    """ovn-trace through the real logical flows: a probe port (ours, untagged: the
    reconcile leaves it) in a probe port group carrying a VPC group's ACLs, on an own
    subnet's switch; packets from outside the subnet come in through the router port."""
    from cloud_controller.ovn.northbound import gateway_mac
    subnet = vec2.create_subnet(VpcId=vpc, CidrBlock="10.50.4.0/24")["Subnet"]["SubnetId"]
    web = vec2.create_security_group(GroupName="web", Description="w", VpcId=vpc)["GroupId"]
    vec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        for p in (22, 80)])
    switch = f"mallee-{subnet}"
    nbctl(vcloud, "lsp-add", switch, "probe-vm", "--", "lsp-set-addresses", "probe-vm",
          "0a:00:00:00:00:10 10.50.4.10", "--", "pg-add", "probe_pg", "probe-vm")
    try:
        for direction, _, match in acl_matches(vcloud, web) | {
                ("to-lport", "drop", "outport == @probe_pg && ip"),
                ("from-lport", "drop", "inport == @probe_pg && ip")}:
            action = "drop" if match.endswith("&& ip") else "allow-related"
            nbctl(vcloud, "--", "--id=@a", "create", "ACL", f"direction={direction}",
                  f"priority={1001 if action == 'drop' else 1002}",
                  f"match={json.dumps(match.replace('@' + pg_name(web), '@probe_pg'))}",
                  f"action={action}", "--", "add", "Port_Group", "probe_pg", "acls", "@a")

        def verdict(port: int) -> str:
            flow = (f'inport == "mallee-rp-{subnet}" && eth.src == {gateway_mac(subnet)} && '
                    f'eth.dst == 0a:00:00:00:00:10 && ip4.src == 192.0.2.1 && '
                    f'ip4.dst == 10.50.4.10 && ip.ttl == 64 && tcp.src == 40000 && '
                    f'tcp.dst == {port}')
            return "output" if 'output("probe-vm")' in trace(vcloud, switch, flow) else "drop"

        def out_verdict(port: int) -> str:  # from the guest, out of the subnet (udp)
            flow = (f'inport == "probe-vm" && eth.src == 0a:00:00:00:00:10 && '
                    f'eth.dst == {gateway_mac(subnet)} && ip4.src == 10.50.4.10 && '
                    f'ip4.dst == 192.0.2.1 && ip.ttl == 64 && udp.src == 40000 && '
                    f'udp.dst == {port}')
            routed = f'ingress(dp="mallee-{vpc}"'  # it reached the VPC's router
            return "output" if routed in trace(vcloud, switch, flow, minimal=False) else "drop"
        assert vcloud.wait_for(lambda: verdict(80) == "output", timeout=10)
        assert (verdict(22), verdict(443)) == ("output", "drop")  # the group decides
        assert out_verdict(53) == "output"  # a new group's allow-all egress

        acl = vec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
        vec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=False,
                                      Protocol="6", RuleAction="deny", CidrBlock="0.0.0.0/0",
                                      PortRange={"From": 22, "To": 22})
        vec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Egress=False,
                                      Protocol="-1", RuleAction="allow", CidrBlock="0.0.0.0/0")
        vec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=True,
                                      Protocol="17", RuleAction="allow", CidrBlock="0.0.0.0/0",
                                      PortRange={"From": 53, "To": 53})
        default = vec2.describe_network_acls(Filters=[
            {"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
        association = next(a["NetworkAclAssociationId"] for a in default["Associations"]
                           if a["SubnetId"] == subnet)
        new = vec2.replace_network_acl_association(AssociationId=association,
                                                   NetworkAclId=acl)["NewAssociationId"]
        assert vcloud.wait_for(lambda: verdict(22) == "drop", timeout=10)  # the ACL's deny
        assert (verdict(80), verdict(443)) == ("output", "drop")  # both must allow
        assert (out_verdict(53), out_verdict(123)) == ("output", "drop")  # outbound: `*`
        vec2.replace_network_acl_association(AssociationId=new,
                                             NetworkAclId=default["NetworkAclId"])
        assert vcloud.wait_for(lambda: verdict(22) == "output", timeout=10)
        vec2.delete_network_acl(NetworkAclId=acl)
    finally:
        nbctl(vcloud, "pg-del", "probe_pg", "--", "lsp-del", "probe-vm")
        vec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for p in (22, 80)])
