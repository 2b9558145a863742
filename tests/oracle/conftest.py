"""Fixtures of the oracle tests: a fake clock and the five fake venues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from oracle.model import PriceFlags
from oracle.service import Publish
from tests.oracle.fake_venues import FakeVenue, url_overrides

T0 = 1_760_000_000_000
"""Start time of the fake clock (Unix ms)."""


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def venues() -> AsyncIterator[dict[str, FakeVenue]]:
    servers = {name: FakeVenue(name) for name in ("binance", "okx", "bybit", "coinbase", "kraken")}
    for server in servers.values():
        await server.start()
    yield servers
    for server in servers.values():
        await server.stop()


Published = tuple[str, Decimal, Decimal, PriceFlags]
"""One call of the publish callback: ``(symbol, mark, index, flags)``."""


def collector(published: list[Published]) -> Publish:
    """A publish callback that appends every call to ``published``."""

    async def publish(symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        published.append((symbol, mark, index, flags))

    return publish


def overrides(venues: dict[str, FakeVenue]) -> dict[str, dict[str, object]]:
    """ccxt ``urls`` overrides pointing every venue's client at its fake server."""
    return {name: url_overrides(name, server.base_url) for name, server in venues.items()}
