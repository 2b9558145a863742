"""The wiring the API lifespan uses: every loop running against a real engine on the wall clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.enums import Side
from derivatives.events import EventEnvelope, InsuranceFloorSet
from derivatives.persistence.db import Database
from risk import FundingConfig, RiskConfig, RiskServices
from tests.risk.conftest import BTC, Exchange


async def test_risk_services_follow_the_engine_rank_and_settle(
    exchange: Exchange, tmp_path: Path
) -> None:
    exchange.cross(1, 2, Side.BUY, "0.3", "50000")
    exchange.cross(1, 3, Side.BUY, "0.1", "50000")
    exchange.mark("50500")
    db = Database(f"sqlite:///{tmp_path / 'risk.db'}")
    db.migrate()
    config = RiskConfig(
        funding=FundingConfig(sample_every_ms=50),
        adl_period_ms=50,
        feed_poll_ms=20,
        insurance_floor=D(100),
    )
    risk = RiskServices(
        exchange.client,
        exchange.submit,
        # Instruments funding every 300 ms: a short demo interval.
        lambda: [replace(spec, funding_interval_ms=300) for spec in DEMO_INSTRUMENTS],
        db,
        config=config,
        time_of=lambda seq: None,
    )
    tasks = await risk.start()
    try:
        deadline = time.monotonic() + 10
        while not (risk.adl.installed(BTC, Side.BUY) and risk.funding.history()):
            assert time.monotonic() < deadline, "the loops did not rank and settle in time"
            await asyncio.sleep(0.02)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        db.dispose()
    assert InsuranceFloorSet(D(100)) in [e.event for e in exchange.all_events()]
    assert risk.feed.caught_up
    assert risk.feed.failure is None
    assert set(risk.adl.installed(BTC, Side.BUY)) == {2, 3}
    assert [r.account for r in risk.monitor.snapshot()] == [1, 2, 3]
    assert risk.funding.history()[0]["symbol"] in {"BTCUSDT", "ETHUSDT"}
    first = exchange.all_events()[0]
    assert risk.event_time_ms(first) == first.ts // 1_000_000 > 0, "the journaled command time"
    unknown = EventEnvelope(first.seq, first.index, first.event)
    assert abs(risk.event_time_ms(unknown) - time.time_ns() // 1_000_000) < 60_000  # unknown: now
