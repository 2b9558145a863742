"""The operator's surface of one app: ``GET /health`` (alive), ``GET /ready`` (able to serve), the
risk and engine series of ``/metrics``, and one structured log line per liquidation step and ADL
fill (docs/OPERATIONS.md).

Invariants:
    * ``/health`` answers 200 while the process serves HTTP; ``/ready`` answers 200 only when every
      check passes and 503 otherwise, naming each check, so a load balancer and a human read the
      same answer. Neither needs credentials and neither changes anything.
    * In a gateway process of the served topology the checks are per process: the engine service
      (an empty command batch answered: it takes no seq), this gateway's view (its lag behind the
      engine), the projector (the SQL cursor's lag behind the view) and the risk process (its own
      report over the bus: oracle freshness and risk feed, ``derivatives.bus.health``).
    * :class:`EngineEvents` is a gateway listener: called in sequence order under the gateway's
      lock, it only counts and logs (no I/O beyond the log handler, nothing blocking).
    * Every series name is declared in :data:`SERIES` (the Grafana dashboard and the alert rules
      under ``ops/`` are checked against it by a test).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter as Tally
from collections.abc import Iterator
from decimal import Decimal

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from api.instruments import InstrumentRegistry
from api.state import Services
from derivatives import _core
from derivatives.bus.client import EngineBusError
from derivatives.bus.gateway import BusGateway
from derivatives.bus.health import ask_health
from derivatives.codec import encode_commands
from derivatives.errors import BINANCE_CODES
from derivatives.events import (
    AutoDeleveraged,
    LiquidationOrder,
    LiquidationStarted,
    OrderRejected,
    PositionTakenOver,
)
from derivatives.persistence.projector import Batch
from oracle.service import MarkPriceService
from risk import RiskServices

log = logging.getLogger("derivatives.liquidation")

PROJECTION_LAG_READY = 10_000
"""``/ready`` fails when the projection is more commands than this behind the engine."""
VIEW_LAG_READY = 10_000
"""A gateway whose view is further behind the engine than this many seqs is not ready."""
ORACLE_STALE_MS = 15_000
"""``/ready`` fails when a symbol's last mark publication is older than this (oracle on)."""
ENGINE_TIMEOUT_S = 2.0
"""``/ready`` fails when the engine does not answer a query within this."""

SERIES = (
    "derivatives_liquidations_total", "derivatives_liquidation_orders_total", "derivatives_takeovers_total",
    "derivatives_adl_fills_total", "derivatives_engine_rejections_total", "derivatives_insurance_fund_balance",
    "derivatives_mark_index_gap_ratio", "derivatives_oracle_age_seconds", "derivatives_venue_fresh",
    "derivatives_funding_rate", "derivatives_journal_fsync_seconds", "derivatives_journal_bytes_total",
    "derivatives_engine_batch_commands", "derivatives_engine_batch_seconds", "derivatives_risk_feed_caught_up",
)


class EngineEvents:
    """Counts liquidation steps, ADL fills and engine rejections (by Binance code) from every batch,
    and writes one structured log line per liquidation step and ADL fill."""

    def __init__(self) -> None:
        self.counts: Tally[str] = Tally()
        self.rejections: Tally[int] = Tally()
        self._guard = threading.Lock()

    def on_batch(self, batch: Batch) -> None:
        """A gateway listener."""
        for envelope in batch.events:
            event = envelope.event
            kind = None
            if isinstance(event, LiquidationStarted):
                kind = "liquidations"
                log.info("liquidation started", extra={"fields": {
                    "seq": envelope.seq, "account": event.account, "margin_balance": str(event.margin_balance),
                    "maintenance": str(event.maintenance)}})
            elif isinstance(event, LiquidationOrder):
                kind = "orders"
                log.info("liquidation order", extra={"fields": {
                    "seq": envelope.seq, "account": event.account, "symbol": event.symbol, "side": event.side.name,
                    "qty": str(event.qty), "bankruptcy_price": str(event.bankruptcy_price)}})
            elif isinstance(event, PositionTakenOver):
                kind = "takeovers"
                log.info("position taken over", extra={"fields": {
                    "seq": envelope.seq, "account": event.account, "symbol": event.symbol, "qty": str(event.qty),
                    "price": str(event.price)}})
            elif isinstance(event, AutoDeleveraged):
                kind = "adl"
                log.info("auto-deleveraged", extra={"fields": {
                    "seq": envelope.seq, "account": event.account, "bankrupt": event.bankrupt, "symbol": event.symbol,
                    "qty": str(event.qty), "price": str(event.price)}})
            elif isinstance(event, OrderRejected):
                with self._guard:
                    self.rejections[BINANCE_CODES[event.reason]] += 1
            if kind is not None:
                with self._guard:
                    self.counts[kind] += 1


