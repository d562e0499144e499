"""Concurrent mixed writers, S3 (issue 11's standing suite): several accounts'
threads interleave PUTs, overwrites, multipart uploads (completed, aborted,
completed with a bad part list), DeleteObjects and copies with requests that
must fail (a bad Content-MD5, past the account's quota, into another
account's private bucket). Every call is recorded with the outcomes it may
have; then every acknowledged object is there byte for byte (MD5), no
refused or aborted one is visible, listings and uploads match, and the quota
holds.

Bounded: a fixed set of tasks per account, shuffled with a fixed seed onto a
thread pool, joined with a timeout. Each task owns its keys, so its expected
objects are exact, except one key per account that three threads overwrite
at once: it must hold one of the bodies they were acknowledged for."""
from __future__ import annotations

import base64
import hashlib
import random
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, BOB, Account, WalrusServer
from tests.ledger import OK, Ledger, run_all
from tests.reporting import write_summary

SEED = 11
THREADS = 16
JOIN_SECONDS = 90
MiB = 1024 * 1024
QUOTA = 32 * MiB  # per account: dave's fills go past it, the others stay under it
FILL, FILLS = 4 * MiB, 10
PART = 5 * MiB  # S3's smallest part that is not the last

CAROL = Account("AKIACAROL00000000004", "carol-secret-key-000000000000000000000000",
                "444444444444", "carol", "admin")
DAVE = Account("AKIADAVE000000000005", "dave-secret-key-0000000000000000000000000",
               "555555555555", "dave", "admin")
ACCOUNTS = (ALICE, BOB, CAROL, DAVE)


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory):
    """A Walrus of this module's own, with a per-account quota."""
    from mallee import pki
    home = tmp_path_factory.mktemp("walrus-writers")
    pki.init_pki(home / "pki")
    srv = WalrusServer(home, max_bytes_per_account=QUOTA).start()
    srv.push(1, ACCOUNTS)
    yield srv
    srv.stop()


def _md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def _b64md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _multipart_etag(parts: list[bytes]) -> str:
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + \
        f"-{len(parts)}"


class Tenant:
    """One account's client, bucket, and the objects and uploads its tasks expect."""

    def __init__(self, server, account: Account, rng: random.Random):
        self.name = account.account_name
        self.s3 = boto3.client(
            "s3", endpoint_url=server.endpoint, region_name="mallee",
            aws_access_key_id=account.access_key_id,
            aws_secret_access_key=account.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=THREADS,
                          retries={"total_max_attempts": 1, "mode": "standard"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))
        self.bucket = f"writers-{self.name}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.rng = random.Random(rng.random())
        self.objects = {}  # key -> (the set of MD5s it may hold, listing ETag or None)
        self.absent = set()  # keys that must not exist
        self.uploads = {}  # upload id -> key: the uploads that must still be listed
        self.races = {}  # key -> acknowledged MD5s
        self.fills = []  # acknowledged? of each quota fill
        self.lock = threading.Lock()
        body = self.body(1000)
        self.s3.put_object(Bucket=self.bucket, Key="setup/private", Body=body)
        self.objects["setup/private"] = ({_md5(body)}, _md5(body))

    def body(self, size: int) -> bytes:
        with self.lock:
            return self.rng.randbytes(size)

    def have(self, key: str, body: bytes | None, etag: str | None = None) -> None:
        with self.lock:
            if body is None:
                self.objects.pop(key, None)
                self.absent.add(key)
            else:
                self.absent.discard(key)
                self.objects[key] = ({_md5(body)}, etag or _md5(body))


