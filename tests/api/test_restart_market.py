"""A restart does not move the market or rewrite history: an engine recovered with a last mark
far from the simulated feed's opening price (here 60,000 against 97,000) keeps its mark, and the
insurance fund's history keeps the times its events were sequenced at, not the restart's.
SQLite and PostgreSQL."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from derivatives import _core
from derivatives.commands import AddInstrument, Deposit, SetMarkPrice
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient
from tests.api.conftest import ADMIN_TOKEN, BTC, ETH, make_database, settings_for
from tests.api.server import start

SEQUENCED_MS = 1_700_000_000_000
"""When the recovered commands were sequenced (November 2023): long before this run."""


def recovered_engine() -> EngineClient:
    """An engine as a restart recovers it from its journal: listed, marked and with fund history."""
    client = EngineClient()
    ts = SEQUENCED_MS * 1_000_000
    client.execute([AddInstrument(spec) for spec in DEMO_INSTRUMENTS], ts)
    client.execute([SetMarkPrice(BTC, Decimal(60000), Decimal(60000)),
                    SetMarkPrice(ETH, Decimal(2000), Decimal(2000)),
                    Deposit(_core.INSURANCE_FUND, Decimal(1000))], ts)
    return client


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_restart_resumes_the_mark_and_keeps_event_times(kind: str, tmp_path: Path) -> None:
    db = make_database(kind, tmp_path)
    server = start(create_app(settings_for(db, oracle="simulated", risk_services=True, demo=False),
                              recovered_engine()))
    try:
        published: list[Decimal] = []
        deadline = time.monotonic() + 30
        while len(set(published)) < 3 and time.monotonic() < deadline:
            mark = httpx.get(f"{server.base}/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()
            published.append(Decimal(mark["markPrice"]))
            time.sleep(0.2)
        assert len(set(published)) >= 3, "the feed published new marks"
        assert all(abs(m - 60000) / 60000 < Decimal("0.005") for m in published), published
        history = httpx.get(f"{server.base}/risk/insurance/history",
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        times = [asset["updateTime"] for point in history for asset in point["assets"]]
        assert times and times[0] == SEQUENCED_MS, history
    finally:
        server.stop()
        db.drop()
