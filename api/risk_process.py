"""The risk and mark-price process of ``derivatives serve``: a bus client of its own.

``python -m api.risk_process`` attaches to the bus (``derivatives.bus.node``: a replica of the
engine caught up with the batch stream, commands by request-reply) and runs the oracle's
``MarkPriceService`` (``DERIVATIVES_ORACLE``, simulated by default, resuming from the engine's last
marks; off: no marks) publishing ``SetMarkPrice`` once a second and answering the steering subject
(``oracle.control.serve_control``, what ``/admin/oracle/steer`` of every gateway asks), its own
readiness on the health subject (what every gateway's ``/ready`` shows as ``risk``), the risk services (funding, ADL
ranking, insurance payouts, liquidation monitor) reading the replica's event log, and the market
statistics sampler. The oracle and the funding service share the process so the oracle's
``funding_paused`` flag and the funding estimate reach each other directly, as in one process. It
lives in ``api``, the wiring layer, because ``risk`` never imports ``oracle``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal

from api.instruments import InstrumentRegistry
from api.main import mark_service
from api.operations import service_checks, verdict
from api.services.market_statistics import MarketStatistics
from derivatives.bus.gateway import BusGateway
from derivatives.bus.health import serve_health
from derivatives.bus.node import announce_ready, attach, run_until_signalled
from derivatives.config import Settings
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.funding_times import next_funding_time
from derivatives.persistence.db import Database
from oracle import BookState, idle_book
from oracle.control import serve_control
from oracle.service import MarkPriceService
from risk import RiskServices
from risk.ports import wall_clock_ms


def replica_book(gateway: BusGateway, registry: InstrumentRegistry,
                 risk: RiskServices | None) -> Callable[[str, int], Awaitable[BookState]]:
    """The book state the mark needs, from the replica (best bid and ask, last price) and the
    funding service's estimate (zero without it)."""

    async def book(symbol: str, now_ms: int) -> BookState:
        instrument = registry.get(symbol)
        if instrument is None:
            return await idle_book(symbol, now_ms)
        spec = instrument.spec
        depth = gateway.client.depth(spec.symbol, 1)
        prices = gateway.client.prices(spec.symbol)
        bid = depth.bids[0][0] if depth is not None and depth.bids else None
        ask = depth.asks[0][0] if depth is not None and depth.asks else None
        estimate = None if risk is None else risk.funding.estimate(symbol)
        return BookState(bid, ask, None if prices is None else prices.last, None,
                         Decimal(0) if estimate is None else estimate.rate,
                         next_funding_time(now_ms, spec.funding_interval_ms), spec.funding_interval_ms)

    return book


def risk_report(oracle: MarkPriceService | None, risk: RiskServices | None, registry: InstrumentRegistry,
                now_ms: int) -> dict[str, object]:
    """This process's readiness, as a gateway's ``/ready`` shows it: oracle freshness and risk feed."""
    checks = service_checks(oracle, risk, registry, now_ms)
    return {"ok": verdict(checks), **checks}


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Runs the services until `stop` is set."""
    node = await attach("risk", keep_events=True)
    db = Database(settings.database_url, settings.database_schema)
    await asyncio.to_thread(db.migrate)
    gateway = node.gateway
    intervals = settings.funding_interval_overrides()
    registry = InstrumentRegistry([replace(spec, funding_interval_ms=intervals.get(spec.name, spec.funding_interval_ms))
                                   for spec in DEMO_INSTRUMENTS], wall_clock_ms())
    risk = (RiskServices(gateway.client, gateway.submit, lambda: [i.spec for i in registry.all()], db,
                         time_of=gateway.time_of) if settings.risk_services else None)
    tasks: list[asyncio.Task[None]] = [] if risk is None else await risk.start()
    oracle = mark_service(settings, gateway, registry, wall_clock_ms, replica_book(gateway, registry, risk),
                          None if risk is None else risk.funding.set_paused)
    if oracle is not None:
        tasks.append(asyncio.create_task(oracle.run()))
        await serve_control(gateway.engine.nc, gateway.engine.subjects.oracle_control, oracle, wall_clock_ms)
    await serve_health(gateway.engine.nc, gateway.engine.subjects.health("risk"),
                       lambda: risk_report(oracle, risk, registry, wall_clock_ms()))
    statistics = MarketStatistics(registry, db, gateway.client, wall_clock_ms, settings.market_stats_interval_ms)
    tasks.append(asyncio.create_task(statistics.run()))
    announce_ready("risk")
    await stop.wait()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task
    await node.close()
    db.dispose()


def main() -> None:
    """Entry point (settings from the environment)."""
    from derivatives import logs

    logs.configure()
    settings = Settings.from_env()
    run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
