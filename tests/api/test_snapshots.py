"""EBS snapshots through the EC2 API (boto3, awscli) on the test cloud, whose SC runs
a tgtd of its own and keeps snapshot chunks in Walrus: the states a snapshot goes
through and its Progress, volumes made from one holding the bytes the source had
when it was taken (read from the SC's files), CopySnapshot, filters, paging, tags,
sharing through createVolumePermission and isolation between accounts, the quota,
InvalidSnapshot.InUse while an image maps the snapshot, and a CLC that resumes."""
from __future__ import annotations

import dataclasses
import os
import time

import pytest

from cloud_controller.api.frontdoor import CLOUD
from tests.api.test_volumes import ZONE, ask_sc, code_of, delete_and_wait, new_volume, sc_file

MIB = 2**20


def service(cloud):
    """The running CLC's SnapshotService."""
    for runner in cloud._runners:
        if CLOUD in runner.app:
            return runner.app[CLOUD].snapshots
    raise AssertionError("no CLC in this cloud")


def sc_snapshots(cloud) -> dict[str, dict]:
    """What the SC itself holds: {snapshot id: its record}."""
    return {s["snapshot_id"]: s for s in ask_sc(cloud, "describe_snapshots")}


def account_of(cloud, credential=None) -> str:
    return cloud.client("sts", credential).get_caller_identity()["Account"]


def write_at(cloud, volume_id: str, offset: int, data: bytes) -> None:
    """Bytes into the volume's file at the SC, as a guest's writes land there."""
    fd = os.open(sc_file(cloud, volume_id), os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_at(cloud, volume_id: str, offset: int, length: int) -> bytes:
    with open(sc_file(cloud, volume_id), "rb") as f:
        f.seek(offset)
        return f.read(length)


def completed(ec2, snapshot_id: str) -> dict:
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id],
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def gone(cloud, ec2, snapshot_id: str) -> bool:
    return cloud.wait_for(lambda: snapshot_id not in sc_snapshots(cloud) and snapshot_id not in {
        s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]},
        timeout=30, interval=0.5)


def delete_snapshots(cloud, ec2, snapshot_ids) -> None:
    for snapshot_id in snapshot_ids:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    for snapshot_id in snapshot_ids:
        assert gone(cloud, ec2, snapshot_id)


@pytest.fixture
def volume(cloud, ec2):
    made = new_volume(ec2, Size=1)
    yield made["VolumeId"]
    if made["VolumeId"] in {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}:
        delete_and_wait(cloud, ec2, made["VolumeId"])


@pytest.fixture
def snapshot(cloud, ec2, volume):
    """A completed snapshot of a 1 GiB volume holding 3 MiB of data, tagged."""
    write_at(cloud, volume, 0, os.urandom(3 * MIB))
    made = ec2.create_snapshot(VolumeId=volume, Description="base", TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": [{"Key": "Name", "Value": "base"}]}])
    completed(ec2, made["SnapshotId"])
    yield made["SnapshotId"]
    if made["SnapshotId"] in {s["SnapshotId"] for s in
                              ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}:
        delete_snapshots(cloud, ec2, [made["SnapshotId"]])


def test_a_snapshot_is_pending_then_completed_then_deleted(cloud, ec2, volume):
    write_at(cloud, volume, 5 * MIB, os.urandom(2 * MIB))
    before = time.time()
    made = ec2.create_snapshot(VolumeId=volume, Description="nightly")
    snapshot_id = made["SnapshotId"]
    assert snapshot_id.startswith("snap-") and made["State"] in ("pending", "completed")
    assert made["Progress"].endswith("%") and 0 <= int(made["Progress"][:-1]) <= 100
    assert (made["VolumeId"], made["VolumeSize"], made["Description"]) == (volume, 1, "nightly")
    assert made["OwnerId"] == account_of(cloud) and made["Encrypted"] is False
    assert abs(made["StartTime"].timestamp() - before) < 60
    done = completed(ec2, snapshot_id)
    assert (done["State"], done["Progress"]) == ("completed", "100%")
    at_sc = sc_snapshots(cloud)[snapshot_id]
    assert at_sc["state"] == "completed" and at_sc["volume_id"] == volume
    assert at_sc["chunks"] == 2  # two MiB written: zero chunks are not kept

    ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert code_of(ec2.describe_snapshots, SnapshotIds=[snapshot_id]) == \
        "InvalidSnapshot.NotFound"  # gone at once, as in EC2
    assert gone(cloud, ec2, snapshot_id)
    assert code_of(ec2.delete_snapshot, SnapshotId=snapshot_id) == "InvalidSnapshot.NotFound"


def test_create_snapshot_errors(cloud, ec2, volume):
    assert code_of(ec2.create_snapshot, VolumeId="vol-0123456789abcdef0") == \
        "InvalidVolume.NotFound"
    assert code_of(ec2.create_snapshot, VolumeId="volume1") == "InvalidVolumeID.Malformed"
    assert code_of(ec2.create_snapshot, VolumeId=volume, DryRun=True) == "DryRunOperation"
    assert code_of(ec2.create_snapshot, VolumeId=volume, Description="x" * 256) == \
        "InvalidParameterValue"
    assert code_of(ec2.create_snapshot, VolumeId=volume, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "a", "Value": "b"}]}]) == \
        "InvalidParameterValue"
    for bad in (dict(SnapshotIds=["snapshot-1"]), dict(SnapshotIds=["snap-zz"])):
        assert code_of(ec2.describe_snapshots, **bad) == "InvalidSnapshotID.Malformed"
    assert code_of(ec2.delete_snapshot, SnapshotId="snap-0123456789abcdef0") == \
        "InvalidSnapshot.NotFound"


