"""VPC mode (docs/vpc.md): network interfaces as resources of their own, through
boto3 on a vpc-mode cloud (fake guests, real NB): CreateNetworkInterface with
chosen, listed and counted addresses; the instance's primary interface as one
of them; RunInstances with several NetworkInterfaces (new and existing ones),
each its own Logical_Switch_Port (secondary addresses in `addresses` and
`port_security`) in its own groups' port groups; Assign/Unassign, Modify and
Describe*Attribute; the subnet's and groups' dependencies; TerminateInstances
deleting or detaching; attach/detach on a stopped EBS-backed instance; EC2's
error codes; other accounts kept out."""
import pytest
from botocore.exceptions import ClientError

from cloud_controller.api.frontdoor import CLOUD
from mallee.ovn_central import missing_binaries
from tests.api.test_volumes import new_volume
from tests.ovn_nb import as_list, by_mallee_id, nb_rows

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"OVN not installed: {missing_binaries()}")

FAST = {"Delay": 1, "MaxAttempts": 60}


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def error(call, **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return code(e)


@pytest.fixture(scope="module")
def net(vec2):
    """A VPC with two subnets in the first zone, a group of its own, and another VPC."""
    vpc = vec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    a = vec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/28")["Subnet"]["SubnetId"]
    b = vec2.create_subnet(VpcId=vpc, CidrBlock="10.50.2.0/28")["Subnet"]["SubnetId"]
    web = vec2.create_security_group(GroupName="web", Description="web",
                                     VpcId=vpc)["GroupId"]
    default = vec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    other = vec2.create_vpc(CidrBlock="10.51.0.0/16")["Vpc"]["VpcId"]
    other_sg = vec2.create_security_group(GroupName="o", Description="o",
                                          VpcId=other)["GroupId"]
    return {"vpc": vpc, "a": a, "b": b, "web": web, "default": default, "other_sg": other_sg}


def ports(cloud) -> dict[str, dict]:
    """The instance ports in NB, by interface id."""
    return by_mallee_id(cloud, "Logical_Switch_Port", "mallee:interface-id")


def port_groups(cloud) -> dict[str, set[str]]:
    """{security group id: names of the ports in its port group}."""
    names = {r["_uuid"]: r["name"] for r in nb_rows(cloud, "Logical_Switch_Port")}
    return {r["external_ids"]["mallee:sg-id"]: {names[p] for p in as_list(r["ports"]) if p}
            for r in nb_rows(cloud, "Port_Group") if "mallee:sg-id" in r["external_ids"]}


def eni(vec2, eni_id: str) -> dict:
    return vec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])[
        "NetworkInterfaces"][0]


def available(vec2, subnet_id: str) -> int:
    return vec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
        "AvailableIpAddressCount"]


