"""Security groups as boto3 and awscli users drive them."""

import pytest
from botocore.exceptions import ClientError


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def group(ec2, group_id):
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def test_default_group_lets_members_talk_and_allows_all_egress(ec2):
    default = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]
    assert default["VpcId"] == ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    (ingress,) = default["IpPermissions"]
    assert ingress["IpProtocol"] == "-1"
    assert [p["GroupId"] for p in ingress["UserIdGroupPairs"]] == [default["GroupId"]]
    (egress,) = default["IpPermissionsEgress"]
    assert egress["IpProtocol"] == "-1" and egress["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupName="default")
    assert code(e) == "CannotDelete"


def test_create_authorize_revoke_delete(ec2):
    made = ec2.create_security_group(GroupName="web", Description="web servers",
                                     TagSpecifications=[{"ResourceType": "security-group",
                                                         "Tags": [{"Key": "tier", "Value": "web"}]}])
    gid = made["GroupId"]
    assert made["Tags"] == [{"Key": "tier", "Value": "web"}]
    with pytest.raises(ClientError) as e:
        ec2.create_security_group(GroupName="web", Description="again")
    assert code(e) == "InvalidGroup.Duplicate"
    fresh = group(ec2, gid)
    assert fresh["IpPermissions"] == []
    assert fresh["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]},
        {"IpProtocol": "6", "FromPort": 80, "ToPort": 81,
         "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.168.1.7/32"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1,
         "UserIdGroupPairs": [{"GroupName": "default"}]},
    ])
    assert added["Return"] is True and len(added["SecurityGroupRules"]) == 4
    assert all(r["SecurityGroupRuleId"].startswith("sgr-") for r in added["SecurityGroupRules"])
    perms = {(p["IpProtocol"], p.get("FromPort")): p for p in group(ec2, gid)["IpPermissions"]}
    assert perms[("tcp", 22)]["IpRanges"] == [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]
    assert perms[("tcp", 80)]["ToPort"] == 81 and len(perms[("tcp", 80)]["IpRanges"]) == 2
    assert perms[("icmp", 8)]["UserIdGroupPairs"][0]["GroupName"] == "default"
    # The legacy flat form, and duplicates
    ec2.authorize_security_group_ingress(GroupName="web", IpProtocol="udp", FromPort=53,
                                         ToPort=53, CidrIp="10.1.0.0/16")
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22,
                                             ToPort=22, CidrIp="0.0.0.0/0")
    assert code(e) == "InvalidPermission.Duplicate"
    # DescribeSecurityGroupRules and filters
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
    assert len(rules) == 6  # 5 ingress + the default egress
    one = rules[0]["SecurityGroupRuleId"]
    assert ec2.describe_security_group_rules(SecurityGroupRuleIds=[one])["SecurityGroupRules"][
        0]["GroupId"] == gid
    found = ec2.describe_security_groups(Filters=[
        {"Name": "ip-permission.from-port", "Values": ["22"]},
        {"Name": "ip-permission.cidr", "Values": ["0.0.0.0/0"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [gid]
    assert [g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "tag:tier", "Values": ["web"]}])["SecurityGroups"]] == [gid]
    # Revoke, and revoke of a missing rule
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    with pytest.raises(ClientError) as e:
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert code(e) == "InvalidPermission.NotFound"
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert group(ec2, gid)["IpPermissionsEgress"] == []
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.delete_security_group(GroupId=gid)
    with pytest.raises(ClientError) as e:
        group(ec2, gid)
    assert code(e) == "InvalidGroup.NotFound"


def test_bad_rules_are_client_errors(ec2):
    gid = ec2.create_security_group(GroupName="bad-rules", Description="x")["GroupId"]
    cases = [
        ({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
          "IpRanges": [{"CidrIp": "300.0.0.0/8"}]}, "InvalidParameterValue"),
        ({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
          "IpRanges": [{"CidrIp": "nonsense"}]}, "InvalidParameterValue"),
        ({"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80,
          "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}, "InvalidParameterValue"),
        ({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 70000,
          "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}, "InvalidParameterValue"),
        ({"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}, "InvalidParameterValue"),
        ({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2,
          "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}, "InvalidGroup.NotFound"),
    ]
    for perm, expected in cases:
        with pytest.raises(ClientError) as e:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
        assert code(e) == expected, perm
    with pytest.raises(ClientError) as e:
        ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"])
    assert code(e) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.describe_security_groups(GroupIds=["nope"])
    assert code(e) == "InvalidGroupId.Malformed"
    with pytest.raises(ClientError) as e:
        ec2.create_security_group(GroupName="x", Description="y", VpcId="vpc-0123456789abcdef0")
    assert code(e) == "InvalidVpcID.NotFound"
    ec2.delete_security_group(GroupName="bad-rules")


def test_group_in_use_or_referenced_cannot_be_deleted(cloud, ec2, published):
    a = ec2.create_security_group(GroupName="in-use", Description="x")["GroupId"]
    b = ec2.create_security_group(GroupName="refers", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=b, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "UserIdGroupPairs": [{"GroupId": a}]}])
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=a)
    assert code(e) == "DependencyViolation"
    ec2.delete_security_group(GroupId=b)
    instance_id = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                                    SecurityGroupIds=[a])["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=a)
    assert code(e) == "DependencyViolation"
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert cloud.wait_for(lambda: ec2.describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated", timeout=30)
    ec2.delete_security_group(GroupId=a)


def test_other_accounts_groups_are_not_found(ec2, alice_ec2):
    mine = ec2.create_security_group(GroupName="private-grp", Description="x")["GroupId"]
    for call in (lambda: alice_ec2.describe_security_groups(GroupIds=[mine]),
                 lambda: alice_ec2.delete_security_group(GroupId=mine),
                 lambda: alice_ec2.authorize_security_group_ingress(
                     GroupId=mine, IpProtocol="tcp", FromPort=1, ToPort=1, CidrIp="0.0.0.0/0")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "InvalidGroup.NotFound"
    theirs = alice_ec2.create_security_group(GroupName="alice-grp", Description="x")["GroupId"]
    with pytest.raises(ClientError) as e:  # naming another account's group as a source
        alice_ec2.authorize_security_group_ingress(GroupId=theirs, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1,
             "UserIdGroupPairs": [{"GroupId": mine}]}])
    assert code(e) == "InvalidGroup.NotFound"
    names = {g["GroupName"] for g in alice_ec2.describe_security_groups()["SecurityGroups"]}
    assert "private-grp" not in names and "default" in names
    ec2.delete_security_group(GroupId=mine)


def test_awscli_opens_ssh_from_anywhere(cloud):
    def aws(*args):
        return cloud.aws("ec2", *args)
    gid = aws("create-security-group", "--group-name", "cli-ssh",
              "--description", "ssh from anywhere")["GroupId"]
    aws("authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp",
        "--port", "22", "--cidr", "0.0.0.0/0")
    shown = aws("describe-security-groups", "--group-ids", gid)["SecurityGroups"][0]
    assert shown["IpPermissions"][0]["FromPort"] == 22
    aws("revoke-security-group-ingress", "--group-id", gid, "--protocol", "tcp",
        "--port", "22", "--cidr", "0.0.0.0/0")
    aws("delete-security-group", "--group-id", gid)


def test_ip_protocol_numbers_and_names(ec2):
    """-1 (and "all") is every protocol; 0 is HOPOPT, a protocol like any
    other, never every protocol; names and numbers of one protocol are one."""
    gid = ec2.create_security_group(GroupName="protocols", Description="x")["GroupId"]
    given = [("0", "10.0.0.0/32", "0"), ("-1", "10.0.0.1/32", "-1"),
             ("all", "10.0.0.2/32", "-1"), ("tcp", "10.0.0.3/32", "tcp"),
             ("6", "10.0.0.4/32", "tcp")]
    for protocol, cidr, _ in given:
        added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": protocol, "FromPort": 443, "ToPort": 443,
             "IpRanges": [{"CidrIp": cidr}]}])
        assert added["Return"] is True
    described = {r["CidrIp"]: p["IpProtocol"]
                 for p in group(ec2, gid)["IpPermissions"] for r in p["IpRanges"]}
    assert described == {cidr: stored for _, cidr, stored in given}
    rules = {r["CidrIpv4"]: r["IpProtocol"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
        if not r["IsEgress"]}
    assert rules == described
    for bad in ("300", "256", "²", "-2", "hopopt"):
        with pytest.raises(ClientError) as e:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
                {"IpProtocol": bad, "IpRanges": [{"CidrIp": "10.9.9.9/32"}]}])
        assert code(e) == "InvalidParameterValue", bad
        assert f"Invalid value '{bad}' for IP protocol" in e.value.response["Error"]["Message"]
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "0", "IpRanges": [{"CidrIp": "10.0.0.0/32"}]}])
    left = {p["IpProtocol"] for p in group(ec2, gid)["IpPermissions"]}
    assert left == {"-1", "tcp"}


