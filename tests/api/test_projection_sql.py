"""The SQL projector against the previous one (ORM objects) on a random trading stream, row for
row and change for change, and its exactly-once behaviour around a crash (SQLite, PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import Table, select

from derivatives import _core
from derivatives.codec import decode_events, encode_commands
from derivatives.commands import AddInstrument, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import BTCUSDT
from derivatives.engine import EngineClient
from derivatives.enums import OrderType, Side
from derivatives.persistence.batch_rows import (
    ADL,
    FUNDING,
    INCOME,
    KLINES,
    ORDERS,
    TOTALS,
    TRADES,
    BatchRows,
)
from derivatives.persistence.db import Database
from derivatives.persistence.ledger_projection import SYSTEM_ACCOUNTS
from derivatives.persistence.models import Base
from derivatives.persistence.orm_projector import OrmProjector
from derivatives.persistence.projection_bench import NAMES, trading_stream
from derivatives.persistence.projector import Batch, ProjectionResult, Projector, batches_from_body
from tests.api.conftest import make_database

USERS: Table = Base.metadata.tables["users"]
TABLES = (ORDERS, TRADES, KLINES, INCOME, FUNDING, ADL, TOTALS)
CLOCK_NS = 1_800_000_000_000 * 1_000_000


@dataclass
class Stream:
    client: EngineClient
    batches: list[Batch]


@pytest.fixture(scope="module")
def stream() -> Stream:
    client = EngineClient()
    return Stream(client, trading_stream(seed=47, steps=800, client=client))


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def databases(kind: str, tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    specs = [make_database(kind, tmp_path / name) for name in ("a", "b")]
    pair = [Database(spec.url, spec.schema) for spec in specs]
    for db in pair:
        db.migrate()
    yield pair[0], pair[1]
    for db, spec in zip(pair, specs, strict=True):
        db.dispose()
        spec.drop()


def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every projected row (and every user row but its id), in primary-key order."""
    with db.engine.connect() as connection:
        out = {t.name: [tuple(r) for r in connection.execute(select(t).order_by(*t.primary_key.columns))]
               for t in TABLES}
        out["users"] = [tuple(r) for r in connection.execute(
            select(USERS.c.name, USERS.c.account_id, USERS.c.role, USERS.c.active, USERS.c.created_at)
            .order_by(USERS.c.account_id))]
    return out


def groups(batches: list[Batch], seed: int) -> list[list[Batch]]:
    """The batches cut into projection calls of random length (1 to 40 batches)."""
    rng, out, start = random.Random(seed), [], 0
    while start < len(batches):
        size = rng.randint(1, 40)
        out.append(batches[start:start + size])
        start += size
    return out


def project_all(project: object, calls: list[list[Batch]]) -> ProjectionResult:
    """Projects every call; returns one result with every change in order."""
    total = ProjectionResult(0)
    for call in calls:
        result = project(call)  # type: ignore[operator]
        total.last_seq = result.last_seq
        total.changes += result.changes
        total.accounts += result.accounts
    return total


def core(db: Database, client: EngineClient) -> Projector:
    return Projector(db, client, NAMES.__getitem__, wall_clock_ns=lambda: CLOCK_NS)


def test_the_sql_projector_writes_exactly_the_rows_of_the_previous_one(
        stream: Stream, databases: tuple[Database, Database]) -> None:
    old_db, new_db = databases
    calls = groups(stream.batches, seed=1)
    expected = project_all(OrmProjector(old_db, NAMES.__getitem__, lambda: CLOCK_NS).project, calls)
    actual = project_all(core(new_db, stream.client).project, calls)

    rows = dump(new_db)
    assert rows == dump(old_db)
    assert actual.changes == expected.changes and actual.accounts == expected.accounts
    assert actual.last_seq == expected.last_seq == stream.batches[-1].last_seq
    # The stream exercised every kind of row (a stream that did not could not catch a difference).
    statuses = {row[20] for row in rows["orders"]}
    assert {"PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"} <= statuses
    assert {row[5] for row in rows["orders"]} >= {"LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET",
                                                  "LIQUIDATION"}
    assert {c.execution for c in actual.changes} >= {"NEW", "TRADE", "CALCULATED", "CANCELED", "EXPIRED",
                                                     "AMENDMENT", "TRIGGERED", "FINISHED"}
    assert {row[2] for row in rows["income"]} >= {"TRANSFER", "COMMISSION", "REALIZED_PNL", "FUNDING_FEE",
                                                  "INSURANCE_CLEAR"}
    assert len(rows["trades"]) > 200 and len(rows["klines_1m"]) >= 8 and rows["funding_rates"] and rows["adl_fills"]
    # The insurance fund unwound a taken-over position: its side of those trades is stored capped.
    assert any(SYSTEM_ACCOUNTS - 1 in (row[7], row[9]) for row in rows["trades"])
    assert [u[0] for u in rows["users"]] == ["user0", "user1", "user2", f"user0#{rows['users'][3][1]}"]


