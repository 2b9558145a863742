"""Prometheus metrics of one app (``GET /metrics``, text exposition format).

Series:
    * ``derivatives_http_requests_total{method,route,status}`` and
      ``derivatives_http_request_duration_seconds{method,route,status}`` (histogram), where
      ``route`` is the route *template* (``/risk/insurance/payouts/{payout_id}``), or
      ``unrouted`` for unknown paths and requests refused before routing (the IP weight limit),
      so the label set stays bounded;
    * ``derivatives_rate_limit_rejections_total{route}``: answers with HTTP 429 (only the rate
      limiter sends 429: ``-1003``/``-1015``);
    * ``derivatives_ws_subscribers{kind}``: open WebSockets with at least one public
      subscription (``public``), on a listenKey (``private``);
    * ``derivatives_engine_last_seq`` and ``derivatives_projection_lag`` (engine seq minus projected
      seq), read at scrape time;
    * ``derivatives_reconciliation_alerts_total{logger}``: WARNING-or-worse records of the loggers
      that report disagreements between the engine and its projections
      (:data:`RECONCILIATION_LOGGERS`: the reconciliation job's wallet mismatches, projection
      gaps and back-fills, a projection ahead of the engine at start), counted since the process
      started.

    * the operator series of :mod:`api.operations` (liquidations, ADL fills, fund balance,
      mark-index gap, venue freshness, funding rate, journal fsync time, engine batch size and
      time, engine rejections by Binance code) and the process collectors (CPU, memory, file
      descriptors, GC, Python version).
Access: a scrape presents ``Authorization: Bearer <credential>`` of role ``risk`` or ``admin``
(an admin token, as Prometheus' ``authorization`` setting sends it); anonymous scrapes get HTTP
401 ``-1002``, so the public port never hands out the exchange's internals.

Invariants: one registry per app (several apps may share a process, as the tests do); nothing
here touches the engine's command path; a scrape before start-up shows only the HTTP series.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.roles import RiskStaff
from api.operations import OperationsCollector

RECONCILIATION_LOGGERS = ("api", "api.projection", "api.reconciliation", "derivatives.persistence.projector")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _AlertCounter(logging.Handler):
    """Counts WARNING+ records emitted by the reconciliation loggers themselves (not children);
    installed once on each top-level logger (``api``, ``derivatives``), which every record of its
    tree reaches exactly once (the root's handlers are replaced by ``derivatives.logs``)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Tally[str] = Tally()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in RECONCILIATION_LOGGERS:
            with self._guard:
                self.counts[record.name] += 1


ALERTS = _AlertCounter()
for _top in sorted({name.split(".")[0] for name in RECONCILIATION_LOGGERS}):
    logging.getLogger(_top).addHandler(ALERTS)


class _StateCollector(Collector):
    """Gauges read from the running app at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        alerts = CounterMetricFamily("derivatives_reconciliation_alerts", "Engine/projection disagreements logged",
                                     labels=["logger"])
        for name in RECONCILIATION_LOGGERS:
            alerts.add_metric([name], ALERTS.counts[name])
        yield alerts
        services = getattr(self.app.state, "services", None)
        if services is None:
            return
        last_seq = services.gateway.last_seq()
        yield GaugeMetricFamily("derivatives_engine_last_seq", "Last engine command sequence number", last_seq)
        yield GaugeMetricFamily("derivatives_projection_lag", "Engine seq minus projected seq",
                                last_seq - services.worker.applied)
        public = set().union(*services.hub.subscribers.values())
        private = set().union(*services.streams.connections.values())
        sockets = GaugeMetricFamily("derivatives_ws_subscribers", "Open subscribed WebSockets", labels=["kind"])
        sockets.add_metric(["public"], len(public))
        sockets.add_metric(["private"], len(private))
        yield sockets


class Metrics:
    """The app's registry and its HTTP series."""

    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter("derivatives_http_requests", "HTTP requests answered", labels,
                                registry=self.registry)
        self.latency = Histogram("derivatives_http_request_duration_seconds", "HTTP answer time", labels,
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rate_limited = Counter("derivatives_rate_limit_rejections", "Requests refused by the rate limits",
                                    ("route",), registry=self.registry)
        self.registry.register(_StateCollector(app))
        self.registry.register(OperationsCollector(app))
        for process in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(process)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Records one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request (outermost, so rate-limit refusals and the
    catch-all's answers are counted too)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unrouted")
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


def install(app: FastAPI) -> None:
    """Adds ``GET /metrics`` and the timing middleware (call after the other middlewares)."""
    metrics = Metrics(app)

    @app.get("/metrics", include_in_schema=False)
    async def scrape(_request: Request, _staff: RiskStaff) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
