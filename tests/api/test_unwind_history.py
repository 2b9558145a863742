"""The insurance fund unwinder's history is stored: ``GET /risk/insurance/unwinds`` serves the
steps taken before a restart of the API and its risk services (the engine, its own process in
production, keeps running). SQLite and PostgreSQL.

Worked example (BTCUSDT, default unwinder settings: slices of at most 10,000 USDT at the mark,
never worse than 0.5 % from it, paused under 20,000 USDT of depth within it): the fund holds a
long of 0.5 bought at 50,000; a bid of 1 at 49,800 (49,800 USDT within the cap 49,750) takes a
slice of 10,000 / 50,000 = 0.2 at each step: 0.5 → 0.3 before the restart, 0.3 → 0.1 after.
"""

from __future__ import annotations

import time
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from derivatives import _core
from derivatives.commands import AddInstrument, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from derivatives.enums import Side, TimeInForce
from tests.api.conftest import ADMIN_TOKEN, BTC, ETH, make_database, settings_for
from tests.api.server import RunningServer, start

MAKER = 5


def fund_long() -> EngineClient:
    """An engine where the fund holds 0.5 BTC bought at 50,000 and a bid of 1 rests at 49,800."""
    client = EngineClient()
    client.execute([AddInstrument(spec) for spec in DEMO_INSTRUMENTS])
    client.execute([SetMarkPrice(BTC, D(50000), D(50000)), SetMarkPrice(ETH, D(3000), D(3000)),
                    Deposit(_core.INSURANCE_FUND, D(10_000)), Deposit(MAKER, D(10_000_000))])
    client.execute([PlaceOrder(MAKER, BTC, Side.SELL, D("0.5"), price=D(50000)),
                    PlaceOrder(_core.INSURANCE_FUND, BTC, Side.BUY, D("0.5"), price=D(50000),
                               time_in_force=TimeInForce.IOC),
                    PlaceOrder(MAKER, BTC, Side.BUY, D(1), price=D(49800))])
    return client


def unwinds_once(server: RunningServer, count: int) -> list[dict[str, object]]:
    """The stored steps, once there are `count` of them."""
    deadline = time.monotonic() + 20
    while True:
        rows: list[dict[str, object]] = httpx.get(f"{server.base}/risk/insurance/unwinds",
                                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_unwind_history_is_served_across_a_restart(kind: str, tmp_path: Path) -> None:
    db = make_database(kind, tmp_path)
    engine = fund_long()
    settings = settings_for(db, risk_services=True, demo=False)
    try:
        first = start(create_app(settings, engine))
        try:
            before = unwinds_once(first, 1)  # the unwinder steps at start, then every 10 s
        finally:
            first.stop()
        assert [(r["reason"], r["position"], r["qty"], r["filled"], r["limitPrice"], r["bookNotional"])
                for r in before] == [("SLICE", "0.50000000", "0.20000000", "0.20000000", "49750.00000000",
                                      "49800.00000000")]
        second = start(create_app(settings, engine))
        try:
            after = unwinds_once(second, 2)
        finally:
            second.stop()
        assert after[0] == before[0], "the step before the restart is still served"
        assert [(r["position"], r["filled"]) for r in after] == [("0.50000000", "0.20000000"),
                                                                 ("0.30000000", "0.20000000")]
        fund = engine.account(_core.INSURANCE_FUND)
        assert fund is not None and [p.qty for p in fund.positions if p.qty] == [D("0.1")]
    finally:
        db.drop()