def test_a_volume_from_a_snapshot_holds_what_the_source_held_when_it_was_taken(
        cloud, ec2, volume):
    first, later = os.urandom(3 * MIB), os.urandom(3 * MIB)
    write_at(cloud, volume, 0, first)
    write_at(cloud, volume, 700 * MIB, first[:MIB])
    snapshot_id = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    write_at(cloud, volume, 0, later)  # after the snapshot: not in it
    completed(ec2, snapshot_id)
    made = []
    try:
        restored = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot_id)
        made.append(restored["VolumeId"])
        assert (restored["Size"], restored["SnapshotId"]) == (1, snapshot_id)
        ec2.get_waiter("volume_available").wait(VolumeIds=made,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        vid = restored["VolumeId"]
        assert read_at(cloud, vid, 0, 3 * MIB) == first
        assert read_at(cloud, vid, 700 * MIB, MIB) == first[:MIB]
        assert read_at(cloud, vid, 3 * MIB, MIB) == bytes(MIB)
        assert sc_file(cloud, vid).stat().st_size == 2**30
        [seen] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
        assert seen["SnapshotId"] == snapshot_id
        assert [v["VolumeId"] for v in ec2.describe_volumes(Filters=[
            {"Name": "snapshot-id", "Values": [snapshot_id]}])["Volumes"]] == [vid]

        # Larger than the snapshot is fine (the rest is zeros); smaller is not.
        bigger = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot_id, Size=2,
                                   VolumeType="gp3")
        made.append(bigger["VolumeId"])
        ec2.get_waiter("volume_available").wait(VolumeIds=made,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        assert read_at(cloud, bigger["VolumeId"], 0, 3 * MIB) == first
        assert sc_file(cloud, bigger["VolumeId"]).stat().st_size == 2 * 2**30
        with pytest.raises(Exception) as caught:
            ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot_id, Size=0)
        assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert "smaller than snapshot" in caught.value.response["Error"]["Message"]

        # CopySnapshot: the copy restores the same bytes.
        copy_id = ec2.copy_snapshot(SourceRegion=cloud.settings.cloud.region,
                                    SourceSnapshotId=snapshot_id)["SnapshotId"]
        copy = completed(ec2, copy_id)
        assert copy["Description"] == \
            f"[Copied {snapshot_id} from {cloud.settings.cloud.region}]"
        assert (copy["VolumeSize"], copy["VolumeId"]) == (1, "vol-ffffffff")
        ec2.delete_snapshot(SnapshotId=snapshot_id)  # the copy keeps the shared chunks
        assert gone(cloud, ec2, snapshot_id)
        from_copy = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=copy_id)["VolumeId"]
        made.append(from_copy)
        ec2.get_waiter("volume_available").wait(VolumeIds=made,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        assert read_at(cloud, from_copy, 0, 3 * MIB) == first
        delete_snapshots(cloud, ec2, [copy_id])
    finally:
        for vid in made:
            delete_and_wait(cloud, ec2, vid)
        if snapshot_id in sc_snapshots(cloud):
            delete_snapshots(cloud, ec2, [snapshot_id])


def test_only_a_completed_snapshot_makes_a_volume(cloud, ec2, snapshot):
    snapshots = service(cloud)

    async def set_state(old, new):
        async with snapshots.db.unit():
            await snapshots.repo.compare_and_set(snapshot, old, state=new)
    cloud.run(set_state("completed", "pending"))
    try:
        assert code_of(ec2.create_volume, AvailabilityZone=ZONE, SnapshotId=snapshot) == \
            "IncorrectState"
        assert code_of(ec2.copy_snapshot, SourceRegion=cloud.settings.cloud.region,
                       SourceSnapshotId=snapshot) == "IncorrectState"
    finally:
        cloud.run(set_state("pending", "completed"))
    assert code_of(ec2.create_volume, AvailabilityZone=ZONE,
                   SnapshotId="snap-0123456789abcdef0") == "InvalidSnapshot.NotFound"


def test_a_volume_stays_until_the_sc_has_taken_its_snapshot(cloud, ec2, volume, snapshot):
    """Between CreateSnapshot's COMMIT and the SC's point-in-time copy the volume may
    not go (DeleteVolume: IncorrectState); once the copy is taken it may."""
    snapshots = service(cloud)

    async def set_taken(old, new, taken_at):
        async with snapshots.db.unit():
            await snapshots.repo.compare_and_set(snapshot, old, state=new, taken_at=taken_at)
    cloud.run(set_taken("completed", "pending", None))
    try:
        assert code_of(ec2.delete_volume, VolumeId=volume) == "IncorrectState"
    finally:
        cloud.run(set_taken("pending", "completed", time.time()))
    delete_and_wait(cloud, ec2, volume)  # the snapshot outlives its volume
    [kept] = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    assert (kept["State"], kept["VolumeId"]) == ("completed", volume)
    restored = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[restored],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    delete_and_wait(cloud, ec2, restored)


def test_copy_snapshot_errors(cloud, ec2, snapshot):
    region = cloud.settings.cloud.region
    assert code_of(ec2.copy_snapshot, SourceRegion="us-east-1", SourceSnapshotId=snapshot) == \
        "InvalidParameterValue"
    assert code_of(ec2.copy_snapshot, SourceRegion=region, SourceSnapshotId=snapshot,
                   Encrypted=True) == "UnsupportedOperation"
    assert code_of(ec2.copy_snapshot, SourceRegion=region,
                   SourceSnapshotId="snap-0123456789abcdef0") == "InvalidSnapshot.NotFound"
    assert code_of(ec2.copy_snapshot, SourceRegion=region, SourceSnapshotId=snapshot,
                   DryRun=True) == "DryRunOperation"
    copied = ec2.copy_snapshot(SourceRegion=region, SourceSnapshotId=snapshot,
                               Description="mine", TagSpecifications=[
                                   {"ResourceType": "snapshot",
                                    "Tags": [{"Key": "copy", "Value": "yes"}]}])
    assert copied["Tags"] == [{"Key": "copy", "Value": "yes"}]
    seen = completed(ec2, copied["SnapshotId"])
    assert seen["Description"] == "mine" and seen["Tags"] == [{"Key": "copy", "Value": "yes"}]
    delete_snapshots(cloud, ec2, [copied["SnapshotId"]])


def test_filters_paging_and_tags(cloud, ec2, volume, snapshot):
    def ids(*filters, **kwargs):
        return [s["SnapshotId"] for s in ec2.describe_snapshots(Filters=[
            {"Name": n, "Values": vals} for n, vals in filters], **kwargs)["Snapshots"]]
    [seen] = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    assert seen["Tags"] == [{"Key": "Name", "Value": "base"}]
    owner = account_of(cloud)
    assert snapshot in ids(("snapshot-id", [snapshot]))
    assert snapshot in ids(("volume-id", [volume]), ("status", ["completed"]))
    assert snapshot not in ids(("status", ["pending"]))
    assert snapshot in ids(("owner-id", [owner]), ("progress", ["100%"]))
    assert snapshot in ids(("volume-size", ["1"]), ("description", ["ba*"]))
    assert snapshot not in ids(("volume-size", ["2"]))
    assert snapshot in ids(("start-time", [seen["StartTime"].strftime("%Y-%m-%dT*")]))
    assert snapshot in ids(("tag:Name", ["base"])) and snapshot in ids(("tag-key", ["Name"]))
    assert snapshot not in ids(("tag:Name", ["other"]))
    assert snapshot in ids(("encrypted", ["false"]))
    assert code_of(ec2.describe_snapshots, Filters=[{"Name": "colour", "Values": ["x"]}]) == \
        "InvalidParameterValue"
    assert snapshot in ids(OwnerIds=["self"]) and snapshot in ids(OwnerIds=[owner])
    assert ids(OwnerIds=["amazon"]) == []
    assert code_of(ec2.describe_snapshots, OwnerIds=["bob"]) == "InvalidParameterValue"

    ec2.create_tags(Resources=[snapshot], Tags=[{"Key": "tier", "Value": "db"}])
    assert snapshot in ids(("tag:tier", ["db"]))
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [snapshot]}])["Tags"]
    assert {(t["Key"], t["ResourceType"]) for t in tags} == {("Name", "snapshot"),
                                                             ("tier", "snapshot")}
    ec2.delete_tags(Resources=[snapshot], Tags=[{"Key": "tier"}])
    assert snapshot not in ids(("tag:tier", ["db"]))
    assert code_of(ec2.create_tags, Resources=["snap-0123456789abcdef0"],
                   Tags=[{"Key": "a", "Value": "b"}]) == "InvalidSnapshot.NotFound"

    more = [ec2.create_snapshot(VolumeId=volume, TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": [{"Key": "paged", "Value": "yes"}]}])[
        "SnapshotId"] for _ in range(6)]
    try:
        paged = [{"Name": "tag:paged", "Values": ["yes"]}]
        first = ec2.describe_snapshots(Filters=paged, MaxResults=5)
        assert len(first["Snapshots"]) == 5 and first["NextToken"]
        rest = ec2.describe_snapshots(Filters=paged, MaxResults=5, NextToken=first["NextToken"])
        assert "NextToken" not in rest
        assert sorted(s["SnapshotId"] for s in first["Snapshots"] + rest["Snapshots"]) == \
            sorted(more)
        paginated = [s["SnapshotId"] for p in ec2.get_paginator("describe_snapshots").paginate(
            Filters=paged, PaginationConfig={"PageSize": 5}) for s in p["Snapshots"]]
        assert sorted(paginated) == sorted(more)
        for bad in (4, 0):
            assert code_of(ec2.describe_snapshots, MaxResults=bad) == "InvalidParameterValue"
        assert "NextToken" not in ec2.describe_snapshots(MaxResults=5000)  # 1000 at most
        assert code_of(ec2.describe_snapshots, SnapshotIds=more[:1], MaxResults=5) == \
            "InvalidParameterCombination"
        assert code_of(ec2.describe_snapshots, NextToken="garbage!") == "InvalidNextToken"
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=more,
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    finally:
        delete_snapshots(cloud, ec2, more)