def test_create_describe_and_delete(vcloud, vec2, net):
    before = available(vec2, net["a"])
    made = vec2.create_network_interface(
        SubnetId=net["a"], Description="spare", Groups=[net["web"]],
        SecondaryPrivateIpAddressCount=2,
        TagSpecifications=[{"ResourceType": "network-interface",
                            "Tags": [{"Key": "role", "Value": "spare"}]}])["NetworkInterface"]
    eni_id = made["NetworkInterfaceId"]
    assert eni_id.startswith("eni-") and made["Status"] == "available"
    assert made["SubnetId"] == net["a"] and made["VpcId"] == net["vpc"]
    assert made["Description"] == "spare" and made["SourceDestCheck"] is True
    assert made["AvailabilityZone"] == "mallee-1a" and "Attachment" not in made
    assert [g["GroupId"] for g in made["Groups"]] == [net["web"]]
    assert made["PrivateIpAddress"] == "10.50.1.4"
    assert [(a["PrivateIpAddress"], a["Primary"]) for a in made["PrivateIpAddresses"]] == \
        [("10.50.1.4", True), ("10.50.1.5", False), ("10.50.1.6", False)]
    assert made["TagSet"] == [{"Key": "role", "Value": "spare"}]
    assert available(vec2, net["a"]) == before - 3
    # an unattached interface is no port in OVN
    assert eni_id not in ports(vcloud)

    # chosen addresses, primary by PrivateIpAddresses; no group: the VPC's default
    chosen = vec2.create_network_interface(SubnetId=net["a"], PrivateIpAddresses=[
        {"PrivateIpAddress": "10.50.1.10", "Primary": False},
        {"PrivateIpAddress": "10.50.1.9", "Primary": True}])["NetworkInterface"]
    assert chosen["PrivateIpAddress"] == "10.50.1.9"
    assert [a["PrivateIpAddress"] for a in chosen["PrivateIpAddresses"]] == \
        ["10.50.1.9", "10.50.1.10"]
    assert [g["GroupId"] for g in chosen["Groups"]] == [net["default"]]

    listed = vec2.describe_network_interfaces(Filters=[
        {"Name": "subnet-id", "Values": [net["a"]]},
        {"Name": "status", "Values": ["available"]}])["NetworkInterfaces"]
    assert {i["NetworkInterfaceId"] for i in listed} >= {eni_id, chosen["NetworkInterfaceId"]}
    for filters, expected in [
        ([{"Name": "vpc-id", "Values": [net["vpc"]]}], {eni_id, chosen["NetworkInterfaceId"]}),
        ([{"Name": "group-id", "Values": [net["web"]]}], {eni_id}),
        ([{"Name": "private-ip-address", "Values": ["10.50.1.9"]}],
         {chosen["NetworkInterfaceId"]}),
        ([{"Name": "addresses.private-ip-address", "Values": ["10.50.1.6"]}], {eni_id}),
        ([{"Name": "tag:role", "Values": ["spare"]}], {eni_id}),
        ([{"Name": "description", "Values": ["spare"]}], {eni_id}),
    ]:
        found = {i["NetworkInterfaceId"] for i in vec2.describe_network_interfaces(
            Filters=filters)["NetworkInterfaces"]}
        assert expected <= found and (found - expected) & {eni_id, chosen[
            "NetworkInterfaceId"]} == set(), filters

    # EC2's errors
    assert error(vec2.create_network_interface, SubnetId="subnet-0123456789abcdef0") == \
        "InvalidSubnetID.NotFound"
    assert error(vec2.create_network_interface, SubnetId=net["a"],
                 PrivateIpAddress="10.50.1.9") == "InvalidIPAddress.InUse"
    assert error(vec2.create_network_interface, SubnetId=net["a"],
                 PrivateIpAddress="10.50.2.9") == "InvalidParameterValue"
    assert error(vec2.create_network_interface, SubnetId=net["a"],
                 PrivateIpAddress="10.50.1.2") == "InvalidParameterValue"
    assert error(vec2.create_network_interface, SubnetId=net["a"],
                 Groups=[net["other_sg"]]) == "InvalidParameter"
    assert error(vec2.create_network_interface, SubnetId=net["a"],
                 SecondaryPrivateIpAddressCount=20) == "PrivateIpAddressLimitExceeded"
    assert error(vec2.create_network_interface, SubnetId=net["a"], PrivateIpAddresses=[
        {"PrivateIpAddress": "10.50.1.11", "Primary": True},
        {"PrivateIpAddress": "10.50.1.12", "Primary": True}]) == "InvalidParameterValue"
    assert error(vec2.describe_network_interfaces,
                 NetworkInterfaceIds=["eni-0123456789abcdef0"]) == \
        "InvalidNetworkInterfaceID.NotFound"

    # the group in use by an interface cannot go
    assert error(vec2.delete_security_group, GroupId=net["web"]) == "DependencyViolation"
    vec2.delete_network_interface(NetworkInterfaceId=eni_id)
    vec2.delete_network_interface(NetworkInterfaceId=chosen["NetworkInterfaceId"])
    assert error(vec2.delete_network_interface, NetworkInterfaceId=eni_id) == \
        "InvalidNetworkInterfaceID.NotFound"
    assert available(vec2, net["a"]) == before


