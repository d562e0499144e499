"""Bundles in Walrus registered as images, and who may see and launch them."""
import pytest
from botocore.exceptions import ClientError

from mallee.images.publish import Signer, publish_image


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_test_image_is_registered_with_kernel_and_ramdisk(ec2, published):
    image = ec2.describe_images(Filters=[{"Name": "name", "Values": ["mallee-test"]}])["Images"][0]
    assert image["ImageId"] == published["image"]
    assert image["KernelId"] == published["kernel"] and image["RamdiskId"] == published["ramdisk"]
    assert image["ImageLocation"] == "mallee-images/mallee-test.manifest.xml"
    assert image["Public"] is True and image["State"] == "available"
    assert image["RootDeviceType"] == "instance-store"
    kinds = {i["ImageId"]: i["ImageType"] for i in ec2.describe_images(
        ImageIds=list(published.values()))["Images"]}
    assert kinds == {published["kernel"]: "kernel", published["ramdisk"]: "ramdisk",
                     published["image"]: "machine"}
    assert published["kernel"].startswith("aki-") and published["ramdisk"].startswith("ari-")


def test_other_accounts_see_public_images(alice_ec2, published):
    found = alice_ec2.describe_images(ExecutableUsers=["all"])["Images"]
    assert published["image"] in {i["ImageId"] for i in found}


def private_image(cloud, ec2, s3, tmp_path, name):
    signer = Signer.from_env(cloud.cli_env())
    blob = tmp_path / f"{name}.img"
    blob.write_bytes(b"\0" * 4096 + b"mallee" * 1000)
    return publish_image(ec2, s3, signer, blob, tmp_path, name=name, bucket="private-bundles")


def test_launch_permissions_are_enforced(cloud, ec2, alice_ec2, alice, tmp_path):
    s3 = cloud.client("s3")
    image_id = private_image(cloud, ec2, s3, tmp_path, "perm-test")
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_images(ImageIds=[image_id])
    assert code(e) == "InvalidAMIID.NotFound"
    ec2.modify_image_attribute(ImageId=image_id,
                               LaunchPermission={"Add": [{"UserId": alice.account_id}]})
    attr = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
    assert attr["LaunchPermissions"] == [{"UserId": alice.account_id}]
    assert alice_ec2.describe_images(ImageIds=[image_id])["Images"][0]["ImageId"] == image_id
    assert image_id in {i["ImageId"] for i in
                        alice_ec2.describe_images(ExecutableUsers=["self"])["Images"]}
    ec2.modify_image_attribute(ImageId=image_id, Attribute="launchPermission",
                               OperationType="remove", UserIds=[alice.account_id])
    assert alice_ec2.describe_images(Filters=[{"Name": "image-id",
                                               "Values": [image_id]}])["Images"] == []
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    assert alice_ec2.describe_images(ImageIds=[image_id])["Images"][0]["Public"] is True
    ec2.reset_image_attribute(ImageId=image_id, Attribute="launchPermission")
    assert ec2.describe_image_attribute(ImageId=image_id,
                                        Attribute="launchPermission")["LaunchPermissions"] == []
    with pytest.raises(ClientError) as e:
        alice_ec2.modify_image_attribute(ImageId=image_id,
                                         LaunchPermission={"Add": [{"Group": "all"}]})
    assert code(e) == "InvalidAMIID.NotFound"


def test_register_needs_a_readable_manifest(cloud, ec2, alice_ec2, tmp_path):
    with pytest.raises(ClientError) as e:
        ec2.register_image(ImageLocation="mallee-images/nothing.manifest.xml", Name="nothing")
    assert code(e) == "InvalidManifest"
    # Alice cannot register the admin's private bundle: she may not read it.
    private_image(cloud, ec2, cloud.client("s3"), tmp_path, "admin-only")
    with pytest.raises(ClientError) as e:
        alice_ec2.register_image(ImageLocation="private-bundles/admin-only.manifest.xml",
                                 Name="stolen")
    assert code(e) == "InvalidManifest"


def test_register_checks_the_signature(cloud, ec2, tmp_path):
    s3 = cloud.client("s3")
    private_image(cloud, ec2, s3, tmp_path, "to-tamper")
    body = s3.get_object(Bucket="private-bundles", Key="to-tamper.manifest.xml")["Body"].read()
    tampered = body.replace(b"<name>to-tamper</name>", b"<name>tampered!</name>")
    assert tampered != body
    s3.put_object(Bucket="private-bundles", Key="tampered.manifest.xml", Body=tampered)
    with pytest.raises(ClientError) as e:
        ec2.register_image(ImageLocation="private-bundles/tampered.manifest.xml", Name="tampered")
    assert code(e) == "InvalidManifest"


