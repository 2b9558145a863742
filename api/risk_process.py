"""The risk and mark-price process of ``derivatives serve``: a bus client of its own.

``python -m api.risk_process`` attaches to the bus (``derivatives.bus.node``: a replica of the
engine caught up with the batch stream, commands by request-reply) and runs the oracle's
``MarkPriceService`` (``DERIVATIVES_ORACLE``, simulated by default, resuming from the engine's last
marks; off: no marks) publishing ``SetMarkPrice`` once a second, the risk services (funding, ADL
ranking, insurance payouts, liquidation monitor) reading the replica's event log, and the market
statistics sampler. The oracle and the funding service share the process so the oracle's
``funding_paused`` flag and the funding estimate reach each other directly, as in one process. It
lives in ``api``, the wiring layer, because ``risk`` never imports ``oracle``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from decimal import Decimal

from api.instruments import InstrumentRegistry
from api.services.market_statistics import MarketStatistics
from derivatives.bus.gateway import BusGateway
from derivatives.bus.node import announce_ready, attach, run_until_signalled
from derivatives.commands import SetMarkPrice
from derivatives.config import Settings
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.funding_times import next_funding_time
from derivatives.persistence.db import Database
from oracle import (
    DEFAULT_SYMBOLS,
    BookState,
    MarkPriceService,
    PriceFlags,
    SymbolConfig,
    create_source,
)
from risk import RiskServices
from risk.ports import wall_clock_ms


def mark_service(settings: Settings, gateway: BusGateway, registry: InstrumentRegistry,
                 risk: RiskServices | None) -> MarkPriceService:
    """The oracle wired to the engine over the bus (book state and last marks from the replica)."""
    defaults = {c.symbol: c for c in DEFAULT_SYMBOLS}
    configs = [defaults.get(i.name) or SymbolConfig(symbol=i.name, base=i.base_asset) for i in registry.all()]

    async def publish(symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        instrument = registry.get(symbol)
        if instrument is not None:
            if risk is not None:
                risk.funding.set_paused(instrument.spec.symbol, flags.funding_paused)
            await gateway.submit([SetMarkPrice(instrument.spec.symbol, mark, index)])

    async def book(symbol: str, now_ms: int) -> BookState:
        instrument = registry.get(symbol)
        assert instrument is not None
        spec = instrument.spec
        depth = gateway.client.depth(spec.symbol, 1)
        prices = gateway.client.prices(spec.symbol)
        bid = depth.bids[0][0] if depth is not None and depth.bids else None
        ask = depth.asks[0][0] if depth is not None and depth.asks else None
        estimate = None if risk is None else risk.funding.estimate(symbol)
        return BookState(bid, ask, None if prices is None else prices.last, None,
                         Decimal(0) if estimate is None else estimate.rate,
                         next_funding_time(now_ms, spec.funding_interval_ms), spec.funding_interval_ms)

    marks = {}
    for config in configs:
        instrument = registry.get(config.symbol)
        prices = None if instrument is None else gateway.client.prices(instrument.spec.symbol)
        if prices is not None and prices.mark is not None:
            marks[config.base] = prices.mark
    source = create_source(settings.oracle, configs, clock=wall_clock_ms, seed=settings.oracle_seed,
                           resume_prices=marks)
    return MarkPriceService(source, publish, symbols=configs, clock=wall_clock_ms, book=book)


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
    if settings.oracle != "off":
        tasks.append(asyncio.create_task(mark_service(settings, gateway, registry, risk).run()))
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
