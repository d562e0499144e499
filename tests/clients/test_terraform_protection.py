"""Terraform's aws_instance (hashicorp/aws 5.100, from the offline mirror) with
disable_api_termination: apply with it true makes a protected instance (the cloud
refuses TerminateInstances), a second plan shows no changes, an apply with it false
lifts it in place (ModifyInstanceAttribute), and destroy ends the instance."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.clients.test_terraform import run, workdir

pytestmark = pytest.mark.clients

CONFIG = Path(__file__).parent / "terraform_protection" / "main.tf"


def test_terraform_protects_then_lifts_and_destroys(clients_cloud, clients_image,
                                                    tmp_path_factory):
    cloud = clients_cloud
    terraform = workdir(tmp_path_factory, CONFIG)
    _, work, _ = terraform
    tenant = cloud.new_account("terraform-protection")
    ec2 = cloud.client("ec2", tenant)

    def apply(protected: bool) -> str:
        (work / "terraform.tfvars.json").write_text(json.dumps({
            "ec2_endpoint": cloud.ec2_url, "s3_endpoint": cloud.s3_url,
            "region": cloud.settings.cloud.region, "access_key": tenant.access_key_id,
            "secret_key": tenant.secret_access_key, "image_id": clients_image["image"],
            "protected": protected}))
        run(terraform, "apply", "-auto-approve", log=f"apply-{protected}")
        return json.loads(run(terraform, "output", "-json", log="output").stdout)[
            "instance_id"]["value"]

    def protection(instance_id: str) -> bool:
        return ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination")[
            "DisableApiTermination"]["Value"]

    run(terraform, "init", log="init")
    instance_id = apply(True)
    assert protection(instance_id) is True
    with pytest.raises(ClientError) as refused:
        ec2.terminate_instances(InstanceIds=[instance_id])
    assert refused.value.response["Error"]["Code"] == "OperationNotPermitted"
    run(terraform, "plan", "-detailed-exitcode", log="plan")  # 0: nothing to change
    assert apply(False) == instance_id  # changed in place, not replaced
    assert protection(instance_id) is False
    run(terraform, "destroy", "-auto-approve", log="destroy")
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]["State"]["Name"]
    assert state == "terminated"
