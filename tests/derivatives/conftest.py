"""Fixtures: a running engine with the demo instruments listed."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from derivatives.commands import AddInstrument, Deposit
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient


@pytest.fixture
def client() -> Iterator[EngineClient]:
    """An engine with BTCUSDT (1) and ETHUSDT (2), starting at time 1,000 ns, and accounts 1..=9
    holding 1,000,000 USDT each."""
    engine = EngineClient()
    listings = [AddInstrument(spec) for spec in DEMO_INSTRUMENTS]
    deposits = [Deposit(account, Decimal(1_000_000)) for account in range(1, 10)]
    engine.execute([*listings, *deposits], ts=1_000)
    yield engine
