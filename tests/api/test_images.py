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
