"""The risk and mark-price process of ``derivatives serve``: a bus client of its own.

``python -m api.risk_process`` attaches to the bus (``derivatives.bus.node``: a replica of the engine
caught up with the batch stream, commands by request-reply) and runs the oracle's
``MarkPriceService`` (``DERIVATIVES_ORACLE``, simulated by default; off: no marks) publishing
``SetMarkPrice`` once a second, and the risk services (funding, ADL ranking, insurance payouts,
liquidation monitor) reading the replica's event log. Both share the process so the oracle's
``funding_paused`` flag reaches the funding service directly, as it did in one process. It lives in
``api``, the wiring layer, because ``risk`` never imports ``oracle`` (STYLE.md §4.3).

The oracle answers steering messages (scripted moves and venue faults of the simulated feed, for
``derivatives simulate``) on ``{prefix}.oracle.control`` (``oracle.control``).
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from derivatives.bus.gateway import BusGateway
from derivatives.bus.node import announce_ready, attach, run_until_signalled
from derivatives.bus.protocol import Subjects
from derivatives.commands import SetMarkPrice
from derivatives.config import Settings
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.persistence.db import Database
from oracle import (
    DEFAULT_SYMBOLS,
    BookState,
    MarkPriceService,
    PriceFlags,
    SymbolConfig,
    create_source,
)
from oracle.control import serve_control
from risk import RiskServices
from risk.funding import EIGHT_HOURS_MS, next_funding_time
from risk.ports import wall_clock_ms


def mark_service(
    settings: Settings, gateway: BusGateway, risk: RiskServices | None
) -> MarkPriceService:
    """The oracle wired to the engine over the bus (book state from the replica)."""
    by_name = {spec.name: spec for spec in DEMO_INSTRUMENTS}
    defaults = {c.symbol: c for c in DEFAULT_SYMBOLS}
    configs = [
        defaults.get(spec.name)
        or SymbolConfig(symbol=spec.name, base=spec.name.removesuffix("USDT"))
        for spec in DEMO_INSTRUMENTS
    ]

    async def publish(symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        spec = by_name.get(symbol)
        if spec is not None:
            if risk is not None:
                risk.funding.set_paused(spec.symbol, flags.funding_paused)
            await gateway.submit([SetMarkPrice(spec.symbol, mark, index)])

    async def book(symbol: str, now_ms: int) -> BookState:
        spec = by_name[symbol]
        depth = gateway.client.depth(spec.symbol, 1)
        prices = gateway.client.prices(spec.symbol)
        bid = depth.bids[0][0] if depth is not None and depth.bids else None
        ask = depth.asks[0][0] if depth is not None and depth.asks else None
        last = None if prices is None else prices.last
        return BookState(
            bid,
            ask,
            last,
            None,
            Decimal(0),
            next_funding_time(now_ms, EIGHT_HOURS_MS),
            EIGHT_HOURS_MS,
        )

    source = create_source(settings.oracle, configs, clock=wall_clock_ms, seed=settings.oracle_seed)
    return MarkPriceService(source, publish, symbols=configs, clock=wall_clock_ms, book=book)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Runs the services until `stop` is set."""
    node = await attach("risk")
    db = Database(settings.database_url, settings.database_schema)
    await asyncio.to_thread(db.migrate)
    gateway = node.gateway
    risk = (
        RiskServices(
            gateway.client, gateway.submit, lambda: DEMO_INSTRUMENTS, db, time_of=gateway.time_of
        )
        if settings.risk_services
        else None
    )
    tasks: list[asyncio.Task[None]] = [] if risk is None else await risk.start()
    if settings.oracle != "off":
        oracle = mark_service(settings, gateway, risk)
        await serve_control(node.nc, Subjects.from_env().prefix, oracle.source, oracle, wall_clock_ms)
        tasks.append(asyncio.create_task(oracle.run()))
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
