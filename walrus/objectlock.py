"""S3 Object Lock's rules, without HTTP or SQL: a version's lock (retention mode and
date, legal hold), the bucket's configuration document (its default retention), the
x-amz-object-lock-* headers and XML bodies, and who may delete or weaken what.

A version is locked while its retain-until date is in the future or a legal hold is
on. GOVERNANCE yields to the bucket owner's x-amz-bypass-governance-retention;
COMPLIANCE to nobody. A DELETE without a version id only adds a delete marker and is
never refused (the locked version stays)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from walrus import errors, numbers, s3xml

MODES = ("GOVERNANCE", "COMPLIANCE")
HOLDS = ("ON", "OFF")
MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"
HEADERS = (MODE_HEADER, UNTIL_HEADER, HOLD_HEADER)
BYPASS_HEADER = "x-amz-bypass-governance-retention"
KIND = "object-lock"  # the bucket setting's kind (walrus/api/object_lock.py)
DAY = 86400
YEAR = 365 * DAY


@dataclass(frozen=True)
class Lock:
    mode: str = ""          # "", GOVERNANCE or COMPLIANCE
    until: float = 0.0      # retain-until, epoch seconds (0: no retention)
    legal_hold: str = ""    # "" (never set), ON or OFF

    def retained(self, now: float) -> bool:
        return bool(self.mode) and self.until > now

    def held(self) -> bool:
        return self.legal_hold == "ON"


NO_LOCK = Lock()


def missing_configuration() -> errors.InvalidRequest:
    return errors.InvalidRequest("Bucket is missing Object Lock Configuration")


def _fields(doc: dict) -> set:
    """A parsed element's children (not its attributes: xmlns...)."""
    return {k for k in doc if not k.startswith("@")}


