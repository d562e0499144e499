"""A bucket's lifecycle configuration as S3 reads, checks and applies it: the rules of
PutBucketLifecycleConfiguration, the document GetBucketLifecycleConfiguration gives
back, which rule applies to an object, and when that object expires. No HTTP and no
storage here; rules are stored as JSON (walrus.store), applied by walrus/expiry.py."""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from walrus import errors, s3xml

MAX_RULES = 1000
MAX_ID = 255
DAY = 86400
_RULE_FIELDS = {"ID", "Status", "Filter", "Prefix", "Expiration", "NoncurrentVersionExpiration",
                "AbortIncompleteMultipartUpload", "Transition", "NoncurrentVersionTransition"}


@dataclass(frozen=True)
class Rule:
    id: str
    enabled: bool
    filter_form: str          # "legacy" (top-level Prefix), "empty", "Prefix", "Tag", "And",
    prefix: str = ""          # "ObjectSizeGreaterThan", "ObjectSizeLessThan"
    tags: tuple = ()          # ((key, value), ...)
    size_gt: int | None = None
    size_lt: int | None = None
    days: int | None = None   # Expiration
    date: str | None = None   # Expiration, ISO 8601 at midnight UTC
    expired_marker: bool | None = None
    noncurrent_days: int | None = None
    newer_noncurrent: int | None = None
    abort_days: int | None = None

    def matches(self, key: str, size: int | None = None, tags=None) -> bool:
        """Whether the rule's filter covers an object (tags None: not known, so a rule
        that filters on tags does not match)."""
        if not key.startswith(self.prefix):
            return False
        if size is not None:
            if self.size_gt is not None and not size > self.size_gt:
                return False
            if self.size_lt is not None and not size < self.size_lt:
                return False
        if self.tags:
            have = dict(tags or ())
            return all(have.get(k) == v for k, v in self.tags)
        return True

    def expires_at(self, last_modified: float, day_seconds: int) -> float | None:
        """When a current object this rule covers expires (None: the rule does not
        expire current objects). A real day rounds up to the next midnight UTC, as S3."""
        if self.date is not None:
            return parse_date(self.date)
        if self.days is None:
            return None
        return after_days(last_modified, self.days, day_seconds)


def after_days(start: float, days: int, day_seconds: int) -> float:
    end = start + days * day_seconds
    return math.ceil(end / DAY) * DAY if day_seconds == DAY else end


