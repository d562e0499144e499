"""Bundle, upload and register an image in one step (what `euca-bundle-image`,
`euca-upload-bundle` and `euca-register` do in turn), and the images that
`mallee image build-test|build-debian` publish for everyone: `mallee-test`
(`make up` does it) and `mallee-debian`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mallee.bundle import bundle_image
from mallee.bundle.upload import ensure_bucket, upload_bundle
from mallee.images.testimage import TEST_IMAGE_CMDLINE, build_test_image

TEST_IMAGE_NAME = "mallee-test"
DEBIAN_IMAGE_NAME = "mallee-debian"
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
    return publish_kernel_image(
        ec2, s3, signer, workdir, TEST_IMAGE_NAME, lambda: build_test_image(workdir / "build"),
        description=f"busybox test guest; kernel cmdline: {TEST_IMAGE_CMDLINE}", public=public)


def publish_debian_image(ec2, s3, signer: Signer, workdir: Path, public: bool = True,
                         cache_dir: Path | None = None, mirror: str | None = None,
                         log=print) -> dict:
    """Build (or take from cache_dir) the Debian cloud image and register it as
    `mallee-debian`, once; returns {"kernel", "ramdisk", "image"} ids."""
    from mallee.images.debian import SUITE, build_debian_image
    return publish_kernel_image(
        ec2, s3, signer, workdir, DEBIAN_IMAGE_NAME,
        lambda: build_debian_image(cache_dir or workdir / "build", mirror=mirror, log=log),
        description=f"Debian {SUITE} with cloud-init (Ec2 datasource); log in as root",
        public=public)


def publish_kernel_image(ec2, s3, signer: Signer, workdir: Path, name: str, build,
                         description: str, public: bool = True) -> dict:
    """Register `name` and its `name-kernel`/`name-ramdisk`, each only if missing.

    `build()` returns (kernel, ramdisk, root disk) paths; it is called only when
    something must be uploaded. Returns {"kernel", "ramdisk", "image"} ids.
    """
    existing = find_image(ec2, name)
    if existing:
        return {"kernel": existing.get("KernelId"), "ramdisk": existing.get("RamdiskId"),
                "image": existing["ImageId"]}
    kernel, ramdisk, rootfs = build()
    ids = {}
    for kind, path in (("kernel", kernel), ("ramdisk", ramdisk)):
        found = find_image(ec2, f"{name}-{kind}")
        ids[kind] = found["ImageId"] if found else publish_image(
            ec2, s3, signer, path, workdir, name=f"{name}-{kind}", image_type=kind)
    ids["image"] = publish_image(
        ec2, s3, signer, rootfs, workdir, name=name,
        kernel_id=ids["kernel"], ramdisk_id=ids["ramdisk"], description=description)
    if public:
        for image_id in ids.values():
            ec2.modify_image_attribute(ImageId=image_id,
                                       LaunchPermission={"Add": [{"Group": "all"}]})
    return ids
