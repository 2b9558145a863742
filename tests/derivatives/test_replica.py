"""`_core.Replica` fed batch-stream bodies built from a primary `_core.Engine`: it reaches the
primary's state hash at every seq, answers account/depth/prices/holders/ADL queues identically, skips
redelivered bodies, refuses a gap or a damaged body with a typed error and changes nothing then,
and starts from a snapshot file."""

from __future__ import annotations

import random
from decimal import Decimal as D
from pathlib import Path

import pytest

from derivatives import _core
from derivatives.codec import encode_commands
from derivatives.commands import AddInstrument, Command, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import DEMO_INSTRUMENTS
from derivatives.enums import Side

BTC, ETH = 1, 2


def _batches(seed: int, count: int) -> list[list[Command]]:
    """Listings and deposits, then random limit orders around 50,000 / 3,000 that cross."""
    rng = random.Random(seed)
    batches: list[list[Command]] = [
        [AddInstrument(spec) for spec in DEMO_INSTRUMENTS],
        [Deposit(account, D(1_000_000)) for account in range(1, 6)],
        [SetMarkPrice(BTC, D(50_000), D(50_000)), SetMarkPrice(ETH, D(3_000), D(3_000))],
    ]
    for _ in range(count):
        batch: list[Command] = []
        for _ in range(rng.randint(1, 4)):
            symbol, mid = rng.choice([(BTC, 50_000), (ETH, 3_000)])
            price = D(mid) + D(rng.randint(-20, 20))
            side = rng.choice([Side.BUY, Side.SELL])
            batch.append(PlaceOrder(rng.randint(1, 5), symbol, side, D(rng.randint(1, 5)) / 10, price=price))
        batches.append(batch)
    return batches


def _run(engine: _core.Engine, batches: list[list[Command]]) -> list[bytes]:
    """Executes each batch on `engine`; returns each one's stream body."""
    bodies = []
    for number, commands in enumerate(batches):
        raw = encode_commands(commands)
        first, _last, ts, events = engine.execute(raw, ts=1_000 + number)
        bodies.append(_core.encode_batch_body(raw, first, ts, events))
    return bodies


def _same_answers(engine: _core.Engine, replica: _core.Replica) -> None:
    assert replica.last_seq() == engine.last_seq()
    assert replica.state_hash() == engine.state_hash()
    for account in range(1, 7):
        assert replica.account(account) == engine.account(account)
        assert replica.adl_quantiles(account) == engine.adl_quantiles(account)
    for symbol in (BTC, ETH, 99):
        assert replica.depth(symbol) == engine.depth(symbol)
        assert replica.prices(symbol) == engine.prices(symbol)
        assert replica.holders(symbol) == engine.holders(symbol)
        assert replica.open_interest(symbol) == engine.open_interest(symbol)
        for side in Side:
            assert replica.adl_queue(symbol, side) == engine.adl_queue(symbol, side)


def test_a_replica_fed_every_body_matches_the_primary_at_every_seq() -> None:
    primary, replica = _core.Engine(), _core.Replica()
    assert replica.last_seq() == 0 and replica.state_hash() == primary.state_hash()
    for number, commands in enumerate(_batches(seed=7, count=60)):
        raw = encode_commands(commands)
        first, last, ts, events = primary.execute(raw, ts=1_000 + number)
        assert replica.apply(_core.encode_batch_body(raw, first, ts, events)) == last
        assert replica.state_hash() == primary.state_hash(), f"batch {number}"
    _same_answers(primary, replica)
    assert primary.holders(BTC), "the workload opened positions: the comparison is not vacuous"
    assert primary.adl_queue(BTC, Side.BUY) and primary.adl_quantiles(1), "queues to compare"
    view = primary.account(1)
    assert view is not None and view["legs"], "account 1 has positions to compare"


def test_redelivered_bodies_are_skipped_and_a_gap_is_refused_without_change() -> None:
    primary, replica = _core.Engine(), _core.Replica()
    bodies = _run(primary, _batches(seed=11, count=10))
    assert replica.apply(bodies[0]) == 2
    assert replica.apply(bodies[0]) == 2, "a redelivery is skipped"
    before = replica.state_hash()
    with pytest.raises(_core.ReplicaGap) as gap:
        replica.apply(bodies[2])
    assert gap.value.args[1:] == (3, 8), "(expected, got): listings 1-2, deposits 3-7, marks 8-9"
    assert replica.state_hash() == before and replica.last_seq() == 2
    damaged = bytearray(bodies[1])
    damaged[12] ^= 0x01
    with pytest.raises(_core.BatchBodyError):
        replica.apply(bytes(damaged))
    with pytest.raises(_core.BatchBodyError):
        replica.apply(b"\x01")
    assert replica.state_hash() == before and replica.last_seq() == 2
    for body in bodies[1:]:
        replica.apply(body)
    assert replica.apply(bodies[4]) == primary.last_seq(), "an old body is skipped"
    _same_answers(primary, replica)


def test_split_batch_body_returns_the_seqs_and_exactly_the_events() -> None:
    primary = _core.Engine()
    raw = encode_commands([AddInstrument(spec) for spec in DEMO_INSTRUMENTS])
    first, last, ts, events = primary.execute(raw, ts=5)
    assert _core.split_batch_body(_core.encode_batch_body(raw, first, ts, events)) == (first, last, events)
    assert _core.split_batch_body(_core.encode_batch_body(b"", 1, 5, b"")) == (0, 0, b"")
    with pytest.raises(_core.CommandDecodeError):
        _core.encode_batch_body(b"\x05\x00", 1, 5, b"")


def test_a_replica_starts_from_a_snapshot_file(tmp_path: Path) -> None:
    primary = _core.Engine(journal_dir=tmp_path)
    batches = _batches(seed=3, count=20)
    _run(primary, batches[:12])
    _seq, path, _size = primary.snapshot()
    replica = _core.Replica(path)
    assert (replica.last_seq(), replica.state_hash()) == (primary.last_seq(), primary.state_hash())
    for body in _run(primary, batches[12:]):
        replica.apply(body)
    _same_answers(primary, replica)
    with pytest.raises(_core.JournalError):
        _core.Replica(tmp_path / "snapshot-1.snap")