def test_register_duplicate_name_and_deregister(cloud, ec2, tmp_path):
    image_id = private_image(cloud, ec2, cloud.client("s3"), tmp_path, "dup-name")
    with pytest.raises(ClientError) as e:
        ec2.register_image(ImageLocation="private-bundles/dup-name.manifest.xml", Name="dup-name")
    assert code(e) == "InvalidAMIName.Duplicate"
    ec2.deregister_image(ImageId=image_id)
    assert ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"] == []
    with pytest.raises(ClientError) as e:
        ec2.describe_images(ImageIds=["ami-zzz"])
    assert code(e) == "InvalidAMIID.Malformed"


def _launch_and_fail(cloud, ec2, image_id, monkeypatch):
    """Launch the image; the instance must end with no domain ever started."""
    from node_controller.hypervisor.fake import FakeDriver
    started = []
    real_start = FakeDriver.start

    def start(self, name, paused=False):
        started.append(name)
        return real_start(self, name, paused)

    monkeypatch.setattr(FakeDriver, "start", start)
    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small")["Instances"][0]["InstanceId"]

    def ended():
        found = ec2.describe_instances(InstanceIds=[instance_id])
        instance = found["Reservations"][0]["Instances"][0]
        return instance["State"]["Name"] in ("terminated", "running") and instance
    instance = cloud.wait_for(ended, timeout=30)
    assert instance and instance["State"]["Name"] == "terminated", instance
    assert started == []
    assert not (cloud.nc_state / "instances" / instance_id).exists()
    assert not (cloud.nc_state / "cache" / "images" / image_id).exists()
    return instance["StateReason"]


def test_a_bundle_changed_after_registration_does_not_launch(cloud, ec2, tmp_path, monkeypatch):
    """The owner may still write the bucket: a new bundle, signed with the
    owner's own key, uploaded over the registered one, must not run."""
    from mallee.bundle import bundle_image
    from mallee.bundle.upload import upload_bundle
    s3 = cloud.client("s3")
    image_id = private_image(cloud, ec2, s3, tmp_path, "changes-later")
    signer = Signer.from_env(cloud.cli_env())
    other = tmp_path / "other.img"
    other.write_bytes(b"\1" * 4096 + b"something else" * 1000)
    bundle = bundle_image(other, tmp_path / "again", prefix="changes-later",
                          image_type="machine", cloud_cert_pem=signer.cloud_cert_pem,
                          user_cert_pem=signer.user_cert_pem, user_key_pem=signer.user_key_pem,
                          account_id=signer.account_id)
    assert upload_bundle(s3, bundle.manifest_path, "private-bundles") == \
        "private-bundles/changes-later.manifest.xml"
    reason = _launch_and_fail(cloud, ec2, image_id, monkeypatch)
    assert reason["Code"] == "Server.InternalError"
    assert image_id in reason["Message"] and "changed since it was registered" in reason["Message"]


def test_a_changed_bundle_part_names_the_image_not_any_hash(cloud, ec2, tmp_path, monkeypatch):
    import re
    s3 = cloud.client("s3")
    image_id = private_image(cloud, ec2, s3, tmp_path, "part-changes")
    parts = [o["Key"] for o in s3.list_objects_v2(Bucket="private-bundles",
                                                   Prefix="part-changes.part")["Contents"]]
    s3.put_object(Bucket="private-bundles", Key=parts[0], Body=b"not the registered part")
    reason = _launch_and_fail(cloud, ec2, image_id, monkeypatch)
    assert image_id in reason["Message"] and "changed since it was registered" in reason["Message"]
    assert not re.search(r"[0-9a-f]{40}", reason["Message"]), reason["Message"]


def test_bundles_are_fetched_as_the_images_owner(cloud, alice, alice_ec2, tmp_path):
    """The node's URLs are presigned with the owner's key, not the cloud admin's."""
    import json
    from urllib.parse import parse_qs, urlsplit
    s3 = cloud.client("s3", alice)
    signer = Signer.from_env(cloud.cli_env(alice))
    blob = tmp_path / "alices.img"
    blob.write_bytes(b"\0" * 4096 + b"alice" * 1000)
    image_id = publish_image(alice_ec2, s3, signer, blob, tmp_path, name="alices-own",
                             bucket="alice-bundles")
    instance_id = alice_ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                          InstanceType="m1.small")["Instances"][0]["InstanceId"]
    spec_file = cloud.nc_state / "instances" / instance_id / "spec.json"
    assert cloud.wait_for(spec_file.exists, timeout=30)
    source = json.loads(spec_file.read_text())["image"]
    urls = [source["manifest_url"], *source["part_urls"].values()]
    keys = {parse_qs(urlsplit(u).query)["X-Amz-Credential"][0].split("/")[0] for u in urls}
    assert keys == {alice.access_key_id}
    assert len(source["manifest_sha256"]) == 64
    alice_ec2.terminate_instances(InstanceIds=[instance_id])
