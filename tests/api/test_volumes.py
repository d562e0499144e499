"""EBS volumes through the EC2 API (boto3, awscli): CreateVolume's rules per type,
the states a volume goes through, the SC's file behind it, filters, paging, tags,
quotas, ModifyVolume, and that accounts never see each other's volumes."""
from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from cloud_controller.services.volumes import VolumeService
from ebs.client import StorageClient
from mallee.rpc import client_ssl_context

ZONE = "mallee-1a"


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"]


def ask_sc(cloud, method: str, *args):
    """One StorageClient call to the test cloud's SC, as the CLC makes it."""
    async def ask():
        client = StorageClient("127.0.0.1", cloud.settings.sc.port,
                               client_ssl_context(cloud.settings.pki_dir, "clc"))
        try:
            return await getattr(client, method)(*args)
        finally:
            await client.close()
    return cloud.run(ask())


def sc_volumes(cloud) -> dict[str, dict]:
    """What the SC itself holds: {volume id: its record}."""
    return {v["volume_id"]: v for v in ask_sc(cloud, "describe_volumes")}


def sc_file(cloud, volume_id: str):
    return cloud.settings.data_dir("sc") / "volumes" / f"{volume_id}.raw"


def new_volume(ec2, **kwargs) -> dict:
    kwargs.setdefault("AvailabilityZone", ZONE)
    kwargs.setdefault("Size", 1)
    volume = ec2.create_volume(**kwargs)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume["VolumeId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return volume


def delete_and_wait(cloud, ec2, volume_id: str) -> None:
    ec2.delete_volume(VolumeId=volume_id)
    assert cloud.wait_for(lambda: volume_id not in {
        v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}, timeout=30)


@pytest.fixture
def volume(cloud, ec2):
    made = new_volume(ec2, Size=2, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}])
    yield made
    if made["VolumeId"] in {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}:
        delete_and_wait(cloud, ec2, made["VolumeId"])


