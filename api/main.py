"""The app factory: ``create_app(settings, engine_client, ...)``. Nothing is built at import time.

Start-up (the lifespan, on the server's event loop):
    1. database: connect, ``alembic upgrade head``; a projection left by an engine that no longer
       exists (cursor beyond the engine's last seq: an engine without a journal) is emptied;
       otherwise the projection worker catches up from its stored cursor (step 2) through the
       engine's event readers, which regenerate old events from the journal after a restart;
    2. gateway listeners: the market hub (L2 mirror, WS fan-out) and the projection worker;
    3. the instruments are listed in the engine (if not yet) and mirrored;
    4. the demo user and key are ensured (``settings.demo``);
    5. background tasks: the oracle (``settings.oracle``) publishing ``SetMarkPrice`` once a
       second, the once-a-second snapshot streams, listenKey expiry, margin calls, the
       reconciliation job (``settings.reconcile_interval_s``), the market statistics sampler
       (``settings.market_stats_interval_ms``), and the caller's tasks.
Shut-down reverses it: tasks cancelled, the projection drained, the database closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from fastapi import FastAPI

from api import desk, docs, graphql, metrics, operations, redaction, resp
from api.errors import CatchAllMiddleware, install_handlers
from api.gateway import EngineGateway
from api.hub import MarketHub, next_funding_ms
from api.instruments import InstrumentRegistry
from api.margin_calls import MarginCalls
from api.projection import ProjectionWorker
from api.ratelimit import Limits, WeightMiddleware
from api.reconciliation import Reconciler, run_every
from api.routes import account, admin, algo, futures_data, general, market, orders, user_stream, ws
from api.security import KeyStore
from api.services.account import AccountService
from api.services.admin import AdminService, admin_identities
from api.services.market import MarketService
from api.services.market_statistics import MarketStatistics
from api.services.orders import OrderService
from api.snapshots import SnapshotStreams
from api.state import Services
from api.userstream import UserStreams
from derivatives.commands import AddInstrument, Deposit, InstrumentSpec, SetMarkPrice
from derivatives.config import Settings
from derivatives.demo import DEMO_FUNDING, DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from derivatives.persistence import ledger_queries
from derivatives.persistence.db import Database
from derivatives.persistence.projector import Batch, Projector
from derivatives.units import from_raw, to_raw
from oracle import (
    DEFAULT_SYMBOLS,
    BookState,
    MarkPriceService,
    PriceFlags,
    SymbolConfig,
    create_source,
    idle_book,
)
from risk import RiskServices

log = logging.getLogger("api")

BackgroundTask = Callable[[Services], Coroutine[Any, Any, None]]
"""A coroutine run for the app's lifetime (e.g. the demo market maker)."""


def rate_limits(settings: Settings) -> list[dict[str, object]]:
    """The ``rateLimits`` of exchangeInfo."""
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
         "limit": settings.weight_limit_per_minute},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": settings.order_limit_per_minute},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": settings.order_limit_per_10s},
    ]