def test_secondary_addresses_assign_and_unassign(vcloud, vec2, net):
    eni_id = vec2.create_network_interface(SubnetId=net["b"])["NetworkInterface"][
        "NetworkInterfaceId"]
    answer = vec2.assign_private_ip_addresses(NetworkInterfaceId=eni_id,
                                              SecondaryPrivateIpAddressCount=2)
    assert [a["PrivateIpAddress"] for a in answer["AssignedPrivateIpAddresses"]] == \
        ["10.50.2.5", "10.50.2.6"]
    vec2.assign_private_ip_addresses(NetworkInterfaceId=eni_id,
                                     PrivateIpAddresses=["10.50.2.12"])
    assert [a["PrivateIpAddress"] for a in eni(vec2, eni_id)["PrivateIpAddresses"]] == \
        ["10.50.2.4", "10.50.2.5", "10.50.2.6", "10.50.2.12"]
    other = vec2.create_network_interface(SubnetId=net["b"])["NetworkInterface"][
        "NetworkInterfaceId"]
    assert eni(vec2, other)["PrivateIpAddress"] == "10.50.2.7"
    assert error(vec2.assign_private_ip_addresses, NetworkInterfaceId=other,
                 PrivateIpAddresses=["10.50.2.12"]) == "InvalidIPAddress.InUse"
    # AllowReassignment moves a secondary address from the account's other interface
    vec2.assign_private_ip_addresses(NetworkInterfaceId=other,
                                     PrivateIpAddresses=["10.50.2.12"], AllowReassignment=True)
    assert "10.50.2.12" in [a["PrivateIpAddress"] for a in
                            eni(vec2, other)["PrivateIpAddresses"]]
    assert "10.50.2.12" not in [a["PrivateIpAddress"] for a in
                                eni(vec2, eni_id)["PrivateIpAddresses"]]
    vec2.unassign_private_ip_addresses(NetworkInterfaceId=eni_id,
                                       PrivateIpAddresses=["10.50.2.5"])
    assert [a["PrivateIpAddress"] for a in eni(vec2, eni_id)["PrivateIpAddresses"]] == \
        ["10.50.2.4", "10.50.2.6"]
    for kwargs, expected in [
        (dict(PrivateIpAddresses=["10.50.2.4"]), "InvalidParameterValue"),  # the primary
        (dict(PrivateIpAddresses=["10.50.2.13"]), "InvalidParameterValue"),  # not its own
    ]:
        assert error(vec2.unassign_private_ip_addresses, NetworkInterfaceId=eni_id,
                     **kwargs) == expected, kwargs
    for kwargs, expected in [
        (dict(), "MissingParameter"),
        (dict(PrivateIpAddresses=["10.50.2.13"], SecondaryPrivateIpAddressCount=1),
         "InvalidParameterCombination"),
        (dict(PrivateIpAddresses=["10.50.1.13"]), "InvalidParameterValue"),
        (dict(SecondaryPrivateIpAddressCount=9), "PrivateIpAddressLimitExceeded"),
    ]:
        assert error(vec2.assign_private_ip_addresses, NetworkInterfaceId=eni_id,
                     **kwargs) == expected, kwargs
    for i in (eni_id, other):
        vec2.delete_network_interface(NetworkInterfaceId=i)


