"""Fixtures: a running engine with the demo instruments listed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from derivatives.commands import AddInstrument
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.engine import EngineClient


@pytest.fixture
def client() -> Iterator[EngineClient]:
    """An engine with BTCUSDT (1) and ETHUSDT (2), starting at time 1,000 ns."""
    engine = EngineClient()
    engine.execute([AddInstrument(spec) for spec in DEMO_INSTRUMENTS], ts=1_000)
    yield engine
