"""S3's XML: responses are dicts rendered by the shared emitter (mallee.xmlwrite,
lists repeat their element); request bodies
(ACLs, DeleteObjects, CompleteMultipartUpload, CreateBucketConfiguration) are
parsed here into plain dicts, and malformed input becomes MalformedXML."""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import xmltodict
from aiohttp import web

from mallee.errors import ApiError
from mallee.xmlwrite import document, iso8601  # noqa: F401 - iso8601 is S3's time format too
from walrus import errors

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_XML_BODY = 2 * 1024 * 1024  # DeleteObjects of 1,000 long keys fits


def http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(int(ts), timezone.utc), usegmt=True)


def render(root: str, body: dict, namespace: bool = True) -> bytes:
    content = {"@xmlns": NS, **body} if namespace else body
    return document(root, content, lists="repeat")


def response(root: str, body: dict, status: int = 200, headers=None) -> web.Response:
    return web.Response(body=render(root, body), status=status, headers=headers,
                        content_type="application/xml")


def error_body(err: ApiError, resource: str, request_id: str) -> bytes:
    fields = {"Code": err.code, "Message": err.message}
    for key, value in err.extra.items():
        # SigV4 mismatches carry the canonical request, as AWS returns it.
        fields["".join(w[:1].upper() + w[1:] for w in key.split("_"))] = value
    fields.update({"Resource": resource, "RequestId": request_id})
    return document("Error", fields, lists="repeat")


class _DoctypeRefused(ValueError):
    pass


def _refuse_doctype(*_args) -> None:
    raise _DoctypeRefused("S3 request bodies carry no DTD")


class _NoDoctypeExpat:
    """expat as xmltodict uses it, with every DOCTYPE refused before anything in it is
    read: no entity is declared, expanded or fetched (billion laughs, external entities)."""

    @staticmethod
    def ParserCreate(*args, **kwargs):
        parser = expat.ParserCreate(*args, **kwargs)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        return parser


def parse(body: bytes, root: str, error=errors.MalformedXML) -> dict:
    """The children of `root` as a dict; namespaces stripped. Anything that is not a
    plain XML document (bad syntax, an unknown encoding, a DTD) is `error`."""
    if not body.strip():
        raise error()
    try:
        doc = xmltodict.parse(body, process_namespaces=True, expat=_NoDoctypeExpat,
                              namespaces={NS: None, XSI: None}, force_cdata=False,
                              strip_whitespace=False)
    except (ExpatError, ValueError, LookupError):  # LookupError: encoding="bogus"
        raise error()
    if not isinstance(doc, dict) or root not in doc:
        raise error()
    content = _drop_layout(doc[root])
    return content if isinstance(content, dict) else {}


# Elements that hold elements, never text: whitespace inside them is layout
# (indentation), while the text of every other element is kept byte for byte
# (DeleteObjects of the key " " or "a  " names exactly those keys).
CONTAINERS = frozenset((
    "AccessControlPolicy", "Owner", "AccessControlList", "Grant", "Grantee", "Delete",
    "Object", "CompleteMultipartUpload", "Part", "Tagging", "TagSet", "Tag",
    "CreateBucketConfiguration", "VersioningConfiguration", "CORSConfiguration", "CORSRule",
    "LifecycleConfiguration", "Rule", "Filter", "And", "Expiration",
    "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload",
    "ServerSideEncryptionConfiguration", "ApplyServerSideEncryptionByDefault",
    "PublicAccessBlockConfiguration", "OwnershipControls",
    "ObjectLockConfiguration", "DefaultRetention", "Retention", "LegalHold"))


def _drop_layout(value, name: str | None = None):
    if isinstance(value, list):
        return [_drop_layout(v, name) for v in value]
    if isinstance(value, dict):
        return {k: _drop_layout(v, k) for k, v in value.items()
                if not (k == "#text" and isinstance(v, str) and not v.strip())}
    if isinstance(value, str) and name in CONTAINERS and not value.strip():
        return None
    return value


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