def test_ipv6_and_prefix_list_rules_are_kept_returned_and_revoked(ec2):
    """Issue 12: IPv6 ranges and prefix lists are rules like any other (guests here have
    no IPv6, so on the data plane they match nothing, but the API keeps them)."""
    gid = ec2.create_security_group(GroupName="v6", Description="ipv6 rules")["GroupId"]
    # AWS's defaults in a VPC without an IPv6 block: all IPv4 egress, nothing for ::/0,
    # so Terraform's revoke of a default ::/0 egress is InvalidPermission.NotFound.
    with pytest.raises(ClientError) as e:
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "-1", "FromPort": 0, "ToPort": 0, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    assert code(e) == "InvalidPermission.NotFound"
    added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
         "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "web v6"}],
         "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0"}]}])
    kinds = {(r.get("CidrIpv6"), r.get("PrefixListId")) for r in added["SecurityGroupRules"]}
    assert kinds == {(None, "pl-0123456789abcdef0"), ("::/0", None)}
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}])
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}])
    assert code(e) == "InvalidPermission.Duplicate"
    fresh = group(ec2, gid)
    (ingress,) = fresh["IpPermissions"]
    assert ingress["Ipv6Ranges"] == [{"CidrIpv6": "::/0", "Description": "web v6"}]
    assert ingress["PrefixListIds"] == [{"PrefixListId": "pl-0123456789abcdef0"}]
    assert ingress["IpRanges"] == []
    egress = {p["IpProtocol"]: p for p in fresh["IpPermissionsEgress"]}
    assert egress["-1"]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert egress["-1"]["Ipv6Ranges"] == [{"CidrIpv6": "2001:db8::/32"}]
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
    assert {r.get("CidrIpv6") for r in rules} == {None, "::/0", "2001:db8::/32"}
    assert {r.get("PrefixListId") for r in rules} == {None, "pl-0123456789abcdef0"}
    found = ec2.describe_security_groups(Filters=[
        {"Name": "ip-permission.ipv6-cidr", "Values": ["::/0"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [gid]
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1,
             "Ipv6Ranges": [{"CidrIpv6": "10.0.0.0/8"}]}])
    assert code(e) == "InvalidParameterValue"
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
         "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0"}]}])
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}])
    fresh = group(ec2, gid)
    assert fresh["IpPermissions"] == []
    assert [p["Ipv6Ranges"] for p in fresh["IpPermissionsEgress"]] == [[]]
    ec2.delete_security_group(GroupId=gid)