def test_several_interfaces_at_launch(vcloud, vec2, vimage, net):
    spare = vec2.create_network_interface(SubnetId=net["a"], Groups=[net["web"]],
                                          Description="existing")["NetworkInterface"]
    spare_id = spare["NetworkInterfaceId"]
    instance = vec2.run_instances(
        ImageId=vimage, MinCount=1, MaxCount=1, InstanceType="m1.small",
        TagSpecifications=[{"ResourceType": "network-interface",
                            "Tags": [{"Key": "made", "Value": "at-launch"}]}],
        NetworkInterfaces=[
            {"DeviceIndex": 2, "NetworkInterfaceId": spare_id},
            {"DeviceIndex": 0, "SubnetId": net["a"], "PrivateIpAddress": "10.50.1.8",
             "SecondaryPrivateIpAddressCount": 1},
            {"DeviceIndex": 1, "SubnetId": net["b"], "Groups": [net["web"]],
             "PrivateIpAddresses": [{"PrivateIpAddress": "10.50.2.9", "Primary": True},
                                    {"PrivateIpAddress": "10.50.2.10", "Primary": False}],
             "DeleteOnTermination": False},
        ])["Instances"][0]
    iid = instance["InstanceId"]
    nics = instance["NetworkInterfaces"]
    assert [n["Attachment"]["DeviceIndex"] for n in nics] == [0, 1, 2]
    primary, second, third = nics
    assert instance["PrivateIpAddress"] == "10.50.1.8" == primary["PrivateIpAddress"]
    assert [a["PrivateIpAddress"] for a in primary["PrivateIpAddresses"]][0] == "10.50.1.8"
    assert len(primary["PrivateIpAddresses"]) == 2
    assert [g["GroupId"] for g in primary["Groups"]] == [net["default"]]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [net["default"]]
    assert second["SubnetId"] == net["b"] and second["PrivateIpAddress"] == "10.50.2.9"
    assert [a["PrivateIpAddress"] for a in second["PrivateIpAddresses"]] == \
        ["10.50.2.9", "10.50.2.10"]
    assert [g["GroupId"] for g in second["Groups"]] == [net["web"]]
    assert (primary["Attachment"]["DeleteOnTermination"],
            second["Attachment"]["DeleteOnTermination"],
            third["Attachment"]["DeleteOnTermination"]) == (True, False, False)
    assert third["NetworkInterfaceId"] == spare_id
    assert len({n["MacAddress"] for n in nics}) == 3

    # DescribeNetworkInterfaces shows the primary with its attachment, and the others
    attached = vec2.describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": [iid]}])["NetworkInterfaces"]
    by_index = {i["Attachment"]["DeviceIndex"]: i for i in attached}
    assert set(by_index) == {0, 1, 2}
    assert by_index[0]["Status"] == "in-use" and by_index[0]["Attachment"]["InstanceId"] == iid
    assert by_index[0]["TagSet"] == [{"Key": "made", "Value": "at-launch"}]
    assert by_index[2]["TagSet"] == [] and by_index[2]["Description"] == "existing"
    attribute = vec2.describe_network_interface_attribute(
        NetworkInterfaceId=by_index[0]["NetworkInterfaceId"], Attribute="attachment")
    assert attribute["Attachment"]["DeleteOnTermination"] is True

    # each interface is its own port: its MAC, its addresses, its groups
    lsps = ports(vcloud)
    for nic in nics:
        port = lsps[nic["NetworkInterfaceId"]]
        want = " ".join([nic["MacAddress"]] + [a["PrivateIpAddress"]
                                               for a in nic["PrivateIpAddresses"]])
        assert as_list(port["addresses"]) == [want] == as_list(port["port_security"])
        assert port["external_ids"]["mallee:instance-id"] == iid
        assert port["external_ids"]["mallee:subnet-id"] == nic["SubnetId"]
    switches = by_mallee_id(vcloud, "Logical_Switch", "mallee:subnet-id")
    assert lsps[second["NetworkInterfaceId"]]["_uuid"] in as_list(switches[net["b"]]["ports"])
    groups = port_groups(vcloud)
    names = {n["NetworkInterfaceId"]: f"mallee-{n['NetworkInterfaceId']}" for n in nics}
    assert names[primary["NetworkInterfaceId"]] in groups[net["default"]]
    assert names[primary["NetworkInterfaceId"]] not in groups[net["web"]]
    assert {names[second["NetworkInterfaceId"]], names[spare_id]} <= groups[net["web"]]

    # DescribeInstances filters over every interface
    for name, value in [("network-interface.addresses.private-ip-address", "10.50.2.10"),
                        ("network-interface.network-interface-id", spare_id),
                        ("network-interface.subnet-id", net["b"])]:
        found = vec2.describe_instances(Filters=[{"Name": name, "Values": [value]}])
        assert [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]] == \
            [iid], name

    # an interface's own group set moves its port between port groups
    vec2.modify_network_interface_attribute(NetworkInterfaceId=second["NetworkInterfaceId"],
                                            Groups=[net["default"]])
    groups = port_groups(vcloud)
    assert names[second["NetworkInterfaceId"]] in groups[net["default"]]
    assert names[second["NetworkInterfaceId"]] not in groups[net["web"]]
    # the primary's group set is the instance's groupSet
    vec2.modify_network_interface_attribute(NetworkInterfaceId=primary["NetworkInterfaceId"],
                                            Groups=[net["web"]])
    assert [g["GroupId"] for g in vec2.describe_instance_attribute(
        InstanceId=iid, Attribute="groupSet")["Groups"]] == [net["web"]]
    assert names[primary["NetworkInterfaceId"]] in port_groups(vcloud)[net["web"]]
    # a secondary address assigned to an attached interface joins its port at once
    vec2.assign_private_ip_addresses(NetworkInterfaceId=second["NetworkInterfaceId"],
                                     PrivateIpAddresses=["10.50.2.11"])
    assert as_list(ports(vcloud)[second["NetworkInterfaceId"]]["addresses"])[0].endswith(
        " 10.50.2.9 10.50.2.10 10.50.2.11")

    # attributes
    vec2.modify_network_interface_attribute(NetworkInterfaceId=second["NetworkInterfaceId"],
                                            Description={"Value": "backend"})
    vec2.modify_network_interface_attribute(NetworkInterfaceId=second["NetworkInterfaceId"],
                                            SourceDestCheck={"Value": False})
    vec2.modify_network_interface_attribute(
        NetworkInterfaceId=second["NetworkInterfaceId"],
        Attachment={"AttachmentId": second["Attachment"]["AttachmentId"],
                    "DeleteOnTermination": True})
    got = eni(vec2, second["NetworkInterfaceId"])
    assert (got["Description"], got["SourceDestCheck"],
            got["Attachment"]["DeleteOnTermination"]) == ("backend", False, True)
    # sourceDestCheck off: the port may send from any address (its MAC only)
    assert as_list(ports(vcloud)[second["NetworkInterfaceId"]]["port_security"]) == \
        [second["MacAddress"]]
    # the primary interface's is the instance's attribute
    vec2.modify_network_interface_attribute(NetworkInterfaceId=primary["NetworkInterfaceId"],
                                            SourceDestCheck={"Value": False})
    assert vec2.describe_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")[
        "SourceDestCheck"]["Value"] is False
    assert eni(vec2, primary["NetworkInterfaceId"])["SourceDestCheck"] is False
    assert as_list(ports(vcloud)[primary["NetworkInterfaceId"]]["port_security"]) == \
        [primary["MacAddress"]]
    vec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": True})
    assert len(as_list(ports(vcloud)[primary["NetworkInterfaceId"]]["port_security"])[0]
               .split()) == 3  # MAC, the primary and the secondary address again
    for attribute, key in [("description", "Description"), ("groupSet", "Groups"),
                           ("sourceDestCheck", "SourceDestCheck")]:
        assert key in vec2.describe_network_interface_attribute(
            NetworkInterfaceId=second["NetworkInterfaceId"], Attribute=attribute)
    vec2.modify_network_interface_attribute(
        NetworkInterfaceId=second["NetworkInterfaceId"],
        Attachment={"AttachmentId": second["Attachment"]["AttachmentId"],
                    "DeleteOnTermination": False})

    # EC2's errors on a running instance's interfaces
    assert error(vec2.delete_network_interface, NetworkInterfaceId=spare_id) == \
        "InvalidNetworkInterface.InUse"
    assert error(vec2.detach_network_interface,
                 AttachmentId=primary["Attachment"]["AttachmentId"]) == "OperationNotPermitted"
    assert error(vec2.detach_network_interface, AttachmentId="eni-attach-0123456789abcdef0") \
        == "InvalidAttachmentID.NotFound"
    extra = vec2.create_network_interface(SubnetId=net["a"])["NetworkInterface"][
        "NetworkInterfaceId"]
    assert error(vec2.attach_network_interface, NetworkInterfaceId=extra, InstanceId=iid,
                 DeviceIndex=1) == "InvalidParameterValue"  # index 1 is taken
    assert error(vec2.attach_network_interface, NetworkInterfaceId=spare_id, InstanceId=iid,
                 DeviceIndex=5) == "InvalidNetworkInterface.InUse"
    # no hot plug yet: a running instance's interfaces change only while it is stopped
    assert error(vec2.attach_network_interface, NetworkInterfaceId=extra, InstanceId=iid,
                 DeviceIndex=3) == "UnsupportedOperation"
    assert error(vec2.detach_network_interface,
                 AttachmentId=third["Attachment"]["AttachmentId"]) == "UnsupportedOperation"
    assert error(vec2.modify_network_interface_attribute, NetworkInterfaceId=extra,
                 Description={"Value": "x"}, SourceDestCheck={"Value": True}) == \
        "InvalidParameterCombination"
    assert error(vec2.run_instances, ImageId=vimage, MinCount=1, MaxCount=1,
                 NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": spare_id}]) == \
        "InvalidNetworkInterface.InUse"
    # the subnets hold interfaces: no delete; the groups they use: no delete
    assert error(vec2.delete_subnet, SubnetId=net["b"]) == "DependencyViolation"

    # terminate: DeleteOnTermination ones go, the others are detached (available)
    vec2.terminate_instances(InstanceIds=[iid])
    assert error(vec2.describe_network_interfaces,
                 NetworkInterfaceIds=[primary["NetworkInterfaceId"]]) == \
        "InvalidNetworkInterfaceID.NotFound"
    for kept in (second["NetworkInterfaceId"], spare_id):
        got = eni(vec2, kept)
        assert got["Status"] == "available" and "Attachment" not in got
        assert kept not in ports(vcloud)
    assert [g["GroupId"] for g in eni(vec2, second["NetworkInterfaceId"])["Groups"]] == \
        [net["default"]]
    assert not set(names.values()) & set().union(*port_groups(vcloud).values())
    # an available interface as an instance's primary: the instance takes its address,
    # MAC and groups
    vec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=FAST)
    again = vec2.run_instances(ImageId=vimage, MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "NetworkInterfaceId": spare_id}])["Instances"][0]
    assert again["PrivateIpAddress"] == spare["PrivateIpAddress"]
    assert again["SubnetId"] == net["a"]
    assert [g["GroupId"] for g in again["SecurityGroups"]] == [net["web"]]
    assert again["NetworkInterfaces"][0]["MacAddress"] == spare["MacAddress"]
    assert again["NetworkInterfaces"][0]["Attachment"]["DeleteOnTermination"] is False
    assert ports(vcloud)[spare_id]["external_ids"]["mallee:instance-id"] == \
        again["InstanceId"]
    vec2.terminate_instances(InstanceIds=[again["InstanceId"]])
    got = eni(vec2, spare_id)
    assert got["Status"] == "available" and [g["GroupId"] for g in got["Groups"]] == \
        [net["web"]]
    vec2.get_waiter("instance_terminated").wait(InstanceIds=[again["InstanceId"]],
                                                WaiterConfig=FAST)
    for left in (spare_id, second["NetworkInterfaceId"], extra):
        vec2.delete_network_interface(NetworkInterfaceId=left)


