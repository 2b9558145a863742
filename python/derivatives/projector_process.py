"""The projector process: the batch stream folded into the shared SQL database.

``python -m derivatives.projector_process`` (started by ``derivatives serve``) reads the stream
from the first batch after its SQL cursor (``BatchReader.stream_seq_after``) and applies each
fetched run of batches in one transaction (``derivatives.persistence.projector.Projector``).

Exactly once: the projection cursor is written in the same transaction as the rows, and batches
at or below it are skipped; after a crash the process starts again right after the cursor, so
nothing is lost or applied twice. The stream has no gaps, so a gap here is a bug: the process
stops with ``ProjectionGap`` (and ``derivatives serve`` reports it) rather than skip events.
"""

from __future__ import annotations

import asyncio
import logging

from derivatives.bus.client import connect
from derivatives.bus.node import announce_ready, close_quietly, run_until_signalled
from derivatives.bus.protocol import Subjects, nats_url_from_env
from derivatives.bus.stream import BatchReader
from derivatives.codec import decode_events
from derivatives.config import Settings
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.events import EventEnvelope
from derivatives.persistence.db import Database
from derivatives.persistence.projector import Batch, Projector

log = logging.getLogger("derivatives.projector")


class _NoBackfill:
    """The projector's back-fill source: the stream is gap-free, so being asked is an error."""

    def read_events(
        self, after_seq: int, max_bytes: int = 0, timeout_ms: int = 0
    ) -> list[EventEnvelope]:
        raise LookupError(f"the batch stream skipped commands after seq {after_seq}")


def symbol_names() -> dict[int, str]:
    """Engine symbol id -> name of the listed instruments."""
    return {spec.symbol: spec.name for spec in DEMO_INSTRUMENTS}


async def project(settings: Settings, stop: asyncio.Event, url: str, subjects: Subjects) -> None:
    """Runs the projection until `stop` is set."""
    db = Database(settings.database_url, settings.database_schema)
    await asyncio.to_thread(db.migrate)
    names = symbol_names()
    projector = Projector(db, _NoBackfill(), lambda symbol: names.get(symbol, f"#{symbol}"))
    nc = await connect(url, "projector")
    reader = BatchReader(nc, subjects)
    cursor = await asyncio.to_thread(projector.cursor)
    while True:
        try:
            reader.next_stream_seq = await reader.stream_seq_after(cursor)
            break
        except Exception:
            await asyncio.sleep(0.2)
    announce_ready("projector")

    async def consume() -> None:
        async for stream_batches in reader.batches():
            batches = [
                Batch(b.seqs.first_seq, b.seqs.last_seq, b.seqs.ts, decode_events(b.events))
                for b in stream_batches
            ]
            result = await asyncio.to_thread(projector.project, batches)
            log.debug("projected up to seq %d", result.last_seq)

    task = asyncio.create_task(consume())
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    task.cancel()
    stopping.cancel()
    await close_quietly(nc)
    db.dispose()
    failure = task.exception() if task in done else None
    if failure is not None:
        raise failure


def main() -> None:
    """Entry point (settings from the environment)."""
    from derivatives import logs

    logs.configure()
    settings = Settings.from_env()
    run_until_signalled(
        lambda stop: project(settings, stop, nats_url_from_env(), Subjects.from_env())
    )


if __name__ == "__main__":
    main()
