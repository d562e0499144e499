"""Terraform's aws_ebs_volume (hashicorp/aws 5.100, from the offline mirror) against
the in-process cloud: apply makes an available volume the SC holds, a second plan
shows no changes, destroy removes it (and the SC's file)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.test_terraform import run, workdir

pytestmark = pytest.mark.clients

CONFIG = Path(__file__).parent / "terraform_volume" / "main.tf"


def tenant_workdir(cloud, tmp_path_factory, config: Path, account: str):
    """(terraform, the EC2 client of a new account of its own): a work dir holding
    `config`, its variables set to this cloud and that account's keys, initialised."""
    terraform = workdir(tmp_path_factory, config)
    tenant = cloud.new_account(account)
    (terraform[1] / "terraform.tfvars.json").write_text(json.dumps({
        "ec2_endpoint": cloud.ec2_url, "s3_endpoint": cloud.s3_url,
        "region": cloud.settings.cloud.region,
        "access_key": tenant.access_key_id, "secret_key": tenant.secret_access_key}))
    run(terraform, "init", log="init")
    return terraform, cloud.client("ec2", tenant)


def test_terraform_applies_and_destroys_an_ebs_volume(clients_cloud, tmp_path_factory):
    cloud = clients_cloud
    terraform, ec2 = tenant_workdir(cloud, tmp_path_factory, CONFIG, "terraform-volumes")
    run(terraform, "apply", "-auto-approve", log="apply")
    volume_id = json.loads(run(terraform, "output", "-json", log="output").stdout)[
        "volume_id"]["value"]
    [volume] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert (volume["State"], volume["Size"], volume["VolumeType"]) == ("available", 2, "gp3")
    assert {"Key": "Name", "Value": "tf-data"} in volume["Tags"]
    path = cloud.settings.data_dir("sc") / "volumes" / f"{volume_id}.raw"
    assert path.stat().st_size == 2 * 2**30
    run(terraform, "plan", "-detailed-exitcode", log="plan")  # 0: nothing to change
    run(terraform, "destroy", "-auto-approve", log="destroy")
    assert ec2.describe_volumes()["Volumes"] == []
    assert not path.exists()
