"""Periodic engine snapshots for `derivatives serve`: every N commands or every T seconds.

Invariants:
    * A snapshot is taken only when commands were sequenced since the previous one (or since start),
      and then when ``every_commands`` of them were, or ``every_seconds`` have passed (0 disables
      either trigger).
    * The engine thread only serialises the state between two batches (``EngineClient.snapshot``,
      a consistent cut at the last durable seq); the file is written and synced on a worker thread,
      never on the event loop.
    * The newest ``keep`` snapshot files stay (recovery uses the newest valid one and falls back to
      the one before if it is damaged); older ones are deleted. Journal segments are never touched,
      so every event stays readable from seq 1 (docs/DURABILITY.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from derivatives.engine import EngineClient

log = logging.getLogger("derivatives.snapshots")


class SnapshotSchedule:
    """Decides when to snapshot an engine journaling in `journal_dir`, and takes the snapshots."""

    def __init__(self, client: EngineClient, journal_dir: Path, every_commands: int, every_seconds: float,
                 keep: int = 2, clock: Callable[[], float] = time.monotonic) -> None:
        if keep < 1:
            raise ValueError("keep at least one snapshot")
        self.client = client
        self.journal_dir = journal_dir
        self.every_commands = every_commands
        self.every_seconds = every_seconds
        self.keep = keep
        self.clock = clock
        self.last_seq = client.last_seq()
        self.taken_at = clock()

    def due(self) -> bool:
        """Whether a snapshot should be taken now."""
        seq = self.client.last_seq()
        if seq <= self.last_seq:
            return False
        by_count = self.every_commands > 0 and seq - self.last_seq >= self.every_commands
        by_time = self.every_seconds > 0 and self.clock() - self.taken_at >= self.every_seconds
        return by_count or by_time

    def take(self) -> tuple[int, str, int]:
        """Takes a snapshot and prunes the old ones; returns (last_seq, path, size in bytes)."""
        started = self.clock()
        seq, path, size = self.client.snapshot()
        self.last_seq, self.taken_at = seq, self.clock()
        for old in sorted(self.journal_dir.glob("snapshot-*.snap"))[: -self.keep]:
            old.unlink()
        log.info("snapshot", extra={"fields": {"seq": seq, "path": path, "bytes": size,
                                               "seconds": round(self.taken_at - started, 3)}})
        return seq, path, size

    async def run(self, poll_s: float = 1.0) -> None:
        """Background task: looks every `poll_s` and snapshots when due, off the event loop."""
        while True:
            await asyncio.sleep(poll_s)
            try:
                if await asyncio.to_thread(self.due):
                    await asyncio.to_thread(self.take)
            except Exception:
                log.exception("snapshot failed; the journal alone still recovers everything")
