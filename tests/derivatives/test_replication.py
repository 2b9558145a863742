"""Hot standby with real processes and sockets: `derivatives engine run --replicate-to` ships its
journal to `derivatives engine follow`, which applies it, journals it, reports its state hash, and
takes over when promoted (SIGUSR1).

- sync mode, primary SIGKILLed mid-stream: every acknowledged command is in the promoted follower,
  whose journal is byte for byte a prefix of the primary's and replays to its state hash; the
  promoted follower continues the sequence;
- a follower that starts late, and one that restarts, catch up from their own last seq;
- sync mode with the follower gone: acknowledgements block (nothing only one machine holds is
  acknowledged) and resume once it is back.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from derivatives.journal import replay
from tests.derivatives.test_crash import BATCH, _batch_message

TIMEOUT = 60


class Child:
    """A `derivatives engine ...` process whose stdout lines are collected by a thread."""

    def __init__(self, tmp: Path, name: str, *args: str) -> None:
        with (tmp / f"{name}.stderr").open("ab") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "derivatives", "engine", *args],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self.stderr = tmp / f"{name}.stderr"
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for raw in self.process.stdout:
                self.lines.put(raw.decode().strip())
        self.lines.put(None)

    def line(self, timeout: float = TIMEOUT) -> str:
        line = self.lines.get(timeout=timeout)
        assert line is not None, f"process ended: {self.stderr.read_text()[-2000:]}"
        return line

    def send(self, start: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(_batch_message(start))
        self.process.stdin.flush()

    def kill(self) -> None:
        """SIGKILL (a crash), then reap it and close its input (the reader thread closes its output
        at the end of it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):  # what was still buffered has no reader
                self.process.stdin.close()


def start_follower(tmp: Path, journal: Path, port: int = 0) -> tuple[Child, int, int]:
    """A follower; returns it, its port and the seq it starts at."""
    child = Child(tmp, "follower", "follow", "--journal", str(journal), "--listen", f"127.0.0.1:{port}")
    words = child.line().split()
    assert words[0] == "listening", words
    return child, int(words[1].rsplit(":", 1)[1]), int(words[-1])


def _primary(tmp: Path, journal: Path, port: int, sync: bool) -> Child:
    return Child(tmp, "primary", "run", "--journal", str(journal), "--replicate-to", f"127.0.0.1:{port}",
                 *(["--sync"] if sync else []))


def _ack(child: Child, timeout: float = TIMEOUT) -> int:
    first, last = map(int, child.line(timeout).split())
    assert last == first + BATCH - 1
    return last


def _applied(follower: Child, seq: int) -> str:
    """Reads `applied` lines until one reaches `seq`; returns its state hash."""
    while True:
        word, at, digest = follower.line().split()
        assert word == "applied"
        if int(at) >= seq:
            assert int(at) == seq, "nothing beyond what the primary holds"
            return digest


def _journal_bytes(journal: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(journal.glob("journal-*.log")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def test_sync_primary_killed_mid_stream_then_the_promoted_follower_holds_every_ack(tmp_path: Path,
                                                                                    children: list[Child]) -> None:
    follower, port, _ = start_follower(tmp_path, tmp_path / "f")
    primary = _primary(tmp_path, tmp_path / "p", port, sync=True)
    children += [follower, primary]

    def feed() -> None:
        try:
            for b in range(500):
                primary.send(b * BATCH)
        except (BrokenPipeError, ValueError):
            pass  # killed mid-stream

    threading.Thread(target=feed, daemon=True).start()
    acked = [_ack(primary) for _ in range(60)]
    primary.kill()
    while (rest := primary.lines.get(timeout=TIMEOUT)) is not None:
        acked.append(int(rest.split()[1]))
    assert acked == sorted(acked) and acked[-1] >= 60 * BATCH

    follower.process.send_signal(signal.SIGUSR1)
    while not (line := follower.line()).startswith("promoted"):
        assert line.startswith("applied")
    _, seq, digest = line.split()
    assert int(seq) >= acked[-1], "every acknowledged command is on the follower"
    followed, original = _journal_bytes(tmp_path / "f"), _journal_bytes(tmp_path / "p")
    assert original.startswith(followed), "the follower's journal is the primary's, byte for byte"
    rebuilt = replay(tmp_path / "f")
    assert (rebuilt.last_seq, rebuilt.state_hash) == (int(seq), digest), "its state = a replay of its journal"

    follower.send(int(seq))
    assert _ack(follower) == int(seq) + BATCH, "the promoted follower continues the sequence"


def test_a_follower_starting_late_or_restarting_catches_up_from_its_last_seq(tmp_path: Path,
                                                                             children: list[Child]) -> None:
    port = _free_port()
    primary = _primary(tmp_path, tmp_path / "p", port, sync=False)
    children.append(primary)
    for b in range(20):
        primary.send(b * BATCH)
        _ack(primary)
    follower, _, start = start_follower(tmp_path, tmp_path / "f", port)
    children.append(follower)
    assert start == 0
    assert _applied(follower, 20 * BATCH) == replay(tmp_path / "p").state_hash
    follower.kill()
    for b in range(20, 25):
        primary.send(b * BATCH)
        _ack(primary)
    follower, _, start = start_follower(tmp_path, tmp_path / "f", port)
    children.append(follower)
    assert start == 20 * BATCH, "it restarts from its own journal"
    assert _applied(follower, 25 * BATCH) == replay(tmp_path / "p").state_hash


def test_sync_mode_blocks_acknowledgements_while_the_follower_is_gone(tmp_path: Path, children: list[Child]) -> None:
    follower, port, _ = start_follower(tmp_path, tmp_path / "f")
    primary = _primary(tmp_path, tmp_path / "p", port, sync=True)
    children += [follower, primary]
    for b in range(5):
        primary.send(b * BATCH)
        _ack(primary)
    follower.kill()
    primary.send(5 * BATCH)
    with pytest.raises(queue.Empty):
        primary.lines.get(timeout=2)  # blocked, not acknowledged: only the primary holds it
    follower, _, start = start_follower(tmp_path, tmp_path / "f", port)
    children.append(follower)
    assert start == 5 * BATCH
    assert _ack(primary) == 6 * BATCH, "released once the follower made it durable"
    assert _applied(follower, 6 * BATCH) == replay(tmp_path / "p").state_hash
    assert "REPLICATION" in primary.stderr.read_text(), "the lost follower is logged"