def test_sharing_through_create_volume_permission(cloud, ec2, alice, alice_ec2, snapshot):
    alice = account_of(cloud, alice)
    owner = account_of(cloud)

    def visible_to_alice(**kwargs):
        return snapshot in {s["SnapshotId"] for s in
                            alice_ec2.describe_snapshots(**kwargs)["Snapshots"]}

    # Private: another account can neither see nor use it.
    assert not visible_to_alice()
    assert code_of(alice_ec2.describe_snapshots, SnapshotIds=[snapshot]) == \
        "InvalidSnapshot.NotFound"
    assert code_of(alice_ec2.create_volume, AvailabilityZone=ZONE, SnapshotId=snapshot) == \
        "InvalidSnapshot.NotFound"
    assert code_of(alice_ec2.copy_snapshot, SourceRegion=cloud.settings.cloud.region,
                   SourceSnapshotId=snapshot) == "InvalidSnapshot.NotFound"
    for call, kwargs in ((alice_ec2.delete_snapshot, {}),
                         (alice_ec2.describe_snapshot_attribute,
                          {"Attribute": "createVolumePermission"}),
                         (alice_ec2.modify_snapshot_attribute, {"CreateVolumePermission": {
                             "Add": [{"UserId": alice}]}}),
                         (alice_ec2.reset_snapshot_attribute,
                          {"Attribute": "createVolumePermission"})):
        assert code_of(call, SnapshotId=snapshot, **kwargs) == "InvalidSnapshot.NotFound"
    assert code_of(alice_ec2.create_tags, Resources=[snapshot],
                   Tags=[{"Key": "a", "Value": "b"}]) == "InvalidSnapshot.NotFound"

    attribute = ec2.describe_snapshot_attribute(SnapshotId=snapshot,
                                                Attribute="createVolumePermission")
    assert attribute["CreateVolumePermissions"] == [] and attribute["SnapshotId"] == snapshot
    assert ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="productCodes")[
        "ProductCodes"] == []

    # Shared with alice: she sees it (without the owner's tags) and restores it.
    ec2.modify_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission",
                                  CreateVolumePermission={"Add": [{"UserId": alice}]})
    assert ec2.describe_snapshot_attribute(SnapshotId=snapshot,
                                           Attribute="createVolumePermission")[
        "CreateVolumePermissions"] == [{"UserId": alice}]
    assert visible_to_alice() and visible_to_alice(OwnerIds=[owner])
    assert visible_to_alice(RestorableByUserIds=["self"])
    assert not visible_to_alice(RestorableByUserIds=["all"])
    assert not visible_to_alice(OwnerIds=["self"])
    assert snapshot in {s["SnapshotId"] for s in ec2.describe_snapshots(
        RestorableByUserIds=[alice])["Snapshots"]}
    [theirs] = alice_ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    assert theirs["OwnerId"] == owner and theirs.get("Tags", []) == []
    restored = alice_ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot)["VolumeId"]
    try:
        alice_ec2.get_waiter("volume_available").wait(
            VolumeIds=[restored], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        assert alice_ec2.describe_volumes(VolumeIds=[restored])["Volumes"][0]["SnapshotId"] == \
            snapshot
        # Hers to restore, not to change.
        assert code_of(alice_ec2.delete_snapshot, SnapshotId=snapshot) == \
            "UnauthorizedOperation"
        assert code_of(alice_ec2.modify_snapshot_attribute, SnapshotId=snapshot,
                       CreateVolumePermission={"Add": [{"Group": "all"}]}) == \
            "UnauthorizedOperation"
        assert code_of(alice_ec2.create_tags, Resources=[snapshot],
                       Tags=[{"Key": "a", "Value": "b"}]) == "InvalidSnapshot.NotFound"
        # A copy of a shared snapshot is her own.
        copy_id = alice_ec2.copy_snapshot(SourceRegion=cloud.settings.cloud.region,
                                          SourceSnapshotId=snapshot)["SnapshotId"]
        assert completed(alice_ec2, copy_id)["OwnerId"] == alice
        delete_snapshots(cloud, alice_ec2, [copy_id])
    finally:
        delete_and_wait(cloud, alice_ec2, restored)

    # Removed: gone for her again; the flat form and group all work too.
    ec2.modify_snapshot_attribute(SnapshotId=snapshot,
                                  CreateVolumePermission={"Remove": [{"UserId": alice}]})
    assert not visible_to_alice()
    ec2.modify_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission",
                                  OperationType="add", GroupNames=["all"])
    assert visible_to_alice() and visible_to_alice(RestorableByUserIds=["all"])
    assert ec2.describe_snapshot_attribute(SnapshotId=snapshot,
                                           Attribute="createVolumePermission")[
        "CreateVolumePermissions"] == [{"Group": "all"}]
    ec2.reset_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")
    assert not visible_to_alice()
    assert ec2.describe_snapshot_attribute(SnapshotId=snapshot,
                                           Attribute="createVolumePermission")[
        "CreateVolumePermissions"] == []