def test_launch_errors(vec2, vimage, net):
    for interfaces, expected in [
        ([{"DeviceIndex": 1, "SubnetId": net["a"]}], "InvalidParameterValue"),
        ([{"DeviceIndex": 0, "SubnetId": net["a"]}, {"DeviceIndex": 0, "SubnetId": net["b"]}],
         "InvalidParameterValue"),
        ([{"DeviceIndex": 0, "SubnetId": net["a"]},
          {"DeviceIndex": 1, "SubnetId": net["b"], "Groups": [net["other_sg"]]}],
         "InvalidParameter"),
        ([{"DeviceIndex": 0, "SubnetId": net["a"]},
          {"DeviceIndex": 1, "NetworkInterfaceId": "eni-0123456789abcdef0"}],
         "InvalidNetworkInterfaceID.NotFound"),
        ([{"DeviceIndex": 0, "SubnetId": net["a"], "PrivateIpAddress": "10.50.2.4"}],
         "InvalidParameterValue"),
    ]:
        assert error(vec2.run_instances, ImageId=vimage, MinCount=1, MaxCount=1,
                     NetworkInterfaces=interfaces) == expected, interfaces
    assert error(vec2.run_instances, ImageId=vimage, MinCount=2, MaxCount=2,
                 NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": net["a"],
                                     "PrivateIpAddress": "10.50.1.13"}]) == \
        "InvalidParameterCombination"


