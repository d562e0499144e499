"""S3 tags (issue 12): bucket and object tag sets with boto3 and awscli,
`x-amz-tagging` on PutObject, CopyObject and CreateMultipartUpload,
`x-amz-tagging-count`, AWS's limits and error codes, who may read and
change tags, and tags going with the object they belong to."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, BOB, code, signed, status, upgraded

MIB = 1024 * 1024


def tag_set(**tags) -> dict:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def tags_of(s3, bucket, key) -> dict:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


# --- buckets ---------------------------------------------------------------

def test_bucket_tagging_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert (code(e), status(e)) == ("NoSuchTagSet", 404)
    put = s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(env="dev", team="storage"))
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert got == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "storage"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(owner="alice"))  # replaces the set
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "owner", "Value": "alice"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"
    s3.delete_bucket_tagging(Bucket=bucket)  # nothing to delete is fine


def test_bucket_tags_go_with_the_bucket(s3):
    s3.create_bucket(Bucket="tags-reborn")
    s3.put_bucket_tagging(Bucket="tags-reborn", Tagging=tag_set(old="yes"))
    s3.delete_bucket(Bucket="tags-reborn")
    s3.create_bucket(Bucket="tags-reborn")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket="tags-reborn")
    assert code(e) == "NoSuchTagSet"
    s3.delete_bucket(Bucket="tags-reborn")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket="tags-reborn")
    assert code(e) == "NoSuchBucket"


def test_bucket_tag_limits(s3, bucket):
    fifty = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(50)]}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=fifty)
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    fifty["TagSet"].append({"Key": "k50", "Value": "v"})
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging=fifty)
    assert (code(e), status(e)) == ("BadRequest", 400)
    assert e.value.response["Error"]["Message"] == "Bucket tag count cannot be greater than 50"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(**{"aws:cloudformation": "x"}))
    assert code(e) == "InvalidTag"
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50  # refusals changed nothing


# --- objects ---------------------------------------------------------------

def test_object_tagging_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="k")
    put = s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(b="2", a="1", e=""))
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "e", "Value": ""}]
    assert s3.head_object(Bucket=bucket, Key="k")["TagCount"] == 3
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 3
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})  # empty set: none
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(a="1"))
    deleted = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")


def test_object_tagging_on_a_missing_key(s3, bucket):
    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="nope"),
                 lambda: s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging=tag_set(a="1")),
                 lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope")):
        with pytest.raises(ClientError) as e:
            call()
        assert (code(e), status(e)) == ("NoSuchKey", 404)


def test_tagging_header_on_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x",
                  Tagging="project=blue&note=two+words%2Fslash&flag")
    assert tags_of(s3, bucket, "k") == {"project": "blue", "note": "two words/slash", "flag": ""}
    assert s3.head_object(Bucket=bucket, Key="k")["TagCount"] == 3
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")  # an overwrite replaces the tags
    assert tags_of(s3, bucket, "k") == {}
    s3.put_object(Bucket=bucket, Key="k", Body=b"z", Tagging="new=1")
    assert tags_of(s3, bucket, "k") == {"new": "1"}


def test_delete_drops_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    s3.delete_object(Bucket=bucket, Key="k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert tags_of(s3, bucket, "k") == {}
    s3.put_object(Bucket=bucket, Key="j", Body=b"x", Tagging="a=1")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "j"}]})
    s3.put_object(Bucket=bucket, Key="j", Body=b"x")
    assert tags_of(s3, bucket, "j") == {}


def test_copy_tagging_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source", Tagging="a=1&b=2")
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "src"})
    assert tags_of(s3, bucket, "copied") == {"a": "1", "b": "2"}  # COPY is the default
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="COPY", Tagging="ignored=yes")
    assert tags_of(s3, bucket, "copied") == {"a": "1", "b": "2"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="c=3")
    assert tags_of(s3, bucket, "replaced") == {"c": "3"}
    s3.copy_object(Bucket=bucket, Key="bare", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "bare") == {}
    # A copy onto itself (new metadata) keeps or replaces the tags as asked.
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"m": "1"})
    assert tags_of(s3, bucket, "src") == {"a": "1", "b": "2"}
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", TaggingDirective="REPLACE", Tagging="d=4")
    assert tags_of(s3, bucket, "src") == {"d": "4"}
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"source"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src"},
                       TaggingDirective="MERGE")
    assert code(e) == "InvalidArgument"


def test_multipart_tags_apply_at_complete(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="stage=final&n=2")
    parts = []
    for number, body in ((1, b"a" * (5 * MIB)), (2, b"b" * 10)):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                              PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    with pytest.raises(ClientError) as e:  # nothing is visible before the complete
        s3.get_object_tagging(Bucket=bucket, Key="mp")
    assert code(e) == "NoSuchKey"
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": parts})
    assert tags_of(s3, bucket, "mp") == {"stage": "final", "n": "2"}
    assert s3.head_object(Bucket=bucket, Key="mp")["TagCount"] == 2


def test_bad_tagging_header_refused_before_anything_is_stored(s3, bucket):
    eleven = "&".join(f"k{i}=v" for i in range(11))
    cases = {
        eleven: ("BadRequest", "Object tags cannot be greater than 10"),
        "a=1&a=2": ("InvalidArgument", None),
        "TagSet=[{Key=string,Value=string}]": ("InvalidArgument", None),
        "a=b=c": ("InvalidArgument", None),
        "aws:x=1": ("InvalidTag", "Your TagKey cannot be prefixed with aws:"),
        "AWS:x=1": ("InvalidTag", "Your TagKey cannot be prefixed with aws:"),
        "=v": ("InvalidTag", "The TagKey you have provided is invalid"),
        "k%21=v": ("InvalidTag", "The TagKey you have provided is invalid"),
        "k=" + "v" * 257: ("InvalidTag", "The TagValue you have provided is invalid"),
        "k" * 129 + "=v": ("InvalidTag", "The TagKey you have provided is invalid"),
    }
    for header, (want, message) in cases.items():
        for call in (lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", Tagging=header),
                     lambda: s3.create_multipart_upload(Bucket=bucket, Key="bad",
                                                        Tagging=header)):
            with pytest.raises(ClientError) as e:
                call()
            assert (code(e), status(e)) == (want, 400), header
            if message:
                assert e.value.response["Error"]["Message"] == message
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_object_tag_limits(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    ten = {"TagSet": [{"Key": f"{i}" + "k" * 127, "Value": "v" * 256} for i in range(10)]}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=ten)  # 10 of 128 and 256: the most
    assert len(tags_of(s3, bucket, "k")) == 10
    # UTF-16 code units: an astral character counts twice, so 64 of them fill a key.
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(**{"\U0001d400" * 64: "ü"}))
    refused = [
        ({"TagSet": ten["TagSet"] + [{"Key": "more", "Value": "v"}]}, "BadRequest"),
        (tag_set(**{"\U0001d400" * 65: "v"}), "InvalidTag"),
        (tag_set(k="v" * 257), "InvalidTag"),
        (tag_set(**{"k" * 129: "v"}), "InvalidTag"),
        ({"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}, "InvalidTag"),
        (tag_set(**{"aws:x": "v"}), "InvalidTag"),
        (tag_set(**{"a*b": "v"}), "InvalidTag"),
        (tag_set(k="tab\there"), "InvalidTag"),
    ]
    for tagging, want in refused:
        with pytest.raises(ClientError) as e:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagging)
        assert (code(e), status(e)) == (want, 400), tagging
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k",
                              Tagging={"TagSet": [{"Key": "a", "Value": "1"},
                                                  {"Key": "a", "Value": "2"}]})
    assert e.value.response["Error"]["Message"] == "Cannot provide multiple Tags with the same key"
    assert tags_of(s3, bucket, "k") == {"\U0001d400" * 64: "ü"}  # refusals changed nothing
    allowed = "Ünïcode 字 ٣ + - = . _ : / @"
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(**{allowed: allowed}))
    assert tags_of(s3, bucket, "k") == {allowed: allowed}


MALFORMED = [
    b"<Tagging></Tagging>",
    b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
    b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value><Extra/></Tag></TagSet></Tagging>",
    b"<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key><Value>1</Value></Tag></TagSet></Tagging>",
    b"<Tagging><TagSet><Tag><Key><x>a</x></Key><Value>1</Value></Tag></TagSet></Tagging>",
    b"<Tagging><TagSet><Other/></TagSet></Tagging>",
    b"<NotTagging/>",
    b"<Tagging>",
    b"",
]


@pytest.mark.parametrize("body", MALFORMED, ids=lambda b: repr(b[:40]))
@pytest.mark.parametrize("level", ["bucket", "object"])
def test_malformed_tagging_documents(server, s3, bucket, level, body):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    path = f"/{bucket}?tagging" if level == "bucket" else f"/{bucket}/k?tagging"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    answer = signed(server, ALICE, "PUT", path, body, headers={"Content-MD5": md5})
    assert answer.status_code == 400, answer.text
    assert "<Code>MalformedXML</Code>" in answer.text


def test_tagging_body_needs_a_digest(server, bucket):
    body = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>"
    answer = signed(server, ALICE, "PUT", f"/{bucket}?tagging", body)
    assert answer.status_code == 400 and "<Code>InvalidRequest</Code>" in answer.text


def test_empty_key_and_value_elements(server, s3, bucket):
    """boto3 refuses an empty key before sending it; S3 answers one with InvalidTag. An
    empty <Value/> is the empty value."""
    for body, want in ((b"<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag></TagSet>"
                        b"</Tagging>", 400),
                       (b"<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>"
                        b"<Tag><Key>k</Key><Value/></Tag></TagSet></Tagging>", 204)):
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        answer = signed(server, ALICE, "PUT", f"/{bucket}?tagging", body,
                        headers={"Content-MD5": md5})
        assert answer.status_code == want, answer.text
    assert "<Code>InvalidTag</Code>" not in answer.text
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "k", "Value": ""}]


# --- who may see and change tags --------------------------------------------

def test_other_accounts_and_anonymous_cannot_touch_tags(server, s3, s3_bob, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="public", Body=b"x", ACL="public-read", Tagging="secret=1")
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(cost="42"))
    # READ lets them read the bytes, but the tags (and their count) stay the owner's.
    assert "TagCount" not in s3_bob.head_object(Bucket=bucket, Key="public")
    anonymous = requests.get(f"{server.endpoint}/{bucket}/public")
    assert anonymous.status_code == 200 and "x-amz-tagging-count" not in anonymous.headers
    assert s3.head_object(Bucket=bucket, Key="public")["TagCount"] == 1
    for call in (lambda: s3_bob.get_object_tagging(Bucket=bucket, Key="public"),
                 lambda: s3_bob.put_object_tagging(Bucket=bucket, Key="public",
                                                   Tagging=tag_set(bob="was-here")),
                 lambda: s3_bob.delete_object_tagging(Bucket=bucket, Key="public"),
                 lambda: s3_bob.get_bucket_tagging(Bucket=bucket),
                 lambda: s3_bob.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(bob="1")),
                 lambda: s3_bob.delete_bucket_tagging(Bucket=bucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert (code(e), status(e)) == ("AccessDenied", 403)
    for path in (f"/{bucket}?tagging", f"/{bucket}/public?tagging"):
        assert requests.get(server.endpoint + path).status_code == 403
    assert tags_of(s3, bucket, "public") == {"secret": "1"}
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "cost", "Value": "42"}]
    # A grant of the ACL permissions opens the tags too.
    bob = f'id="{BOB.account_id}"'
    s3.put_object_acl(Bucket=bucket, Key="public", GrantRead=bob, GrantReadACP=bob,
                      GrantWriteACP=bob)
    s3_bob.put_object_tagging(Bucket=bucket, Key="public", Tagging=tag_set(bob="allowed"))
    assert tags_of(s3_bob, bucket, "public") == {"bob": "allowed"}
    assert s3_bob.head_object(Bucket=bucket, Key="public")["TagCount"] == 1


# --- awscli -----------------------------------------------------------------

def test_awscli_tagging(aws, tmp_path):
    aws("s3api", "create-bucket", "--bucket", "cli-tags")
    try:
        aws("s3api", "put-bucket-tagging", "--bucket", "cli-tags",
            "--tagging", "TagSet=[{Key=env,Value=test}]")
        out = json.loads(aws("s3api", "get-bucket-tagging", "--bucket", "cli-tags").stdout)
        assert out["TagSet"] == [{"Key": "env", "Value": "test"}]
        body = tmp_path / "f.txt"
        body.write_text("hello")
        aws("s3api", "put-object", "--bucket", "cli-tags", "--key", "f.txt",
            "--body", str(body), "--tagging", "a=1&b=two")
        out = json.loads(aws("s3api", "get-object-tagging", "--bucket", "cli-tags",
                             "--key", "f.txt").stdout)
        assert out["TagSet"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two"}]
        aws("s3api", "put-object-tagging", "--bucket", "cli-tags", "--key", "f.txt",
            "--tagging", '{"TagSet": [{"Key": "c", "Value": "3"}]}')
        head = json.loads(aws("s3api", "head-object", "--bucket", "cli-tags",
                              "--key", "f.txt").stdout)
        assert head["TagCount"] == 1
        bad = aws("s3api", "put-object-tagging", "--bucket", "cli-tags", "--key", "f.txt",
                  "--tagging", '{"TagSet": [{"Key": "aws:c", "Value": "3"}]}', check=False)
        assert bad.returncode != 0 and "InvalidTag" in bad.stderr
        aws("s3api", "delete-object-tagging", "--bucket", "cli-tags", "--key", "f.txt")
        out = json.loads(aws("s3api", "get-object-tagging", "--bucket", "cli-tags",
                             "--key", "f.txt").stdout)
        assert out["TagSet"] == []
        aws("s3api", "delete-bucket-tagging", "--bucket", "cli-tags")
        gone = aws("s3api", "get-bucket-tagging", "--bucket", "cli-tags", check=False)
        assert gone.returncode != 0 and "NoSuchTagSet" in gone.stderr
    finally:
        aws("s3", "rb", "--force", "s3://cli-tags", check=False)


def test_migration_gives_existing_objects_ids(tmp_path):
    """A Walrus database made before tags (version 1) opens at version 2: each object row
    gets its own id (tags are keyed by it) and no tags."""
    import sqlite3

    from mallee import migrations
    from walrus.db import MIGRATIONS

    path = tmp_path / "walrus.db"
    conn = sqlite3.connect(path)
    first = migrations.found(MIGRATIONS)[0]
    conn.executescript(first.script)
    for key in ("a", "b"):
        conn.execute("INSERT INTO objects VALUES ('b1', ?, 'blob-' || ?, 1, 'e', 0, '1', 'x',"
                     " '{}', '{}')", (key, key))
    conn.commit()
    conn.close()

    async def examine(db):
        return (await db.one("PRAGMA user_version"))[0], \
            [tuple(r) for r in await db.all("SELECT key, id FROM objects")], \
            (await db.one("SELECT count(*) FROM object_tags"))[0]
    version, rows, tags = upgraded(path, examine)
    assert version == len(migrations.found(MIGRATIONS)) >= 2
    ids = [i for _, i in rows]
    assert len(ids) == 2 and all(len(i) == 32 for i in ids) and ids[0] != ids[1]
    assert tags == 0
