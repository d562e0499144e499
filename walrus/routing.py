"""Where a request points: service, bucket or object, however it was addressed.

Walrus answers at its root (path-style), at `bucket.<s3 host>` (virtual-host
style) and under the Eucalyptus prefixes /services/objectstorage and
/services/Walrus. The key is taken from the raw path, so `..`, `//` and
percent-encoded characters survive exactly as the client sent them.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote

from walrus import errors

PREFIXES = ("/services/objectstorage", "/services/Walrus")


@dataclass(frozen=True)
class Target:
    bucket: str | None
    key: str | None
    raw_path: str                    # as sent; SigV4 signs this
    v2_resources: tuple[str, ...]    # the /bucket/key spellings a SigV2 client may sign

    @property
    def level(self) -> str:
        return "object" if self.key else "bucket" if self.bucket else "service"


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def _decode(raw: str) -> str:
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidArgument("The path is not valid UTF-8 once percent-decoded.")


def check_utf8(headers, raw_path: str) -> None:
    """Refuse header values and paths that are not UTF-8. aiohttp keeps such bytes as lone
    surrogates, which no encoder, database or response header takes: they were 500s,
    or stored as metadata that no later GET could send."""
    for text in (raw_path, *headers.values()):
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise errors.InvalidArgument("Header values and the path must be UTF-8.")


def resolve(host_header: str, raw_path: str, service_hosts: tuple[str, ...]) -> Target:
    """Map Host and the raw path (no query) to a Target."""
    raw_path = raw_path or "/"
    path = raw_path
    for prefix in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix):] or "/"
            break
    host = _hostname(host_header or "")
    vhost_bucket = None
    if host and not _is_ip(host):
        for service_host in service_hosts:
            if service_host and host.endswith("." + service_host):
                vhost_bucket = host[: -len(service_host) - 1]
                break
    if vhost_bucket:
        key = _decode(path[1:]) if len(path) > 1 else None
        resources = (f"/{vhost_bucket}{path}",)
        return Target(vhost_bucket, key or None, raw_path, resources)
    bucket_raw, _, key_raw = path[1:].partition("/")
    bucket = _decode(bucket_raw) or None
    key = _decode(key_raw) if key_raw else None
    if bucket is None and key is not None:  # "//x": an object in a bucket with no name
        raise errors.InvalidBucketName(BucketName="")
    resources = tuple(dict.fromkeys((path, raw_path)))
    if bucket and key is None:
        # Clients disagree on /bucket versus /bucket/ for bucket-level calls.
        resources = tuple(dict.fromkeys(
            r for p in resources for r in (p.rstrip("/"), p.rstrip("/") + "/")))
    return Target(bucket, key, raw_path, resources)