def parse_date(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _text(value, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.MalformedXML()
    return value


def _only(item, allowed: set) -> dict:
    if item is None:
        return {}
    if not isinstance(item, dict) or {k for k in item if not k.startswith("@")} - allowed:
        raise errors.MalformedXML()
    return item


def _positive(value, what: str) -> int:
    text = _text(value, what).strip()
    try:
        number = int(text)
    except ValueError:
        raise errors.MalformedXML()
    if number <= 0:
        raise errors.InvalidArgument(f"'{what}' for {_ACTION_OF[what]} action must be a "
                                     "positive integer")
    return number


_ACTION_OF = {"Days": "Expiration", "NoncurrentDays": "NoncurrentVersionExpiration",
              "DaysAfterInitiation": "AbortIncompleteMultipartUpload",
              "NewerNoncurrentVersions": "NoncurrentVersionExpiration"}


def _size(value) -> int:
    try:
        number = int(_text(value, "size").strip())
    except ValueError:
        raise errors.MalformedXML()
    if number < 0:
        raise errors.InvalidArgument("Object size must be a non-negative integer")
    return number


def _tag(item) -> tuple[str, str]:
    item = _only(item, {"Key", "Value"})
    if "Key" not in item:
        raise errors.MalformedXML()
    return _text(item.get("Key"), "Key"), _text(item.get("Value"), "Value")


def _filter(item) -> dict:
    """The filter's fields; `filter_form` says which of S3's shapes was sent."""
    if item is None:
        return {"filter_form": "empty"}
    item = _only(item, {"Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})
    given = [k for k in item if not k.startswith("@")]
    if not given:
        return {"filter_form": "empty"}
    if len(given) > 1 or isinstance(item[given[0]], list):
        raise errors.MalformedXML()  # more than one condition needs <And>
    form = given[0]
    if form == "Prefix":
        return {"filter_form": form, "prefix": _text(item["Prefix"], "Prefix")}
    if form == "Tag":
        return {"filter_form": form, "tags": (_tag(item["Tag"]),)}
    if form == "ObjectSizeGreaterThan":
        return {"filter_form": form, "size_gt": _size(item[form])}
    if form == "ObjectSizeLessThan":
        return {"filter_form": form, "size_lt": _size(item[form])}
    both = _only(item["And"], {"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})
    if isinstance(both.get("Prefix"), list):
        raise errors.MalformedXML()
    tags = tuple(_tag(t) for t in s3xml.as_list(both.get("Tag")))
    if len({k for k, _ in tags}) != len(tags):
        raise errors.InvalidArgument("Duplicate Tag Keys are not allowed.")
    out = {"filter_form": "And", "prefix": _text(both.get("Prefix"), "Prefix"), "tags": tags}
    if "ObjectSizeGreaterThan" in both:
        out["size_gt"] = _size(both["ObjectSizeGreaterThan"])
    if "ObjectSizeLessThan" in both:
        out["size_lt"] = _size(both["ObjectSizeLessThan"])
    if out.get("size_gt") is not None and out.get("size_lt") is not None \
            and out["size_gt"] >= out["size_lt"]:
        raise errors.InvalidArgument("ObjectSizeGreaterThan must be less than "
                                     "ObjectSizeLessThan")
    return out


def _date(value) -> str:
    text = _text(value, "Date").strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgument("Invalid date format", ArgumentName="Date",
                                     ArgumentValue=text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    when = when.astimezone(timezone.utc)
    if (when.hour, when.minute, when.second, when.microsecond) != (0, 0, 0, 0):
        raise errors.InvalidArgument("'Date' must be at midnight GMT", ArgumentName="Date",
                                     ArgumentValue=text)
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _rule(item) -> Rule:
    item = _only(item, _RULE_FIELDS)
    if not item:
        raise errors.MalformedXML()
    if "Transition" in item or "NoncurrentVersionTransition" in item:
        raise errors.NotImplemented_("Walrus has one storage class: lifecycle transitions "
                                     "are not supported.")
    rule_id = _text(item.get("ID"), "ID") if "ID" in item else uuid.uuid4().hex[:20]
    if len(rule_id) > MAX_ID:
        raise errors.InvalidArgument("ID length should not exceed allowed limit of 255",
                                     ArgumentName="ID", ArgumentValue=rule_id)
    status = _text(item.get("Status"), "Status")
    if status not in ("Enabled", "Disabled"):
        raise errors.MalformedXML()
    if ("Filter" in item) == ("Prefix" in item):
        raise errors.MalformedXML()  # exactly one of Filter and the legacy Prefix
    fields: dict = {}
    if "Prefix" in item:
        fields = {"filter_form": "legacy", "prefix": _text(item["Prefix"], "Prefix")}
    else:
        fields = _filter(item["Filter"])
    if "Expiration" in item:
        exp = _only(item["Expiration"], {"Days", "Date", "ExpiredObjectDeleteMarker"})
        given = [k for k in ("Days", "Date", "ExpiredObjectDeleteMarker") if k in exp]
        if len(given) != 1:
            raise errors.MalformedXML()
        if "Days" in exp:
            fields["days"] = _positive(exp["Days"], "Days")
        elif "Date" in exp:
            fields["date"] = _date(exp["Date"])
        else:
            flag = _text(exp["ExpiredObjectDeleteMarker"], "").strip().lower()
            if flag not in ("true", "false"):
                raise errors.MalformedXML()
            if fields.get("tags"):
                raise errors.InvalidRequest("ExpiredObjectDeleteMarker cannot be specified "
                                            "with object tags.")
            fields["expired_marker"] = flag == "true"
    if "NoncurrentVersionExpiration" in item:
        nve = _only(item["NoncurrentVersionExpiration"],
                    {"NoncurrentDays", "NewerNoncurrentVersions"})
        if "NoncurrentDays" not in nve:
            raise errors.MalformedXML()
        fields["noncurrent_days"] = _positive(nve["NoncurrentDays"], "NoncurrentDays")
        if "NewerNoncurrentVersions" in nve:
            fields["newer_noncurrent"] = _positive(nve["NewerNoncurrentVersions"],
                                                   "NewerNoncurrentVersions")
    if "AbortIncompleteMultipartUpload" in item:
        abort = _only(item["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation"})
        if "DaysAfterInitiation" not in abort:
            raise errors.MalformedXML()
        if fields.get("tags"):
            raise errors.InvalidRequest("Tag-based filter cannot be used with "
                                        "AbortIncompleteMultipartUpload action.")
        fields["abort_days"] = _positive(abort["DaysAfterInitiation"], "DaysAfterInitiation")
    if not any(k in item for k in ("Expiration", "NoncurrentVersionExpiration",
                                   "AbortIncompleteMultipartUpload")):
        raise errors.MalformedXML("At least one action needs to be specified in a rule.")
    return Rule(rule_id, status == "Enabled", **fields)


def parse(body: bytes) -> tuple[Rule, ...]:
    """The rules of a PutBucketLifecycleConfiguration body, refused as S3 refuses them."""
    doc = s3xml.parse(body, "LifecycleConfiguration")
    if {k for k in doc if not k.startswith("@")} - {"Rule"}:
        raise errors.MalformedXML()
    items = s3xml.as_list(doc.get("Rule"))
    if not items or len(items) > MAX_RULES:
        raise errors.MalformedXML()
    rules = tuple(_rule(item) for item in items)
    if len({r.id for r in rules}) != len(rules):
        raise errors.InvalidArgument("Rule ID must be unique. Found same ID for more than "
                                     "one rule", ArgumentName="ID")
    return rules


def to_json(rules: tuple[Rule, ...]) -> str:
    return json.dumps([asdict(r) for r in rules])


def from_json(text: str) -> tuple[Rule, ...]:
    return tuple(Rule(**{**r, "tags": tuple(tuple(t) for t in r["tags"])})
                 for r in json.loads(text))


def _tag_doc(tags) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags]


def _filter_doc(rule: Rule) -> dict:
    form = rule.filter_form
    if form == "legacy":
        return {"Prefix": rule.prefix}
    if form == "empty":
        return {"Filter": {}}
    if form == "Prefix":
        return {"Filter": {"Prefix": rule.prefix}}
    if form == "Tag":
        return {"Filter": {"Tag": _tag_doc(rule.tags)[0]}}
    if form == "ObjectSizeGreaterThan":
        return {"Filter": {form: rule.size_gt}}
    if form == "ObjectSizeLessThan":
        return {"Filter": {form: rule.size_lt}}
    both: dict = {}
    if rule.prefix:
        both["Prefix"] = rule.prefix
    if rule.tags:
        both["Tag"] = _tag_doc(rule.tags)
    if rule.size_gt is not None:
        both["ObjectSizeGreaterThan"] = rule.size_gt
    if rule.size_lt is not None:
        both["ObjectSizeLessThan"] = rule.size_lt
    return {"Filter": {"And": both}}


def document(rules: tuple[Rule, ...]) -> dict:
    out = []
    for rule in rules:
        item: dict = {"ID": rule.id, **_filter_doc(rule),
                      "Status": "Enabled" if rule.enabled else "Disabled"}
        if rule.days is not None:
            item["Expiration"] = {"Days": rule.days}
        elif rule.date is not None:
            item["Expiration"] = {"Date": rule.date}
        elif rule.expired_marker is not None:
            item["Expiration"] = {"ExpiredObjectDeleteMarker":
                                  "true" if rule.expired_marker else "false"}
        if rule.noncurrent_days is not None:
            nve: dict = {"NoncurrentDays": rule.noncurrent_days}
            if rule.newer_noncurrent is not None:
                nve["NewerNoncurrentVersions"] = rule.newer_noncurrent
            item["NoncurrentVersionExpiration"] = nve
        if rule.abort_days is not None:
            item["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule.abort_days}
        out.append(item)
    return {"Rule": out}


def expiration_header(rules: tuple[Rule, ...], key: str, size: int, tags,
                      last_modified: float, day_seconds: int) -> str | None:
    """x-amz-expiration for a current object: the earliest expiry of the enabled rules
    that cover it, as S3 words it."""
    best: tuple[float, str] | None = None
    for rule in rules:
        if not rule.enabled or not rule.matches(key, size, tags):
            continue
        when = rule.expires_at(last_modified, day_seconds)
        if when is not None and (best is None or when < best[0]):
            best = (when, rule.id)
    if best is None:
        return None
    return f'expiry-date="{s3xml.http_date(best[0])}", rule-id="{best[1]}"'


def needs_tags(rules: tuple[Rule, ...]) -> bool:
    return any(r.tags for r in rules)