def _tasks(tenants: list[Tenant], ledger: Ledger, rng: random.Random) -> list:
    tasks = []
    for index, t in enumerate(tenants):
        victim = tenants[(index + 1) % len(tenants)]

        def put(t, key, body, expect=OK, md5_of=None):
            return ledger.call(t.name, "PutObject", t.s3.put_object, expect, key,
                               Bucket=t.bucket, Key=key, Body=body,
                               ContentMD5=_b64md5(md5_of if md5_of is not None else body))

        def intrude(t=t, v=victim):  # another account's private bucket: denied, unchanged
            call, s3 = ledger.call, t.s3
            call(t.name, "PutObject", s3.put_object, "AccessDenied", "intruder",
                 Bucket=v.bucket, Key="intruder", Body=b"x")
            call(t.name, "PutObject", s3.put_object, "AccessDenied", "setup/private",
                 Bucket=v.bucket, Key="setup/private", Body=b"overwritten")
            call(t.name, "GetObject", s3.get_object, "AccessDenied", "setup/private",
                 Bucket=v.bucket, Key="setup/private")
            call(t.name, "DeleteObjects", s3.delete_objects, "AccessDenied", "setup/private",
                 Bucket=v.bucket, Delete={"Objects": [{"Key": "setup/private"}]})
            call(t.name, "DeleteObject", s3.delete_object, "AccessDenied", "setup/private",
                 Bucket=v.bucket, Key="setup/private")
            call(t.name, "CreateMultipartUpload", s3.create_multipart_upload, "AccessDenied",
                 "intruder-mpu", Bucket=v.bucket, Key="intruder-mpu")
            with v.lock:
                v.absent |= {"intruder", "intruder-mpu"}

        if t is tenants[-1]:  # the quota tenant: its fills, racing, go past the quota
            for n in range(FILLS):
                def fill(t=t, key=f"q/{n}"):
                    body = t.body(FILL)
                    ok, _ = put(t, key, body, {OK, "QuotaExceeded"})
                    t.have(key, body if ok else None)
                    with t.lock:
                        t.fills.append(ok)
                tasks.append(fill)
            tasks.append(intrude)
            continue

        for n in range(6):  # PUT, overwrite, then a bad-digest overwrite that must change nothing
            def put_overwrite(t=t, key=f"p/{n}", n=n):
                first = t.body(t.rng.randint(0, 48 * 1024))
                ok, _ = put(t, key, first)
                t.have(key, first if ok else None)
                second = t.body(t.rng.randint(1, 48 * 1024))
                ok, _ = put(t, key, second)
                if ok:
                    t.have(key, second)
                if n % 2 == 0:
                    put(t, key, t.body(2048), "BadDigest", md5_of=b"something else")
            tasks.append(put_overwrite)

        for n in range(3):  # bad Content-MD5 on a new key: nothing appears
            def bad_digest(t=t, key=f"bad/{n}"):
                body = t.body(4096)
                put(t, key, body, "BadDigest", md5_of=body + b"!")
                t.have(key, None)
            tasks.append(bad_digest)

        def race(t=t, key="race"):  # three threads overwrite one key
            body = t.body(t.rng.randint(1, 32 * 1024))
            ok, _ = put(t, key, body)
            with t.lock:
                t.races.setdefault(key, set())
                if ok:
                    t.races[key].add(_md5(body))
        tasks += [race] * 3

        def multipart(t, key, parts, complete=True):
            """Create, upload `parts`; then complete (True), abort (False) or neither."""
            s3, call = t.s3, ledger.call
            ok, resp = call(t.name, "CreateMultipartUpload", s3.create_multipart_upload, OK,
                            key, Bucket=t.bucket, Key=key)
            upload = resp["UploadId"]
            etags = []
            for number, part in enumerate(parts, 1):
                ok, resp = call(t.name, "UploadPart", s3.upload_part, OK, key, Bucket=t.bucket,
                                Key=key, UploadId=upload, PartNumber=number, Body=part,
                                ContentMD5=_b64md5(part))
                etags.append({"PartNumber": number, "ETag": resp.get("ETag", "")})
            if complete is True:
                ok, _ = call(t.name, "CompleteMultipartUpload", s3.complete_multipart_upload,
                             OK, key, Bucket=t.bucket, Key=key, UploadId=upload,
                             MultipartUpload={"Parts": etags})
                t.have(key, b"".join(parts) if ok else None, _multipart_etag(parts))
            elif complete is False:
                call(t.name, "AbortMultipartUpload", s3.abort_multipart_upload, OK, key,
                     Bucket=t.bucket, Key=key, UploadId=upload)
                t.have(key, None)
            return upload, etags

        def mpu_small(t=t):
            multipart(t, "mpu/small", [t.body(10_000)])

        def mpu_two(t=t):
            multipart(t, "mpu/two", [t.body(PART), t.body(3000)])

        def mpu_abort(t=t, n=0):
            multipart(t, f"mpu/aborted{n}", [t.body(PART), t.body(100)], complete=False)

        def mpu_abort_small(t=t):
            multipart(t, "mpu/aborted1", [t.body(2000)], complete=False)

        def mpu_bad_list(t=t):
            """A complete naming a part that is not there, one with a wrong ETag: both
            InvalidPart, nothing appears, the upload stays; then it completes."""
            key = "mpu/badlist"
            parts = [t.body(PART), t.body(5000)]
            upload, etags = multipart(t, key, parts, complete=None)
            complete = t.s3.complete_multipart_upload
            for wrong in ([*etags, {"PartNumber": 3, "ETag": etags[0]["ETag"]}],
                          [etags[0], {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}]):
                ledger.call(t.name, "CompleteMultipartUpload", complete, "InvalidPart", key,
                            Bucket=t.bucket, Key=key, UploadId=upload,
                            MultipartUpload={"Parts": wrong})
            ok, _ = ledger.call(t.name, "CompleteMultipartUpload", complete, OK, key,
                                Bucket=t.bucket, Key=key, UploadId=upload,
                                MultipartUpload={"Parts": etags})
            t.have(key, b"".join(parts) if ok else None, _multipart_etag(parts))

        def mpu_bad_list_kept(t=t):
            """A bad part and InvalidPart, nothing more: the upload must still be listed
            with its one good part, the key not."""
            key = "mpu/kept"
            upload, etags = multipart(t, key, [t.body(3000)], complete=None)
            part = t.body(3000)  # a part with a bad Content-MD5 is not kept
            ledger.call(t.name, "UploadPart", t.s3.upload_part, "BadDigest", key,
                        Bucket=t.bucket, Key=key, UploadId=upload, PartNumber=2, Body=part,
                        ContentMD5=_b64md5(part + b"!"))
            ledger.call(t.name, "CompleteMultipartUpload", t.s3.complete_multipart_upload,
                        "InvalidPart", key, Bucket=t.bucket, Key=key, UploadId=upload,
                        MultipartUpload={"Parts": [{"PartNumber": 1,
                                                    "ETag": '"' + "f" * 32 + '"'}]})
            t.have(key, None)
            with t.lock:
                t.uploads[upload] = key
        tasks += [mpu_small, mpu_two, mpu_abort, mpu_abort_small, mpu_bad_list,
                  mpu_bad_list_kept]

        for n in range(2):  # DeleteObjects of two of four objects and a missing key
            def delete_some(t=t, prefix=f"d{n}/"):
                bodies = {f"{prefix}{j}": t.body(t.rng.randint(0, 8192)) for j in range(4)}
                for key, body in bodies.items():
                    ok, _ = put(t, key, body)
                    t.have(key, body if ok else None)
                gone = [f"{prefix}0", f"{prefix}1", f"{prefix}missing"]
                ok, resp = ledger.call(t.name, "DeleteObjects", t.s3.delete_objects, OK, prefix,
                                       Bucket=t.bucket,
                                       Delete={"Objects": [{"Key": k} for k in gone]})
                if ok:
                    assert not resp.get("Errors"), resp["Errors"]
                    assert {d["Key"] for d in resp["Deleted"]} == set(gone)
                    for key in gone:
                        t.have(key, None)
            tasks.append(delete_some)

        for n in range(2):  # copies: of one's own object, of a missing one, of another's
            def copy(t=t, n=n, victim=victim):
                src, body = f"src/{n}", t.body(t.rng.randint(1, 16 * 1024))
                ok, _ = put(t, src, body)
                t.have(src, body if ok else None)
                ok, _ = ledger.call(t.name, "CopyObject", t.s3.copy_object, OK, f"c/{n}",
                                    Bucket=t.bucket, Key=f"c/{n}",
                                    CopySource={"Bucket": t.bucket, "Key": src})
                t.have(f"c/{n}", body if ok else None)
                ledger.call(t.name, "CopyObject", t.s3.copy_object, "NoSuchKey", f"c/missing{n}",
                            Bucket=t.bucket, Key=f"c/missing{n}",
                            CopySource={"Bucket": t.bucket, "Key": "src/nothing"})
                t.have(f"c/missing{n}", None)
                ledger.call(t.name, "CopyObject", t.s3.copy_object, "AccessDenied",
                            f"c/stolen{n}", Bucket=t.bucket, Key=f"c/stolen{n}",
                            CopySource={"Bucket": victim.bucket, "Key": "setup/private"})
                t.have(f"c/stolen{n}", None)
            tasks.append(copy)

        tasks.append(intrude)

    rng.shuffle(tasks)
    return tasks