def test_attach_and_detach_on_a_stopped_instance(vcloud, vec2, vimage, net):
    """An EBS-backed instance, stopped: attach and detach change its ports, and its next
    start sends the node every interface."""
    volume_id = new_volume(vec2, Size=1)["VolumeId"]
    snapshot = vec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    vec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot], WaiterConfig=FAST)
    image = vec2.describe_images(ImageIds=[vimage])["Images"][0]
    ebs = vec2.register_image(
        Name="eni-ebs", RootDeviceName="/dev/sda1", KernelId=image.get("KernelId"),
        RamdiskId=image.get("RamdiskId"), Architecture="x86_64",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1",
                              "Ebs": {"SnapshotId": snapshot, "VolumeSize": 2}}])["ImageId"]
    iid = vec2.run_instances(ImageId=ebs, MinCount=1, MaxCount=1, SubnetId=net["a"])[
        "Instances"][0]["InstanceId"]
    vec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    vec2.stop_instances(InstanceIds=[iid])
    vec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=FAST)
    extra = vec2.create_network_interface(SubnetId=net["b"])["NetworkInterface"]
    extra_id = extra["NetworkInterfaceId"]
    answer = vec2.attach_network_interface(NetworkInterfaceId=extra_id, InstanceId=iid,
                                           DeviceIndex=1)
    assert answer["AttachmentId"].startswith("eni-attach-")
    got = eni(vec2, extra_id)
    assert got["Status"] == "in-use" and got["Attachment"]["InstanceId"] == iid
    assert got["Attachment"]["DeviceIndex"] == 1
    assert got["Attachment"]["DeleteOnTermination"] is False
    assert ports(vcloud)[extra_id]["external_ids"]["mallee:instance-id"] == iid
    described = vec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert [n["NetworkInterfaceId"] for n in described["NetworkInterfaces"]][1] == extra_id
    # the node is sent both NICs at the next start
    spec = vcloud_spec(vcloud, iid)
    assert [(p["device_index"], p["name"], p["subnet_id"]) for p in spec["vpc_ports"]][1] == \
        (1, f"mallee-{extra_id}", net["b"])
    vec2.detach_network_interface(AttachmentId=answer["AttachmentId"])
    assert eni(vec2, extra_id)["Status"] == "available"
    assert extra_id not in ports(vcloud)
    # another VPC's interface cannot be attached
    other_vpc = vec2.describe_security_groups(GroupIds=[net["other_sg"]])[
        "SecurityGroups"][0]["VpcId"]
    other_subnet = vec2.create_subnet(VpcId=other_vpc, CidrBlock="10.51.1.0/28")["Subnet"][
        "SubnetId"]
    foreign = vec2.create_network_interface(SubnetId=other_subnet)["NetworkInterface"][
        "NetworkInterfaceId"]
    assert error(vec2.attach_network_interface, NetworkInterfaceId=foreign, InstanceId=iid,
                 DeviceIndex=1) == "InvalidParameterCombination"
    vec2.terminate_instances(InstanceIds=[iid])
    vec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=FAST)
    for left in (extra_id, foreign):
        vec2.delete_network_interface(NetworkInterfaceId=left)
    vec2.delete_subnet(SubnetId=other_subnet)


