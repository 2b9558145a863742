"""The event feed: whole commands, exactly once, contiguous, even when reads stop mid-command."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from derivatives import _core
from derivatives.commands import AddInstrument, Deposit
from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient
from derivatives.enums import Side
from derivatives.events import EventEnvelope
from risk.feed import EventFeed
from tests.risk.conftest import Exchange, FakeClock


class Recorder:
    """A consumer that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[EventEnvelope]]] = []

    def __call__(self, after: int, events: Sequence[EventEnvelope]) -> None:
        self.calls.append((after, list(events)))


class CuttingReader(EngineClient):
    """The same engine, read with reads that stop after ``budget // 100`` records (at least one),
    wherever that falls, as the engine's byte budget does."""

    def read_events(
        self, after_seq: int, max_bytes: int = 1 << 20, timeout_ms: int = 0
    ) -> list[EventEnvelope]:
        return super().read_events(after_seq, 1 << 30, timeout_ms)[: max(1, max_bytes // 100)]


@pytest.mark.parametrize("records", [1, 2, 3, 5, 8])
def test_reads_cut_anywhere_still_deliver_whole_commands_once(
    exchange: Exchange, records: int
) -> None:
    for price in ("50000", "50010", "50020"):
        exchange.cross(1, 2, Side.BUY, "0.1", price)
    everything = exchange.all_events()
    recorder = Recorder()
    feed = EventFeed(CuttingReader(exchange.client.engine), [recorder], max_bytes=100 * records)
    assert feed.catch_up() == len(everything)
    assert [e for _, chunk in recorder.calls for e in chunk] == everything
    previous = 0
    for after, chunk in recorder.calls:
        assert after == previous  # contiguous
        last = chunk[-1].seq
        assert [e for e in everything if after < e.seq <= last] == chunk  # whole commands only
        previous = last
    assert feed.after == everything[-1].seq
    assert feed.catch_up() == 0


async def test_run_follows_new_events_and_stops_loudly_when_they_are_evicted(
    clock: FakeClock,
) -> None:
    client = EngineClient(_core.Engine(event_log_bytes=4096))
    client.execute([AddInstrument(BTCUSDT)])
    recorder = Recorder()
    feed = EventFeed(client, [recorder], poll_timeout_ms=20)
    task = asyncio.create_task(feed.run())
    client.execute([Deposit(7, D(1))])
    while feed.after < client.last_seq():
        await asyncio.sleep(0.01)
    task.cancel()
    assert feed.failure is None
    # Far more than the engine retains, before the feed reads again: it cannot catch up.
    for account in range(200):
        client.execute([Deposit(account + 1, D(1))])
    await feed.run()
    assert feed.failure is not None
    assert "gone" in feed.failure
