"""The in-memory order view and account-change fold give the same orders, order changes and
account changes as the SQL projection: seeded random trading on a real engine (limit, market, IOC,
FOK, post-only, stop and trailing orders, amendments, cancels, mark moves that trigger and
liquidate), compared order by order and change by change; then the view's bounded memory."""

from __future__ import annotations

import random
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import select

from derivatives.account_changes import AccountChanges
from derivatives.commands import (
    AddInstrument,
    AmendOrder,
    CancelOrder,
    Command,
    Deposit,
    PlaceOrder,
    SetLeverage,
    SetMarkPrice,
)
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from derivatives.enums import OrderType, Side, TimeInForce, TriggerSource
from derivatives.order_view import OrderView
from derivatives.persistence.db import Database
from derivatives.persistence.models import Order
from derivatives.persistence.projector import Batch, Projector
from derivatives.persistence.views import order_state

NAMES = {s.symbol: s.name for s in DEMO_INSTRUMENTS}
T0 = 1_700_000_000_000 * 1_000_000
ACCOUNTS = (1, 2, 3, 4)


def _random_command(rng: random.Random, mark: D, live: list[tuple[int, int]]) -> Command:
    account = rng.choice(ACCOUNTS)
    side = rng.choice((Side.BUY, Side.SELL))
    qty = D(rng.randint(1, 40)) / 1000
    price = mark + D(rng.randint(-20, 20)) * 10
    roll = rng.random()
    if live and roll < 0.2:
        owner, order_id = rng.choice(live)
        return CancelOrder(owner, 1, order_id=order_id)
    if live and roll < 0.3:
        owner, order_id = rng.choice(live)
        return AmendOrder(owner, 1, price, qty, order_id=order_id)
    if roll < 0.4:
        return PlaceOrder(account, 1, side, qty, order_type=OrderType.MARKET)
    if roll < 0.5:
        stop = mark + (D(100) if side is Side.BUY else D(-100))
        return PlaceOrder(account, 1, side, qty, order_type=OrderType.STOP_MARKET, stop_price=stop,
                          trigger_source=rng.choice((TriggerSource.MARK_PRICE, TriggerSource.CONTRACT_PRICE)))
    if roll < 0.55:
        return PlaceOrder(account, 1, side, qty, order_type=OrderType.TRAILING_STOP_MARKET, callback_rate=D("0.01"))
    tif = rng.choice((TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTX))
    return PlaceOrder(account, 1, side, qty, price=price, time_in_force=tif,
                      client_order_id=f"c{rng.randint(0, 30)}")


def test_the_views_fold_like_the_sql_projection(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    db.migrate()
    client = EngineClient()
    projector = Projector(db, client, NAMES.__getitem__)
    view = OrderView(NAMES.__getitem__)
    accounts = AccountChanges(NAMES.__getitem__)
    rng = random.Random(11)
    mark = D(50000)
    ts = T0
    setup: list[Command] = [*(AddInstrument(s) for s in DEMO_INSTRUMENTS), SetMarkPrice(1, mark, mark),
                            *(Deposit(a, D(600)) for a in ACCOUNTS), *(SetLeverage(a, 1, 50) for a in ACCOUNTS)]
    sql_changes, view_changes, sql_accounts, view_accounts = [], [], [], []
    for round_ in range(150):
        live = [(o.account_id, o.order_id) for a in ACCOUNTS for o in view.open_orders(a, None, False)]
        live += [(o.account_id, o.order_id) for a in ACCOUNTS for o in view.open_orders(a, None, True)]
        commands = setup if round_ == 0 else [_random_command(rng, mark, live) for _ in range(rng.randint(1, 6))]
        if round_ % 10 == 9:
            mark += D(rng.randint(-30, 30)) * 100
            commands.append(SetMarkPrice(1, mark, mark))
        ts += 250_000_000
        result = client.execute(commands, ts)
        batch = Batch(result.first_seq, result.last_seq, result.ts, result.events)
        projected_batch = projector.project([batch])
        sql_changes += projected_batch.changes
        sql_accounts += projected_batch.accounts
        view_changes += view.apply([batch])
        view_accounts += accounts.apply([batch])
    with db.reader() as session:
        projected = {row.order_id: order_state(row) for row in session.execute(select(Order)).scalars()}
    held = {order_id: view.get(order_id) for order_id in projected}
    assert held == projected
    assert len(projected) > 300
    assert view_changes == sql_changes
    assert view_accounts == sql_accounts
    reasons = {c.reason for c in view_accounts}
    assert {"ORDER", "DEPOSIT", "ADL"} <= reasons, reasons
    executions = {c.execution for c in view_changes}
    assert {"NEW", "TRADE", "CANCELED", "EXPIRED", "AMENDMENT", "TRIGGERED"} <= executions, executions
    for account in ACCOUNTS:
        for algo in (False, True):
            expected = sorted((o for o in projected.values() if o.account_id == account and (
                o.algo_status == "NEW" if algo else
                (o.algo_status is None or o.triggered_at is not None) and o.status in ("NEW", "PARTIALLY_FILLED"))),
                key=lambda o: o.order_id)
            assert view.open_orders(account, None, algo) == expected
    db.dispose()


def test_finished_orders_are_forgotten_oldest_first_and_the_view_says_since_when_it_is_complete() -> None:
    client = EngineClient()
    view = OrderView(NAMES.__getitem__, max_finished=2)
    ts = T0
    def run(*commands: Command) -> Batch:
        nonlocal ts
        ts += 1_000_000_000
        result = client.execute(list(commands), ts)
        batch = Batch(result.first_seq, result.last_seq, result.ts, result.events)
        view.apply([batch])
        return batch

    run(*(AddInstrument(s) for s in DEMO_INSTRUMENTS), SetMarkPrice(1, D(50000), D(50000)), Deposit(1, D(10000)))
    run(PlaceOrder(1, 1, Side.BUY, D("0.01"), price=D(49000), client_order_id="rest"))
    for n in range(4):
        run(PlaceOrder(1, 1, Side.BUY, D("0.01"), price=D(49000), client_order_id=f"gone{n}",
                       time_in_force=TimeInForce.IOC))
    assert view.by_client_id(1, "rest") is not None, "a live order is never forgotten"
    assert [view.by_client_id(1, f"gone{n}") is not None for n in range(4)] == [False, False, True, True]
    third = view.by_client_id(1, "gone2")
    assert third is not None and view.complete_since_ms == third.created_at - 1000 + 1
    assert view.open_orders(1, "BTCUSDT", False)[0].client_order_id == "rest"
