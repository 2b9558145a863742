"""`derivatives bench projection`: the SQL projection of recorded engine batches, the previous
projector (ORM objects) against the current one (Core, one executemany per table) in the same run,
on the same batches and the same kind of database.

The stream (:func:`trading_stream`, also the differential test's input) is a seeded random
trading session run through a real engine: limit, market, stop and take-profit orders, fills,
cancels, amendments, mark moves (stops trigger, high-leverage accounts are liquidated, some
auto-deleveraged), funding and deposits, cut into batches of random size over several minutes.

Figures (printed and returned): rows written per second, and CPU microseconds (this process:
``time.process_time``, which for PostgreSQL leaves out the server's own CPU) per order placed.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from derivatives.commands import (
    AddInstrument,
    AmendOrder,
    ApplyFunding,
    CancelOrder,
    Command,
    Deposit,
    OpenAccount,
    PlaceOrder,
    SetLeverage,
    SetMarkPrice,
)
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from derivatives.enums import OrderType, Side, TimeInForce
from derivatives.events import OrderAccepted, OrderCancelled, OrderExpired, Trade
from derivatives.persistence.batch_rows import ADL, FUNDING, INCOME, KLINES, ORDERS, TOTALS, TRADES
from derivatives.persistence.db import Database
from derivatives.persistence.orm_projector import OrmProjector
from derivatives.persistence.projector import Batch, ProjectionResult, Projector

NAMES = {spec.symbol: spec.name for spec in DEMO_INSTRUMENTS}
START_NS = 1_700_000_000_000 * 1_000_000
TRADERS = range(1, 41)
"""Well-funded trading accounts."""
GAMBLERS = range(41, 47)
"""Small accounts at 100x: liquidated when the mark moves against them."""


@dataclass(frozen=True, slots=True)
class _Market:
    symbol: int
    tick: Decimal
    mark: Decimal


def _commands(rng: random.Random, markets: list[_Market], resting: dict[int, tuple[int, int]]) -> list[Command]:
    """One random step of the session; `resting`: order id -> (account, symbol) of live orders."""
    market = rng.choice(markets)
    side = rng.choice((Side.BUY, Side.SELL))
    account = rng.choice(TRADERS)
    qty = Decimal(rng.randint(1, 40)) / 1000
    offset = Decimal(rng.randint(-60, 60)) * market.tick * 10
    price = market.mark + offset
    roll = rng.random()
    if roll < 0.45:
        tif = TimeInForce.IOC if rng.random() < 0.1 else TimeInForce.GTC
        return [PlaceOrder(account, market.symbol, side, qty, price=price, time_in_force=tif)]
    if roll < 0.55:
        return [PlaceOrder(account, market.symbol, side, qty, order_type=OrderType.MARKET)]
    if roll < 0.62:
        kind = rng.choice((OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET))
        return [PlaceOrder(account, market.symbol, side, qty, order_type=kind, stop_price=price)]
    if roll < 0.67:
        size = (Decimal(10_000) / market.mark).quantize(Decimal("0.001"))
        return [PlaceOrder(rng.choice(GAMBLERS), market.symbol, side, size, order_type=OrderType.MARKET)]
    if roll < 0.87 and resting:
        order_id = rng.choice(list(resting))
        owner, symbol = resting[order_id]
        if roll < 0.82:
            return [CancelOrder(owner, symbol, order_id=order_id)]
        home = markets[symbol - 1]
        return [AmendOrder(owner, symbol, home.mark + offset / market.tick * home.tick, qty, order_id=order_id)]
    if roll < 0.97:
        step = market.mark * Decimal(rng.randint(-40, 40)) / 10_000
        mark = market.mark + step - (market.mark + step) % market.tick
        markets[markets.index(market)] = _Market(market.symbol, market.tick, mark)
        return [SetMarkPrice(market.symbol, mark, mark)]
    if roll < 0.99:
        return [ApplyFunding(market.symbol, Decimal(rng.randint(-30, 30)) / 100_000, market.mark)]
    return [Deposit(rng.choice((*TRADERS, *GAMBLERS)), Decimal(rng.randint(1, 500)))]


def trading_stream(seed: int, steps: int, max_batch: int = 64, client: EngineClient | None = None) -> list[Batch]:
    """A seeded random trading session through a real engine, as the batches it executed."""
    rng = random.Random(seed)
    engine = client or EngineClient()
    markets = [_Market(1, Decimal("0.1"), Decimal("50000")), _Market(2, Decimal("0.01"), Decimal("3000"))]
    setup: list[Command] = [AddInstrument(spec) for spec in DEMO_INSTRUMENTS]
    setup += [SetMarkPrice(m.symbol, m.mark, m.mark) for m in markets]
    setup += [Deposit(a, Decimal(1_000_000)) for a in TRADERS]
    setup += [Deposit(a, Decimal(150)) for a in GAMBLERS]
    setup += [SetLeverage(a, m.symbol, 100) for a in GAMBLERS for m in markets]
    setup += [OpenAccount(f"user{n}", "trader") for n in range(3)] + [OpenAccount("user0", "trader")]
    ts = START_NS
    batches = [_run(engine, setup, ts)]
    placed: dict[int, tuple[int, int]] = {}
    done = 0
    while done < steps:
        commands: list[Command] = []
        for _ in range(rng.randint(1, max_batch)):
            commands += _commands(rng, markets, placed)
        done += len(commands)
        ts += rng.randint(1, 20_000) * 1_000_000
        batch = _run(engine, commands, ts)
        _follow(placed, batch)
        batches.append(batch)
    return batches


def _follow(resting: dict[int, tuple[int, int]], batch: Batch) -> None:
    """Keeps `resting` (order id -> account, symbol) up to date with the batch's events."""
    for envelope in batch.events:
        event = envelope.event
        match event:
            case OrderAccepted(order_id=order_id, order=order) if order.order_type != OrderType.MARKET:
                resting[order_id] = (order.account, order.symbol)
            case Trade():
                for order_id, leaves in ((event.maker_order_id, event.maker_leaves),
                                         (event.taker_order_id, event.taker_leaves)):
                    if leaves == 0:
                        resting.pop(order_id, None)
            case OrderCancelled(order_id=order_id) | OrderExpired(order_id=order_id):
                resting.pop(order_id, None)
            case _:
                pass


