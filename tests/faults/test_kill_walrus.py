"""Kill -9 Walrus in the middle of PUTs, multipart completes and deletes, at
each step (blob written, row committed, reply not yet sent), then start it
again: every acknowledged object is there byte for byte, no torn object is
visible, the listing agrees, and no blob is left that no row names."""
from __future__ import annotations

import os
import threading

import pytest

from tests.faults.objects import (FAILED_CALL, ObjectLedger, blob_names, digest,
                                  unreferenced_blobs)
from tests.faults.processes import Component
from tests.faults.survival import SURVIVED
from tests.harness import Cloud

pytestmark = pytest.mark.faults
MiB = 1 << 20


@pytest.fixture(scope="module")
def walrus_cloud(tmp_path_factory):
    cloud = Cloud(tmp_path_factory.mktemp("kill-walrus"), ("clc", "cc", "nc")).start()
    walrus = Component(cloud, "walrus").start()
    try:
        yield cloud, walrus
    finally:
        walrus.stop()
        cloud.stop()


@pytest.fixture(scope="module")
def s3(walrus_cloud):
    cloud, _ = walrus_cloud
    client = cloud.client("s3", read_timeout=30, connect_timeout=5)
    # The CLC pushes the keys to the new Walrus on its next poll.
    assert cloud.wait_for(lambda: _answers(client), timeout=30), "Walrus never knew the keys"
    return client


@pytest.fixture(scope="module")
def ledger(s3):
    s3.create_bucket(Bucket="kept")
    book = ObjectLedger("kept")
    for n in range(6):  # acknowledged before any fault: these must outlive them all
        data = os.urandom(n * 100_000 + 1)
        s3.put_object(Bucket="kept", Key=f"before/{n}", Body=data)
        book.wrote(f"before/{n}", data, True)
    return book


def _answers(s3) -> bool:
    try:
        s3.list_buckets()
        return True
    except Exception:  # noqa: BLE001 - not yet: unknown key, or not up
        return False


def restart(walrus_cloud, s3, ledger, fault: str, also=None) -> None:
    """Walrus died at its crash point: start it clean and check everything (and what
    `also()` checks, which says what it found)."""
    cloud, walrus = walrus_cloud
    walrus.wait_killed()
    walrus.start()
    found = ledger.check(s3)
    orphans = unreferenced_blobs(cloud.settings.data_dir("walrus"))
    assert not orphans, f"blobs no row names after restart: {sorted(orphans)[:5]}"
    extra = f"; {also()}" if also is not None else ""
    SURVIVED.record("walrus", fault, ", ".join(f"{n} {what}" for what, n in found.items() if n)
                    + extra + "; 0 torn, 0 orphan blobs")


def concurrent_puts(s3, ledger, keys: list[str], size: int) -> None:
    """PUT every key at once from its own thread; note which were acknowledged."""
    def put(key):
        data = os.urandom(size)
        try:
            s3.put_object(Bucket=ledger.bucket, Key=key, Body=data)
            ledger.wrote(key, data, True)
        except FAILED_CALL:
            ledger.wrote(key, data, False)
    threads = [threading.Thread(target=put, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("point", ["walrus.put.blob_written", "walrus.put.committed"])
def test_kill_in_puts(walrus_cloud, s3, ledger, point):
    cloud, walrus = walrus_cloud
    walrus.stop()
    walrus.start(crash_at=f"{point}@3")
    # New keys and overwrites of acknowledged ones, several in flight at the kill.
    keys = [f"{point}/{n}" for n in range(6)] + ["before/1", "before/2"]
    concurrent_puts(s3, ledger, keys, 3 * MiB)
    restart(walrus_cloud, s3, ledger, f"PUT, kill at {point.split('.')[-1]}")


@pytest.mark.parametrize("point", ["walrus.put.blob_written", "walrus.put.committed"])
def test_kill_in_small_inline_puts(walrus_cloud, s3, ledger, point):
    """4 KiB PUTs, whose bytes live in walrus.db (inline_blobs) and whose commit is their
    one durability point: killed with several in flight, every acknowledged one reads
    back whole, an in-flight one is all old or all new, and no inline row is left that
    no object names."""
    cloud, walrus = walrus_cloud
    prefix = f"small/{point}/"
    keys = [f"{prefix}{n}" for n in range(10)]
    for key in keys[:3]:  # acknowledged first, overwritten while Walrus dies
        data = os.urandom(4096)
        s3.put_object(Bucket=ledger.bucket, Key=key, Body=data)
        ledger.wrote(key, data, True)
    walrus.stop()
    walrus.start(crash_at=f"{point}@4")
    concurrent_puts(s3, ledger, keys, 4096)
    restart(walrus_cloud, s3, ledger, f"4 KiB inline PUTs, kill at {point.split('.')[-1]}")
    stored = blob_names(cloud.settings.data_dir("walrus"), ledger.bucket, prefix)
    assert stored and all(name.startswith("i") for name in stored.values()), \
        "the small objects were not kept inline: this test would not test that"


@pytest.mark.parametrize("point", ["walrus.complete.joined", "walrus.complete.committed"])
def test_kill_in_multipart_complete(walrus_cloud, s3, ledger, point):
    cloud, walrus = walrus_cloud
    key = f"{point}/big"
    parts = [os.urandom(5 * MiB), os.urandom(MiB + 7)]
    upload = s3.create_multipart_upload(Bucket=ledger.bucket, Key=key)["UploadId"]
    etags = [s3.upload_part(Bucket=ledger.bucket, Key=key, UploadId=upload, PartNumber=n,
                            Body=data)["ETag"] for n, data in enumerate(parts, 1)]
    walrus.stop()
    walrus.start(crash_at=point)
    listing = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]}
    with pytest.raises(FAILED_CALL):
        s3.complete_multipart_upload(Bucket=ledger.bucket, Key=key, UploadId=upload,
                                     MultipartUpload=listing)
    ledger.wrote(key, b"".join(parts), False)
    restart(walrus_cloud, s3, ledger, f"multipart complete, kill at {point.split('.')[-1]}")
    pending = {u["UploadId"] for u in s3.list_multipart_uploads(
        Bucket=ledger.bucket).get("Uploads", [])}
    if ledger.acked[key] is None:  # not committed: the upload is intact and completes now
        assert upload in pending
        s3.complete_multipart_upload(Bucket=ledger.bucket, Key=key, UploadId=upload,
                                     MultipartUpload=listing)
        ledger.wrote(key, b"".join(parts), True)
    else:  # committed: the object is whole and the upload is gone with its parts
        assert ledger.acked[key] == digest(b"".join(parts)) and upload not in pending
    assert ledger.check(s3)
    assert not unreferenced_blobs(cloud.settings.data_dir("walrus"))


