"""Credentials files that awscli, boto3, s3cmd and euca2ools read without flags."""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Awaitable, Callable

from mallee.auth import Credential
from mallee.files import write_atomic
from mallee.settings import Settings


def endpoints(settings: Settings) -> dict[str, str]:
    host = settings.cloud.host
    return {"ec2": f"http://{host}:{settings.clc.port}/",
            "s3": f"http://{host}:{settings.walrus.port}/",
            "euca_ec2": f"http://{host}:{settings.clc.port}/services/compute",
            "euca_s3": f"http://{host}:{settings.walrus.port}/services/objectstorage"}


# Issues and records a bundling certificate for the key's user: (cert PEM, key PEM).
IssueCertificate = Callable[[Credential], Awaitable[tuple[bytes, bytes]]]


async def write_eucarc(settings: Settings, credential: Credential, path: Path,
                       issue_certificate: IssueCertificate) -> Path:
    """Write an eucarc for one access key, with the user's bundling certificate beside it.

    The CLC issues and records the certificate (`issue_certificate`, called only
    when there is none beside the file yet), so RegisterImage can check bundles
    signed with it.
    """
    folder = path.parent
    cert_path = folder / f"{credential.account_name}-{credential.user_name}-cert.pem"
    key_path = folder / f"{credential.account_name}-{credential.user_name}-pk.pem"
    if not cert_path.exists():
        cert, key = await issue_certificate(credential)
        write_atomic(key_path, key, mode=0o600)
        write_atomic(cert_path, cert, mode=0o600)
    ep = endpoints(settings)
    values = {
        "AWS_ACCESS_KEY_ID": credential.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credential.secret_access_key,
        "AWS_DEFAULT_REGION": settings.cloud.region,
        "AWS_ENDPOINT_URL_EC2": ep["ec2"],
        "AWS_ENDPOINT_URL_S3": ep["s3"],
        # Ansible and Terraform ask STS/IAM who they are; the CLC answers at its URL.
        "AWS_ENDPOINT_URL_STS": ep["ec2"],
        "AWS_ENDPOINT_URL_IAM": ep["ec2"],
        # CloudWatch (metrics of instances, and users' own) at the same URL.
        "AWS_ENDPOINT_URL_CLOUDWATCH": ep["ec2"],
        # euca2ools' names.
        "EC2_URL": ep["euca_ec2"],
        "S3_URL": ep["euca_s3"],
        "EC2_ACCESS_KEY": credential.access_key_id,
        "EC2_SECRET_KEY": credential.secret_access_key,
        "AWS_ACCESS_KEY": credential.access_key_id,
        "AWS_SECRET_KEY": credential.secret_access_key,
        "EUCALYPTUS_CERT": str(settings.pki_dir / "cloud-cert.pem"),
        "EC2_CERT": str(cert_path),
        "EC2_PRIVATE_KEY": str(key_path),
        "EC2_USER_ID": credential.account_id,
    }
    lines = [f"# Mallee credentials for {credential.account_name}/{credential.user_name}",
             f"# source {path}"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    write_atomic(path, "\n".join(lines) + "\n", mode=0o600)
    return path