def test_attribute_errors(cloud, ec2, snapshot):
    for call in (ec2.describe_snapshot_attribute, ec2.reset_snapshot_attribute):
        assert code_of(call, SnapshotId=snapshot, Attribute="colour") == "InvalidParameterValue"
    assert code_of(ec2.reset_snapshot_attribute, SnapshotId=snapshot,
                   Attribute="productCodes") == "InvalidParameterValue"
    assert code_of(ec2.modify_snapshot_attribute, SnapshotId=snapshot,
                   Attribute="productCodes", OperationType="add", UserIds=["123456789012"]) \
        == "InvalidParameterValue"
    assert code_of(ec2.modify_snapshot_attribute, SnapshotId=snapshot,
                   CreateVolumePermission={"Add": [{"Group": "admins"}]}) == \
        "InvalidParameterValue"
    assert code_of(ec2.modify_snapshot_attribute, SnapshotId=snapshot,
                   CreateVolumePermission={"Add": [{"UserId": "alice"}]}) == \
        "InvalidParameterValue"
    assert code_of(ec2.modify_snapshot_attribute, SnapshotId=snapshot) == "MissingParameter"
    assert code_of(ec2.describe_snapshot_attribute, SnapshotId="snap-0123456789abcdef0",
                   Attribute="productCodes") == "InvalidSnapshot.NotFound"


