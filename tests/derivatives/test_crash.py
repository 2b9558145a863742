"""Crash torture: `derivatives engine run --journal DIR` is SIGKILLed at random (seeded) points while
it executes a stream of batches, at least 50 times, and restarted each time.

After every kill the test checks, with the journal as the only witness:
- nothing acknowledged was lost: the journal's last seq is at least every acknowledged seq;
- nothing was half applied: the state recovered from the journal equals a from-scratch replay of
  it in a separate engine (state hash), and equals a reference engine (no journal) that applied
  exactly the first `last_seq` commands of the stream (order book depth, which shows every
  resting order and every fill by its distinct price);
- seqs stay contiguous: acknowledgements follow one another, and the restarted process continues
  at `last_seq + 1`.
Half of the kills that leave unacknowledged frames on disk are turned into a simulated power cut
in the middle of the last write: the last segment is cut inside its first unacknowledged frame
(only data never acknowledged can be torn), and recovery must truncate it and report it.
The stream resumes from the first command the journal does not hold, as a client that re-sends
unacknowledged commands by sequence would.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from derivatives.codec import encode_commands
from derivatives.commands import AddInstrument, Command, Deposit, PlaceOrder
from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient
from derivatives.enums import Side
from derivatives.journal import frame_batch, replay

BTC = BTCUSDT.symbol
KILLS = 55
SEED = 20_261_123
BATCH = 4
AHEAD = 3
SEGMENT_BYTES = 4096
WATCHDOG_SECONDS = 30


def command(i: int) -> Command:
    """Command `i` of the stream (seq i + 1): the instrument, deposits for both traders, then buys
    at distinct prices with distinct client ids, and every fifth a sell crossing into the best
    bids."""
    if i == 0:
        return AddInstrument(BTCUSDT)
    if i in (1, 2):
        return Deposit(i, D("100000000"))
    if i % 5 == 0:
        return PlaceOrder(2, BTC, Side.SELL, D("0.015"), price=D("49000"), client_order_id=f"s{i}")
    return PlaceOrder(1, BTC, Side.BUY, D("0.01"), price=D("50000") + D("0.1") * i, client_order_id=f"b{i}")


def _batch_message(start: int) -> bytes:
    return frame_batch(encode_commands([command(i) for i in range(start, start + BATCH)]))


def _parse_ack(line: bytes) -> tuple[int, int]:
    first, last = line.split()
    return int(first), int(last)


class Reference:
    """An engine without a journal that applies the stream up to a given seq."""

    def __init__(self) -> None:
        self.client = EngineClient()
        self.applied = 0

    def advance(self, last_seq: int) -> None:
        assert last_seq >= self.applied, "the journal never loses what it once held"
        if last_seq > self.applied:
            self.client.execute([command(i) for i in range(self.applied, last_seq)])
            self.applied = last_seq


def _run_until_killed(journal: Path, start: int, rng: random.Random, log: Path) -> list[tuple[int, int]]:
    """Starts the engine process, streams batches from command `start`, SIGKILLs it after a random
    number of acknowledgements plus a random delay, and returns every acknowledgement it wrote."""
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "derivatives", "engine", "run", "--journal", str(journal), "--segment-bytes", str(SEGMENT_BYTES)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        )
    assert process.stdin is not None and process.stdout is not None
    watchdog = threading.Timer(WATCHDOG_SECONDS, process.kill)
    watchdog.start()
    target = rng.randint(0, 12)
    acks: list[tuple[int, int]] = []
    sent = 0
    for _ in range(AHEAD):
        process.stdin.write(_batch_message(start + sent * BATCH))
        sent += 1
    process.stdin.flush()
    while len(acks) < target:
        line = process.stdout.readline()
        assert line, f"the engine process ended by itself or hung: {log.read_text()[-2000:]}"
        acks.append(_parse_ack(line))
        process.stdin.write(_batch_message(start + sent * BATCH))
        process.stdin.flush()
        sent += 1
    time.sleep(rng.uniform(0, 0.004))
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=WATCHDOG_SECONDS) == -signal.SIGKILL
    watchdog.cancel()
    acks.extend(_parse_ack(line) for line in process.stdout.read().splitlines())
    process.stdin.close()
    process.stdout.close()
    return acks


def _tear_unacknowledged_tail(journal: Path, acked_to: int, rng: random.Random) -> int:
    """Cuts the last segment inside its first frame past `acked_to`, or, when the kill left no
    unacknowledged frame on disk (the timing of a kill varies with the machine's load), appends the
    start of one, as a crash in the middle of its write would leave it. Returns the bytes left of
    that frame (what recovery must truncate and report)."""
    segments = sorted(journal.glob("journal-*.log"))
    if not segments:
        return 0
    data = segments[-1].read_bytes()
    pos = 0
    while pos + 16 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "little")
        if int.from_bytes(data[pos + 8 : pos + 16], "little") > acked_to:
            cut = rng.randint(1, 8 + length - 1)
            segments[-1].write_bytes(data[: pos + cut])
            return cut
        pos += 8 + length
    length = 40  # a plausible frame length; its header and part of its payload reached the disk
    fragment = length.to_bytes(4, "little") + rng.randbytes(4 + rng.randint(0, length - 1))
    with segments[-1].open("ab") as segment:
        segment.write(fragment)
    return len(fragment)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_command(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    journal = tmp_path / "journal"
    reference = Reference()
    last_seq, acknowledged, torn_tails, unacknowledged_but_durable = 0, 0, 0, 0
    for kill in range(KILLS):
        acks = _run_until_killed(journal, last_seq, rng, tmp_path / "engine.log")
        expected_first = last_seq + 1
        for first, last in acks:
            assert (first, last) == (expected_first, expected_first + BATCH - 1), f"kill {kill}: acks {acks}"
            expected_first = last + 1
        acknowledged += len(acks)

        acked_to = acks[-1][1] if acks else last_seq
        torn = _tear_unacknowledged_tail(journal, acked_to, rng) if rng.random() < 0.5 else 0
        replayed = replay(journal)
        assert not torn or replayed.truncated_bytes == torn, f"kill {kill}: torn tail not reported"
        assert replayed.last_seq >= acked_to, f"kill {kill}: acknowledged seq {acked_to} lost"
        assert replayed.frames == replayed.last_seq
        recovered = EngineClient(journal_dir=journal)
        recovery = recovered.recovery()
        assert recovery is not None
        assert (recovery.last_seq, recovery.truncated_bytes) == (replayed.last_seq, replayed.truncated_bytes)
        assert recovered.state_hash() == replayed.state_hash, f"kill {kill}: recovery differs from a clean replay"
        reference.advance(replayed.last_seq)
        assert recovered.depth(BTC) == reference.client.depth(BTC), f"kill {kill}: state is not the stream's prefix"
        del recovered

        torn_tails += replayed.truncated_bytes > 0
        unacknowledged_but_durable += replayed.last_seq > acked_to
        last_seq = replayed.last_seq
    segments = len(list(journal.glob("journal-*.log")))
    print(f"\n{KILLS} kills: {acknowledged} batches acknowledged, journal at seq {last_seq} in {segments} segments; "
          f"{torn_tails} torn tails truncated, {unacknowledged_but_durable} kills with durable unacknowledged commands")
    assert acknowledged >= KILLS, "the stream made progress between kills"
    assert segments > 1, "segments rolled during the test"
    assert torn_tails > 0, "at least one torn tail was recovered"