def test_how_batches_are_grouped_into_calls_changes_no_row(
        stream: Stream, databases: tuple[Database, Database]) -> None:
    first, second = databases
    project_all(core(first, stream.client).project, [[batch] for batch in stream.batches])
    project_all(core(second, stream.client).project, [stream.batches])
    assert dump(first) == dump(second)


def half_way(stream: Stream, databases: tuple[Database, Database]) -> tuple[Projector, int]:
    """The whole stream projected into the first database (the reference) and its first half
    into the second; returns the second's projector and where the half ends."""
    project_all(core(databases[0], stream.client).project, [stream.batches])
    projector = core(databases[1], stream.client)
    half = len(stream.batches) // 2
    projector.project(stream.batches[:half])
    return projector, half


def test_a_crash_before_the_commit_leaves_nothing_and_the_retry_is_exact(
        stream: Stream, databases: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch) -> None:
    reference, crashed = databases
    batches = stream.batches
    projector, half = half_way(stream, databases)
    before = dump(crashed)
    written = BatchRows.write

    def write_then_die(self: BatchRows) -> None:
        written(self)  # every table's executemany ran inside the transaction...
        raise OSError("killed before the commit")  # ...which never commits

    monkeypatch.setattr(BatchRows, "write", write_then_die)
    with pytest.raises(OSError):
        projector.project(batches[half:])
    assert dump(crashed) == before and projector.cursor() == batches[half - 1].last_seq
    monkeypatch.undo()
    projector.project(batches[half:])
    assert dump(crashed) == dump(reference)


def test_a_batch_replayed_after_the_commit_is_skipped_and_one_across_the_cursor_is_applied_from_it(
        stream: Stream, databases: tuple[Database, Database]) -> None:
    reference, replayed = databases
    batches = stream.batches
    projector, half = half_way(stream, databases)
    # The commit happened but the caller died before noting it: the same batches come again.
    again = projector.project(batches[half - 5:half])
    assert again.changes == [] and again.accounts == [] and again.last_seq == batches[half - 1].last_seq
    # One message covering seqs on both sides of the cursor (the stream may regroup commands).
    straddling = Batch(batches[half - 1].first_seq, batches[half].last_seq, batches[half].ts,
                       [*batches[half - 1].events, *batches[half].events])
    result = projector.project([straddling, *batches[half + 1:]])
    assert result.last_seq == batches[-1].last_seq
    assert dump(replayed) == dump(reference)


def message(commands: bytes, engine: _core.Engine, ts: int) -> tuple[bytes, Batch]:
    """A batch-stream body of `commands` run by `engine` at `ts`, and the batch it must give."""
    first, last, stamped, events = engine.execute(commands, ts)
    return _core.encode_batch_body(commands, first, stamped, events), Batch(first, last, stamped, decode_events(events))


def test_batch_stream_messages_become_the_batches_the_engine_executed(kind: str, tmp_path: Path) -> None:
    engine = _core.Engine()
    setup = encode_commands([AddInstrument(BTCUSDT), SetMarkPrice(1, D(50000), D(50000)), Deposit(1, D(1000)),
                             Deposit(2, D(1000))])
    trades = encode_commands([PlaceOrder(1, 1, Side.SELL, D("0.01"), price=D(50000)),
                              PlaceOrder(2, 1, Side.BUY, D("0.01"), order_type=OrderType.MARKET)])
    (body1, batch1), (body2, batch2) = message(setup, engine, CLOCK_NS), message(trades, engine, CLOCK_NS + 61_000_000_000)
    assert batches_from_body(body1, CLOCK_NS) == [batch1] and (batch1.first_seq, batch1.last_seq) == (1, 4)
    # A message regenerated from the journal covers both batches (frames, then events, of each in turn).
    frames1, frames2 = (int.from_bytes(body[:4], "little") for body in (body1, body2))
    merged = ((frames1 + frames2).to_bytes(4, "little") + body1[4:4 + frames1] + body2[4:4 + frames2]
              + body1[4 + frames1:] + body2[4 + frames2:])
    assert batches_from_body(merged, CLOCK_NS) == [batch1, batch2] and batch2.ts != batch1.ts
    spec = make_database(kind, tmp_path)
    db = Database(spec.url, spec.schema)
    try:
        db.migrate()
        assert Projector(db, EngineClient(), NAMES.__getitem__).project(batches_from_body(merged, CLOCK_NS)).last_seq == 6
        rows = dump(db)
        minute = (CLOCK_NS + 61_000_000_000) // 1_000_000
        assert [(r[0], r[20], r[9], r[24]) for r in rows["orders"]] == [
            (1, "FILLED", 1_000_000, minute), (2, "FILLED", 1_000_000, minute)]
        assert [(r[2], r[3], r[4], r[10]) for r in rows["trades"]] == [(5_000_000_000_000, 1_000_000, 50_000_000_000,
                                                                        minute)]
    finally:
        db.dispose()
        spec.drop()