def test_the_quota(cloud, ec2, alice_ec2):
    snapshots = service(cloud)
    real = snapshots.settings
    snapshots.settings = dataclasses.replace(
        real, clc=dataclasses.replace(real.clc, max_snapshots_per_account=2))
    vid = new_volume(alice_ec2, Size=1)["VolumeId"]
    made = []
    try:
        made += [alice_ec2.create_snapshot(VolumeId=vid)["SnapshotId"] for _ in range(2)]
        assert code_of(alice_ec2.create_snapshot, VolumeId=vid) == "SnapshotLimitExceeded"
        completed(alice_ec2, made[0])
        assert code_of(alice_ec2.copy_snapshot, SourceRegion=cloud.settings.cloud.region,
                       SourceSnapshotId=made[0]) == "SnapshotLimitExceeded"
        other = new_volume(ec2, Size=1)["VolumeId"]  # another account's quota is its own
        mine = ec2.create_snapshot(VolumeId=other)["SnapshotId"]
        completed(ec2, mine)
        delete_snapshots(cloud, ec2, [mine])
        delete_and_wait(cloud, ec2, other)
        # A deleted snapshot no longer counts.
        alice_ec2.delete_snapshot(SnapshotId=made.pop())
        made.append(alice_ec2.create_snapshot(VolumeId=vid)["SnapshotId"])
    finally:
        snapshots.settings = real
        for snapshot_id in made:
            completed(alice_ec2, snapshot_id)
        delete_snapshots(cloud, alice_ec2, made)
        delete_and_wait(cloud, alice_ec2, vid)


