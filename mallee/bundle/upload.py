"""Upload a bundle to an S3 bucket (Walrus) as euca-upload-bundle does.

Parts go first and the manifest last, so a manifest in the bucket always has
its parts beside it. Keys are <prefix>/<file name> under the bucket; the
returned location "bucket/[prefix/]name.manifest.xml" is what RegisterImage
takes as ImageLocation.
"""
from __future__ import annotations

from pathlib import Path

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from mallee.bundle.bundler import Progress
from mallee.bundle.manifest import parse_manifest

# One PUT per file (parts are 10 MiB): euca2ools does the same, and Walrus
# then sees the plain objects RegisterImage and the NC read back.
_SINGLE_PUT = TransferConfig(multipart_threshold=5 * 2**30, max_concurrency=4)
BUNDLE_ACL = "aws-exec-read"  # lets the cloud read the bundle; euca2ools' default


def split_bucket(bucket_and_prefix: str) -> tuple[str, str]:
    """'bucket/some/prefix' -> ('bucket', 'some/prefix/'); 'bucket' -> ('bucket', '')."""
    bucket, _, prefix = bucket_and_prefix.strip("/").partition("/")
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


def ensure_bucket(s3, bucket: str, region: str | None = None) -> bool:
    """Create the bucket unless it exists; True if it was made."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    extra = {} if region in (None, "us-east-1") else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **extra)
    return True


def upload_bundle(s3, manifest_path: Path | str, bucket_and_prefix: str, *,
                  acl: str = BUNDLE_ACL, progress: Progress | None = None) -> str:
    """Upload the manifest's parts (found beside it) and then the manifest; returns its location."""
    manifest_path = Path(manifest_path)
    manifest = parse_manifest(manifest_path.read_bytes())
    files = [manifest_path.parent / p.filename for p in manifest.parts] + [manifest_path]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"bundle file(s) missing: {', '.join(missing)}")
    bucket, prefix = split_bucket(bucket_and_prefix)
    total = sum(f.stat().st_size for f in files)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    for path in files:
        done_before = done
        try:
            s3.upload_file(str(path), bucket, prefix + path.name, Config=_SINGLE_PUT,
                           ExtraArgs={"ACL": acl}, Callback=advance)
        except ClientError as err:
            # An S3 that does not know aws-exec-read: the owner (and the cloud) can still read.
            if acl == "private" or err.response.get("Error", {}).get("Code") not in (
                    "InvalidArgument", "NotImplemented", "InvalidRequest", "UnsupportedACL"):
                raise
            acl, done = "private", done_before
            s3.upload_file(str(path), bucket, prefix + path.name, Config=_SINGLE_PUT,
                           ExtraArgs={"ACL": acl}, Callback=advance)
    return f"{bucket}/{prefix}{manifest_path.name}"