def parse_date(text: str, name: str) -> float:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgument("The retain until date is not a valid date.",
                                     ArgumentName=name, ArgumentValue=text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _future(until: float, name: str, text: str) -> None:
    if until <= time.time():
        raise errors.InvalidArgument("The retain until date must be in the future!",
                                     ArgumentName=name, ArgumentValue=text)


# --- the bucket's configuration (the `object-lock` bucket setting) -------------------

def enabled_document() -> str:
    """What CreateBucket with x-amz-bucket-object-lock-enabled stores: lock, no rule."""
    return json.dumps({"enabled": True})


def parse_configuration(raw: bytes) -> str:
    """PutObjectLockConfiguration's body -> the stored document."""
    doc = s3xml.parse(raw, "ObjectLockConfiguration")
    if doc.get("ObjectLockEnabled") != "Enabled" or _fields(doc) - {"ObjectLockEnabled", "Rule"}:
        raise errors.MalformedXML()
    stored: dict = {"enabled": True}
    rule = doc.get("Rule")
    if rule is not None:
        retention = rule.get("DefaultRetention") if isinstance(rule, dict) else None
        if not isinstance(retention, dict) or _fields(rule) != {"DefaultRetention"} \
                or _fields(retention) - {"Mode", "Days", "Years"}:
            raise errors.MalformedXML()
        mode = retention.get("Mode")
        periods = [(n, retention[n]) for n in ("Days", "Years") if n in retention]
        if mode not in MODES or len(periods) != 1:
            raise errors.MalformedXML()
        unit, text = periods[0]
        count = numbers.decimal(text.strip()) if isinstance(text, str) else None
        if count is None or count == 0:
            raise errors.InvalidArgument("Default retention period must be a positive "
                                         "integer value.", ArgumentName=unit,
                                         ArgumentValue=str(text))
        stored["rule"] = {"mode": mode, unit.lower(): count}
    return json.dumps(stored)


def configuration_xml(stored: str) -> dict:
    found = json.loads(stored)
    body: dict = {"ObjectLockEnabled": "Enabled"}
    rule = found.get("rule")
    if rule:
        retention = {"Mode": rule["mode"]}
        for unit in ("days", "years"):
            if unit in rule:
                retention[unit.capitalize()] = rule[unit]
        body["Rule"] = {"DefaultRetention": retention}
    return body


def default_lock(stored: str, now: float) -> Lock:
    """The retention a new version gets from the bucket's default rule (or none)."""
    rule = json.loads(stored).get("rule")
    if not rule:
        return NO_LOCK
    span = rule.get("days", 0) * DAY + rule.get("years", 0) * YEAR
    return Lock(rule["mode"], now + span)


# --- a new version's lock, from the write's headers ----------------------------------

def requested(headers, future: bool = True) -> Lock | None:
    """The lock x-amz-object-lock-* of a PUT, CreateMultipartUpload or copy asks for
    (None: no such header), checked as S3 checks them (`future`: the date must be
    ahead; not re-checked when an upload created with it completes)."""
    if not any(h in headers for h in HEADERS):
        return None
    mode, until_text = headers.get(MODE_HEADER), headers.get(UNTIL_HEADER)
    hold = headers.get(HOLD_HEADER, "")
    if (mode is None) != (until_text is None):
        raise errors.InvalidArgument("x-amz-object-lock-retain-until-date and "
                                     "x-amz-object-lock-mode must both be supplied",
                                     ArgumentName=MODE_HEADER if mode is None
                                     else UNTIL_HEADER)
    if mode is not None and mode not in MODES:
        raise errors.InvalidArgument("Unknown wormMode directive.", ArgumentName=MODE_HEADER,
                                     ArgumentValue=mode)
    if hold and hold not in HOLDS:
        raise errors.InvalidArgument("Legal Hold must be either of 'ON' or 'OFF'",
                                     ArgumentName=HOLD_HEADER, ArgumentValue=hold)
    until = 0.0
    if until_text is not None:
        until = parse_date(until_text, UNTIL_HEADER)
        if future:
            _future(until, UNTIL_HEADER, until_text)
    return Lock(mode or "", until, hold)


def for_new_version(asked: Lock | None, stored: str | None, now: float) -> Lock:
    """A new version's lock: what its headers asked for (a bucket without Object Lock
    refuses any), else the bucket's default retention; a legal hold alone keeps the
    default retention beside it."""
    if stored is None:
        if asked is not None:
            raise missing_configuration()
        return NO_LOCK
    default = default_lock(stored, now)
    if asked is None:
        return default
    if not asked.mode:
        return Lock(default.mode, default.until, asked.legal_hold)
    return asked


def headers_of(lock: Lock) -> dict:
    """The x-amz-object-lock-* a GET or HEAD of the version answers."""
    out = {}
    if lock.mode:
        out[MODE_HEADER] = lock.mode
        out[UNTIL_HEADER] = s3xml.iso8601(lock.until)
    if lock.legal_hold:
        out[HOLD_HEADER] = lock.legal_hold
    return out


# --- PutObjectRetention / PutObjectLegalHold bodies ----------------------------------

def parse_retention(raw: bytes) -> Lock:
    """A Retention body: Mode and RetainUntilDate, or neither (remove the retention)."""
    doc = s3xml.parse(raw, "Retention")
    if _fields(doc) - {"Mode", "RetainUntilDate"}:
        raise errors.MalformedXML()
    mode, text = doc.get("Mode"), doc.get("RetainUntilDate")
    if mode is None and text is None:
        return NO_LOCK
    if mode not in MODES or not isinstance(text, str):
        raise errors.MalformedXML()
    until = parse_date(text, "RetainUntilDate")
    _future(until, "RetainUntilDate", text)
    return Lock(mode, until)


def parse_legal_hold(raw: bytes) -> str:
    doc = s3xml.parse(raw, "LegalHold")
    status = doc.get("Status")
    if _fields(doc) != {"Status"} or status not in HOLDS:
        raise errors.MalformedXML()
    return status


# --- enforcement ----------------------------------------------------------------------

def deletion_refused(lock: Lock, now: float, bypass: bool) -> bool:
    """Whether removing a version (DELETE with versionId, lifecycle) must be refused."""
    if lock.held():
        return True
    if not lock.retained(now):
        return False
    return lock.mode == "COMPLIANCE" or not bypass


def check_retention_change(old: Lock, new: Lock, now: float, bypass: bool) -> None:
    """PutObjectRetention over a version's retention: lengthening (or GOVERNANCE to
    COMPLIANCE) is free; shortening, removing or COMPLIANCE to GOVERNANCE is refused
    while the old retention is in force, GOVERNANCE's only without the owner's bypass."""
    if not old.retained(now):
        return
    weaker = new.until < old.until or (old.mode == "COMPLIANCE" and new.mode != "COMPLIANCE")
    if not weaker:
        return
    if old.mode == "COMPLIANCE" or not bypass:
        raise errors.AccessDenied()
