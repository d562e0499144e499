"""Terraform (hashicorp/aws 5.100, unmodified, from an offline mirror) builds and
tears down issue 12's stack on the in-process cloud: apply, a second plan that
shows no changes (-detailed-exitcode 0), refresh, destroy, and nothing left.

The test writes its own CLI configuration (provider_installation with a
filesystem_mirror), so it never reaches a registry. It runs as a tenant of its
own, as a new user would, against the EC2 and S3 endpoints on loopback.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.reporting import write_summary

pytestmark = pytest.mark.clients

CONFIG = Path(__file__).parent / "terraform" / "main.tf"
PROVIDER_CONFIG = Path(__file__).parent / "terraform" / "provider.tf"  # every config's
PROVIDER = "registry.terraform.io/hashicorp/aws"
VERSION = "5.100.0"
MIRRORS = ("/opt/tf-plugins", "/usr/share/terraform/plugins",
           "~/.terraform.d/plugins", "~/.local/share/terraform/plugins")
MARKER = "MALLEE-TF-USER-DATA"


def mirror() -> Path | None:
    """The plugin directory holding the aws provider: MALLEE_TF_PLUGIN_MIRROR or a
    usual place (Terraform's own implied mirror directories among them)."""
    candidates = [os.environ.get("MALLEE_TF_PLUGIN_MIRROR"), *MIRRORS]
    for candidate in filter(None, candidates):
        path = Path(candidate).expanduser()
        if (path / PROVIDER / VERSION).is_dir():
            return path
    return None


@pytest.fixture(scope="module")
def terraform(tmp_path_factory):
    return workdir(tmp_path_factory, CONFIG)


def workdir(tmp_path_factory, config: Path):
    """(terraform binary, a work dir holding `config` as main.tf and the shared
    provider.tf, its environment): the offline provider mirror, no AWS or TF
    settings of the host's."""
    binary, plugins = shutil.which("terraform"), mirror()
    if binary is None or plugins is None:
        pytest.skip("terraform or its hashicorp/aws mirror is not installed "
                    "(set MALLEE_TF_PLUGIN_MIRROR to the mirror's directory)")
    work = tmp_path_factory.mktemp("terraform")
    (work / "cli.tfrc").write_text(f"""provider_installation {{
  filesystem_mirror {{
    path    = "{plugins}"
    include = ["{PROVIDER}"]
  }}
  direct {{
    exclude = ["{PROVIDER}"]
  }}
}}
""")
    shutil.copy(config, work / "main.tf")
    shutil.copy(PROVIDER_CONFIG, work / "provider.tf")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(work / "cli.tfrc"), TF_IN_AUTOMATION="1",
               TF_INPUT="0", CHECKPOINT_DISABLE="1", TF_LOG="debug",
               AWS_CONFIG_FILE=str(work / "none"), AWS_SHARED_CREDENTIALS_FILE=str(work / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    return binary, work, env


def run(terraform, *args: str, log: str, ok=(0,)) -> subprocess.CompletedProcess:
    binary, work, env = terraform
    env = {**env, "TF_LOG_PATH": str(work / f"{log}.log")}
    done = subprocess.run([binary, *args, "-no-color"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode in ok, (f"terraform {' '.join(args)} exited {done.returncode}:\n"
                                   f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def failed_calls(work: Path) -> list[str]:
    """Provider calls answered with an error, from the provider's debug logs: for the
    summary (some are expected, as on AWS: a revoke of a default ::/0 egress rule the
    group does not have, a disassociate after the association went)."""
    found = []
    for path in sorted(work.glob("*.log")):
        text = path.read_text(errors="replace")
        for block in text.split("HTTP Response Received")[1:]:
            head = block[:8000]
            method = re.search(r"rpc\.method=(\w+)", head)
            status = re.search(r"http\.status_code=(\d+)", head)
            code = re.search(r"<Code>([^<]+)</Code>", head)
            service = re.search(r"rpc\.service=(\w+)", head)
            if service and service.group(1) == "S3" and status and status.group(1) == "404":
                continue  # a bucket setting not configured: S3's answer, as on AWS
            if method and status and int(status.group(1)) >= 400:
                found.append(f"{path.stem}: {method.group(1)} {status.group(1)} "
                             f"{code.group(1) if code else ''}".rstrip())
    return found


def test_terraform_builds_plans_clean_and_destroys(clients_cloud, clients_image,
                                                   terraform):
    cloud = clients_cloud
    _, work, _ = terraform
    tenant = cloud.new_account("terraform-user")
    ec2 = cloud.client("ec2", tenant)
    s3 = cloud.client("s3", tenant)
    owner = cloud.client("ec2").describe_images(
        ImageIds=[clients_image["image"]])["Images"][0]["OwnerId"]
    public_key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    bucket = f"tf-{tenant.account_id[-8:]}-bucket"
    (work / "terraform.tfvars.json").write_text(json.dumps({
        "ec2_endpoint": cloud.ec2_url, "s3_endpoint": cloud.s3_url,
        "region": cloud.settings.cloud.region, "access_key": tenant.access_key_id,
        "secret_key": tenant.secret_access_key, "public_key": public_key,
        "image_owner": owner, "marker": MARKER, "bucket": bucket}))

    run(terraform, "init", log="init")
    started = time.monotonic()
    run(terraform, "apply", "-auto-approve", log="apply")
    apply_seconds = time.monotonic() - started
    out = {k: v["value"] for k, v in json.loads(
        run(terraform, "output", "-json", log="output").stdout).items()}

    # what Terraform made is what the cloud holds
    instance = ec2.describe_instances(InstanceIds=[out["instance_id"]])["Reservations"][0][
        "Instances"][0]
    assert instance["State"]["Name"] == "running"
    assert instance["KeyName"] == "tf-key" and instance["SubnetId"] == out["subnet_ids"][0]
    assert instance["Tags"] == [{"Key": "Name", "Value": "tf-instance"}]
    assert instance["PublicIpAddress"] == out["public_ip"]
    user_data = ec2.describe_instance_attribute(InstanceId=out["instance_id"],
                                                Attribute="userData")["UserData"]["Value"]
    assert MARKER in base64.b64decode(user_data).decode()
    group = ec2.describe_security_groups(GroupIds=[out["group_id"]])["SecurityGroups"][0]
    ingress = {p["FromPort"]: p for p in group["IpPermissions"]}
    assert ingress[22]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert ingress[80]["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]
    assert [p["IpRanges"] for p in group["IpPermissionsEgress"]] == [[{"CidrIp": "0.0.0.0/0"}]]
    assert out["zones"] == ["mallee-1a"]
    assert s3.head_bucket(Bucket=bucket)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"Project": "tf-test", "Env": "test"}
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == \
        b"hello from terraform\n"
    assert s3.get_object_tagging(Bucket=bucket, Key="hello.txt")["TagSet"] == [
        {"Key": "Kind", "Value": "greeting"}]

    # a second plan shows no changes; refresh reads everything again
    run(terraform, "plan", "-detailed-exitcode", log="plan")
    run(terraform, "refresh", log="refresh")

    started = time.monotonic()
    run(terraform, "destroy", "-auto-approve", log="destroy")
    destroy_seconds = time.monotonic() - started

    # nothing of the stack is left
    assert json.loads(run(terraform, "show", "-json", log="show").stdout).get("values") is None
    left = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    assert left == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == \
        ["default"]
    assert ec2.describe_addresses()["Addresses"] == []
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    calls = failed_calls(work)
    write_summary(f"terraform: apply {apply_seconds:.1f} s, destroy "
                           f"{destroy_seconds:.1f} s; provider calls answered with an error: "
                           f"{len(calls)}" + "".join(f"\n  {c}" for c in calls))