def vcloud_spec(vcloud, instance_id: str) -> dict:
    """The launch spec the CLC would send the node for the instance now."""
    launcher = next(r.app[CLOUD] for r in vcloud._runners if CLOUD in r.app).launcher

    async def spec():
        return await launcher.spec(await launcher.instances.get(instance_id))
    return vcloud.run(spec())


def test_accounts_are_apart(vcloud, vec2, vimage, net):
    mine = vec2.create_network_interface(SubnetId=net["a"])["NetworkInterface"][
        "NetworkInterfaceId"]
    other = vcloud.client("ec2", vcloud.new_account("eni-other"))
    assert mine not in {i["NetworkInterfaceId"] for i in
                        other.describe_network_interfaces()["NetworkInterfaces"]}
    for call, kwargs in [
        (other.describe_network_interfaces, dict(NetworkInterfaceIds=[mine])),
        (other.delete_network_interface, dict(NetworkInterfaceId=mine)),
        (other.modify_network_interface_attribute,
         dict(NetworkInterfaceId=mine, Description={"Value": "x"})),
        (other.assign_private_ip_addresses,
         dict(NetworkInterfaceId=mine, SecondaryPrivateIpAddressCount=1)),
        (other.unassign_private_ip_addresses,
         dict(NetworkInterfaceId=mine, PrivateIpAddresses=["10.50.1.4"])),
        (other.describe_network_interface_attribute,
         dict(NetworkInterfaceId=mine, Attribute="description")),
    ]:
        assert error(call, **kwargs) == "InvalidNetworkInterfaceID.NotFound", call
    assert error(other.create_network_interface, SubnetId=net["a"]) == \
        "InvalidSubnetID.NotFound"
    # their own interface onto my instance, my interface at their launch, mine in their
    # AssociateAddress, my instance's attachment: all not found
    instance = vec2.run_instances(ImageId=vimage, MinCount=1, MaxCount=1,
                                  SubnetId=net["a"])["Instances"][0]
    attachment = instance["NetworkInterfaces"][0]["Attachment"]["AttachmentId"]
    their_vpc = other.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    their_subnet = other.create_subnet(VpcId=their_vpc, CidrBlock="10.50.1.0/28")[
        "Subnet"]["SubnetId"]
    theirs = other.create_network_interface(SubnetId=their_subnet)["NetworkInterface"][
        "NetworkInterfaceId"]
    assert error(other.attach_network_interface, NetworkInterfaceId=theirs,
                 InstanceId=instance["InstanceId"], DeviceIndex=1) == \
        "InvalidInstanceID.NotFound"
    assert error(other.detach_network_interface, AttachmentId=attachment) == \
        "InvalidAttachmentID.NotFound"
    assert error(other.run_instances, ImageId=vimage, MinCount=1, MaxCount=1,
                 NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": mine}]) == \
        "InvalidNetworkInterfaceID.NotFound"
    alloc = other.allocate_address(Domain="vpc")["AllocationId"]
    assert error(other.associate_address, AllocationId=alloc,
                 NetworkInterfaceId=instance["NetworkInterfaces"][0]["NetworkInterfaceId"]) \
        == "InvalidNetworkInterfaceID.NotFound"
    other.release_address(AllocationId=alloc)
    other.delete_network_interface(NetworkInterfaceId=theirs)
    vec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    vec2.delete_network_interface(NetworkInterfaceId=mine)