def _run(engine: EngineClient, commands: list[Command], ts: int) -> Batch:
    result = engine.execute(commands, ts)
    return Batch(result.first_seq, result.last_seq, result.ts, result.events)


def projected_rows(db: Database) -> int:
    """Rows in the projection tables."""
    with db.engine.connect() as connection:
        return sum(connection.execute(select(func.count()).select_from(t)).scalar_one()
                   for t in (ORDERS, TRADES, KLINES, INCOME, FUNDING, ADL, TOTALS))


@contextmanager
def _database(url: str | None, directory: Path, name: str) -> Iterator[Database]:
    """A fresh migrated projection database: SQLite in `directory`, or a new PostgreSQL schema."""
    schema = None if url is None else f"bench_{name}_{time.time_ns()}"
    db = Database(url or f"sqlite:///{directory / name}.db", schema)
    db.migrate()
    try:
        yield db
    finally:
        if schema is not None:
            with db.engine.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        db.dispose()


def _measure(label: str, project: Callable[[list[Batch]], ProjectionResult], db: Database,
             groups: list[list[Batch]], orders: int) -> dict[str, float]:
    started_cpu, started = time.process_time(), time.perf_counter()
    for group in groups:
        project(group)
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    rows = projected_rows(db)
    figures = {"rows_per_s": rows / wall, "cpu_us_per_order": cpu * 1e6 / orders, "seconds": wall}
    print(f"{label:<34} {rows / wall:>10,.0f} rows/s   {cpu * 1e6 / orders:>8,.0f} µs CPU per order   "
          f"({rows:,} rows in {wall:.2f} s)")
    return figures


def bench_projection(steps: int, per_call: int, database_url: str | None, seed: int = 7) -> dict[str, float]:
    """Records a trading stream, then projects it with both projectors; returns the figures."""
    started = time.perf_counter()
    client = EngineClient()
    batches = trading_stream(seed, steps, client=client)
    orders = sum(isinstance(e.event, OrderAccepted) for b in batches for e in b.events)
    events = sum(len(b.events) for b in batches)
    groups = [batches[i:i + per_call] for i in range(0, len(batches), per_call)]
    where = "PostgreSQL" if database_url else "SQLite"
    print(f"projection bench: {len(batches):,} batches, {orders:,} orders, {events:,} events "
          f"(recorded in {time.perf_counter() - started:.1f} s); {per_call} batches per call, {where}")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        with _database(database_url, Path(directory), "orm") as db:
            orm = OrmProjector(db, NAMES.__getitem__)
            for name, value in _measure("previous (ORM objects)", orm.project, db, groups, orders).items():
                figures[f"orm_{name}"] = value
        with _database(database_url, Path(directory), "core") as db:
            core = Projector(db, client, NAMES.__getitem__)
            for name, value in _measure("current (Core executemany)", core.project, db, groups, orders).items():
                figures[f"core_{name}"] = value
    print(f"speed-up: {figures['orm_seconds'] / figures['core_seconds']:.1f}x")
    return figures
