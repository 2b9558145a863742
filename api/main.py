"""The app factory: ``create_app(settings, engine, ...)``. Nothing is built at import time.

`engine` is the engine in this process (an ``EngineClient``: unit tests, benchmarks) or the door
factory of a gateway process (``api.gateway_process``: the engine service over the bus, a replica
view, no SQL projection, oracle, risk services or reconciliation of its own). Steps marked
*in process* below are skipped by a gateway process.

Start-up (the lifespan, on the server's event loop):
    1. database: connect, ``alembic upgrade head``; *in process*: a projection left by an engine that no longer
       exists (cursor beyond the engine's last seq: an engine without a journal) is emptied;
       otherwise the projection worker catches up from its stored cursor (step 2) through the
       engine's event readers, which regenerate old events from the journal after a restart;
    2. gateway listeners: the market hub (L2 mirror, WS fan-out) and the projection worker;
    3. the instruments are listed in the engine (if not yet) and mirrored;
    4. the demo user and key are ensured (``settings.demo``);
    5. background tasks: the oracle (``settings.oracle``) publishing ``SetMarkPrice`` once a
       second, the IP bans shared through the database (``Bans.share``, once a second), the
       once-a-second snapshot streams, listenKey expiry, margin calls, the
       reconciliation job (``settings.reconcile_interval_s``), the market statistics sampler
       (``settings.market_stats_interval_ms``), and the caller's tasks.
Shut-down reverses it: tasks cancelled, the projection drained, the database closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from sqlalchemy import or_, select

from api import desk, docs, graphql, metrics, operations, redaction, resp
from api.door import Door, DoorFactory
from api.errors import CatchAllMiddleware, install_handlers
from api.gateway import EngineGateway
from api.hub import MarketHub, next_funding_ms
from api.instruments import InstrumentRegistry
from api.margin_calls import MarginCalls
from api.projection import ProjectionCursor, ProjectionProgress, ProjectionWorker
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
from derivatives.account_changes import AccountChanges
from derivatives.commands import AddInstrument, Deposit, InstrumentSpec, SetMarkPrice
from derivatives.config import Settings
from derivatives.demo import DEMO_FUNDING, DEMO_INSTRUMENTS
from derivatives.door import EngineDoor
from derivatives.engine import EngineClient, EngineQueries
from derivatives.order_view import OrderView
from derivatives.persistence import ledger_queries
from derivatives.persistence.db import Database
from derivatives.persistence.models import Order
from derivatives.persistence.projector import Batch, Projector
from derivatives.persistence.views import OrderState, order_state
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
    engine: EngineClient | DoorFactory,
    *,
    instruments: Sequence[InstrumentSpec] = DEMO_INSTRUMENTS,
    clock_ns: Callable[[], int] = time.time_ns,
    background: Sequence[BackgroundTask] = (),
) -> FastAPI:
    """Builds the FastAPI application around a running engine.

    Args:
        settings: Validated settings.
        engine: The engine in process (empty, or already holding state the app adopts), or the
            factory of the door to the engine service (a gateway process; ``api.door``).
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
        door = await engine() if callable(engine) else Door(EngineGateway(engine, clock_ns))
        services, tasks = await _start(app, settings, door, instruments, clock_ms, limits)
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
            if isinstance(services.worker, ProjectionWorker):
                services.gateway.unsubscribe(services.worker.enqueue)
                await asyncio.to_thread(services.worker.stop)
            await door.close()
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


