"""`derivatives engine follow`: a hot standby of a primary `derivatives engine run --replicate-to`.

The follower recovers its own journal, listens on ``--listen HOST:PORT`` and prints
``listening HOST:PORT at seq N``; the primary connects to it and ships its journal from the
follower's last seq on. Each time the follower has applied and made durable more frames it prints
``applied SEQ STATE_HASH`` (hex SHA-256 of its state at SEQ).

Promotion: **SIGUSR1** (``kill -USR1 PID``). The follower stops following for good (its listener
closes, so the old primary can never reach it again and, in sync mode, can acknowledge nothing
more), prints ``promoted SEQ STATE_HASH``, and then serves command batches on stdin exactly like
``derivatives engine run`` (``[u32 len][batch]`` in, one ``first_seq last_seq`` line per durable
batch out), continuing the sequence at SEQ + 1.

Invariant: a printed ``applied`` line and every ACK the primary receives cover only frames durable
in the follower's journal.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import BinaryIO, TextIO

from derivatives import _core
from derivatives.journal import JournalPath, serve_batches

log = logging.getLogger("derivatives.standby")

POLL_MS = 200
"""How long one wait for progress lasts before the promotion flag is looked at again."""


def follow(journal_dir: JournalPath, listen: str, segment_bytes: int, stdin: BinaryIO, stdout: TextIO) -> int:
    """Follows until SIGUSR1, then serves as the primary; returns the batches acknowledged then."""
    follower = _core.Follower(journal_dir, listen, segment_bytes)
    frames, last_seq, truncated, _snapshot = follower.recovery()
    log.info("recovered", extra={"fields": {"journal": os.fspath(journal_dir), "frames": frames,
                                            "last_seq": last_seq, "truncated_bytes": truncated}})
    promote = threading.Event()
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: promote.set())
    host, port = follower.address()
    _say(stdout, f"listening {host}:{port} at seq {last_seq}")
    while not promote.is_set():
        seq, digest, _connected, error = follower.wait(last_seq, POLL_MS)
        if error is not None:
            raise RuntimeError(f"following stopped: {error}")
        if seq > last_seq and digest is not None:
            _say(stdout, f"applied {seq} {digest.hex()}")
            last_seq = seq
    engine = follower.promote()
    _say(stdout, f"promoted {engine.last_seq()} {engine.state_hash().hex()}")
    return serve_batches(engine, stdin, stdout)


def _say(stdout: TextIO, line: str) -> None:
    stdout.write(line + "\n")
    stdout.flush()