def _engine_ok(services: Services) -> tuple[bool, int | None]:
    """Whether the engine answers a query in time, and its last seq."""
    answer: list[int] = []
    worker = threading.Thread(target=lambda: answer.append(services.gateway.last_seq()), daemon=True)
    worker.start()
    worker.join(ENGINE_TIMEOUT_S)
    return (True, answer[0]) if answer else (False, None)


def readiness(app: FastAPI) -> tuple[bool, dict[str, dict[str, object]]]:
    """Every readiness check of `app` (engine, projection, oracle, risk feed) and the verdict."""
    services: Services | None = getattr(app.state, "services", None)
    if services is None:
        return False, {"started": {"ok": False, "detail": "the app is starting"}}
    now_ms = services.clock_ms()
    checks: dict[str, dict[str, object]] = {}
    reachable, last_seq = _engine_ok(services)
    checks["engine"] = {"ok": reachable, "lastSeq": last_seq}
    if last_seq is not None:
        checks["projection"] = lag_check(last_seq - services.worker.applied, PROJECTION_LAG_READY)
    checks.update(service_checks(services.oracle, getattr(app.state, "risk", None), services.registry, now_ms))
    return verdict(checks), checks


def verdict(checks: dict[str, dict[str, object]]) -> bool:
    """Ready when every check is ok."""
    return all(bool(c["ok"]) for c in checks.values())


def lag_check(lag: int, limit: int) -> dict[str, object]:
    """A lag in seqs against its limit."""
    return {"ok": lag <= limit, "lag": lag, "limit": limit}


def service_checks(oracle: MarkPriceService | None, risk: RiskServices | None, registry: InstrumentRegistry,
                   now_ms: int) -> dict[str, dict[str, object]]:
    """The checks of the oracle and the risk services of a process, for those that run in it."""
    checks: dict[str, dict[str, object]] = {}
    if oracle is not None:
        checks["oracle"] = oracle_check(oracle, registry, now_ms)
    if risk is not None:
        checks["riskFeed"] = risk_feed_check(risk)
    return checks


def oracle_check(oracle: MarkPriceService, registry: InstrumentRegistry, now_ms: int) -> dict[str, object]:
    """The age of each symbol's latest mark publication against the staleness limit."""
    ages: dict[str, int | None] = {}
    for instrument in registry.all():
        latest = oracle.latest(instrument.name)
        ages[instrument.name] = None if latest is None else now_ms - latest.time_ms
    fresh = all(age is not None and age <= ORACLE_STALE_MS for age in ages.values())
    return {"ok": fresh, "ageMs": ages, "limitMs": ORACLE_STALE_MS}


def risk_feed_check(risk: RiskServices) -> dict[str, object]:
    """Whether the risk services' event feed is current and has not failed."""
    return {"ok": risk.feed.failure is None, "caughtUp": risk.feed.caught_up,
            "failure": None if risk.feed.failure is None else str(risk.feed.failure)}


async def bus_readiness(services: Services, gateway: BusGateway) -> tuple[bool, dict[str, dict[str, object]]]:
    """The per-process checks of a gateway of the served topology (see the module docstring)."""
    checks: dict[str, dict[str, object]] = {}
    view = gateway.last_seq()
    try:
        seqs, _ = await asyncio.wait_for(gateway.engine.execute_raw(encode_commands([])), ENGINE_TIMEOUT_S)
    except (EngineBusError, TimeoutError) as error:
        checks["engine"] = {"ok": False, "detail": str(error) or "no answer in time"}
    else:
        checks["engine"] = {"ok": True, "lastSeq": seqs.last_seq}
        checks["view"] = lag_check(seqs.last_seq - view, VIEW_LAG_READY)
    checks["projection"] = lag_check(view - services.worker.applied, PROJECTION_LAG_READY)
    engine = gateway.engine
    report = await ask_health(engine.nc, engine.subjects.health("risk"))
    checks["risk"] = report if report is not None else {"ok": False, "detail": "the risk process does not answer"}
    return verdict(checks), checks


