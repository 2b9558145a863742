"""Typed client of the engine thread: commands in, events out, exact Decimals both ways.

One call crosses into Rust once per batch; the GIL is released while the engine works.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from derivatives import _core
from derivatives.codec import decode_events, encode_commands
from derivatives.commands import Command
from derivatives.enums import PositionSide, Side
from derivatives.events import EventEnvelope
from derivatives.risk_queries import (
    AdlQuantiles,
    AdlQueueEntry,
    LiquidationMap,
    Shock,
    StressReport,
    adl_quantiles,
    adl_queue,
    liquidation_map,
    stress_report,
)
from derivatives.units import from_raw, to_raw


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did: its sequence range, timestamp and events."""

    first_seq: int
    last_seq: int
    ts: int
    events: list[EventEnvelope]


@dataclass(frozen=True, slots=True)
class Depth:
    """L2 depth, best levels first, as (price, quantity)."""

    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


@dataclass(frozen=True, slots=True)
class Prices:
    """Last trade, mark and index price of a symbol, when known."""

    last: Decimal | None
    mark: Decimal | None
    index: Decimal | None


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """One position leg with its risk figures (liquidation/bankruptcy price 0 when none)."""

    symbol: int
    position_side: PositionSide
    qty: Decimal
    cost: Decimal
    entry_price: Decimal
    unrealised_pnl: Decimal
    maintenance: Decimal
    liquidation_price: Decimal
    bankruptcy_price: Decimal
    isolated: bool
    isolated_margin: Decimal


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """An account's wallet, margins and positions at the reference prices."""

    account: int
    hedge_mode: bool
    wallet: Decimal
    cross_wallet: Decimal
    margin_balance: Decimal
    maintenance: Decimal
    initial_margin: Decimal
    available: Decimal
    withdrawable: Decimal
    leverage: dict[int, int]
    isolated_symbols: frozenset[int]
    positions: list[PositionRisk]


def _account_risk(raw: dict[str, Any]) -> AccountRisk:
    money = ("wallet", "cross_wallet", "margin_balance", "maintenance", "initial_margin", "available", "withdrawable")
    positions = [
        PositionRisk(
            symbol=leg["symbol"],
            position_side=PositionSide(leg["position_side"]),
            isolated=leg["isolated"],
            **{key: from_raw(leg[key]) for key in ("qty", "cost", "entry_price", "unrealised_pnl", "maintenance",
                                                  "liquidation_price", "bankruptcy_price", "isolated_margin")},
        )
        for leg in raw["legs"]
    ]
    return AccountRisk(account=raw["account"], hedge_mode=raw["hedge_mode"], **{k: from_raw(raw[k]) for k in money},
                       leverage=dict(raw["leverage"]), isolated_symbols=frozenset(raw["isolated_symbols"]),
                       positions=positions)


def _levels(raw: list[tuple[int, int]]) -> list[tuple[Decimal, Decimal]]:
    return [(from_raw(p), from_raw(q)) for p, q in raw]