def create_app(
    settings: Settings,
    engine_client: EngineClient,
    *,
    instruments: Sequence[InstrumentSpec] = DEMO_INSTRUMENTS,
    clock_ns: Callable[[], int] = time.time_ns,
    background: Sequence[BackgroundTask] = (),
) -> FastAPI:
    """Builds the FastAPI application around a running engine.

    Args:
        settings: Validated settings.
        engine_client: The engine (empty, or already holding state the app adopts).
        instruments: Instruments to list at start-up when the engine lacks them.
        clock_ns: The process clock (Unix ns) for command timestamps and ``recvWindow`` checks.
        background: Extra coroutines to run while the app runs.

    Returns:
        The app; its services exist once the lifespan has started (``app.state.services``).
    """
    settings.validate()
    redaction.install()

    def clock_ms() -> int:
        return clock_ns() // 1_000_000

    limits = Limits(settings.weight_limit_per_minute, settings.order_limit_per_10s,
                    settings.order_limit_per_minute, clock_ms)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services, tasks = await _start(app, settings, engine_client, instruments, clock_ns, clock_ms, limits)
        app.state.services = services
        for make_task in background:
            tasks.append(asyncio.create_task(make_task(services)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            services.gateway.unsubscribe(services.worker.enqueue)
            await asyncio.to_thread(services.worker.stop)
            services.db.dispose()

    app = FastAPI(
        title="derivatives: USDT-margined perpetual futures (Binance USD-M compatible)",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Binance USD-M `/fapi` REST and WebSocket surface. Errors are `{code, msg}` "
                    "(HTTP 400, 429 for rate limits). See docs/API.md.",
    )
    install_handlers(app)
    for router in (general.router, market.router, orders.router, algo.router, account.router, account.versioned,
                   user_stream.router, admin.router, ws.router, futures_data.router):
        app.include_router(router)
    desk.install(app, settings, clock_ns, limits.bans)
    operations.install(app)
    docs.install(app)
    resp.install(app)
    graphql.install(app)
    app.add_middleware(WeightMiddleware, limits=limits)
    app.add_middleware(CatchAllMiddleware)
    metrics.install(app)
    return app


async def _start(app: FastAPI, settings: Settings, client: EngineClient, instruments: Sequence[InstrumentSpec],
                 clock_ns: Callable[[], int], clock_ms: Callable[[], int],
                 limits: Limits) -> tuple[Services, list[asyncio.Task[None]]]:
    loop = asyncio.get_running_loop()
    db = Database(settings.database_url, settings.database_schema)
    await asyncio.to_thread(db.migrate)
    intervals = settings.funding_interval_overrides()
    instruments = [replace(spec, funding_interval_ms=intervals.get(spec.name, spec.funding_interval_ms))
                   for spec in instruments]
    registry = InstrumentRegistry(instruments, clock_ms())
    gateway = EngineGateway(client, clock_ns)
    projector = Projector(db, client, registry.name_of, gateway.time_of, clock_ns)
    if await asyncio.to_thread(projector.cursor) > client.last_seq():
        log.warning("projection is ahead of the engine (an engine without its journal): emptying it")
        await asyncio.to_thread(projector.reset)
    hub = MarketHub(registry)
    _mirror_engine(hub, client, registry)
    hub.funding.update(await asyncio.to_thread(_latest_funding, db))
    def to_hub(batch: Batch) -> None:
        loop.call_soon_threadsafe(hub.on_batch, batch)

    gateway.subscribe(to_hub)
    gateway.subscribe(app.state.engine_events.on_batch)
    worker = ProjectionWorker(projector, loop)
    gateway.subscribe(worker.enqueue)
    streams = UserStreams(registry, settings.listen_key_ttl_ms, clock_ms, hub.marks)
    worker.on_changes(streams.on_changes)
    worker.on_account_changes(streams.on_account_changes)
    missing = [AddInstrument(spec) for spec in instruments if client.prices(spec.symbol) is None]
    if missing:
        funding = [Deposit(account, amount) for account, amount in DEMO_FUNDING.items()] if settings.demo else []
        await gateway.submit([*missing, *funding])
    await asyncio.to_thread(worker.start)
    keys = KeyStore(db)
    admin_service = AdminService(db, keys, gateway, registry, clock_ms, settings.projection_wait_ms, worker)
    await admin_service.resolve_withdrawals()
    if settings.demo:
        app.state.demo_key = await asyncio.to_thread(admin_service.ensure_demo, settings.demo_api_key,
                                                     settings.demo_api_secret)
    risk = (RiskServices(client, gateway.submit, lambda: [i.spec for i in registry.all()], db,
                         clock=clock_ms, time_of=gateway.time_of) if settings.risk_services else None)
    if risk is not None:
        hub.funding_estimate = risk.funding.estimate
    oracle = _oracle(settings, gateway, hub, registry, clock_ms, None if risk is None else risk.funding.set_paused)
    market_service = MarketService(registry, hub, db, client, oracle, clock_ms, rate_limits(settings),
                                   None if risk is None else risk.funding.premium_index)
    order_service = OrderService(registry, gateway, worker, db, limits, client, settings.projection_wait_ms,
                                 clock_ms)
    account_service = AccountService(registry, gateway, worker, db, client, clock_ms, settings.projection_wait_ms,
                                     None if risk is None else risk.adl.adl_quantile)
    services = Services(
        settings=settings, db=db, gateway=gateway, registry=registry, hub=hub, streams=streams, worker=worker,
        limits=limits, keys=keys, market=market_service, orders=order_service, account=account_service,
        admin=admin_service, oracle=oracle, clock_ms=clock_ms, admins=admin_identities(settings),
        statistics=MarketStatistics(registry, db, client, clock_ms, settings.market_stats_interval_ms),
    )
    tasks = [asyncio.create_task(SnapshotStreams(hub, market_service).run()),
             asyncio.create_task(_expire_listen_keys(streams)),
             asyncio.create_task(MarginCalls(streams, account_service, clock_ms).run()),
             asyncio.create_task(services.statistics.run())]
    app.state.reconciler = Reconciler(db, client)
    if settings.reconcile_interval_s:
        tasks.append(asyncio.create_task(run_every(app.state.reconciler, settings.reconcile_interval_s)))
    if oracle is not None:
        tasks.append(asyncio.create_task(oracle.run()))
    if risk is not None:
        app.state.risk = risk
        tasks.extend(await risk.start())
    return services, tasks


def _latest_funding(db: Database) -> dict[str, Decimal]:
    with db.reader() as session:
        return {symbol: from_raw(row.rate) for symbol, row in ledger_queries.latest_funding(session).items()}


def _mirror_engine(hub: MarketHub, client: EngineClient, registry: InstrumentRegistry) -> None:
    """Seeds the L2 mirror and the marks from an engine that already holds orders."""
    last_seq = client.last_seq()
    for instrument in registry.all():
        prices = client.prices(instrument.spec.symbol)
        if prices is not None and prices.mark is not None:
            hub.marks[instrument.name] = to_raw(prices.mark)
        depth = client.depth(instrument.spec.symbol, 1_000_000)
        if depth is None:
            continue
        book = hub.books[instrument.name]
        book.bids = {to_raw(p): to_raw(q) for p, q in depth.bids}
        book.asks = {to_raw(p): to_raw(q) for p, q in depth.asks}
        book.last_update_id = last_seq


async def _expire_listen_keys(streams: UserStreams) -> None:
    while True:
        await asyncio.sleep(5)
        streams.expire()


def _oracle(settings: Settings, gateway: EngineGateway, hub: MarketHub, registry: InstrumentRegistry,
            clock_ms: Callable[[], int],
            pause_funding: Callable[[int, bool], None] | None = None) -> MarkPriceService | None:
    """The mark/index service wired to the engine (None when ``settings.oracle == "off"``); its
    ``funding_paused`` flag goes to `pause_funding` (the risk funding service) when given."""
    if settings.oracle == "off":
        return None
    defaults = {c.symbol: c for c in DEFAULT_SYMBOLS}
    configs = [defaults.get(i.name) or SymbolConfig(symbol=i.name, base=i.base_asset) for i in registry.all()]

    async def publish(symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        instrument = registry.get(symbol)
        if instrument is not None:
            if pause_funding is not None:
                pause_funding(instrument.spec.symbol, flags.funding_paused)
            await gateway.submit([SetMarkPrice(instrument.spec.symbol, mark, index)])

    async def book(symbol: str, now_ms: int) -> BookState:
        """The book, last trade and funding basis the mark price needs (MECHANICS §2.5): the
        current funding estimate (the risk service's, else the last settled rate) and the time to
        the symbol's next funding at its own interval."""
        instrument = registry.get(symbol)
        if instrument is None:
            return await idle_book(symbol, now_ms)
        mirror = hub.books[symbol]
        bid, ask = mirror.best()
        last = hub.last_trade.get(symbol)
        estimate = hub.funding_estimate(symbol) if hub.funding_estimate is not None else None
        rate = estimate.rate if estimate is not None else hub.funding.get(symbol, Decimal(0))
        return BookState(None if bid is None else from_raw(bid[0]), None if ask is None else from_raw(ask[0]),
                         None if last is None else from_raw(last[0]), None if last is None else last[1],
                         rate, next_funding_ms(instrument, now_ms), instrument.spec.funding_interval_ms)

    source = create_source(settings.oracle, configs, clock=clock_ms, seed=settings.oracle_seed,
                           resume_prices=_last_marks(gateway.client, registry, configs))
    return MarkPriceService(source, publish, symbols=configs, clock=clock_ms, book=book)


def _last_marks(client: EngineClient, registry: InstrumentRegistry,
                configs: Sequence[SymbolConfig]) -> dict[str, Decimal]:
    """The engine's mark price per base asset (those it has one for: after a restart)."""
    marks = {}
    for config in configs:
        instrument = registry.get(config.symbol)
        prices = None if instrument is None else client.prices(instrument.spec.symbol)
        if prices is not None and prices.mark is not None:
            marks[config.base] = prices.mark
    return marks


def app_from_env() -> FastAPI:
    """``uvicorn --factory api.main:app_from_env``: settings from the environment, the engine
    recovered from its journal (``Settings.journal_path``; a new one without)."""
    settings = Settings.from_env()
    return create_app(settings, EngineClient(journal_dir=settings.journal_path()))