class OperationsCollector(Collector):
    """The risk and engine series, read at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        events: EngineEvents | None = getattr(self.app.state, "engine_events", None)
        if events is not None:
            yield from self._events(events)
        services = getattr(self.app.state, "services", None)
        if services is None:
            return
        engine = services.gateway.client.engine
        if isinstance(engine, _core.Engine):  # a gateway process's replica has no engine thread
            yield from self._engine(engine)
        yield from self._prices(services)
        risk = getattr(self.app.state, "risk", None)
        if risk is not None:
            yield GaugeMetricFamily("derivatives_risk_feed_caught_up", "The risk services' event feed is current",
                                    1 if risk.feed.caught_up and risk.feed.failure is None else 0)

    @staticmethod
    def _events(events: EngineEvents) -> Iterator[Metric]:
        for name, key, doc in (("derivatives_liquidations", "liquidations", "Liquidations started"),
                               ("derivatives_liquidation_orders", "orders", "Liquidation orders sent to the book"),
                               ("derivatives_takeovers", "takeovers", "Positions taken over by the insurance fund"),
                               ("derivatives_adl_fills", "adl", "Auto-deleveraging fills")):
            yield CounterMetricFamily(name, doc, events.counts[key])
        rejections = CounterMetricFamily("derivatives_engine_rejections", "Engine refusals by Binance error code",
                                         labels=["code"])
        for code, count in sorted(events.rejections.items()):
            rejections.add_metric([str(code)], count)
        yield rejections

    @staticmethod
    def _engine(engine: _core.Engine) -> Iterator[Metric]:
        (batches, commands, apply_ns), journal = engine.stats()
        yield SummaryMetricFamily("derivatives_engine_batch_commands", "Commands per engine batch",
                                  count_value=batches, sum_value=commands)
        yield SummaryMetricFamily("derivatives_engine_batch_seconds", "Engine thread time per batch",
                                  count_value=batches, sum_value=apply_ns / 1e9)
        if journal is not None:
            syncs, _batches, written, sync_ns = journal
            yield SummaryMetricFamily("derivatives_journal_fsync_seconds", "Journal fdatasync time per group commit",
                                      count_value=syncs, sum_value=sync_ns / 1e9)
            yield CounterMetricFamily("derivatives_journal_bytes", "Journal bytes made durable", written)

    @staticmethod
    def _prices(services: Services) -> Iterator[Metric]:
        now_ms = services.clock_ms()
        fund = services.gateway.client.account(_core.INSURANCE_FUND)
        yield GaugeMetricFamily("derivatives_insurance_fund_balance", "Insurance fund margin balance (USDT)",
                                float(fund.margin_balance) if fund is not None else 0.0)
        gap = GaugeMetricFamily("derivatives_mark_index_gap_ratio", "(mark - index) / index", labels=["symbol"])
        funding = GaugeMetricFamily("derivatives_funding_rate", "Last settled funding rate", labels=["symbol"])
        age = GaugeMetricFamily("derivatives_oracle_age_seconds", "Age of the last mark publication", labels=["symbol"])
        fresh = GaugeMetricFamily("derivatives_venue_fresh", "1 when the venue is in the index", labels=["symbol", "venue"])
        for instrument in services.registry.all():
            prices = services.gateway.client.prices(instrument.spec.symbol)
            if prices is not None and prices.mark is not None and prices.index:
                gap.add_metric([instrument.name], float((prices.mark - prices.index) / prices.index))
            rate = services.hub.funding.get(instrument.name, Decimal(0))
            funding.add_metric([instrument.name], float(rate))
            oracle = services.oracle
            latest = None if oracle is None else oracle.latest(instrument.name)
            if latest is not None:
                age.add_metric([instrument.name], (now_ms - latest.time_ms) / 1000)
                for constituent in latest.index_result.constituents:
                    fresh.add_metric([instrument.name, constituent.venue], 1)
                for venue, _why in latest.index_result.excluded:
                    fresh.add_metric([instrument.name, venue], 0)
        yield from (gap, funding, age, fresh)


def install(app: FastAPI) -> None:
    """Adds ``/health`` and ``/ready`` and the event counters (``app.state.engine_events``; the
    lifespan subscribes them to the gateway)."""
    app.state.engine_events = EngineEvents()

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        """Alive: the process serves HTTP."""
        return JSONResponse({"status": "ok"})

    @app.get("/ready", tags=["operations"])
    async def ready(request: Request) -> JSONResponse:
        """Ready to serve: engine reachable, projection lag, oracle freshness, risk feed."""
        services = getattr(request.app.state, "services", None)
        if services is not None and isinstance(services.gateway, BusGateway):
            ok, checks = await bus_readiness(services, services.gateway)
        else:
            ok, checks = await anyio.to_thread.run_sync(readiness, request.app)
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)
