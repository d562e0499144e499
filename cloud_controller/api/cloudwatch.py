"""CloudWatch at the EC2 URL: ListMetrics, GetMetricStatistics, GetMetricData and
PutMetricData (docs/metrics.md, "CloudWatch").

Current botocore (and so boto3 and awscli) speaks CloudWatch's JSON protocol
(awsJson1_0 with the awsQueryCompatible trait): POST / with `X-Amz-Target:
GraniteServiceVersion20100801.<Action>`, a JSON body, timestamps as Unix
seconds; the front door routes such a request here by its target and signs it
as service `monitoring`. Older SDKs send the Query protocol (form parameters,
`Action=GetMetricStatistics&Version=2010-08-01`): from_query turns those into
the same JSON body, render_query writes the awsQuery XML answer. Requests
parse into the dataclasses below; each handler answers a dict in the output
shape of botocore's model.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

import botocore.session

from cloud_controller.api.context import RequestContext
from cloud_controller.services.metrics import STATISTICS, UNITS, Datum
from mallee import errors
from mallee.xmlwrite import document, iso8601

JSON_TARGET_PREFIX = "GraniteServiceVersion20100801."
PUT_PAST_SECONDS = 14 * 86400  # PutMetricData takes points up to two weeks old
PUT_FUTURE_SECONDS = 2 * 3600  # and two hours ahead
MAX_DIMENSIONS = 30
_QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]{0,254}")


# -- reading the JSON body ------------------------------------------------------------
def _get(body: dict, key: str, kind: type, where: str, required: bool = False):
    value = body.get(key)
    if value is None:
        if required:
            raise errors.MissingParameter(f"The parameter {where}{key} is required.")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise errors.InvalidParameterValue(
            f"The parameter {where}{key} must be a {kind.__name__}.")
    return value


def _time(body: dict, key: str, where: str = "", required: bool = False) -> float | None:
    value = body.get(key)
    if value is None:
        if required:
            raise errors.MissingParameter(f"The parameter {where}{key} is required.")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise errors.InvalidParameterValue(f"The parameter {where}{key} is not a valid timestamp.")


def _members(body: dict, key: str, where: str, most: int, least: int = 0,
             required: bool = False) -> list[tuple[str, dict]]:
    """A list of structures, each with the name a message gives it
    (`Key.member.N.`), checked for its length and that each is a structure."""
    items = _get(body, key, list, where, required=required) or []
    if not least <= len(items) <= most:
        raise errors.InvalidParameterValue(
            f"The collection {where}{key} must have {least} to {most} members.")
    out = []
    for n, item in enumerate(items, 1):
        at = f"{where}{key}.member.{n}."
        if not isinstance(item, dict):
            raise errors.InvalidParameterValue(f"The parameter {at[:-1]} must be a structure.")
        out.append((at, item))
    return out


def _unit(body: dict, where: str) -> str | None:
    unit = _get(body, "Unit", str, where)
    if unit is not None and unit not in UNITS:
        raise errors.InvalidParameterValue(
            f"The parameter {where}Unit must be one of {', '.join(sorted(UNITS))}.")
    return unit


def _dimensions(body: dict, where: str, values_required: bool = True) -> list:
    out, seen = [], set()
    for at, dim in _members(body, "Dimensions", where, MAX_DIMENSIONS):
        name = _get(dim, "Name", str, at, required=True)
        value = _get(dim, "Value", str, at, required=values_required)
        if not 1 <= len(name) <= 255 or (value is not None and not 1 <= len(value) <= 1024):
            raise errors.InvalidParameterValue(
                f"The parameter {at}Name must be 1-255 characters and Value 1-1024.")
        if name in seen:
            raise errors.InvalidParameterValue(
                f"The collection {where}Dimensions must not contain duplicate name {name}.")
        seen.add(name)
        out.append((name, value))
    return out


def _namespace(body: dict, where: str = "", required: bool = True) -> str | None:
    namespace = _get(body, "Namespace", str, where, required=required)
    if namespace is not None and not 1 <= len(namespace) <= 255:
        raise errors.InvalidParameterValue(
            f"The parameter {where}Namespace must be 1-255 characters.")
    return namespace


@dataclass
class ListMetricsRequest:
    # The members from_json reads (OwningAccount, IncludeLinkedAccounts: taken, no
    # cross-account observability here; tests/unit/test_request_shapes.py).
    MEMBERS = frozenset({"Namespace", "MetricName", "Dimensions", "NextToken",
                         "RecentlyActive", "IncludeLinkedAccounts", "OwningAccount"})
    namespace: str | None
    metric_name: str | None
    dimensions: list
    recently_active: float | None
    after_id: int

    @classmethod
    def from_json(cls, body: dict) -> "ListMetricsRequest":
        recent = _get(body, "RecentlyActive", str, "")
        if recent not in (None, "PT3H"):
            raise errors.InvalidParameterValue("The parameter RecentlyActive must be PT3H.")
        token = _get(body, "NextToken", str, "")
        return cls(_namespace(body, required=False), _get(body, "MetricName", str, ""),
                   _dimensions(body, "", values_required=False),
                   3 * 3600.0 if recent else None, _token_id(token))


@dataclass
class MetricSpec:
    namespace: str
    name: str
    dimensions: list


def _metric(body: dict, where: str) -> MetricSpec:
    return MetricSpec(_namespace(body, where),
                      _get(body, "MetricName", str, where, required=True),
                      _dimensions(body, where))


@dataclass
class GetMetricStatisticsRequest:
    MEMBERS = frozenset({"Namespace", "MetricName", "Dimensions", "StartTime", "EndTime",
                         "Period", "Statistics", "ExtendedStatistics", "Unit"})
    metric: MetricSpec
    start: float
    end: float
    period: int
    statistics: list[str]
    unit: str | None

    @classmethod
    def from_json(cls, body: dict) -> "GetMetricStatisticsRequest":
        metric = _metric(body, "")
        start = _time(body, "StartTime", required=True)
        end = _time(body, "EndTime", required=True)
        period = _get(body, "Period", int, "", required=True)
        stats = _get(body, "Statistics", list, "") or []
        extended = _get(body, "ExtendedStatistics", list, "") or []
        if stats and extended:
            raise errors.InvalidParameterCombination(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive "
                "and you have specified both.")
        if extended:
            raise errors.InvalidParameterValue(
                "ExtendedStatistics (percentiles) are not supported by this cloud; ask for "
                f"Statistics ({', '.join(STATISTICS)}).")
        if not stats:
            raise errors.MissingParameter(
                "Must specify either the parameter Statistics or ExtendedStatistics.")
        bad = [s for s in stats if s not in STATISTICS]
        if bad:
            raise errors.InvalidParameterValue(
                f"The parameter Statistics contains {bad[0]!r}; valid statistics are "
                f"{', '.join(STATISTICS)}.")
        return cls(metric, start, end, period, list(dict.fromkeys(stats)), _unit(body, ""))


@dataclass
class MetricQuery:
    id: str
    label: str | None
    metric: MetricSpec
    period: int
    stat: str
    unit: str | None
    return_data: bool


@dataclass
class GetMetricDataRequest:
    # LabelOptions (a time zone for labels): taken, labels carry none.
    MEMBERS = frozenset({"MetricDataQueries", "StartTime", "EndTime", "NextToken", "ScanBy",
                         "MaxDatapoints", "LabelOptions"})
    queries: list[MetricQuery]
    start: float
    end: float
    descending: bool
    max_datapoints: int | None

    @classmethod
    def from_json(cls, body: dict) -> "GetMetricDataRequest":
        queries, ids = [], set()
        for at, item in _members(body, "MetricDataQueries", "", 500, 1, required=True):
            query_id = _get(item, "Id", str, at, required=True)
            if not _QUERY_ID.fullmatch(query_id):
                raise errors.InvalidParameterValue(
                    f"The parameter {at}Id must start with a lowercase letter and hold only "
                    "letters, digits and underscores.")
            if query_id in ids:
                raise errors.InvalidParameterValue(f"The Id {query_id} is used more than once.")
            ids.add(query_id)
            if item.get("Expression") is not None:
                raise errors.InvalidParameterValue(
                    f"{at}Expression: metric math and Metrics Insights expressions are not "
                    "supported by this cloud; give each query a MetricStat.")
            stat_body = _get(item, "MetricStat", dict, at, required=True)
            where = f"{at}MetricStat."
            stat = _get(stat_body, "Stat", str, where, required=True)
            if stat not in STATISTICS:
                raise errors.InvalidParameterValue(
                    f"The parameter {where}Stat {stat!r} is not supported by this cloud "
                    f"(percentiles and other extended statistics are not kept); use one of "
                    f"{', '.join(STATISTICS)}.")
            metric = _metric(_get(stat_body, "Metric", dict, where, required=True) or {},
                             f"{where}Metric.")
            return_data = item.get("ReturnData", True)
            queries.append(MetricQuery(query_id, _get(item, "Label", str, at), metric,
                                       _get(stat_body, "Period", int, where, required=True),
                                       stat, _unit(stat_body, where), bool(return_data)))
        scan = _get(body, "ScanBy", str, "") or "TimestampDescending"
        if scan not in ("TimestampDescending", "TimestampAscending"):
            raise errors.InvalidParameterValue(
                "The parameter ScanBy must be TimestampDescending or TimestampAscending.")
        if body.get("NextToken") is not None:
            raise errors.InvalidNextToken("The specified NextToken is not valid.")
        return cls(queries, _time(body, "StartTime", required=True),
                   _time(body, "EndTime", required=True), scan == "TimestampDescending",
                   _get(body, "MaxDatapoints", int, ""))


@dataclass
class PutMetricDataRequest:
    # EntityMetricData, StrictEntityValidation (entity-linked telemetry): taken, not kept.
    MEMBERS = frozenset({"Namespace", "MetricData", "EntityMetricData",
                         "StrictEntityValidation"})
    namespace: str
    data: list[Datum] = field(default_factory=list)

    @classmethod
    def from_json(cls, body: dict) -> "PutMetricDataRequest":
        namespace = _namespace(body)
        now = time.time()
        return cls(namespace, [_datum(item, at, now) for at, item in
                               _members(body, "MetricData", "", 1000, 1, required=True)])


def _finite(value: float, where: str) -> float:
    if not math.isfinite(value):
        raise errors.InvalidParameterValue(f"The parameter {where} must be a finite number.")
    return value


def _datum(item: dict, at: str, now: float) -> Datum:
    name = _get(item, "MetricName", str, at, required=True)
    if not 1 <= len(name) <= 255:
        raise errors.InvalidParameterValue(f"The parameter {at}MetricName must be 1-255 "
                                           "characters.")
    when = _time(item, "Timestamp", at)
    when = now if when is None else when
    if when < now - PUT_PAST_SECONDS or when > now + PUT_FUTURE_SECONDS:
        raise errors.InvalidParameterValue(
            f"The parameter {at}Timestamp must specify a time no more than two weeks in the "
            "past and no more than two hours in the future.")
    value = _get(item, "Value", float, at)
    stats = _get(item, "StatisticValues", dict, at)
    values = _get(item, "Values", list, at)
    given = [k for k, v in (("Value", value), ("StatisticValues", stats), ("Values", values))
             if v is not None]
    if len(given) > 1:
        raise errors.InvalidParameterCombination(
            f"The parameters {at}{given[0]} and {at}{given[1]} are mutually exclusive and "
            "you have specified both.")
    if not given:
        raise errors.MissingParameter(f"The parameter {at}Value is required.")
    if value is not None:
        v = _finite(value, f"{at}Value")
        count, total, low, high = 1.0, v, v, v
    elif stats is not None:
        where = f"{at}StatisticValues."
        count, total, low, high = (
            _finite(_get(stats, k, float, where, required=True), f"{where}{k}")
            for k in ("SampleCount", "Sum", "Minimum", "Maximum"))
        if count <= 0 or low > high:
            raise errors.InvalidParameterValue(
                f"The parameter {where}SampleCount must be positive and Minimum at most "
                "Maximum.")
    else:
        counts = _get(item, "Counts", list, at)
        if counts is not None and len(counts) != len(values):
            raise errors.InvalidParameterValue(
                f"The parameters {at}Values and {at}Counts must have the same length.")
        if not values:
            raise errors.InvalidParameterValue(f"The parameter {at}Values must not be empty.")
        numbers = [_finite(float(v), f"{at}Values") if isinstance(v, (int, float)) else
                   _bad_number(f"{at}Values") for v in values]
        weights = [float(c) for c in counts] if counts is not None else [1.0] * len(numbers)
        if any(c <= 0 for c in weights):
            raise errors.InvalidParameterValue(f"The parameter {at}Counts must be positive.")
        count, total = sum(weights), sum(v * c for v, c in zip(numbers, weights))
        low, high = min(numbers), max(numbers)
    return Datum(name, _dimensions(item, at), when, _unit(item, at) or "None",
                 count, total, low, high)


def _bad_number(where: str) -> float:
    raise errors.InvalidParameterValue(f"The parameter {where} must hold numbers.")


def _token_id(token: str | None) -> int:
    if token is None:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidParameterValue("The NextToken is not valid.") from None
    if value < 0:
        raise errors.InvalidParameterValue("The NextToken is not valid.")
    return value


def _next_token(after_id: int | None) -> str | None:
    return None if after_id is None else base64.urlsafe_b64encode(
        str(after_id).encode()).decode()


# -- handlers -------------------------------------------------------------------------
async def list_metrics(ctx: RequestContext, req: ListMetricsRequest) -> dict:
    found, after = await ctx.cloud.metrics.list_metrics(
        ctx.account_id, req.namespace, req.metric_name, req.dimensions, req.recently_active,
        req.after_id)
    body: dict = {"Metrics": found}
    if after is not None:
        body["NextToken"] = _next_token(after)
    return body


async def get_metric_statistics(ctx: RequestContext, req: GetMetricStatisticsRequest) -> dict:
    m = req.metric
    points = await ctx.cloud.metrics.statistics(
        ctx.account_id, m.namespace, m.name, m.dimensions, req.start, req.end, req.period,
        req.unit)
    return {"Label": m.name, "Datapoints": [
        {"Timestamp": p["at"], "Unit": p["unit"], **{s: p[s] for s in req.statistics}}
        for p in points]}


async def get_metric_data(ctx: RequestContext, req: GetMetricDataRequest) -> dict:
    results = []
    for q in req.queries:
        m = q.metric
        points = await ctx.cloud.metrics.statistics(
            ctx.account_id, m.namespace, m.name, m.dimensions, req.start, req.end, q.period,
            q.unit)
        if not q.return_data:
            continue
        merged: dict[int, float] = {}  # one value per timestamp (units apart: the first)
        for p in points:
            merged.setdefault(p["at"], p[q.stat])
        stamps = sorted(merged, reverse=req.descending)
        if req.max_datapoints is not None:
            stamps = stamps[:req.max_datapoints]
        results.append({"Id": q.id, "Label": q.label or m.name, "Timestamps": stamps,
                        "Values": [merged[t] for t in stamps], "StatusCode": "Complete"})
    return {"MetricDataResults": results, "Messages": []}


async def put_metric_data(ctx: RequestContext, req: PutMetricDataRequest) -> dict:
    await ctx.cloud.metrics.put(ctx.account_id, req.namespace, req.data)
    return {}


# -- the Query protocol (older SDKs: form parameters in, awsQuery XML out) -------------
QUERY_NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"


@functools.cache
def model():
    """botocore's CloudWatch model (installed with boto3): the shapes the Query
    protocol's flat names and XML answers follow."""
    return botocore.session.get_session().get_service_model("cloudwatch")


