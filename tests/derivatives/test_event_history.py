"""Downstream readers pull events from any sequence number after a restart: what the in-memory
log no longer holds is regenerated from the journal, byte for byte as emitted live."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from derivatives import _core
from derivatives.codec import decode_events, encode_commands
from derivatives.commands import AddInstrument, Command, Deposit, PlaceOrder
from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient
from derivatives.enums import OrderType, Side

BTC = BTCUSDT.symbol


def _batch(i: int) -> list[Command]:
    """Resting bids and asks plus a market order that trades against them."""
    return [
        PlaceOrder(1, BTC, Side.BUY, D("0.01"), price=D("50000") - i, client_order_id=f"b{i}"),
        PlaceOrder(2, BTC, Side.SELL, D("0.02"), price=D("50010") + i, client_order_id=f"s{i}"),
        PlaceOrder(2, BTC, Side.SELL, D("0.005"), order_type=OrderType.MARKET),
    ]


def _records(data: bytes) -> list[tuple[int, int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        end = pos + 4 + int.from_bytes(data[pos : pos + 4], "little")
        out.append((int.from_bytes(data[pos + 4 : pos + 12], "little"), int.from_bytes(data[pos + 12 : pos + 16], "little"),
                    data[pos:end]))
        pos = end
    return out


def _read_all(engine: _core.Engine, after: int, page: int) -> bytes:
    """Every event after `after`, `page` bytes per call; a call may stop inside a command, which
    is then read again from its start without keeping its events twice."""
    out, seen, position = b"", (after, 1 << 32), after
    while chunk := _records(engine.read_events(position, page)):
        for seq, index, record in chunk:
            if (seq, index) > seen:
                out += record
                seen = (seq, index)
        last = chunk[-1][0]
        position = last if chunk[0][0] == last else last - 1
    return out


def test_events_after_any_seq_are_byte_identical_after_a_restart(tmp_path: Path) -> None:
    engine = _core.Engine(journal_dir=tmp_path, segment_bytes=2_000)
    emitted = engine.execute(encode_commands([AddInstrument(BTCUSDT), Deposit(1, D("1000000")), Deposit(2, D("1000000"))]))[3]
    for i in range(20):
        emitted += engine.execute(encode_commands(_batch(i)))[3]
    last_seq = engine.last_seq()
    del engine
    assert len(list(tmp_path.glob("journal-*.log"))) > 2, "the history spans several segments"

    restarted = _core.Engine(journal_dir=tmp_path)
    assert restarted.read_events(last_seq) == b""
    for after in (0, 1, last_seq // 2, last_seq - 1):
        expected = b"".join(r[2] for r in _records(emitted) if r[0] > after)
        for page in (1, 500, 1 << 20):
            assert _read_all(restarted, after, page) == expected, f"after {after}, page {page}"
    seqs = [r[0] for r in _records(_read_all(restarted, 0, 700))]
    assert sorted(set(seqs)) == list(range(1, last_seq + 1)), "every command has events: no gap"
    assert [(r[0], r[1]) for r in _records(_read_all(restarted, 0, 700))] == [(r[0], r[1]) for r in _records(emitted)]

    # New commands continue the stream seamlessly: old ones from the journal, new ones from memory.
    new = restarted.execute(encode_commands(_batch(99)))[3]
    assert _read_all(restarted, 0, 1 << 20) == emitted + new
    client = EngineClient(restarted)
    assert client.read_events(last_seq // 2) == [e for e in decode_events(emitted) if e.seq > last_seq // 2]
