"""What the Walrus kill -9 tests check after every restart: every object
ever acknowledged is there byte for byte, nothing torn is visible, and no
blob is left on disk that no row names."""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions

FAILED_CALL = (botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError,
               botocore.exceptions.ConnectionClosedError)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ObjectLedger:
    """The S3 side of the contract: key -> the sha256 its last acknowledged write
    left (None: acknowledged deleted); `maybe` holds the writes that were in flight
    when Walrus died, any one of which may be what the key now holds."""
    bucket: str
    acked: dict[str, str | None] = field(default_factory=dict)
    maybe: dict[str, set[str | None]] = field(default_factory=dict)

    def wrote(self, key: str, data: bytes | None, acknowledged: bool) -> None:
        value = None if data is None else digest(data)
        if acknowledged:
            self.acked[key] = value
            self.maybe.pop(key, None)
        else:
            self.maybe.setdefault(key, {self.acked.get(key)}).add(value)

    def check(self, s3) -> dict[str, int]:
        """Read every key back; settle the in-flight ones to what they turned out to be."""
        found = {"acknowledged": 0, "in flight, applied": 0, "in flight, not applied": 0}
        for key in sorted(self.acked.keys() | self.maybe.keys()):
            now = _read(s3, self.bucket, key)
            if key in self.maybe:
                assert now in self.maybe[key], f"{key}: torn or foreign content after restart"
                found["in flight, not applied" if now == self.acked.get(key) else
                      "in flight, applied"] += 1
                self.acked[key] = now
                del self.maybe[key]
            else:
                assert now == self.acked[key], f"{key}: acknowledged write lost"
                found["acknowledged"] += 1
        listed = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket) for o in page.get("Contents", [])}
        assert listed == {k for k, v in self.acked.items() if v is not None}, \
            "the listing differs from the objects that are there"
        return found


def _read(s3, bucket: str, key: str) -> str | None:
    try:
        return digest(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def unreferenced_blobs(data_dir: Path) -> set[str]:
    """Blob files, and inline blobs in walrus.db, that no object, version or part row
    names (after Walrus's start-up sweep)."""
    with sqlite3.connect(f"file:{data_dir / 'walrus.db'}?mode=ro", uri=True) as db:
        named = {r[0] for r in db.execute("SELECT blob FROM objects UNION SELECT blob FROM "
                                          "versions UNION SELECT blob FROM parts")}
        inline = {r[0] for r in db.execute("SELECT name FROM inline_blobs")}
    on_disk = {p.name for p in (data_dir / "blobs").glob("*/*") if p.is_file()}
    return (on_disk | inline) - named


def blob_names(data_dir: Path, bucket: str, prefix: str) -> dict[str, str]:
    """key -> the blob its current object names, for the keys under `prefix`."""
    with sqlite3.connect(f"file:{data_dir / 'walrus.db'}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT key, blob FROM objects WHERE bucket=? AND key>=? AND "
                               "key<?", (bucket, prefix, prefix + "\U0010ffff")))
