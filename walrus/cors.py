"""A bucket's CORS configuration as S3 reads, checks and applies it: the rules of
PutBucketCors, the document GetBucketCors gives back, and the headers a
preflight (OPTIONS) or an actual cross-origin request is answered with.
No HTTP and no storage here; rules are stored as JSON (walrus.store)."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache

from walrus import errors, numbers, s3xml

MAX_RULES = 100
MAX_ID = 255
METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
# What S3 sends as Vary on every CORS answer (a preflight or a matched request).
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_FIELDS = {"ID", "AllowedHeader", "AllowedMethod", "AllowedOrigin", "ExposeHeader",
           "MaxAgeSeconds"}


@dataclass(frozen=True)
class Rule:
    allowed_methods: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    id: str | None = None

    def allows(self, origin: str, method: str, headers: tuple[str, ...] = ()) -> bool:
        return (method in self.allowed_methods
                and any(_match(p, origin) for p in self.allowed_origins)
                and all(any(_match(p.lower(), h.lower()) for p in self.allowed_headers)
                        for h in headers))

    def origin_answer(self, origin: str) -> str:
        """`*` for a rule open to every origin (and then no credentials), else the origin."""
        return "*" if "*" in self.allowed_origins else origin


def _match(pattern: str, value: str) -> bool:
    """A pattern with at most one `*`, which matches any run of characters (even none);
    anchored at both ends, as S3 matches AllowedOrigin and AllowedHeader."""
    return _compiled(pattern).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _compiled(pattern: str):
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _strings(rule: dict, name: str) -> tuple[str, ...]:
    values = s3xml.as_list(rule.get(name))
    if not all(v is None or isinstance(v, str) for v in values):
        raise errors.MalformedXML()
    return tuple(v or "" for v in values)


def parse(body: bytes) -> tuple[Rule, ...]:
    """The rules of a PutBucketCors body, refused as S3 refuses them."""
    doc = s3xml.parse(body, "CORSConfiguration")
    if {k for k in doc if not k.startswith("@")} - {"CORSRule"}:
        raise errors.MalformedXML()
    items = s3xml.as_list(doc.get("CORSRule"))
    if not items:
        raise errors.MalformedXML()
    if len(items) > MAX_RULES:
        raise errors.MalformedXML(f"A CORS configuration can have at most {MAX_RULES} rules.")
    return tuple(_rule(item) for item in items)


def _rule(item) -> Rule:
    if not isinstance(item, dict) or {k for k in item if not k.startswith("@")} - _FIELDS:
        raise errors.MalformedXML()
    methods, origins = _strings(item, "AllowedMethod"), _strings(item, "AllowedOrigin")
    if not methods or not origins:
        raise errors.MalformedXML()
    for method in methods:
        if method not in METHODS:
            raise errors.InvalidRequest("Found unsupported HTTP method in CORS config. "
                                        f"Unsupported method is {method}")
    for origin in origins:
        if origin.count("*") > 1:
            raise errors.InvalidRequest(
                f'AllowedOrigin "{origin}" can not have more than one wildcard.')
    allowed_headers = _strings(item, "AllowedHeader")
    for header in allowed_headers:
        if header.count("*") > 1:
            raise errors.InvalidRequest(
                f'AllowedHeader "{header}" can not have more than one wildcard.')
    rule_id = item.get("ID")
    if rule_id is not None and (not isinstance(rule_id, str) or len(rule_id) > MAX_ID):
        raise errors.InvalidArgument(f"The ID of a CORSRule is at most {MAX_ID} characters.",
                                     ArgumentName="ID")
    max_age = None
    if "MaxAgeSeconds" in item:
        text = item["MaxAgeSeconds"]
        max_age = numbers.decimal(text.strip()) if isinstance(text, str) else None
        if max_age is None or max_age > 2 ** 31 - 1:
            raise errors.MalformedXML()
    return Rule(methods, origins, allowed_headers, _strings(item, "ExposeHeader"), max_age,
                rule_id)


def document(rules: tuple[Rule, ...]) -> dict:
    """GetBucketCors's body: each rule's members in S3's order, only those set."""
    out = []
    for r in rules:
        entry: dict = {}
        if r.id is not None:
            entry["ID"] = r.id
        entry["AllowedHeader"] = list(r.allowed_headers)
        entry["AllowedMethod"] = list(r.allowed_methods)
        entry["AllowedOrigin"] = list(r.allowed_origins)
        entry["ExposeHeader"] = list(r.expose_headers)
        if r.max_age is not None:
            entry["MaxAgeSeconds"] = r.max_age
        out.append(entry)
    return {"CORSRule": out}


def to_json(rules: tuple[Rule, ...]) -> str:
    return json.dumps([asdict(r) for r in rules])


@lru_cache(maxsize=1024)
def from_json(text: str) -> tuple[Rule, ...]:
    return tuple(Rule(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()})
                 for r in json.loads(text))


def requested_headers(value: str | None) -> tuple[str, ...]:
    """Access-Control-Request-Headers as a list (RFC 9110: empty elements ignored)."""
    return tuple(h.strip() for h in (value or "").split(",") if h.strip())


def _common(rule: Rule, origin: str) -> dict:
    out = {"Access-Control-Allow-Origin": rule.origin_answer(origin),
           "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods)}
    if rule.expose_headers:
        out["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age is not None:
        out["Access-Control-Max-Age"] = str(rule.max_age)
    if "*" not in rule.allowed_origins:
        out["Access-Control-Allow-Credentials"] = "true"
    out["Vary"] = VARY
    return out


def preflight(rules: tuple[Rule, ...], origin: str, method: str,
              headers: tuple[str, ...]) -> dict | None:
    """The headers of a preflight's 200 from the first rule that allows it, or None."""
    for rule in rules:
        if rule.allows(origin, method, headers):
            out = _common(rule, origin)
            if headers:
                out["Access-Control-Allow-Headers"] = ", ".join(headers)
            return out
    return None


def actual(rules: tuple[Rule, ...], origin: str, method: str) -> dict:
    """The CORS headers of an actual request from `origin` (none when no rule allows it:
    S3 still serves the request, and the browser keeps its answer from the page)."""
    for rule in rules:
        if rule.allows(origin, method):
            return _common(rule, origin)
    return {}
