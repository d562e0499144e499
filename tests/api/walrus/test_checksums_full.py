"""CRC64NVME and S3's FULL_OBJECT multipart checksums (issue 13 item 9), with
GetObjectAttributes' per-part list and GetObject's partNumber, checked against
checksums computed here (awscrt, as botocore computes them) and against what a
restart keeps."""
from __future__ import annotations

import base64
import json
import zlib

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from mallee import pki
from tests.api.walrus.helpers import ALICE, WalrusServer, client_for, code, signed, status

MiB = 1024 * 1024
PARTS = [b"a" * (5 * MiB), b"b" * (5 * MiB), b"tail end"]
CRC = {"CRC32": (zlib.crc32, 4), "CRC32C": (crt.crc32c, 4), "CRC64NVME": (crt.crc64nvme, 8)}


def crc(algorithm: str, data: bytes) -> str:
    fn, width = CRC[algorithm]
    return base64.b64encode(fn(data).to_bytes(width, "big")).decode()


def upload(s3, bucket, key, algorithm, parts=PARTS, **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm,
                                    **create)
    done = []
    for n, data in enumerate(parts, 1):
        p = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                           Body=data, ChecksumAlgorithm=algorithm)
        done.append({"PartNumber": n, "ETag": p["ETag"],
                     f"Checksum{algorithm}": p[f"Checksum{algorithm}"]})
    out = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                       MultipartUpload={"Parts": done})
    return up, out


def test_crc64nvme_single_put(s3, bucket):
    body = b"123456789"
    out = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="CRC64NVME")
    # the CRC-64/NVME check value of "123456789"
    assert base64.b64decode(out["ChecksumCRC64NVME"]).hex() == "ae8b14860a799888"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (got["ChecksumCRC64NVME"], got["ChecksumType"]) == (crc("CRC64NVME", body),
                                                               "FULL_OBJECT")
    assert got["Body"].read() == body


def test_wrong_crc64nvme_is_bad_digest(server, bucket):
    r = signed(server, ALICE, "PUT", f"/{bucket}/k", b"data",
               headers={"x-amz-checksum-crc64nvme": crc("CRC64NVME", b"other")})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text


@pytest.mark.parametrize("algorithm", ["CRC64NVME", "CRC32", "CRC32C"])
def test_full_object_multipart_is_the_whole_objects_crc(s3, bucket, algorithm):
    create = {} if algorithm == "CRC64NVME" else {"ChecksumType": "FULL_OBJECT"}
    up, out = upload(s3, bucket, "mp", algorithm, **create)
    assert up["ChecksumType"] == "FULL_OBJECT"
    whole = crc(algorithm, b"".join(PARTS))
    field = f"Checksum{algorithm}"
    assert (out[field], out["ChecksumType"]) == (whole, "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert (head[field], head["ChecksumType"]) == (whole, "FULL_OBJECT")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"] == {field: whole, "ChecksumType": "FULL_OBJECT"}
    # boto3 validates the GET against the same CRC
    got = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(PARTS)


def test_checksum_type_refusals(s3, server, bucket):
    for algorithm, kind in (("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT"),
                            ("CRC64NVME", "COMPOSITE")):
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm,
                                       ChecksumType=kind)
        assert (status(e), code(e)) == (400, "InvalidRequest")
    r = signed(server, ALICE, "POST", f"/{bucket}/k?uploads",
               headers={"x-amz-checksum-type": "FULL_OBJECT"})
    assert r.status_code == 400 and "<Code>InvalidRequest</Code>" in r.text
    r = signed(server, ALICE, "POST", f"/{bucket}/k?uploads",
               headers={"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "HALF"})
    assert r.status_code == 400 and "<Code>InvalidRequest</Code>" in r.text


def test_sha_multipart_stays_composite(s3, bucket):
    up, out = upload(s3, bucket, "mp", "SHA256", parts=PARTS[:2])
    assert up["ChecksumType"] == "COMPOSITE"
    assert out["ChecksumType"] == "COMPOSITE" and out["ChecksumSHA256"].endswith("-2")


def test_object_parts_list_pages(s3, bucket):
    upload(s3, bucket, "mp", "CRC32C", ChecksumType="FULL_OBJECT")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"])
    parts = attrs["ObjectParts"]
    assert parts["TotalPartsCount"] == 3 and parts["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ChecksumCRC32C"]) for p in parts["Parts"]] == \
        [(n, len(d), crc("CRC32C", d)) for n, d in enumerate(PARTS, 1)]
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"],
                                    MaxParts=2)["ObjectParts"]
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert (page["IsTruncated"], page["NextPartNumberMarker"], page["MaxParts"]) == \
        (True, 2, 2)
    rest = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=2)["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert rest["PartNumberMarker"] == 2 and rest["IsTruncated"] is False
    # a single PUT has no parts
    s3.put_object(Bucket=bucket, Key="one", Body=b"x")
    assert "ObjectParts" not in s3.get_object_attributes(Bucket=bucket, Key="one",
                                                         ObjectAttributes=["ObjectParts"])


def test_get_object_part_number(s3, bucket):
    upload(s3, bucket, "mp", "CRC32")
    for n, data in enumerate(PARTS, 1):
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3 and got["ContentLength"] == len(data)
        assert got["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=3)
    first = 10 * MiB
    assert head["ContentRange"] == f"bytes {first}-{first + len(PARTS[2]) - 1}/{first + 8}"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert (status(e), code(e)) == (416, "InvalidPartNumber")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=1, Range="bytes=0-1")
    assert (status(e), code(e)) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=0)
    assert (status(e), code(e)) == (400, "InvalidArgument")
    s3.put_object(Bucket=bucket, Key="one", Body=b"single")
    got = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert got["Body"].read() == b"single" and "PartsCount" not in got
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="one", PartNumber=2)
    assert (status(e), code(e)) == (416, "InvalidPartNumber")


