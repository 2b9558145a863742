"""The snapshot schedule of `derivatives serve`: every N commands or T seconds, only when commands
came since the last one, the newest two files kept, and recovery starts from the newest."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

from derivatives.commands import AddInstrument, Deposit
from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient
from derivatives.snapshot_schedule import SnapshotSchedule


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _snapshots(path: Path) -> list[int]:
    return [int(p.name[len("snapshot-"):-len(".snap")]) for p in sorted(path.glob("snapshot-*.snap"))]


def test_snapshots_by_count_and_by_time_keep_the_newest_two(tmp_path: Path) -> None:
    client = EngineClient(journal_dir=tmp_path)
    client.execute([AddInstrument(BTCUSDT)])
    clock = FakeClock()
    schedule = SnapshotSchedule(client, tmp_path, every_commands=5, every_seconds=60, clock=clock)
    client.execute([Deposit(1, D(1))] * 4)
    assert not schedule.due(), "4 commands and no time passed"
    client.execute([Deposit(1, D(1))])
    assert schedule.due()
    assert schedule.take()[0] == 6
    clock.now += 120
    assert not schedule.due(), "time passed but no command came"
    client.execute([Deposit(1, D(1))])
    assert schedule.due(), "a command came and the interval passed"
    schedule.take()
    client.execute([Deposit(1, D(1))] * 5)
    assert schedule.due()
    schedule.take()
    assert _snapshots(tmp_path) == [7, 12], "the newest two are kept"
    hash_before = client.state_hash()
    del client, schedule
    recovered = EngineClient(journal_dir=tmp_path)
    recovery = recovered.recovery()
    assert recovery is not None and recovery.snapshot_seq == 12
    assert recovered.state_hash() == hash_before
    assert len(recovered.read_events(0, 1 << 20)) > 0, "events from seq 1 stay readable (segments are kept)"


def test_the_background_task_takes_a_snapshot_when_due(tmp_path: Path) -> None:
    client = EngineClient(journal_dir=tmp_path)
    schedule = SnapshotSchedule(client, tmp_path, every_commands=1, every_seconds=0)
    client.execute([AddInstrument(BTCUSDT)])

    async def main() -> None:
        task = asyncio.create_task(schedule.run(poll_s=0.01))
        while not _snapshots(tmp_path):
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(main(), 30))
    assert _snapshots(tmp_path) == [1]
