"""Two NCs on one host, joined on one L2 segment, with real guests: peers on
different nodes reach each other as their groups allow, an elastic IP moves
from a guest on one node to a guest on the other and the outside reaches it
there, and nothing of either node is left afterwards."""
from __future__ import annotations

import subprocess

import pytest

from tests.integration.guests import domains, key_pair, real_cloud, ssh
from mallee import rpc
from node_controller.network.names import tap_name

pytestmark = pytest.mark.integration

BOOT_TIMEOUT = 150
LAUNCHED: list[str] = []  # for the cleanup check
# busybox wget has no working -T here: the guest's own timeout bounds it.
METADATA_ID = "timeout 5 wget -qO- http://169.254.169.254/latest/meta-data/instance-id"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = real_cloud(tmp_path_factory.mktemp("multinode"), nodes=2, MALLEE_NC_CORES="2",
                   MALLEE_NC_MEMORY_MB="1024", MALLEE_NC_DISK_GB="20",
                   MALLEE_CC_SCHEDULER="ROUNDROBIN")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def image(cloud, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]


def placement(cloud) -> dict[str, str]:
    """instance id -> node endpoint, as the CC knows it (EC2 does not show it)."""
    async def ask():
        s = cloud.settings
        client = rpc.RpcClient(s.cloud.host, s.cc.port, rpc.client_ssl_context(s.pki_dir, "admin"),
                               role="cc")
        try:
            return await client.call("describe_instances")
        finally:
            await client.close()
    return {i["instance_id"]: i["node"] for i in cloud.run(ask())}


def names_in(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True).stdout


def test_guests_on_two_nodes_groups_and_a_moving_elastic_ip(cloud, image, tmp_path):
    ec2 = cloud.client("ec2")
    key = key_pair(ec2, "k1", tmp_path)
    web = ec2.create_security_group(GroupName="web", Description="ssh + ping in group")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "UserIdGroupPairs": [{"GroupId": web}]}])
    db = ec2.create_security_group(GroupName="db", Description="closed")["GroupId"]
    webs = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=image, MinCount=2, MaxCount=2, InstanceType="m1.small", KeyName="k1",
        SecurityGroupIds=[web])["Instances"]]
    other = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m1.small",
                              KeyName="k1", SecurityGroupIds=[db])["Instances"][0]["InstanceId"]
    ids = webs + [other]
    LAUNCHED.extend(ids)

    def described():
        return {i["InstanceId"]: i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                for i in r["Instances"]}

    def console(instance_id):
        return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""

    try:
        assert cloud.wait_for(lambda: all(i["State"]["Name"] == "running"
                                          for i in described().values()), timeout=BOOT_TIMEOUT)
        nodes = placement(cloud)
        assert nodes[webs[0]] != nodes[webs[1]], nodes  # ROUNDROBIN spread the group
        # near: the web instance on the other one's node; far: on the other node.
        near, far = sorted(webs, key=lambda i: nodes[i] != nodes[other])
        private = {i: d["PrivateIpAddress"] for i, d in described().items()}
        for instance_id in ids:
            assert cloud.wait_for(lambda: "ssh: started" in console(instance_id),
                                  timeout=BOOT_TIMEOUT, interval=1), console(instance_id)[-1500:]

        address = ec2.allocate_address(Domain="vpc")
        eip = address["PublicIp"]
        ec2.associate_address(InstanceId=near, AllocationId=address["AllocationId"])
        assert cloud.wait_for(lambda: ssh(cloud, key, eip, METADATA_ID).stdout.strip() == near,
                              timeout=20)
        # Same group, different nodes: ICMP from the group is allowed.
        reply = ssh(cloud, key, eip, f"ping -c 2 -W 2 {private[far]}")
        assert reply.returncode == 0, reply.stdout + reply.stderr

        # The elastic IP moves to the guest on the other node and answers there.
        ec2.associate_address(InstanceId=far, AllocationId=address["AllocationId"],
                              AllowReassociation=True)
        assert cloud.wait_for(lambda: ssh(cloud, key, eip, METADATA_ID).stdout.strip() == far,
                              timeout=20)

        # Another group on the other node: blocked until its group allows web.
        ping_other = f"ping -c 1 -W 2 {private[other]}"
        assert ssh(cloud, key, eip, ping_other).returncode != 0
        ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
             "UserIdGroupPairs": [{"GroupId": web}]}])
        assert cloud.wait_for(lambda: ssh(cloud, key, eip, ping_other).returncode == 0, timeout=20)
    finally:
        ec2.terminate_instances(InstanceIds=ids)
        cloud.wait_for(lambda: all(i["State"]["Name"] == "terminated"
                                   for i in described().values()), timeout=60)


def test_nothing_of_either_node_is_left(cloud):
    namespaces = [f"mallee-{s.nc.name}" for s in cloud.node_settings]
    cluster_ns = cloud.settings.network.cluster_link_netns
    assert cluster_ns in names_in(["ip", "netns", "list"])
    cloud.stop()
    left = names_in(["ip", "netns", "list"])
    for name in (*namespaces, cluster_ns, cloud.settings.network.uplink_netns):
        assert name not in left.split(), left
    links = names_in(["ip", "-o", "link"])
    assert not [i for i in LAUNCHED if f" {tap_name(i)}:" in links], links  # no taps
    assert not set(LAUNCHED) & domains()