def _maybe(raw: int | None) -> Decimal | None:
    return None if raw is None else from_raw(raw)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What recovery from the journal found: whole frames read, the last sequence number, the
    bytes of torn tail truncated after the last whole frame, and the snapshot it started from."""

    frames: int
    last_seq: int
    truncated_bytes: int
    snapshot_seq: int | None = None


class EngineQueries:
    """The engine's read queries, typed: on the engine itself or on a replica of it
    (``_core.Replica``, fed by the batch stream: the same query code, so the same figures)."""

    def __init__(self, engine: _core.Engine | _core.Replica) -> None:
        self.engine = engine

    def depth(self, symbol: int, limit: int = 1000) -> Depth | None:
        """L2 depth of `symbol`, or None when it is not listed."""
        raw = self.engine.depth(symbol, limit)
        return None if raw is None else Depth(_levels(raw[0]), _levels(raw[1]))

    def prices(self, symbol: int) -> Prices | None:
        """Last, mark and index price of `symbol`, or None when it is not listed."""
        raw = self.engine.prices(symbol)
        return None if raw is None else Prices(*(_maybe(p) for p in raw))

    def account(self, account: int) -> AccountRisk | None:
        """Wallet, margins and positions (with liquidation prices) of `account`, or None."""
        raw = self.engine.account(account)
        return None if raw is None else _account_risk(raw)

    def holders(self, symbol: int) -> list[int]:
        """Accounts holding a position in `symbol`, ascending."""
        return self.engine.holders(symbol)

    def open_interest(self, symbol: int) -> Decimal:
        """Open interest of `symbol`: the sum of long positions (equal to that of shorts)."""
        return from_raw(self.engine.open_interest(symbol))

    def liquidation_map(self, symbol: int, step: Decimal) -> LiquidationMap | None:
        """Notional liquidated per price bucket of `step` in `symbol` (engine liquidation prices),
        or None when it is not listed. Raises ``ValueError`` for a step that is not positive."""
        raw = self.engine.liquidation_map(symbol, to_raw(step))
        return None if raw is None else liquidation_map(raw)

    def adl_queue(self, symbol: int, side: Side) -> list[AdlQueueEntry] | None:
        """The ADL queue of one side of `symbol` (BUY ranks the longs), first out first, with each
        position's quantile; None when the symbol is not listed."""
        raw = self.engine.adl_queue(symbol, side.value)
        return None if raw is None else adl_queue(raw)

    def adl_quantiles(self, account: int) -> list[AdlQuantiles]:
        """`account`'s ADL quantiles in each symbol where it holds a position, ascending by symbol."""
        return adl_quantiles(self.engine.adl_quantiles(account))

    def stress(self, shocks: Sequence[Shock]) -> StressReport:
        """Stress test on a copy of the state taken between two batches (the engine is untouched).
        Raises ``StressRefused`` (a ``ValueError``) naming a bad shock."""
        return stress_report(self.engine.stress([s.raw() for s in shocks]))

    def state_hash(self) -> str:
        """Hex SHA-256 of the whole engine state."""
        return self.engine.state_hash().hex()

    def last_seq(self) -> int:
        """Sequence number of the last applied command."""
        return self.engine.last_seq()

    def read_events(self, after_seq: int, max_bytes: int = 1 << 20, timeout_ms: int = 0) -> list[EventEnvelope]:
        """Events of commands after `after_seq`; here none are kept (``LookupError``): the engine's
        own client and a replica keeping an event log override it."""
        raise LookupError(f"no events are kept here (asked after seq {after_seq})")


class EngineClient(EngineQueries):
    """Owns a running engine and speaks typed commands and events to it.

    With `journal_dir`, the engine is first recovered from that journal, and every batch is
    answered only once its commands are durable there.
    """

    def __init__(self, engine: _core.Engine | None = None, journal_dir: str | os.PathLike[str] | None = None,
                 replicate_to: str | None = None, sync: bool = False) -> None:
        """An engine of its own (from `journal_dir`, shipping it to `replicate_to` when given; `sync`:
        acknowledged only once the standby made it durable too), or the given `engine`."""
        if engine is not None and (journal_dir is not None or replicate_to is not None):
            raise ValueError("pass an engine or a journal directory, not both")
        self.engine: _core.Engine = engine if engine is not None else _core.Engine(
            journal_dir=journal_dir, replicate_to=replicate_to, sync=sync)
        super().__init__(self.engine)

    def recovery(self) -> Recovery | None:
        """What recovery from the journal found, or None when the engine has no journal."""
        raw = self.engine.recovery()
        return None if raw is None else Recovery(*raw)

    def snapshot(self) -> tuple[int, str, int]:
        """Writes a snapshot into the journal directory; returns (last_seq, path, size in bytes)."""
        return self.engine.snapshot()

    def execute(self, commands: Sequence[Command], ts: int | None = None) -> BatchResult:
        """Sequences and applies `commands` as one batch and returns their events."""
        first, last, stamped, events = self.engine.execute(encode_commands(commands), ts)
        return BatchResult(first, last, stamped, decode_events(events))

    def read_events(self, after_seq: int, max_bytes: int = 1 << 20, timeout_ms: int = 0) -> list[EventEnvelope]:
        """Events of commands after `after_seq` (waiting up to `timeout_ms` for the first).

        With a journal any `after_seq` from 0 works: events older than the in-memory log are
        regenerated by replaying the journal in a separate read-only engine (byte-identical to the
        ones emitted live). Raises ``EventsEvicted`` (a ``LookupError``) for a point older than the
        oldest snapshot left after archiving, ``JournalError`` if the journal cannot be read back.
        """
        return decode_events(self.engine.read_events(after_seq, max_bytes, timeout_ms))
