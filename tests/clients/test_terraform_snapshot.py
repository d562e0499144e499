"""Terraform's aws_ebs_snapshot and an aws_ebs_volume with snapshot_id (hashicorp/aws
5.100, from the offline mirror) against the in-process cloud: apply takes a
completed snapshot of a volume and restores a volume from it (the SC's file holds
the source's bytes), a second plan shows no changes, destroy removes all three."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.clients.test_terraform import run
from tests.clients.test_terraform_volume import tenant_workdir

pytestmark = pytest.mark.clients

CONFIG = Path(__file__).parent / "terraform_snapshot" / "main.tf"


def test_terraform_snapshots_a_volume_and_restores_it(clients_cloud, tmp_path_factory):
    cloud = clients_cloud
    terraform, ec2 = tenant_workdir(cloud, tmp_path_factory, CONFIG, "terraform-snapshots")
    volumes = cloud.settings.data_dir("sc") / "volumes"
    # The source first, so it holds data before its snapshot is taken.
    run(terraform, "apply", "-auto-approve", "-target=aws_ebs_volume.source", log="source")
    source_id = json.loads(run(terraform, "output", "-json", log="output").stdout)[
        "source_id"]["value"]
    data = os.urandom(2 * 2**20)
    with open(volumes / f"{source_id}.raw", "r+b") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    run(terraform, "apply", "-auto-approve", log="apply")
    out = {k: v["value"] for k, v in json.loads(
        run(terraform, "output", "-json", log="output2").stdout).items()}
    [snapshot] = ec2.describe_snapshots(SnapshotIds=[out["snapshot_id"]])["Snapshots"]
    assert (snapshot["State"], snapshot["VolumeId"], snapshot["Description"]) == \
        ("completed", source_id, "tf backup")
    assert {"Key": "Name", "Value": "tf-backup"} in snapshot["Tags"]
    [restored] = ec2.describe_volumes(VolumeIds=[out["restored_id"]])["Volumes"]
    assert (restored["State"], restored["Size"], restored["SnapshotId"]) == \
        ("available", 1, out["snapshot_id"])
    with open(volumes / f"{out['restored_id']}.raw", "rb") as f:
        assert f.read(len(data)) == data
    run(terraform, "plan", "-detailed-exitcode", log="plan")  # 0: nothing to change
    run(terraform, "destroy", "-auto-approve", log="destroy")
    assert ec2.describe_volumes()["Volumes"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