def test_a_volume_is_created_available_backed_by_the_scs_file_and_deleted(cloud, ec2):
    made = ec2.create_volume(AvailabilityZone=ZONE, Size=3, VolumeType="gp3")
    assert made["State"] == "creating"
    assert made["VolumeId"].startswith("vol-") and made["Size"] == 3
    assert (made["Iops"], made["Throughput"], made["Encrypted"]) == (3000, 125, False)
    ec2.get_waiter("volume_available").wait(VolumeIds=[made["VolumeId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    [seen] = ec2.describe_volumes(VolumeIds=[made["VolumeId"]])["Volumes"]
    assert (seen["State"], seen["AvailabilityZone"], seen["Size"]) == ("available", ZONE, 3)
    assert seen["Attachments"] == [] and seen["MultiAttachEnabled"] is False
    assert sc_volumes(cloud)[made["VolumeId"]]["size_gib"] == 3
    path = sc_file(cloud, made["VolumeId"])
    assert path.stat().st_size == 3 * 2**30 and path.stat().st_blocks == 0  # sparse

    ec2.delete_volume(VolumeId=made["VolumeId"])
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[made["VolumeId"]],
                                          WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert made["VolumeId"] not in sc_volumes(cloud)
    assert not path.exists()
    assert code_of(ec2.delete_volume, VolumeId=made["VolumeId"]) == "InvalidVolume.NotFound"


def test_each_type_gets_ec2s_defaults_and_limits(cloud, ec2):
    create = ec2.create_volume
    gp2 = create(AvailabilityZone=ZONE, Size=10)
    assert (gp2["VolumeType"], gp2["Iops"]) == ("gp2", 100)
    io1 = create(AvailabilityZone=ZONE, Size=4, VolumeType="io1", Iops=200)
    assert io1["Iops"] == 200
    made = [gp2["VolumeId"], io1["VolumeId"]]
    try:
        cases = [
            (dict(Size=4, VolumeType="io1"), "InvalidParameterCombination"),  # Iops needed
            (dict(Size=4, VolumeType="io2", Iops=5000), "InvalidParameterValue"),  # > 1000/GiB
            (dict(Size=4, VolumeType="io1", Iops=201), "InvalidParameterValue"),  # > 50/GiB
            (dict(Size=3, VolumeType="io1", Iops=100), "InvalidParameterValue"),  # < 4 GiB
            (dict(Size=10, VolumeType="gp2", Iops=300), "InvalidParameterCombination"),
            (dict(Size=10, VolumeType="gp2", Throughput=200), "InvalidParameterCombination"),
            (dict(Size=10, VolumeType="gp3", Iops=2000), "InvalidParameterValue"),
            (dict(Size=10, VolumeType="gp3", Throughput=1001), "InvalidParameterValue"),
            (dict(Size=10, VolumeType="gp3", Iops=3000, Throughput=800),
             "InvalidParameterValue"),  # over 0.25 MiB/s per IOPS
            (dict(Size=100, VolumeType="st1"), "InvalidParameterValue"),  # < 125 GiB
            (dict(Size=1025, VolumeType="standard"), "InvalidParameterValue"),
            (dict(Size=16385, VolumeType="gp2"), "InvalidParameterValue"),
            (dict(Size=0), "InvalidParameterValue"),
            (dict(Size=1, VolumeType="gp9"), "InvalidParameterValue"),
            (dict(), "MissingParameter"),  # neither Size nor SnapshotId
            (dict(Size=1, SnapshotId="snap-0123456789abcdef0"), "InvalidSnapshot.NotFound"),
            (dict(Size=1, SnapshotId="snapshot1"), "InvalidSnapshotID.Malformed"),
            (dict(Size=1, Encrypted=True), "UnsupportedOperation"),
        ]
        for kwargs, code in cases:
            assert code_of(create, AvailabilityZone=ZONE, **kwargs) == code, kwargs
        assert code_of(create, AvailabilityZone="mallee-9z", Size=1) == "InvalidZone.NotFound"
        assert code_of(create, Size=1) == "MissingParameter"
        assert code_of(create, AvailabilityZone=ZONE, Size=1, DryRun=True) == "DryRunOperation"
        zone_id = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneId"]
        by_id = create(AvailabilityZoneId=zone_id, Size=1)
        made.append(by_id["VolumeId"])
        assert by_id["AvailabilityZone"] == ZONE
    finally:
        ec2.get_waiter("volume_available").wait(VolumeIds=made,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        for vid in made:
            delete_and_wait(cloud, ec2, vid)


def test_a_client_token_makes_one_volume(cloud, ec2):
    token = str(uuid.uuid4())
    first = ec2.create_volume(AvailabilityZone=ZONE, Size=1, ClientToken=token)
    again = ec2.create_volume(AvailabilityZone=ZONE, Size=1, ClientToken=token)
    assert again["VolumeId"] == first["VolumeId"]
    assert code_of(ec2.create_volume, AvailabilityZone=ZONE, Size=2,
                   ClientToken=token) == "IdempotentParameterMismatch"
    ec2.get_waiter("volume_available").wait(VolumeIds=[first["VolumeId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    delete_and_wait(cloud, ec2, first["VolumeId"])


def test_ids_filters_and_tags(cloud, ec2, volume):
    vid = volume["VolumeId"]
    assert volume["Tags"] == [{"Key": "Name", "Value": "data"}]
    assert code_of(ec2.describe_volumes, VolumeIds=["vol-0123456789abcdef0"]) == \
        "InvalidVolume.NotFound"
    assert code_of(ec2.describe_volumes, VolumeIds=["volume-1"]) == "InvalidVolumeID.Malformed"
    assert code_of(ec2.delete_volume, VolumeId="vol-zz") == "InvalidVolumeID.Malformed"

    def ids(*filters):
        return [v["VolumeId"] for v in ec2.describe_volumes(Filters=[
            {"Name": n, "Values": vals} for n, vals in filters])["Volumes"]]
    assert vid in ids(("volume-id", [vid]))
    assert vid in ids(("status", ["available"]), ("size", ["2"]))
    assert vid not in ids(("status", ["in-use"]))
    assert vid in ids(("volume-type", ["gp2"]), ("availability-zone", [ZONE]))
    assert vid in ids(("encrypted", ["false"]))
    assert vid not in ids(("encrypted", ["true"]))
    assert vid in ids(("tag:Name", ["data"])) and vid in ids(("tag-key", ["Name"]))
    assert vid not in ids(("tag:Name", ["other"]))
    assert vid in ids(("create-time", [volume["CreateTime"].strftime("%Y-%m-%dT*")]))
    assert vid not in ids(("attachment.instance-id", ["i-0123456789abcdef0"]))
    assert ids(("attachment.status", ["attached"]), ("volume-id", [vid])) == []
    assert ids(("attachment.device", ["/dev/sdf"]), ("volume-id", [vid])) == []
    assert ids(("attachment.delete-on-termination", ["true"]), ("volume-id", [vid])) == []
    assert ids(("snapshot-id", [""]), ("volume-id", [vid])) == [vid]
    assert code_of(ec2.describe_volumes, Filters=[{"Name": "colour", "Values": ["x"]}]) == \
        "InvalidParameterValue"
    # Tags through CreateTags / DescribeTags too: a volume is a taggable resource.
    ec2.create_tags(Resources=[vid], Tags=[{"Key": "tier", "Value": "db"}])
    assert vid in ids(("tag:tier", ["db"]))
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vid]}])["Tags"]
    assert {(t["Key"], t["ResourceType"]) for t in tags} == {("Name", "volume"),
                                                             ("tier", "volume")}
    assert code_of(ec2.create_volume, AvailabilityZone=ZONE, Size=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}]) == \
        "InvalidParameterValue"


def test_paging(cloud, ec2):
    made = [ec2.create_volume(AvailabilityZone=ZONE, Size=1, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "paged", "Value": "yes"}]}])["VolumeId"]
        for _ in range(7)]
    try:
        seen, token, pages = [], None, 0
        while True:
            kwargs = {"MaxResults": 5, "Filters": [{"Name": "tag:paged", "Values": ["yes"]}]}
            if token:
                kwargs["NextToken"] = token
            answer = ec2.describe_volumes(**kwargs)
            seen += [v["VolumeId"] for v in answer["Volumes"]]
            pages += 1
            token = answer.get("NextToken")
            if not token:
                break
        assert sorted(seen) == sorted(made) and pages == 2
        paginated = [v["VolumeId"] for p in ec2.get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "tag:paged", "Values": ["yes"]}], PaginationConfig={"PageSize": 5})
            for v in p["Volumes"]]
        assert sorted(paginated) == sorted(made)
        for bad in (4, 0, -1):
            assert code_of(ec2.describe_volumes, MaxResults=bad) == "InvalidParameterValue"
        # Over 500 is 500, as EC2 documents it: every volume here fits in one page.
        assert "NextToken" not in ec2.describe_volumes(MaxResults=1000)
        assert code_of(ec2.describe_volumes, VolumeIds=made[:1], MaxResults=5) == \
            "InvalidParameterCombination"
        assert code_of(ec2.describe_volumes, NextToken="garbage!") == "InvalidNextToken"
        statuses = ec2.describe_volume_status(VolumeIds=made[:1])["VolumeStatuses"]
        assert statuses[0]["VolumeId"] == made[0]
    finally:
        ec2.get_waiter("volume_available").wait(VolumeIds=made,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        for vid in made:
            ec2.delete_volume(VolumeId=vid)
        ec2.get_waiter("volume_deleted").wait(VolumeIds=made,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def test_status_and_attributes(cloud, ec2, volume):
    vid = volume["VolumeId"]
    [status] = ec2.describe_volume_status(VolumeIds=[vid])["VolumeStatuses"]
    assert status["VolumeStatus"]["Status"] == "ok"
    assert {"Name": "io-enabled", "Status": "passed"} in status["VolumeStatus"]["Details"]
    assert status["AvailabilityZone"] == ZONE
    ok = ec2.describe_volume_status(Filters=[{"Name": "volume-status.status",
                                              "Values": ["ok"]}])["VolumeStatuses"]
    assert vid in {s["VolumeId"] for s in ok}
    assert ec2.describe_volume_attribute(VolumeId=vid, Attribute="autoEnableIO")[
        "AutoEnableIO"] == {"Value": False}
    assert ec2.describe_volume_attribute(VolumeId=vid, Attribute="productCodes")[
        "ProductCodes"] == []
    assert code_of(ec2.describe_volume_attribute, VolumeId="vol-0123456789abcdef0",
                   Attribute="productCodes") == "InvalidVolume.NotFound"


def test_modify_grows_the_scs_file_and_changes_type_within_the_rules(cloud, ec2, volume):
    vid = volume["VolumeId"]
    assert code_of(ec2.modify_volume, VolumeId=vid, Size=1) == "InvalidParameterValue"
    assert code_of(ec2.modify_volume, VolumeId=vid, Size=2) == "InvalidParameterValue"
    assert code_of(ec2.modify_volume, VolumeId=vid, VolumeType="io1", Size=4) == \
        "InvalidParameterCombination"  # io1 needs Iops
    assert code_of(ec2.modify_volume, VolumeId="vol-0123456789abcdef0", Size=5) == \
        "InvalidVolume.NotFound"
    answer = ec2.modify_volume(VolumeId=vid, Size=5, VolumeType="gp3")["VolumeModification"]
    assert (answer["OriginalSize"], answer["TargetSize"]) == (2, 5)
    assert (answer["OriginalVolumeType"], answer["TargetVolumeType"]) == ("gp2", "gp3")
    assert answer["TargetIops"] == 3000 and answer["ModificationState"] in (
        "modifying", "completed")

    def state():
        [m] = ec2.describe_volumes_modifications(VolumeIds=[vid])["VolumesModifications"]
        return m["ModificationState"] == "completed" and m
    done = cloud.wait_for(state, timeout=30)
    assert done and done["Progress"] == 100 and "EndTime" in done
    [seen] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
    assert (seen["Size"], seen["VolumeType"], seen["Iops"], seen["Throughput"]) == \
        (5, "gp3", 3000, 125)
    assert sc_volumes(cloud)[vid]["size_gib"] == 5
    assert sc_file(cloud, vid).stat().st_size == 5 * 2**30
    # gp3 above its 3,000 baseline takes at most 500 IOPS per GiB; then io1 with its IOPS
    assert code_of(ec2.modify_volume, VolumeId=vid, Iops=4000) == "InvalidParameterValue"
    ec2.modify_volume(VolumeId=vid, Size=8, Iops=4000)
    assert cloud.wait_for(state, timeout=30)["TargetIops"] == 4000
    ec2.modify_volume(VolumeId=vid, VolumeType="io1", Iops=250)
    assert cloud.wait_for(state, timeout=30)
    [seen] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
    assert (seen["VolumeType"], seen["Iops"], seen["Size"]) == ("io1", 250, 8)
    assert "Throughput" not in seen


def test_the_scs_grow_never_shrinks(cloud, ec2, volume):
    vid = volume["VolumeId"]

    assert ask_sc(cloud, "grow_volume", vid, 2)["size_gib"] == 2  # its own size: the same
    from mallee.errors import ApiError
    with pytest.raises(ApiError) as caught:
        ask_sc(cloud, "grow_volume", vid, 1)
    assert caught.value.code == "InvalidParameterValue"
    assert sc_file(cloud, vid).stat().st_size == 2 * 2**30


def test_accounts_never_see_each_others_volumes(cloud, ec2, alice_ec2, volume):
    vid = volume["VolumeId"]
    assert vid not in {v["VolumeId"] for v in alice_ec2.describe_volumes()["Volumes"]}
    assert code_of(alice_ec2.describe_volumes, VolumeIds=[vid]) == "InvalidVolume.NotFound"
    assert code_of(alice_ec2.delete_volume, VolumeId=vid) == "InvalidVolume.NotFound"
    assert code_of(alice_ec2.modify_volume, VolumeId=vid, Size=9) == "InvalidVolume.NotFound"
    assert code_of(alice_ec2.describe_volume_attribute, VolumeId=vid,
                   Attribute="autoEnableIO") == "InvalidVolume.NotFound"
    assert code_of(alice_ec2.create_tags, Resources=[vid],
                   Tags=[{"Key": "a", "Value": "b"}]) == "InvalidVolume.NotFound"
    assert alice_ec2.describe_volumes_modifications()["VolumesModifications"] == []
    [still] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
    assert still["State"] == "available"


def test_quotas(cloud, ec2, alice_ec2):
    limits = cloud.settings.clc
    assert code_of(alice_ec2.create_volume, AvailabilityZone=ZONE,
                   Size=limits.max_volume_gib_per_account + 1) == "VolumeLimitExceeded"
    big = alice_ec2.create_volume(AvailabilityZone=ZONE, Size=limits.max_volume_gib_per_account)
    try:
        assert code_of(alice_ec2.create_volume, AvailabilityZone=ZONE, Size=1) == \
            "VolumeLimitExceeded"
    finally:
        alice_ec2.get_waiter("volume_available").wait(
            VolumeIds=[big["VolumeId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        delete_and_wait(cloud, alice_ec2, big["VolumeId"])
    made = []
    try:
        for _ in range(limits.max_volumes_per_account):
            made.append(alice_ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"])
        assert code_of(alice_ec2.create_volume, AvailabilityZone=ZONE, Size=1) == \
            "VolumeLimitExceeded"
        assert ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]  # others' quota
    finally:
        alice_ec2.get_waiter("volume_available").wait(
            VolumeIds=made, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        for vid in made:
            alice_ec2.delete_volume(VolumeId=vid)
        alice_ec2.get_waiter("volume_deleted").wait(
            VolumeIds=made, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def test_the_awscli_creates_and_lists_volumes(cloud, alice):
    made = cloud.aws("ec2", "create-volume", "--availability-zone", ZONE, "--size", "1",
                     "--volume-type", "gp3", "--tag-specifications",
                     "ResourceType=volume,Tags=[{Key=Name,Value=cli}]", credential=alice)
    assert made["State"] == "creating" and made["VolumeType"] == "gp3"
    cloud.aws("ec2", "wait", "volume-available", "--volume-ids", made["VolumeId"],
              credential=alice)
    listed = cloud.aws("ec2", "describe-volumes", "--filters", "Name=tag:Name,Values=cli",
                       credential=alice)
    assert [v["VolumeId"] for v in listed["Volumes"]] == [made["VolumeId"]]
    assert listed["Volumes"][0]["State"] == "available"
    cloud.aws("ec2", "delete-volume", "--volume-id", made["VolumeId"], credential=alice)
    cloud.aws("ec2", "wait", "volume-deleted", "--volume-ids", made["VolumeId"],
              credential=alice)


def test_an_unreachable_sc_leaves_the_volume_in_error_and_a_restart_finishes_creating(
        cloud, ec2, monkeypatch):
    """The volume's row is committed before the SC is asked: an SC that cannot be
    reached makes it `error`; one left `creating` (a CLC that stopped) is made
    `available` by resume(), as a starting CLC does."""
    import cloud_controller.services.volumes as volumes_mod
    monkeypatch.setattr(volumes_mod, "SC_RETRY_SECONDS", 0.05)
    from cloud_controller.api.frontdoor import CLOUD
    service = None
    for runner in cloud._runners:
        app = runner.app
        if CLOUD in app:
            service = app[CLOUD].volumes
    assert isinstance(service, VolumeService)
    real = service.storage
    service.storage = StorageClient("127.0.0.1", 1, client_ssl_context(
        cloud.settings.pki_dir, "clc"), timeout=2)  # nothing listens on port 1
    try:
        lost = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
        assert cloud.wait_for(lambda: ec2.describe_volumes(VolumeIds=[lost])["Volumes"][0][
            "State"] == "error", timeout=30)
        # Left creating, as by a CLC stopped between its COMMIT and the SC's answer.
        async def leave_creating():
            async with service.db.unit():
                await service.repo.compare_and_set(lost, "error", state="creating")
        cloud.run(leave_creating())
    finally:
        cloud.run(service.storage.close())
        service.storage = real
    cloud.run(service.resume())
    ec2.get_waiter("volume_available").wait(VolumeIds=[lost],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert lost in sc_volumes(cloud)
    delete_and_wait(cloud, ec2, lost)
    assert lost not in sc_volumes(cloud)
