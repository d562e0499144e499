"""`mallee image bundle|upload|register`: euca-bundle-image, euca-upload-bundle, euca-register.

Credentials come from the environment an eucarc sets (`mallee admin eucarc`):
EC2_CERT, EC2_PRIVATE_KEY, EC2_USER_ID and EUCALYPTUS_CERT for bundling,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY with AWS_ENDPOINT_URL_S3/_EC2 for the
calls; flags override them, as in euca2ools. Other image subcommands may be
added to the parser add_parser returns: each sets `image_handler`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mallee.errors import ApiError
from mallee.settings import Settings

ARCHITECTURES = ("i386", "x86_64", "armhf", "arm64", "ppc", "ppc64", "ppc64le")
MiB = 2**20


class ImageCliError(ApiError):
    """A one-line, user-facing error from `mallee image` (printed by mallee_cli.main)."""
    code = "InvalidParameterValue"
    status = 400


class ProgressBar:
    """`label [#####.....]  42%  12.0/28.5 MiB` on stderr, redrawn at most 10 times a second."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.width = label, width
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        fraction = min(done / total, 1.0) if total else 1.0
        filled = int(fraction * self.width)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{fraction:4.0%}  {done / MiB:.1f}/{total / MiB:.1f} MiB")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# --- bundle -----------------------------------------------------------------
def _setting(flag_value: str | None, env_name: str, what: str, flag: str) -> str:
    value = flag_value or os.environ.get(env_name)
    if not value:
        raise ImageCliError(f"no {what}: pass {flag} or set {env_name} "
                            "(`source` an eucarc from `mallee admin eucarc`)")
    return value


def _read_pem(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as err:
        raise ImageCliError(f"cannot read the {what} {path}: {err.strerror}") from None


def _block_device_mappings(text: str) -> dict[str, str]:
    mappings = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        virtual, sep, device = item.partition("=")
        if not sep or not virtual or not device:
            raise argparse.ArgumentTypeError(f"invalid mapping {item!r} (use VIRTUAL=DEVICE)")
        mappings[virtual.strip()] = device.strip()
    return mappings


def _image_type(args) -> tuple[str, str | None, str | None]:
    """euca2ools' rules: `--kernel true` / `--ramdisk true` mark kernel and ramdisk bundles."""
    image_type, kernel, ramdisk = args.image_type, args.kernel, args.ramdisk
    if kernel == "true":
        image_type = "kernel"
    if ramdisk == "true":
        image_type = "ramdisk"
    if image_type == "kernel" and (ramdisk or kernel not in (None, "true")):
        raise ImageCliError("a kernel bundle takes no --ramdisk and no --kernel image id")
    if image_type == "ramdisk" and (kernel or ramdisk not in (None, "true")):
        raise ImageCliError("a ramdisk bundle takes no --kernel and no --ramdisk image id")
    if image_type != "machine" and args.block_device_mappings:
        raise ImageCliError(f"-B/--block-device-mappings is for machine images, not {image_type}")
    return image_type, kernel, ramdisk


def cmd_bundle(settings: Settings, args) -> None:
    from mallee.bundle import bundle_image

    image = Path(args.image)
    if not image.is_file():
        raise ImageCliError(f"image file {image} does not exist or is not a file")
    image_type, kernel, ramdisk = _image_type(args)
    cloud_cert = args.ec2cert or os.environ.get("EUCALYPTUS_CERT")
    if not cloud_cert and (settings.pki_dir / "cloud-cert.pem").exists():
        cloud_cert = str(settings.pki_dir / "cloud-cert.pem")  # on the cloud's own host
    cloud_cert = _setting(cloud_cert, "EUCALYPTUS_CERT", "cloud certificate", "--ec2cert")
    user_cert = _setting(args.cert, "EC2_CERT", "user certificate", "-c/--cert")
    user_key = _setting(args.privatekey, "EC2_PRIVATE_KEY", "private key", "-k/--privatekey")
    account = _setting(args.user, "EC2_USER_ID", "account id", "-u/--user")
    if args.destination:
        out_dir = Path(args.destination)
        if out_dir.exists() and not out_dir.is_dir():
            raise ImageCliError(f"-d/--destination {out_dir} is not a directory")
    else:
        base = os.environ.get("TMPDIR") or os.environ.get("TEMP") or "/var/tmp"
        out_dir = Path(tempfile.mkdtemp(prefix="bundle-", dir=base))
    bar = ProgressBar("Bundling image")
    try:
        bundle = bundle_image(
            image, out_dir, prefix=args.prefix, image_type=image_type, arch=args.arch,
            cloud_cert_pem=_read_pem(cloud_cert, "cloud certificate"),
            user_cert_pem=_read_pem(user_cert, "user certificate"),
            user_key_pem=_read_pem(user_key, "private key"), account_id=account,
            kernel_id=kernel, ramdisk_id=ramdisk,
            block_device_mappings=args.block_device_mappings, part_size=args.part_size,
            progress=bar)
    except ValueError as err:  # a certificate or key that is not RSA PEM
        raise ImageCliError(f"cannot bundle: {err}") from None
    finally:
        bar.close()
    for path in bundle.part_paths:
        print(f"Wrote {path}")
    print(f"Wrote manifest {bundle.manifest_path}")


# --- upload and register ----------------------------------------------------
def _client(settings: Settings, service: str):
    import boto3
    from botocore.config import Config

    from mallee.eucarc import endpoints

    env_name = f"AWS_ENDPOINT_URL_{service.upper()}"
    endpoint = os.environ.get(env_name) or os.environ.get("AWS_ENDPOINT_URL") or \
        endpoints(settings)[service]
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or \
        settings.cloud.region
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 3})), endpoint, region