async def loaded_model():
    """The model; its first read (~0.1 s of gzipped JSON) runs off the event loop."""
    return model() if model.cache_info().currsize else await asyncio.to_thread(model)


def from_query(params: dict[str, str], shape, prefix: str = "") -> dict:
    """Form parameters (`Dimensions.member.1.Name`, `StartTime` in ISO 8601) as the
    JSON body the same request would have: what from_json reads."""
    out: dict = {}
    for name, member in shape.members.items():
        value = _query_value(params, member, prefix + name)
        if value is not None:
            out[name] = value
    return out


def _query_value(params: dict[str, str], shape, key: str):
    kind = shape.type_name
    if kind == "structure":
        if not any(k.startswith(key + ".") for k in params):
            return None
        return from_query(params, shape, key + ".")
    if kind == "list":
        items = []
        for n in range(1, MAX_QUERY_LIST + 1):
            item = _query_value(params, shape.member, f"{key}.member.{n}")
            if item is None:
                break
            items.append(item)
        return items if items or f"{key}" in params else None
    text = params.get(key)
    if text is None:
        return None
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
    except ValueError:
        raise errors.InvalidParameterValue(f"The parameter {key} must be a number.") from None
    if kind == "boolean":
        return text.lower() == "true"
    return text  # strings, and timestamps (ISO 8601: _time reads them)


MAX_QUERY_LIST = 1000


def render_query(action: str, body: dict, request_id: str) -> bytes:
    """An answer in the awsQuery form: <ActionResponse><ActionResult>, lists as
    <member>s, timestamps in ISO 8601 (the output shape says which are which)."""
    shape = model().operation_model(action).output_shape
    result = _query_xml(body, shape) if shape is not None else None
    content = {"@xmlns": QUERY_NAMESPACE}
    if result is not None:
        content[f"{action}Result"] = result
    content["ResponseMetadata"] = {"RequestId": request_id}
    return document(f"{action}Response", content, lists="repeat")


def _query_xml(value, shape):
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        return {name: _query_xml(value.get(name), member)
                for name, member in shape.members.items() if value.get(name) is not None}
    if kind == "list":
        return {"member": [_query_xml(v, shape.member) for v in value]} if value else {}
    if kind == "timestamp":
        return iso8601(value)
    return value