def test_a_snapshot_an_image_maps_cannot_be_deleted(cloud, ec2, snapshot):
    snapshots = service(cloud)
    image_id, owner = "ami-00000000000000abc", account_of(cloud)

    async def register():  # as RegisterImage with a BlockDeviceMapping will
        async with snapshots.db.unit():
            await snapshots.db.execute(
                "INSERT INTO images (id, account_id, name, image_type, architecture, "
                "location, parts, virtualization_type, root_device_name, size_bytes, state, "
                "created_at) VALUES (?, ?, 'mapped', 'machine', 'x86_64', 'b/k', '[]', 'hvm', "
                "'/dev/sda1', 0, 'available', ?)", (image_id, owner, time.time()))
            await snapshots.db.execute(
                "INSERT INTO image_block_devices (image_id, device_name, snapshot_id, "
                "volume_size, volume_type) VALUES (?, '/dev/sda1', ?, 1, 'gp2')",
                (image_id, snapshot))

    async def deregister():
        async with snapshots.db.unit():
            await snapshots.db.execute("UPDATE images SET state='deregistered' WHERE id=?",
                                       (image_id,))
    cloud.run(register())
    try:
        with pytest.raises(Exception) as caught:
            ec2.delete_snapshot(SnapshotId=snapshot)
        error = caught.value.response["Error"]
        assert error["Code"] == "InvalidSnapshot.InUse"
        assert error["Message"] == f"The snapshot {snapshot} is currently in use by {image_id}"
        assert completed(ec2, snapshot)["State"] == "completed"
    finally:
        cloud.run(deregister())
    delete_snapshots(cloud, ec2, [snapshot])  # a deregistered image no longer holds it


