"""Prometheus metrics of one tier, served at GET /metrics (docs/metrics.md).

Each tier makes one TierMetrics: its own CollectorRegistry (not the process's
default one: the test cloud runs every tier in one process, and each tier
exposes only its own), the request middleware, the poll-round histogram and
gauges that are sampled when Prometheus scrapes. The text is prometheus-client's
standard exposition format.

Labels stay bounded: the action is a name from a fixed table (an EC2 Action of
ACTIONS, a Walrus dispatch key, an RPC method), anything else is "unknown";
never a bucket, key, account or instance id. The metrics are aggregates of the
whole tier, with no per-tenant label: who may read them is the tier's site's
business (docs/metrics.md, "Who may read").
"""
from __future__ import annotations

import inspect
import time
from typing import Awaitable, Callable, Collection, Iterable, Mapping, Union

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ACTION = web.RequestKey("metrics_action", str)
UNKNOWN = "unknown"
# Routes that are not the tier's work: scrapes and health checks are not counted (by
# the route matched, not the path: on Walrus's S3 port PUT /metrics is a bucket's).
UNCOUNTED = frozenset({"/metrics", "/healthz"})

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 6.0, 10.0, 30.0)

Samples = Mapping[tuple[str, ...], float]  # label values -> value
Sampler = Callable[[], Samples]


def set_action(request: web.Request, name: str | None, known: Collection[str]) -> None:
    """Name the request's action for its metrics: `name` if it is one of `known`
    (the tier's own table), else "unknown" (a client's made-up name is no label)."""
    request[ACTION] = name if name is not None and name in known else UNKNOWN


def _code_class(status: int | None) -> str:
    return f"{status // 100}xx" if status else "aborted"


class _GaugeSet:
    """Gauges that one sampler gives at once: {metric name: {label values: value}}."""

    def __init__(self, specs: tuple[tuple[str, str, tuple[str, ...]], ...],
                 sample: Callable[[], Union[dict, Awaitable[dict]]]):
        self.specs, self.sample = specs, sample
        self.values: dict[str, Samples] = {}

    def families(self) -> list[GaugeMetricFamily]:
        families = []
        for name, doc, labels in self.specs:
            family = GaugeMetricFamily(name, doc, labels=labels)
            for label_values, value in sorted(self.values.get(name, {}).items()):
                family.add_metric(list(label_values), value)
            families.append(family)
        return families


class _Gauges(Collector):
    """The sampled gauges, as the registry collects them (from their last sample)."""

    def __init__(self) -> None:
        self.sets: list[_GaugeSet] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return [family for gauge_set in self.sets for family in gauge_set.families()]

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []  # sampled at scrape: nothing to check at registration


class TierMetrics:
    def __init__(self, tier: str):
        self.tier = tier
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mallee_requests", "Requests answered, by action and HTTP status class",
            ("tier", "action", "code"), registry=self.registry)
        self.latency = Histogram(
            "mallee_request_duration_seconds", "Time to answer a request, by action",
            ("tier", "action"), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.poll_rounds = Histogram(
            "mallee_poll_round_duration_seconds",
            "Time of one polling round of every peer below (the CLC's clusters, the CC's nodes)",
            ("tier",), buckets=POLL_BUCKETS, registry=self.registry)
        self._children: dict[tuple[str, str], tuple] = {}  # bounded as the labels are
        self._gauges = _Gauges()
        self.registry.register(self._gauges)

    def observe_poll(self, seconds: float) -> None:
        self.poll_rounds.labels(self.tier).observe(seconds)

    def add_gauge(self, name: str, doc: str, labels: tuple[str, ...], sample: Sampler) -> None:
        """A gauge sampled at each scrape: `sample()` gives {label values: value}."""
        self._gauges.sets.append(_GaugeSet(((name, doc, labels),), lambda: {name: sample()}))

    def add_gauges(self, specs: tuple[tuple[str, str, tuple[str, ...]], ...],
                   sample: Callable[[], Awaitable[dict[str, Samples]]]) -> None:
        """Gauges (name, doc, labels) that one awaitable sample gives together,
        {name: {label values: value}}: a database read, which runs off the loop."""
        self._gauges.sets.append(_GaugeSet(specs, sample))

    async def render(self) -> bytes:
        for gauge_set in self._gauges.sets:
            values = gauge_set.sample()
            gauge_set.values = await values if inspect.isawaitable(values) else values
        return generate_latest(self.registry)

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical in UNCOUNTED:
            return await handler(request)  # the route itself, not an S3 bucket of that name
        started = time.perf_counter()
        status = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            count, latency = self._series(request.get(ACTION, UNKNOWN), _code_class(status))
            count.inc()
            latency.observe(time.perf_counter() - started)

    def _series(self, action: str, code: str):
        """The counter and histogram children of (action, code), made once: labels()
        costs more than the increment (12 us a request with it, under 4 without)."""
        series = self._children.get((action, code))
        if series is None:
            series = self._children[(action, code)] = (
                self.requests.labels(self.tier, action, code),
                self.latency.labels(self.tier, action))
        return series

    def handler(self, allowed: Callable[[web.Request], bool] = lambda request: True):
        """GET /metrics; a request that `allowed` refuses is 403."""
        async def metrics(request: web.Request) -> web.Response:
            if not allowed(request):
                raise web.HTTPForbidden(text="Metrics are served to the cloud's certificates.\n")
            body = await self.render()
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
        return metrics

    def serve(self, app: web.Application,
              allowed: Callable[[web.Request], bool] = lambda request: True) -> None:
        app.router.add_get("/metrics", self.handler(allowed))