async def _start(app: FastAPI, settings: Settings, door: Door, instruments: Sequence[InstrumentSpec],
                 clock_ms: Callable[[], int], limits: Limits) -> tuple[Services, list[asyncio.Task[None]]]:
    loop = asyncio.get_running_loop()
    db = Database(settings.database_url, settings.database_schema)
    await asyncio.to_thread(db.migrate)
    intervals = settings.funding_interval_overrides()
    instruments = [replace(spec, funding_interval_ms=intervals.get(spec.name, spec.funding_interval_ms))
                   for spec in instruments]
    registry = InstrumentRegistry(instruments, clock_ms())
    gateway, client = door.gateway, door.gateway.client
    projector = Projector(db, client, registry.name_of, gateway.time_of, gateway.clock_ns)
    if door.owns_engine and await asyncio.to_thread(projector.cursor) > client.last_seq():
        log.warning("projection is ahead of the engine (an engine without its journal): emptying it")
        await asyncio.to_thread(projector.reset)
    hub = MarketHub(registry)
    hub.funding.update(await asyncio.to_thread(_latest_funding, db))
    order_view = OrderView(registry.name_of)
    streams = UserStreams(registry, settings.listen_key_ttl_ms, clock_ms, hub.marks)
    tasks: list[asyncio.Task[None]] = []
    worker: ProjectionProgress
    if door.owns_engine:
        _mirror_engine(hub, client, registry)

        def to_loop(batch: Batch) -> None:
            loop.call_soon_threadsafe(hub.on_batch, batch)
            loop.call_soon_threadsafe(order_view.apply, [batch])

        gateway.subscribe(to_loop)
        gateway.subscribe(app.state.engine_events.on_batch)
        in_process = ProjectionWorker(projector, loop)
        gateway.subscribe(in_process.enqueue)
        in_process.on_changes(streams.on_changes)
        in_process.on_account_changes(streams.on_account_changes)
        missing = [AddInstrument(spec) for spec in instruments if client.prices(spec.symbol) is None]
        if missing:
            funding = [Deposit(account, amount) for account, amount in DEMO_FUNDING.items()] if settings.demo else []
            await gateway.submit([*missing, *funding])
        await asyncio.to_thread(in_process.start)
        await _seed_orders(order_view, db, in_process.applied, clock_ms())
        worker = in_process
    else:
        account_changes = AccountChanges(registry.name_of)

        def on_batch(batch: Batch) -> None:
            hub.on_batch(batch)
            app.state.engine_events.on_batch(batch)
            streams.on_changes(order_view.apply([batch]))
            streams.on_account_changes(account_changes.apply([batch]))

        gateway.subscribe(on_batch)
        await door.start()
        _mirror_engine(hub, client, registry)
        cursor = ProjectionCursor(projector)
        tasks.append(asyncio.create_task(cursor.run()))
        worker = cursor
    keys = KeyStore(db)
    admin_service = AdminService(db, keys, gateway, registry, clock_ms, settings.projection_wait_ms, worker)
    if door.first:
        await admin_service.resolve_withdrawals()
    if settings.demo:
        app.state.demo_key = await asyncio.to_thread(admin_service.ensure_demo, settings.demo_api_key,
                                                     settings.demo_api_secret)
    # A gateway of the served topology runs the risk services' read side for the desk (the risk
    # process acts); an app that owns its engine runs them whole when they are on.
    risk = (RiskServices(client, gateway.submit, lambda: [i.spec for i in registry.all()], db,
                         clock=clock_ms, time_of=gateway.time_of)
            if settings.risk_services or not door.owns_engine else None)
    acting = risk if door.owns_engine else None
    if acting is not None:
        hub.funding_estimate = acting.funding.estimate
    oracle = (mark_service(settings, gateway, registry, clock_ms, _hub_book(hub, registry),
                           None if acting is None else acting.funding.set_paused) if door.owns_engine else None)
    market_service = MarketService(registry, hub, db, client, oracle, clock_ms, rate_limits(settings),
                                   None if acting is None else acting.funding.premium_index)
    in_process_worker = worker if isinstance(worker, ProjectionWorker) else None
    history = None if in_process_worker is not None else worker
    order_service = OrderService(registry, gateway, in_process_worker, db, limits, client,
                                 settings.projection_wait_ms, clock_ms, order_view, history)
    account_service = AccountService(registry, gateway, in_process_worker, db, client, clock_ms,
                                     settings.projection_wait_ms, history)
    services = Services(
        settings=settings, db=db, gateway=gateway, registry=registry, hub=hub, streams=streams, worker=worker,
        order_view=order_view, limits=limits, keys=keys, market=market_service, orders=order_service,
        account=account_service, admin=admin_service, oracle=oracle, clock_ms=clock_ms,
        admins=admin_identities(settings),
        statistics=MarketStatistics(registry, db, client, clock_ms, settings.market_stats_interval_ms),
    )
    tasks += [asyncio.create_task(limits.bans.share(db)),
              asyncio.create_task(SnapshotStreams(hub, market_service).run()),
              asyncio.create_task(_expire_listen_keys(streams)),
              asyncio.create_task(MarginCalls(streams, account_service, clock_ms).run())]
    if door.owns_engine:
        tasks.append(asyncio.create_task(services.statistics.run()))
        assert isinstance(client, EngineClient)
        app.state.reconciler = Reconciler(db, client)
        if settings.reconcile_interval_s:
            tasks.append(asyncio.create_task(run_every(app.state.reconciler, settings.reconcile_interval_s)))
    if oracle is not None:
        tasks.append(asyncio.create_task(oracle.run()))
    if risk is not None:
        app.state.risk = risk
        tasks.extend(await risk.start() if acting is not None else risk.start_view())
    return services, tasks