def test_parts_follow_versions(s3, bucket):
    """The parts list belongs to the version: an overwrite keeps the old version's, a
    deleted version takes its own with it."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload(s3, bucket, "mp", "CRC32", parts=PARTS[:2])
    old = s3.head_object(Bucket=bucket, Key="mp")["VersionId"]
    s3.put_object(Bucket=bucket, Key="mp", Body=b"plain")
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", VersionId=old,
                                   ObjectAttributes=["ObjectParts"])
    assert len(got["ObjectParts"]["Parts"]) == 2
    assert s3.get_object(Bucket=bucket, Key="mp", VersionId=old,
                         PartNumber=2)["Body"].read() == PARTS[1]


def test_awscli_full_object_upload(aws, s3, bucket):
    up = json.loads(aws("s3api", "create-multipart-upload", "--bucket", bucket, "--key", "cli",
                        "--checksum-algorithm", "CRC64NVME").stdout)
    assert up["ChecksumType"] == "FULL_OBJECT"
    part = s3.upload_part(Bucket=bucket, Key="cli", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"cli part", ChecksumAlgorithm="CRC64NVME")
    parts = json.dumps({"Parts": [{"PartNumber": 1, "ETag": part["ETag"],
                                   "ChecksumCRC64NVME": part["ChecksumCRC64NVME"]}]})
    out = json.loads(aws("s3api", "complete-multipart-upload", "--bucket", bucket, "--key",
                         "cli", "--upload-id", up["UploadId"], "--multipart-upload",
                         parts).stdout)
    assert (out["ChecksumCRC64NVME"], out["ChecksumType"]) == (crc("CRC64NVME", b"cli part"),
                                                               "FULL_OBJECT")


def test_restart_keeps_parts_and_checksums(tmp_path):
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path).start()
    first.push(1)
    s3 = client_for(first, ALICE)
    s3.create_bucket(Bucket="kept")
    upload(s3, "kept", "mp", "CRC64NVME")
    first.stop()
    second = WalrusServer(tmp_path).start()
    try:
        second.push(2)
        again = client_for(second, ALICE)
        attrs = again.get_object_attributes(Bucket="kept", Key="mp",
                                            ObjectAttributes=["ObjectParts", "Checksum"])
        assert attrs["Checksum"]["ChecksumCRC64NVME"] == crc("CRC64NVME", b"".join(PARTS))
        assert [p["Size"] for p in attrs["ObjectParts"]["Parts"]] == [len(d) for d in PARTS]
        assert again.get_object(Bucket="kept", Key="mp", PartNumber=3)["Body"].read() == \
            PARTS[2]
        again.delete_object(Bucket="kept", Key="mp")
        again.delete_bucket(Bucket="kept")
    finally:
        second.stop()


def test_complete_checks_the_whole_objects_checksum(s3, bucket):
    """CompleteMultipartUpload's x-amz-checksum-* is the object's, not its XML body's:
    the right one completes, a wrong one is BadDigest and the upload stays."""
    for key, algorithm in (("full", "CRC64NVME"), ("comp", "SHA256")):
        up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm)
        p = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=1,
                           Body=b"only", ChecksumAlgorithm=algorithm)
        field = f"Checksum{algorithm}"
        parts = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"], field: p[field]}]}
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                         MultipartUpload=parts, **{field: p[field][::-1]})
        assert (status(e), code(e)) == (400, "BadDigest")
        right = s3.list_parts(Bucket=bucket, Key=key, UploadId=up["UploadId"])
        assert len(right["Parts"]) == 1
        whole = crc(algorithm, b"only") if algorithm == "CRC64NVME" else None
        if whole is None:  # a composite: the checksum of the part checksums
            import hashlib
            whole = base64.b64encode(hashlib.sha256(base64.b64decode(p[field])).digest()
                                     ).decode() + "-1"
        out = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                           MultipartUpload=parts, **{field: whole})
        assert out[field] == whole


def test_complete_checks_each_parts_checksum(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
    p = s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"part", ChecksumAlgorithm="CRC32")
    wrong = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"], "ChecksumCRC32": crc("CRC32", b"x")}]}
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                     MultipartUpload=wrong)
    assert (status(e), code(e)) == (400, "InvalidPart")
    right = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"], "ChecksumCRC32": p["ChecksumCRC32"]}]}
    out = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                       MultipartUpload=right)
    assert out["ChecksumCRC32"].endswith("-1")
