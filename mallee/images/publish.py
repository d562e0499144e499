"""Bundle, upload and register an image in one step (what `euca-bundle-image`,
`euca-upload-bundle` and `euca-register` do in turn), and the test image that
`make up` publishes for everyone as `mallee-test`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mallee.bundle import bundle_image
from mallee.bundle.upload import ensure_bucket, upload_bundle
from mallee.images.testimage import TEST_IMAGE_CMDLINE, build_test_image

TEST_IMAGE_NAME = "mallee-test"
IMAGE_BUCKET = "mallee-images"


@dataclass(frozen=True)
class Signer:
    """Whose bundle it is: the cloud cert it is encrypted to, the user's cert and key."""
    cloud_cert_pem: bytes
    user_cert_pem: bytes
    user_key_pem: bytes
    account_id: str

    @classmethod
    def from_env(cls, env=os.environ) -> "Signer":
        """From an eucarc's EUCALYPTUS_CERT, EC2_CERT, EC2_PRIVATE_KEY, EC2_USER_ID."""
        return cls(Path(env["EUCALYPTUS_CERT"]).read_bytes(), Path(env["EC2_CERT"]).read_bytes(),
                   Path(env["EC2_PRIVATE_KEY"]).read_bytes(), env["EC2_USER_ID"])


def publish_image(ec2, s3, signer: Signer, image_path: Path, workdir: Path, *, name: str,
                  image_type: str = "machine", bucket: str = IMAGE_BUCKET,
                  kernel_id: str | None = None, ramdisk_id: str | None = None,
                  description: str | None = None) -> str:
    """Bundle `image_path`, upload it to `bucket`, register it; returns the image id."""
    bundle = bundle_image(image_path, workdir / name, prefix=name, image_type=image_type,
                          cloud_cert_pem=signer.cloud_cert_pem,
                          user_cert_pem=signer.user_cert_pem, user_key_pem=signer.user_key_pem,
                          account_id=signer.account_id, kernel_id=kernel_id,
                          ramdisk_id=ramdisk_id)
    ensure_bucket(s3, bucket)
    location = upload_bundle(s3, bundle.manifest_path, bucket)
    extra = {k: v for k, v in (("KernelId", kernel_id), ("RamdiskId", ramdisk_id),
                               ("Description", description)) if v}
    return ec2.register_image(ImageLocation=location, Name=name, **extra)["ImageId"]


def find_image(ec2, name: str) -> dict | None:
    images = ec2.describe_images(Owners=["self"],
                                 Filters=[{"Name": "name", "Values": [name]}])["Images"]
    return images[0] if images else None


def publish_test_image(ec2, s3, signer: Signer, workdir: Path, public: bool = True) -> dict:
    """Build the test image and register its kernel, ramdisk and root disk, once.

    Returns {"kernel", "ramdisk", "image"} ids; an existing `mallee-test` is reused.
    """
    existing = find_image(ec2, TEST_IMAGE_NAME)
    if existing:
        return {"kernel": existing.get("KernelId"), "ramdisk": existing.get("RamdiskId"),
                "image": existing["ImageId"]}
    built = build_test_image(workdir / "build")
    ids = {}
    for kind, path, name in (("kernel", built.kernel, f"{TEST_IMAGE_NAME}-kernel"),
                             ("ramdisk", built.initramfs, f"{TEST_IMAGE_NAME}-ramdisk")):
        found = find_image(ec2, name)
        ids[kind] = found["ImageId"] if found else publish_image(
            ec2, s3, signer, path, workdir, name=name, image_type=kind)
    ids["image"] = publish_image(
        ec2, s3, signer, built.rootfs, workdir, name=TEST_IMAGE_NAME,
        kernel_id=ids["kernel"], ramdisk_id=ids["ramdisk"],
        description=f"busybox test guest; kernel cmdline: {TEST_IMAGE_CMDLINE}")
    if public:
        for image_id in ids.values():
            ec2.modify_image_attribute(ImageId=image_id,
                                       LaunchPermission={"Add": [{"Group": "all"}]})
    return ids
