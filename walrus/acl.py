"""Access control lists: canned ACLs, x-amz-grant-* headers, AccessControlPolicy XML,
and the one rule that decides whether a principal holds a permission.

Canonical user ids are account ids. An account's admin (is_admin) may do
anything, as Eucalyptus's admin could; NCs fetch image bundles that way.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from walrus import errors, s3xml

READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL = (
    "READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")
PERMISSIONS = (READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL)
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


@dataclass(frozen=True)
class Principal:
    account_id: str = ""
    account_name: str = ""
    user_name: str = ""
    access_key_id: str = ""
    is_admin: bool = False

    @property
    def anonymous(self) -> bool:
        return not self.account_id


ANONYMOUS = Principal()


@dataclass(frozen=True)
class Grant:
    kind: str          # "CanonicalUser" or "Group"
    grantee: str       # account id or group URI
    permission: str
    display_name: str = ""


@dataclass
class Acl:
    owner_id: str
    owner_name: str
    grants: list[Grant] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Acl":
        data = json.loads(text)
        return cls(data["owner_id"], data["owner_name"], [Grant(**g) for g in data["grants"]])

    def allows(self, who: Principal, permission: str, ignore_public: bool = False) -> bool:
        """`ignore_public`: grants to AllUsers and AuthenticatedUsers count for nothing
        (a bucket's IgnorePublicAcls)."""
        if who.is_admin or (not who.anonymous and who.account_id == self.owner_id):
            return True
        for grant in self.grants:
            if grant.permission not in (permission, FULL_CONTROL):
                continue
            if grant.kind == "Group" and not ignore_public and (grant.grantee == ALL_USERS or (
                    grant.grantee == AUTHENTICATED_USERS and not who.anonymous)):
                return True
            if grant.kind == "CanonicalUser" and not who.anonymous \
                    and grant.grantee == who.account_id:
                return True
        return False

    def to_xml(self) -> dict:
        grants = []
        for g in self.grants:
            if g.kind == "Group":
                grantee = {"@xmlns:xsi": s3xml.XSI, "@xsi:type": "Group", "URI": g.grantee}
            else:
                grantee = {"@xmlns:xsi": s3xml.XSI, "@xsi:type": "CanonicalUser",
                           "ID": g.grantee, "DisplayName": g.display_name}
            grants.append({"Grantee": grantee, "Permission": g.permission})
        return {"Owner": {"ID": self.owner_id, "DisplayName": self.owner_name},
                "AccessControlList": {"Grant": grants}}


def _owner_full(owner_id: str, owner_name: str) -> Grant:
    return Grant("CanonicalUser", owner_id, FULL_CONTROL, owner_name)


CANNED = ("private", "public-read", "public-read-write", "authenticated-read",
          "bucket-owner-read", "bucket-owner-full-control", "aws-exec-read",
          "log-delivery-write")


def canned(name: str, owner_id: str, owner_name: str,
           bucket_owner: tuple[str, str] | None = None) -> Acl:
    if name not in CANNED:
        raise errors.InvalidArgument(f"Unknown canned ACL {name!r}.", ArgumentName="x-amz-acl",
                                     ArgumentValue=name)
    grants = [_owner_full(owner_id, owner_name)]
    extra = {
        "public-read": [("Group", ALL_USERS, READ)],
        "public-read-write": [("Group", ALL_USERS, READ), ("Group", ALL_USERS, WRITE)],
        "authenticated-read": [("Group", AUTHENTICATED_USERS, READ)],
        "log-delivery-write": [("Group", LOG_DELIVERY, WRITE), ("Group", LOG_DELIVERY, READ_ACP)],
    }.get(name, [])
    grants += [Grant(kind, who, perm) for kind, who, perm in extra]
    # aws-exec-read grants EC2 read access; here the cloud's admin (the NC) has it anyway.
    if bucket_owner and bucket_owner[0] != owner_id and name in (
            "bucket-owner-read", "bucket-owner-full-control"):
        perm = READ if name == "bucket-owner-read" else FULL_CONTROL
        grants.append(Grant("CanonicalUser", bucket_owner[0], perm, bucket_owner[1]))
    return Acl(owner_id, owner_name, grants)


_GRANT_HEADERS = {"x-amz-grant-read": READ, "x-amz-grant-write": WRITE,
                  "x-amz-grant-read-acp": READ_ACP, "x-amz-grant-write-acp": WRITE_ACP,
                  "x-amz-grant-full-control": FULL_CONTROL}
_GRANTEE_RE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"?([^",]+)"?\s*(?:,|$)', re.I)


def _grantee(kind: str, value: str, names: dict[str, str]) -> tuple[str, str, str]:
    kind = kind.lower()
    if kind == "uri":
        return "Group", value, ""
    if kind == "id":
        return "CanonicalUser", value, names.get(value, "")
    raise errors.UnresolvableGrantByEmailAddress(EmailAddress=value)


def from_request(headers, owner_id: str, owner_name: str, names: dict[str, str],
                 bucket_owner: tuple[str, str] | None = None, default: str = "private") -> Acl:
    """The ACL a create/put request asks for: canned, x-amz-grant-*, or the default."""
    grant_headers = {h: p for h, p in _GRANT_HEADERS.items() if h in headers}
    if "x-amz-acl" in headers and grant_headers:
        raise errors.InvalidRequest("Specify either a canned ACL or grant headers, not both.")
    if not grant_headers:
        return canned(headers.get("x-amz-acl", default), owner_id, owner_name, bucket_owner)
    grants = []
    for header, permission in grant_headers.items():
        text = headers[header]
        matches = _GRANTEE_RE.findall(text)
        if not matches:
            raise errors.InvalidArgument(f"Malformed {header} header.", ArgumentName=header)
        for kind, value in matches:
            gkind, grantee, display = _grantee(kind, value.strip(), names)
            grants.append(Grant(gkind, grantee, permission, display))
    return Acl(owner_id, owner_name, grants)


def from_xml(body: bytes, names: dict[str, str]) -> Acl:
    doc = s3xml.parse(body, "AccessControlPolicy", errors.MalformedACLError)
    owner = doc.get("Owner") or {}
    if not isinstance(owner, dict) or not owner.get("ID"):
        raise errors.MalformedACLError()
    grants = []
    acl_list = doc.get("AccessControlList") or {}
    for g in s3xml.as_list(acl_list.get("Grant") if isinstance(acl_list, dict) else None):
        if not isinstance(g, dict) or not isinstance(g.get("Grantee"), dict):
            raise errors.MalformedACLError()
        permission = g.get("Permission")
        if permission not in PERMISSIONS:
            raise errors.MalformedACLError()
        grantee = g["Grantee"]
        gtype = grantee.get("@type") or grantee.get("@xsi:type") or (
            "Group" if "URI" in grantee else "CanonicalUser")
        gtype = gtype.split(":")[-1]
        if gtype == "Group":
            grants.append(Grant("Group", str(grantee.get("URI", "")), permission))
        elif gtype == "CanonicalUser" and grantee.get("ID"):
            gid = str(grantee["ID"])
            grants.append(Grant("CanonicalUser", gid, permission, names.get(gid, "")))
        elif gtype == "AmazonCustomerByEmail":
            raise errors.UnresolvableGrantByEmailAddress(
                EmailAddress=str(grantee.get("EmailAddress", "")))
        else:
            raise errors.MalformedACLError()
    return Acl(str(owner["ID"]), names.get(str(owner["ID"]), str(owner.get("DisplayName", ""))),
               grants)