def test_create_snapshots_takes_each_attached_volume_of_an_instance(cloud, ec2, alice_ec2,
                                                                    published):
    from tests.api.test_volume_attachments import running
    instance_id = running(cloud, ec2, published["image"])
    volumes = [new_volume(ec2, Size=1, TagSpecifications=[{"ResourceType": "volume", "Tags": [
        {"Key": "Name", "Value": f"disk{n}"}]}])["VolumeId"] for n in range(2)]
    made = []
    try:
        for volume_id, device in zip(volumes, ("/dev/sdf", "/dev/sdg")):
            ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
        ec2.get_waiter("volume_in_use").wait(VolumeIds=volumes,
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        answer = ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance_id,
                                   "ExcludeDataVolumeIds": volumes[1:]},
            Description="both", CopyTagsFromSource="volume", TagSpecifications=[
                {"ResourceType": "snapshot", "Tags": [{"Key": "set", "Value": "one"}]}])
        made = [s["SnapshotId"] for s in answer["Snapshots"]]
        [taken] = answer["Snapshots"]
        assert (taken["VolumeId"], taken["Description"]) == (volumes[0], "both")
        assert taken["State"] in ("pending", "completed") and taken["Progress"].endswith("%")
        assert {(t["Key"], t["Value"]) for t in taken["Tags"]} == {("Name", "disk0"),
                                                                   ("set", "one")}
        assert completed(ec2, taken["SnapshotId"])["VolumeSize"] == 1
        assert code_of(alice_ec2.create_snapshots,
                       InstanceSpecification={"InstanceId": instance_id}) == \
            "InvalidInstanceID.NotFound"
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
        ec2.get_waiter("volume_available").wait(VolumeIds=volumes,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        for volume_id in volumes:
            delete_and_wait(cloud, ec2, volume_id)
        delete_snapshots(cloud, ec2, made)


def test_the_awscli_takes_waits_for_and_deletes_a_snapshot(cloud, alice, alice_ec2):
    vid = new_volume(alice_ec2, Size=1)["VolumeId"]
    try:
        made = cloud.aws("ec2", "create-snapshot", "--volume-id", vid, "--description", "cli",
                         "--tag-specifications",
                         "ResourceType=snapshot,Tags=[{Key=Name,Value=cli}]", credential=alice)
        assert made["State"] in ("pending", "completed") and made["VolumeId"] == vid
        cloud.aws("ec2", "wait", "snapshot-completed", "--snapshot-ids", made["SnapshotId"],
                  credential=alice)
        listed = cloud.aws("ec2", "describe-snapshots", "--owner-ids", "self", "--filters",
                           "Name=tag:Name,Values=cli", credential=alice)
        assert [s["SnapshotId"] for s in listed["Snapshots"]] == [made["SnapshotId"]]
        assert listed["Snapshots"][0]["Progress"] == "100%"
        cloud.aws("ec2", "delete-snapshot", "--snapshot-id", made["SnapshotId"],
                  credential=alice)
        assert gone(cloud, alice_ec2, made["SnapshotId"])
    finally:
        delete_and_wait(cloud, alice_ec2, vid)


def test_a_starting_clc_finishes_pending_and_deleting_snapshots(cloud, ec2, volume, snapshot):
    """Rows left `pending` (the SC finished while no CLC followed it) and `deleting`
    (a CLC stopped before the SC answered), as a CLC killed between its COMMIT and
    the SC's answer leaves them: resume() completes the one and removes the other."""
    snapshots = service(cloud)
    other = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    completed(ec2, other)

    async def leave(snapshot_id, old, new):
        async with snapshots.db.unit():
            await snapshots.repo.compare_and_set(snapshot_id, old, state=new, progress=0)
    cloud.run(leave(snapshot, "completed", "pending"))
    cloud.run(leave(other, "completed", "deleting"))
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["Progress"] == "0%"
    assert code_of(ec2.describe_snapshots, SnapshotIds=[other]) == "InvalidSnapshot.NotFound"
    cloud.run(snapshots.resume())
    assert completed(ec2, snapshot)["Progress"] == "100%"
    assert gone(cloud, ec2, other)