def _check(t: Tenant, others: list[Tenant]) -> int:
    s3, checked, who = t.s3, 0, t.name
    listed = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=t.bucket, MaxKeys=17):
        for obj in page.get("Contents", []):
            listed[obj["Key"]] = (obj["Size"], obj["ETag"].strip('"'))
    wanted = dict(t.objects)
    for key, md5s in t.races.items():
        if md5s:
            wanted[key] = (md5s, None)
        else:
            t.absent.add(key)
    assert not t.absent & set(wanted), "a key both wanted and absent (the test's own model)"
    assert set(listed) == set(wanted), \
        f"{who}: listed but not acknowledged: {sorted(set(listed) - set(wanted))}; " \
        f"acknowledged but not listed: {sorted(set(wanted) - set(listed))}"
    for key, (md5s, etag) in wanted.items():
        body = s3.get_object(Bucket=t.bucket, Key=key)["Body"].read()
        assert _md5(body) in md5s, f"{who}: {key}: {len(body)} bytes, not what was acknowledged"
        assert listed[key][0] == len(body), f"{who}: {key}: listed size {listed[key][0]}"
        if etag is not None:
            assert listed[key][1] == etag, f"{who}: {key}: listed ETag {listed[key][1]} != {etag}"
        checked += 1
    for key in t.absent:
        with pytest.raises(ClientError) as err:
            s3.head_object(Bucket=t.bucket, Key=key)
        assert err.value.response["Error"]["Code"] in ("404", "NoSuchKey"), key
        checked += 1

    uploads = {u["UploadId"]: u["Key"]
               for u in s3.list_multipart_uploads(Bucket=t.bucket).get("Uploads", [])}
    assert uploads == t.uploads, f"{who}: uploads {uploads} != expected {t.uploads}"
    for upload, key in uploads.items():  # the failed complete kept the upload's part
        parts = s3.list_parts(Bucket=t.bucket, Key=key, UploadId=upload).get("Parts", [])
        assert [p["PartNumber"] for p in parts] == [1]
        checked += 1

    stored = sum(size for size, _ in listed.values())
    assert stored <= QUOTA, f"{who}: {stored} bytes stored, past the quota of {QUOTA}"
    if t.fills:
        assert not all(t.fills), f"{who}: all {len(t.fills)} fills acknowledged, past the quota"
        assert any(t.fills), f"{who}: every fill refused"
        assert stored + FILL > QUOTA, f"{who}: a fill refused with {stored} bytes stored"
    checked += 1

    for other in others:  # nothing of theirs in this bucket
        assert not any(k.startswith(f"{other.name}/") for k in listed)
    return checked


def test_concurrent_mixed_writers_keep_exactly_what_was_acknowledged(quota_server):
    rng = random.Random(SEED)
    tenants = [Tenant(quota_server, account, rng) for account in ACCOUNTS]
    ledger = Ledger()
    tasks = _tasks(tenants, ledger, rng)
    run_all(tasks, THREADS, JOIN_SECONDS)
    ledger.assert_expected()
    checked = sum(_check(t, [o for o in tenants if o is not t]) for t in tenants)
    acked, refused = ledger.counts()
    write_summary(f"concurrent writers (S3): {len(tenants)} accounts, {len(tasks)} "
                           f"tasks on {THREADS} threads: {acked} acknowledged, {refused} "
                           f"refused, {checked} checked, 0 lost")