async def _seed_orders(view: OrderView, db: Database, applied: int, now_ms: int) -> None:
    """An engine recovered from its journal already has orders: the view starts from the SQL
    projection's live orders at its cursor, and holds every order only from now on."""
    if applied == 0:
        return
    live = await asyncio.to_thread(_live_orders, db)
    view.seed(live, applied, now_ms)


def _live_orders(db: Database) -> list[OrderState]:
    with db.reader() as session:
        query = select(Order).where(or_(Order.status.in_(("NEW", "PARTIALLY_FILLED")), Order.algo_status == "NEW"))
        return [order_state(row) for row in session.execute(query.order_by(Order.order_id)).scalars()]


def _latest_funding(db: Database) -> dict[str, Decimal]:
    with db.reader() as session:
        return {symbol: from_raw(row.rate) for symbol, row in ledger_queries.latest_funding(session).items()}


def _mirror_engine(hub: MarketHub, client: EngineQueries, registry: InstrumentRegistry) -> None:
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


def mark_service(settings: Settings, door: EngineDoor, registry: InstrumentRegistry, clock_ms: Callable[[], int],
                 book: Callable[[str, int], Awaitable[BookState]],
                 pause_funding: Callable[[int, bool], None] | None = None) -> MarkPriceService | None:
    """The mark/index service wired to the engine through `door` (None when ``settings.oracle ==
    "off"``), reading the book state the mark needs from `book`, resuming from the engine's last
    marks; its ``funding_paused`` flag goes to `pause_funding` (the risk funding service) when given.
    The in-process app and the risk and mark-price process (``api.risk_process``) both use it."""
    if settings.oracle == "off":
        return None
    defaults = {c.symbol: c for c in DEFAULT_SYMBOLS}
    configs = [defaults.get(i.name) or SymbolConfig(symbol=i.name, base=i.base_asset) for i in registry.all()]

    async def publish(symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        instrument = registry.get(symbol)
        if instrument is not None:
            if pause_funding is not None:
                pause_funding(instrument.spec.symbol, flags.funding_paused)
            await door.submit([SetMarkPrice(instrument.spec.symbol, mark, index)])

    source = create_source(settings.oracle, configs, clock=clock_ms, seed=settings.oracle_seed,
                           resume_prices=_last_marks(door.client, registry, configs))
    return MarkPriceService(source, publish, symbols=configs, clock=clock_ms, book=book)


def _hub_book(hub: MarketHub, registry: InstrumentRegistry) -> Callable[[str, int], Awaitable[BookState]]:
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

    return book


def _last_marks(client: EngineQueries, registry: InstrumentRegistry,
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