def test_kill_in_delete(walrus_cloud, s3, ledger):
    cloud, walrus = walrus_cloud
    doomed = [f"doomed/{n}" for n in range(5)]
    for key in doomed:
        data = os.urandom(200_000)
        s3.put_object(Bucket=ledger.bucket, Key=key, Body=data)
        ledger.wrote(key, data, True)
    walrus.stop()
    walrus.start(crash_at="walrus.delete.committed")
    with pytest.raises(FAILED_CALL):
        s3.delete_objects(Bucket=ledger.bucket,
                          Delete={"Objects": [{"Key": k} for k in doomed]})
    for key in doomed:  # killed after its commit: gone, and so are their blobs
        ledger.wrote(key, None, False)
    restart(walrus_cloud, s3, ledger, "DeleteObjects, kill after commit")
    assert all(ledger.acked[k] is None for k in doomed), "the committed delete was undone"


def test_kill_in_versioned_writes(walrus_cloud, s3, ledger):
    """On a versioned bucket: overwrites killed after their commit, then a delete of one
    version killed after its commit. Every acknowledged version reads back byte for
    byte, every listed version holds bytes that some write sent, exactly one is the
    latest, the committed version delete stays done, and no blob is left unnamed."""
    cloud, walrus = walrus_cloud
    bucket = "versioned"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    acked: dict[str, str] = {}  # version id -> sha256
    sent: set[str] = set()
    lock = threading.Lock()

    def put():
        data = os.urandom(MiB)
        with lock:
            sent.add(digest(data))
        try:
            version = s3.put_object(Bucket=bucket, Key="k", Body=data)["VersionId"]
        except FAILED_CALL:
            return
        with lock:
            acked[version] = digest(data)
    for _ in range(3):
        put()
    walrus.stop()
    walrus.start(crash_at="walrus.put.committed@3")
    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    def versions() -> list[dict]:
        return s3.list_object_versions(Bucket=bucket).get("Versions", [])
    listed: list[dict] = []

    def check_versions() -> str:
        listed[:] = versions()
        assert {v["VersionId"] for v in listed} >= set(acked), "an acknowledged version lost"
        assert sum(v["IsLatest"] for v in listed) == 1
        for v in listed:
            body = s3.get_object(Bucket=bucket, Key="k",
                                 VersionId=v["VersionId"])["Body"].read()
            assert digest(body) in sent and acked.get(v["VersionId"], digest(body)) == \
                digest(body)
        return f"{len(acked)} acknowledged versions, {len(listed) - len(acked)} in flight kept"
    restart(walrus_cloud, s3, ledger, "versioned PUTs, kill at committed", check_versions)
    oldest = listed[-1]["VersionId"]
    walrus.stop()
    walrus.start(crash_at="walrus.delete.committed")
    with pytest.raises(FAILED_CALL):
        s3.delete_object(Bucket=bucket, Key="k", VersionId=oldest)

    def check_deleted() -> str:
        assert [v["VersionId"] for v in versions()] == [v["VersionId"] for v in listed[:-1]]
        return "the deleted version stays deleted"
    restart(walrus_cloud, s3, ledger, "versioned DeleteObject, kill after commit",
            check_deleted)
    assert not unreferenced_blobs(cloud.settings.data_dir("walrus"))


def test_kill_from_outside_under_load(walrus_cloud, s3, ledger):
    """No crash point: kill -9 by pid while large PUTs stream in."""
    cloud, walrus = walrus_cloud
    started = threading.Event()
    killer = threading.Thread(target=lambda: started.wait(30) and _kill_soon(walrus))
    killer.start()
    keys = [f"outside/{n}" for n in range(6)]
    started.set()
    concurrent_puts(s3, ledger, keys, 16 * MiB)
    killer.join(60)
    assert walrus.proc.poll() is not None
    walrus.start()
    found = ledger.check(s3)
    assert not unreferenced_blobs(cloud.settings.data_dir("walrus"))
    SURVIVED.record("walrus", "6 × 16 MiB PUTs, kill -9 from outside",
                    ", ".join(f"{n} {what}" for what, n in found.items() if n)
                    + "; 0 torn, 0 orphan blobs")


def _kill_soon(walrus: Component) -> bool:
    import time
    time.sleep(0.4)  # the uploads are streaming by then
    walrus.kill()
    return True