def _aws_call(what: str, endpoint: str, call):
    from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError,
                                     NoCredentialsError)
    try:
        return call()
    except NoCredentialsError:
        raise ImageCliError("no AWS credentials: `source` an eucarc (mallee admin eucarc) "
                            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
    except EndpointConnectionError:
        raise ImageCliError(f"{what}: cannot connect to {endpoint}: is the cloud up "
                            "(`mallee up`, `mallee status`)?") from None
    except ClientError as err:
        error = err.response.get("Error", {})
        raise ImageCliError(f"{what}: {error.get('Code', 'error')}: "
                            f"{error.get('Message', err)}") from None
    except BotoCoreError as err:
        raise ImageCliError(f"{what}: {err}") from None


def cmd_upload(settings: Settings, args) -> None:
    from mallee.bundle.upload import ensure_bucket, split_bucket, upload_bundle

    manifest = Path(args.manifest)
    if not manifest.is_file():
        raise ImageCliError(f"manifest {manifest} does not exist")
    s3, endpoint, region = _client(settings, "s3")
    bucket, _ = split_bucket(args.bucket)
    if _aws_call(f"create bucket {bucket}", endpoint,
                 lambda: ensure_bucket(s3, bucket, region)):
        print(f"Created bucket {bucket}", file=sys.stderr)
    bar = ProgressBar("Uploading bundle")
    try:
        location = _aws_call(f"upload to {args.bucket}", endpoint, lambda: upload_bundle(
            s3, manifest, args.bucket, acl=args.acl, progress=bar))
    except FileNotFoundError as err:
        raise ImageCliError(str(err)) from None
    finally:
        bar.close()
    print(f"Uploaded {location}")


def cmd_register(settings: Settings, args) -> None:
    ec2, endpoint, _ = _client(settings, "ec2")
    params = {"ImageLocation": args.location.lstrip("/"), "Name": args.name}
    for key, value in (("KernelId", args.kernel), ("RamdiskId", args.ramdisk),
                       ("Architecture", args.arch), ("Description", args.description)):
        if value:
            params[key] = value
    reply = _aws_call(f"register {args.location}", endpoint,
                      lambda: ec2.register_image(**params))
    print(f"IMAGE\t{reply['ImageId']}")


def _build_and_publish(settings: Settings, what: str, publish) -> None:
    """Run `publish(ec2, s3, signer)` with the eucarc's credentials; print the ids."""
    from mallee.images.publish import Signer
    ec2, endpoint, _ = _client(settings, "ec2")
    s3, _, _ = _client(settings, "s3")
    try:
        signer = Signer.from_env()
    except KeyError as err:
        raise ImageCliError(f"{err.args[0]} is not set: `source` your eucarc first") from None
    ids = _aws_call(f"publish the {what}", endpoint, lambda: publish(ec2, s3, signer))
    for kind in ("kernel", "ramdisk", "image"):
        print(f"{kind.upper():8}{ids[kind]}")


def cmd_build_test(settings: Settings, args) -> None:
    """Build the busybox test image and register it (kernel, ramdisk, machine), once."""
    from mallee.images.publish import publish_test_image
    workdir = settings.home / "images" / "test"
    _build_and_publish(settings, "test image", lambda ec2, s3, signer: publish_test_image(
        ec2, s3, signer, workdir, public=not args.private))


def cmd_build_debian(settings: Settings, args) -> None:
    """Build the Debian cloud image (debootstrap; cached) and register it, once."""
    from mallee.images.publish import publish_debian_image
    if os.geteuid() != 0:
        raise ImageCliError("build-debian runs debootstrap and chroot: run it as root")
    if not shutil.which("debootstrap"):
        raise ImageCliError("debootstrap is not installed: apt-get install debootstrap")
    workdir = settings.home / "images" / "debian"

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
    try:
        _build_and_publish(settings, "Debian image", lambda ec2, s3, signer: publish_debian_image(
            ec2, s3, signer, workdir, public=not args.private, mirror=args.mirror, log=log))
    except RuntimeError as err:  # debootstrap, apt or mke2fs failed: their last lines
        raise ImageCliError(f"cannot build the Debian image: {err}") from None


# --- wiring -----------------------------------------------------------------
def add_parser(subparsers) -> argparse._SubParsersAction:
    image = subparsers.add_parser("image", help="bundle, upload and register machine images")
    sub = image.add_subparsers(dest="image_command", required=True)

    b = sub.add_parser("bundle", help="make a bundle of an image file (euca-bundle-image)")
    b.add_argument("-i", "--image", required=True, metavar="FILE")
    b.add_argument("-r", "--arch", default="x86_64", choices=ARCHITECTURES)
    b.add_argument("-d", "--destination", metavar="DIR",
                   help="where to write the bundle (default: a new dir in $TMPDIR or /var/tmp)")
    b.add_argument("-p", "--prefix", help="file name prefix (default: the image's file name)")
    b.add_argument("--kernel", metavar="ID", help="kernel aki- id, or 'true' to bundle a kernel")
    b.add_argument("--ramdisk", metavar="ID",
                   help="ramdisk ari- id, or 'true' to bundle a ramdisk")
    b.add_argument("--image-type", choices=("machine", "kernel", "ramdisk"), default="machine")
    b.add_argument("-B", "--block-device-mappings", type=_block_device_mappings,
                   metavar="VIRTUAL=DEVICE,...")
    b.add_argument("-c", "--cert", metavar="FILE", help="your certificate (default $EC2_CERT)")
    b.add_argument("-k", "--privatekey", metavar="FILE",
                   help="your private key (default $EC2_PRIVATE_KEY)")
    b.add_argument("--ec2cert", metavar="FILE",
                   help="the cloud's certificate (default $EUCALYPTUS_CERT)")
    b.add_argument("-u", "--user", metavar="ACCOUNT", help="account id (default $EC2_USER_ID)")
    b.add_argument("--part-size", type=int, default=10 * MiB, help=argparse.SUPPRESS)
    b.set_defaults(image_handler=cmd_bundle)

    u = sub.add_parser("upload", help="upload a bundle to a bucket (euca-upload-bundle)")
    u.add_argument("-b", "--bucket", required=True, metavar="BUCKET[/PREFIX]")
    u.add_argument("-m", "--manifest", required=True, metavar="FILE")
    u.add_argument("--acl", default="aws-exec-read",
                   choices=("aws-exec-read", "public-read", "private"))
    u.set_defaults(image_handler=cmd_upload)

    r = sub.add_parser("register", help="register an uploaded bundle (euca-register)")
    r.add_argument("location", metavar="BUCKET/PREFIX.manifest.xml")
    r.add_argument("-n", "--name", required=True)
    r.add_argument("--kernel", metavar="AKI_ID")
    r.add_argument("--ramdisk", metavar="ARI_ID")
    r.add_argument("-a", "--arch", choices=ARCHITECTURES)
    r.add_argument("-d", "--description")
    r.set_defaults(image_handler=cmd_register)

    t = sub.add_parser("build-test", help="build and register the busybox test image "
                                          "(mallee-test) from the host's kernel")
    t.add_argument("--private", action="store_true", help="do not share it with all accounts")
    t.set_defaults(image_handler=cmd_build_test)

    d = sub.add_parser("build-debian", help="build with debootstrap and register a Debian "
                                            "image with cloud-init (mallee-debian); needs root")
    d.add_argument("--mirror", metavar="URL",
                   help="Debian mirror (default: the host's apt sources, else deb.debian.org)")
    d.add_argument("--private", action="store_true", help="do not share it with all accounts")
    d.set_defaults(image_handler=cmd_build_debian)
    return sub


def run(settings: Settings, args) -> None:
    args.image_handler(settings, args)
