"""The journal through the Python API and the CLI: recovery and its report, restarts, a torn final
frame, a flipped bit in the middle of a segment, the writer lock and `derivatives engine replay`."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from derivatives import _core
from derivatives.commands import AddInstrument, Command, Deposit, PlaceOrder
from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient, Recovery
from derivatives.enums import Side
from derivatives.errors import JournalError
from derivatives.journal import replay

BTC = BTCUSDT.symbol


def _orders(first: int, count: int) -> list[Command]:
    return [PlaceOrder(1, BTC, Side.BUY, D("0.01"), price=D("50000") + i, client_order_id=f"o{i}") for i in range(first, first + count)]


def _journal(path: Path, batches: int = 4) -> str:
    """A journal of `AddInstrument` and a deposit, plus `batches` batches of 3 orders; returns the
    state hash."""
    client = EngineClient(journal_dir=path)
    client.execute([AddInstrument(BTCUSDT), Deposit(1, D("1000000"))])
    for b in range(batches):
        client.execute(_orders(3 * b, 3))
    return client.state_hash()


def _segment(path: Path) -> Path:
    (segment,) = sorted(path.glob("journal-*.log"))
    return segment


def _frame_offsets(data: bytes) -> list[int]:
    offsets, pos = [], 0
    while pos + 8 <= len(data):
        offsets.append(pos)
        pos += 8 + int.from_bytes(data[pos : pos + 4], "little")
    return offsets


def test_engine_recovers_from_its_journal_twice_in_a_row(tmp_path: Path) -> None:
    state = _journal(tmp_path)
    first = EngineClient(journal_dir=tmp_path)
    assert first.recovery() == Recovery(frames=14, last_seq=14, truncated_bytes=0)
    assert first.state_hash() == state
    result = first.execute(_orders(100, 2))
    assert (result.first_seq, result.last_seq) == (15, 16), "appending continues at last_seq + 1"
    state = first.state_hash()
    del first
    second = EngineClient(journal_dir=tmp_path)
    assert second.recovery() == Recovery(frames=16, last_seq=16, truncated_bytes=0)
    assert second.state_hash() == state == replay(tmp_path).state_hash
    depth = second.depth(BTC)
    assert depth is not None and depth.bids[0] == (D("50101"), D("0.01"))
    assert EngineClient().recovery() is None


def test_torn_final_frame_is_truncated_and_reported(tmp_path: Path) -> None:
    state = _journal(tmp_path)
    segment = _segment(tmp_path)
    whole = segment.read_bytes()
    last = _frame_offsets(whole)[-1]
    segment.write_bytes(whole + whole[last : last + 21])
    assert replay(tmp_path).truncated_bytes == 21, "a read-only replay reports the torn tail"
    assert segment.stat().st_size == len(whole) + 21, "and leaves it in place"
    client = EngineClient(journal_dir=tmp_path)
    assert client.recovery() == Recovery(frames=14, last_seq=14, truncated_bytes=21)
    assert client.state_hash() == state
    assert segment.read_bytes() == whole
    assert client.execute(_orders(50, 1)).first_seq == 15


def test_flipped_bit_in_the_middle_of_a_segment_names_file_and_offset(tmp_path: Path) -> None:
    _journal(tmp_path)
    segment = _segment(tmp_path)
    data = bytearray(segment.read_bytes())
    offset = _frame_offsets(bytes(data))[6]
    data[offset + 30] ^= 0x10
    segment.write_bytes(bytes(data))
    for attempt in (lambda: EngineClient(journal_dir=tmp_path), lambda: replay(tmp_path)):
        with pytest.raises(JournalError) as error:
            attempt()
        assert segment.name in str(error.value) and f"byte {offset}" in str(error.value)
    assert segment.read_bytes() == bytes(data), "a corrupt journal is never truncated"
    cli = subprocess.run([sys.executable, "-m", "derivatives", "engine", "replay", "--journal", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 1 and f"byte {offset}" in cli.stderr


def test_a_second_engine_cannot_write_the_same_journal(tmp_path: Path) -> None:
    first = EngineClient(journal_dir=tmp_path)
    with pytest.raises(JournalError, match="in use by another process"):
        EngineClient(journal_dir=tmp_path)
    del first
    EngineClient(journal_dir=tmp_path)


def test_cli_replay_prints_frames_last_seq_and_state_hash(tmp_path: Path) -> None:
    state = _journal(tmp_path, batches=10)
    cli = subprocess.run([sys.executable, "-m", "derivatives", "engine", "replay", "--journal", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == ["frames 32", "last seq 32", "torn tail bytes 0", f"state hash {state}"]
    assert "replay 100%" in cli.stderr


def test_replay_progress_reaches_the_total_and_its_errors_are_raised(tmp_path: Path) -> None:
    _journal(tmp_path)
    calls: list[tuple[int, int]] = []
    _core.replay_journal(tmp_path, lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] == _segment(tmp_path).stat().st_size

    def broken(done: int, total: int) -> None:
        raise KeyError("stop")

    with pytest.raises(KeyError):
        _core.replay_journal(tmp_path, broken)


def test_snapshot_then_recovery_starts_from_it(tmp_path: Path) -> None:
    client = EngineClient(journal_dir=tmp_path)
    client.execute([AddInstrument(BTCUSDT), Deposit(1, D("1000000"))])
    client.execute(_orders(0, 5))
    seq, path, size = client.snapshot()
    assert seq == 7 and Path(path).exists() and size > 0
    client.execute(_orders(5, 3))
    state = client.state_hash()
    del client
    again = EngineClient(journal_dir=tmp_path)
    assert again.recovery() == Recovery(frames=10, last_seq=10, truncated_bytes=0, snapshot_seq=7)
    assert again.state_hash() == state == replay(tmp_path).state_hash
