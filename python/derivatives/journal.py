"""`derivatives engine replay` and `derivatives engine run`: the journal from the command line.

- ``replay`` rebuilds the state from a journal directory (in Rust, read-only: a torn tail is
  reported, never truncated) and prints the frames, the last sequence number and the state hash,
  with a percentage on stderr while it reads.
- ``run`` recovers an engine from the journal, then reads command batches on stdin, each framed
  as ``[u32 batch_len][batch]`` (``batch`` exactly as ``encode_commands`` produces it), executes
  each one durably and writes one line per batch to stdout, ``first_seq last_seq``, flushed. With
  ``--replicate-to HOST:PORT`` it ships the journal to a follower (``derivatives engine follow``,
  see :mod:`derivatives.standby`); with ``--sync`` a line also waits until the follower made the
  batch durable.

Invariant: an acknowledgement line is written only after the batch's commands are durable in the
journal, so a line read by the caller survives any crash of this process.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from derivatives import _core
from derivatives.engine import EngineClient

log = logging.getLogger("derivatives.journal")

JournalPath = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class Replay:
    """What a replay found, and the hex SHA-256 of the state it rebuilt."""

    frames: int
    last_seq: int
    truncated_bytes: int
    state_hash: str


def replay(journal_dir: JournalPath, progress: Callable[[int, int], object] | None = None) -> Replay:
    """Rebuilds the state from `journal_dir` without writing to it."""
    frames, last_seq, truncated, digest = _core.replay_journal(journal_dir, progress)
    return Replay(frames, last_seq, truncated, digest.hex())


def print_replay(journal_dir: JournalPath, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> Replay:
    """Replays with a percentage on `err`, then prints the result on `out`."""

    def progress(done: int, total: int) -> None:
        print(f"\rreplay {done * 100 // max(total, 1):3d}%", end="", file=err, flush=True)

    result = replay(journal_dir, progress)
    print(file=err)
    print(f"frames {result.frames}", file=out)
    print(f"last seq {result.last_seq}", file=out)
    print(f"torn tail bytes {result.truncated_bytes}", file=out)
    print(f"state hash {result.state_hash}", file=out)
    return result


def frame_batch(batch: bytes) -> bytes:
    """One message of the ``run`` input: the batch prefixed by its length."""
    return len(batch).to_bytes(4, "little") + batch


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"input ended {len(data)} bytes into a {size}-byte message")
    return data


def run(journal_dir: JournalPath, segment_bytes: int, stdin: BinaryIO, stdout: TextIO,
        replicate_to: str | None = None, sync: bool = False) -> int:
    """Serves batches from `stdin` until it ends; returns how many were acknowledged. With
    `replicate_to` the journal is shipped to a follower (`sync`: an ack also waits for it)."""
    engine = _core.Engine(journal_dir=journal_dir, segment_bytes=segment_bytes, replicate_to=replicate_to, sync=sync)
    recovery = EngineClient(engine).recovery()
    assert recovery is not None, "a journaled engine reports its recovery"
    log.info("recovered", extra={"fields": {"journal": os.fspath(journal_dir), "frames": recovery.frames,
                                            "last_seq": recovery.last_seq, "truncated_bytes": recovery.truncated_bytes,
                                            "replicate_to": replicate_to, "sync": sync}})
    return serve_batches(engine, stdin, stdout)


def serve_batches(engine: _core.Engine, stdin: BinaryIO, stdout: TextIO) -> int:
    """Executes the ``[u32 len][batch]`` messages of `stdin` until it ends, one durable
    ``first_seq last_seq`` line each on `stdout`; returns how many were acknowledged."""
    acknowledged = 0
    while header := stdin.read(4):
        if len(header) != 4:
            raise EOFError("input ended inside a batch length")
        batch = _read_exact(stdin, int.from_bytes(header, "little"))
        first_seq, last_seq, _ts, _events = engine.execute(batch)
        stdout.write(f"{first_seq} {last_seq}\n")
        stdout.flush()
        acknowledged += 1
    return acknowledged
