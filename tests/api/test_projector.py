"""The projector: exactly-once by sequence number, gap back-fill from the engine's event stream,
and the exact figures it stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from derivatives.commands import AddInstrument, CancelOrder, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from derivatives.enums import OrderType, Side
from derivatives.persistence.db import Database
from derivatives.persistence.models import Kline1m, Order, Trade
from derivatives.persistence.projector import Batch, Projector

NAMES = {s.symbol: s.name for s in DEMO_INSTRUMENTS}
MINUTE_NS = 60_000 * 1_000_000
T0 = 1_700_000_000_000 * 1_000_000


def run(client: EngineClient, *commands: object, ts: int = T0) -> Batch:
    result = client.execute(list(commands), ts)  # type: ignore[arg-type]
    return Batch(result.first_seq, result.last_seq, result.ts, result.events)


Rows = list[tuple[object, ...]]


def snapshot(db: Database) -> tuple[Rows, Rows, Rows]:
    with db.reader() as session:
        orders: Rows = [(o.order_id, o.status, o.executed_qty, o.cum_quote, o.algo_status, o.seq)
                  for o in session.execute(select(Order).order_by(Order.order_id)).scalars()]
        trades: Rows = [(t.trade_id, t.price, t.qty, t.quote_qty, t.time)
                  for t in session.execute(select(Trade).order_by(Trade.trade_id)).scalars()]
        bars: Rows = [(k.open_time, k.open, k.high, k.low, k.close, k.volume, k.trades)
                for k in session.execute(select(Kline1m).order_by(Kline1m.open_time)).scalars()]
    return orders, trades, bars


def scenario(client: EngineClient) -> list[Batch]:
    return [
        run(client, *[AddInstrument(s) for s in DEMO_INSTRUMENTS], SetMarkPrice(1, D("50000"), D("50000")),
            *[Deposit(account, D("100000")) for account in (1, 2, 3)]),
        run(client, PlaceOrder(1, 1, Side.SELL, D("0.5"), price=D("50000"), client_order_id="a")),
        run(client, PlaceOrder(2, 1, Side.BUY, D("0.2"), order_type=OrderType.MARKET), ts=T0 + 1),
        run(client, PlaceOrder(3, 1, Side.SELL, D("0.1"), order_type=OrderType.STOP_MARKET,
                               stop_price=D("49000")), ts=T0 + MINUTE_NS),
        run(client, PlaceOrder(2, 1, Side.BUY, D("0.3"), price=D("50000")), ts=T0 + MINUTE_NS + 1),
        run(client, CancelOrder(3, 1, order_id=3), ts=T0 + MINUTE_NS + 2),
    ]


def test_projection_is_exact(db: Database) -> None:
    client = EngineClient()
    projector = Projector(db, client, NAMES.__getitem__)
    result = projector.project(scenario(client))
    assert result.last_seq == client.last_seq() and result.backfilled == 0
    orders, trades, bars = snapshot(db)
    assert orders == [
        (1, "FILLED", 50_000_000, 2_500_000_000_000, None, 10),
        (2, "FILLED", 20_000_000, 1_000_000_000_000, None, 8),
        (3, "CANCELED", 0, 0, "CANCELED", 11),
        (4, "FILLED", 30_000_000, 1_500_000_000_000, None, 10),
    ]
    t0_ms = T0 // 1_000_000
    assert trades == [(1, 5_000_000_000_000, 20_000_000, 1_000_000_000_000, t0_ms),
                      (2, 5_000_000_000_000, 30_000_000, 1_500_000_000_000, t0_ms + 60_000)]
    assert [b[0] for b in bars] == [t0_ms - t0_ms % 60_000, t0_ms + 60_000 - (t0_ms + 60_000) % 60_000]
    changes = [(c.order.order_id, c.execution, c.algo) for c in result.changes]
    assert (3, "NEW", True) in changes and (3, "CANCELED", True) in changes and (1, "TRADE", False) in changes


def test_replaying_the_same_events_changes_nothing(db: Database) -> None:
    client = EngineClient()
    batches = scenario(client)
    projector = Projector(db, client, NAMES.__getitem__)
    projector.project(batches)
    before = snapshot(db)
    again = projector.project(batches)
    assert again.changes == [] and snapshot(db) == before
    assert projector.catch_up().changes == [] and snapshot(db) == before
    assert projector.cursor() == client.last_seq()


def test_a_gap_is_back_filled_from_the_engine(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    client = EngineClient()
    batches = scenario(client)
    reference = snapshot(db)
    projector = Projector(db, client, NAMES.__getitem__, time_of=lambda seq: T0 if seq <= 9 else T0 + MINUTE_NS)
    projector.project(batches[:2])
    result = projector.project(batches[4:])
    assert result.backfilled > 0 and "projection gap" in caplog.text
    assert projector.cursor() == client.last_seq()
    orders, trades, _ = snapshot(db)
    assert [o[1] for o in orders] == ["FILLED", "FILLED", "CANCELED", "FILLED"]
    assert len(trades) == 2 and reference != snapshot(db)
    with db.reader() as session:
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() == 4


def test_catch_up_pulls_everything_after_the_cursor(db: Database) -> None:
    client = EngineClient()
    scenario(client)
    projector = Projector(db, client, NAMES.__getitem__)
    result = projector.catch_up()
    assert result.last_seq == client.last_seq()
    assert [o[1] for o in snapshot(db)[0]] == ["FILLED", "FILLED", "CANCELED", "FILLED"]
    projector.reset()
    assert projector.cursor() == 0 and snapshot(db) == ([], [], [])
