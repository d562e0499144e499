"""S3 responses rendered by walrus.s3xml (through mallee.xmlwrite) read back as S3
clients read them: repeated elements, attributes, text and error fields."""
import xmltodict

from mallee.errors import ApiError
from walrus import errors, s3xml
from walrus.acl import ALL_USERS, Acl, Grant
from walrus.api.buckets import object_entry
from walrus.store import Object

NS = s3xml.NS


def _read(xml: bytes) -> dict:
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    return xmltodict.parse(xml)


def _obj(key: str, size: int) -> Object:
    return Object("b", key, "blob", size, "0" * 32, 0.5, "111111111111", "alice", {},
                  Acl("111111111111", "alice"))


def test_listing_with_contents_and_common_prefixes():
    body = {"Name": "b", "Prefix": "", "KeyCount": 3, "MaxKeys": 1000, "Delimiter": "/",
            "IsTruncated": "false",
            "Contents": [object_entry(_obj(k, n), lambda s: s, owners={})
                         for k, n in (("a & b", 1), ("c<d", 22))],
            "CommonPrefixes": [{"Prefix": "dir/"}]}
    doc = _read(s3xml.render("ListBucketResult", body))["ListBucketResult"]
    assert doc["@xmlns"] == NS
    assert doc["Prefix"] is None  # <Prefix></Prefix>: present and empty, as S3 writes it
    assert (doc["KeyCount"], doc["MaxKeys"], doc["IsTruncated"]) == ("3", "1000", "false")
    assert [c["Key"] for c in doc["Contents"]] == ["a & b", "c<d"]
    first = doc["Contents"][0]
    assert first == {"Key": "a & b", "LastModified": "1970-01-01T00:00:00.500Z",
                     "ETag": '"' + "0" * 32 + '"', "Size": "1", "StorageClass": "STANDARD",
                     "Owner": {"ID": "111111111111", "DisplayName": "alice"}}
    # One common prefix is one element, not a list: repeated, never wrapped.
    assert doc["CommonPrefixes"] == {"Prefix": "dir/"}


def test_empty_lists_leave_no_element():
    doc = _read(s3xml.render("ListBucketResult", {"Name": "b", "Contents": [],
                                                  "CommonPrefixes": []}))["ListBucketResult"]
    assert set(doc) == {"@xmlns", "Name"}
    doc = _read(s3xml.render("ListAllMyBucketsResult", {"Buckets": {"Bucket": []}}))
    assert doc["ListAllMyBucketsResult"]["Buckets"] is None  # <Buckets></Buckets>


def test_acl_grantees_carry_xsi_type_attributes():
    acl = Acl("111111111111", "alice", [Grant("CanonicalUser", "111111111111", "FULL_CONTROL",
                                              "alice"),
                                        Grant("Group", ALL_USERS, "READ")])
    doc = _read(s3xml.render("AccessControlPolicy", acl.to_xml()))["AccessControlPolicy"]
    assert doc["Owner"] == {"ID": "111111111111", "DisplayName": "alice"}
    user, group = doc["AccessControlList"]["Grant"]
    assert user["Grantee"]["@xsi:type"] == "CanonicalUser"
    assert user["Grantee"]["@xmlns:xsi"] == s3xml.XSI
    assert (user["Grantee"]["ID"], user["Permission"]) == ("111111111111", "FULL_CONTROL")
    assert group["Grantee"]["@xsi:type"] == "Group" and group["Grantee"]["URI"] == ALL_USERS
    # And our own parser takes back what we wrote (PutBucketAcl of a GetBucketAcl).
    from walrus import acl as acl_module
    again = acl_module.from_xml(s3xml.render("AccessControlPolicy", acl.to_xml()),
                                {"111111111111": "alice"})
    assert again == acl


def test_location_constraint_text_and_empty():
    doc = _read(s3xml.render("LocationConstraint", {"#text": "eu-west-1"}))
    assert doc["LocationConstraint"] == {"@xmlns": NS, "#text": "eu-west-1"}
    doc = _read(s3xml.render("LocationConstraint", {}))  # us-east-1: an empty element
    assert doc["LocationConstraint"] == {"@xmlns": NS}


def test_error_with_extra_fields():
    err = errors.EntityTooLarge(ProposedSize=6 * 1024 ** 3, MaxSizeAllowed=5 * 1024 ** 3)
    doc = _read(s3xml.error_body(err, "/b/k", "req-1"))["Error"]
    assert doc == {"Code": "EntityTooLarge", "Message": err.message,
                   "ProposedSize": str(6 * 1024 ** 3), "MaxSizeAllowed": str(5 * 1024 ** 3),
                   "Resource": "/b/k", "RequestId": "req-1"}
    # snake_case extras (SigV4's canonical_request) come out as S3's CamelCase names.
    doc = _read(s3xml.error_body(ApiError("x", canonical_request="GET\n/"), "/", "r"))["Error"]
    assert doc["CanonicalRequest"] == "GET\n/" and doc["Code"] == "InternalError"


def test_booleans_and_numbers_are_text():
    doc = _read(s3xml.render("X", {"T": True, "F": False, "N": 0}, namespace=False))["X"]
    assert doc == {"T": "true", "F": "false", "N": "0"}
