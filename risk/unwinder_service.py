"""The fund unwinder: works the insurance fund's taken-over positions out in the market, one
reduce-only IOC slice per symbol per period (:mod:`risk.unwinder` decides), and keeps every step
with its reason in the unwind history the risk desk shows (``GET /risk/insurance/unwinds``).

Storage: table ``fund_unwinds`` (``derivatives.persistence.models.FundUnwind``, NUMERIC
quantities and prices), one row per step written once the step is done, so the history survives a
restart; database work runs in worker threads, off the event loop.

Invariants: the only orders it sends are the fund's reduce-only IOC limit orders at the slippage
cap, so it can never open, flip or rest a position; a paused step sends nothing; every step, sent
or paused, is one history row with what filled (a crash between a slice and its row loses that
row only: the fill itself is in the fund's wallet history).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from derivatives import _core
from derivatives.commands import PlaceOrder
from derivatives.enums import OrderType, TimeInForce
from derivatives.events import FillSettled
from derivatives.persistence.db import Database
from derivatives.persistence.models import FundUnwind
from risk.ports import Clock, EngineReader, Sleep, Specs, Submit, wall_clock_ms
from risk.unwinder import UnwindConfig, UnwindDecision, UnwindReason, plan

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UnwindStep:
    """One step of the unwind history.

    Attributes:
        time_ms: When it was decided.
        decision: What was decided, and why.
        filled: Quantity the slice filled (0 when paused or unfilled).
    """

    time_ms: int
    decision: UnwindDecision
    filled: Decimal

    def row(self) -> FundUnwind:
        """The step as a ``fund_unwinds`` row."""
        d = self.decision
        return FundUnwind(time=self.time_ms, symbol=d.symbol, reason=d.reason.value, side=d.side.name,
                          position=d.position, qty=d.qty, filled=self.filled, limit_price=d.limit_price,
                          book_notional=d.book_notional)


def _text(value: Decimal) -> str:
    """A stored figure as the desk shows it, eight decimals on every database."""
    return f"{value:.8f}"


def history_dict(row: FundUnwind) -> dict[str, object]:
    """A stored step as the risk desk shows it."""
    return {
        "time": row.time,
        "symbol": row.symbol,
        "reason": row.reason,
        "side": row.side,
        "position": _text(row.position),
        "qty": _text(row.qty),
        "filled": _text(row.filled),
        "limitPrice": None if row.limit_price is None else _text(row.limit_price),
        "bookNotional": _text(row.book_notional),
    }


class FundUnwinder:
    """Slices the fund's positions out every ``config.period_ms``."""

    def __init__(
        self,
        reader: EngineReader,
        submit: Submit,
        specs: Specs,
        db: Database,
        config: UnwindConfig | None = None,
        *,
        clock: Clock = wall_clock_ms,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Wire the unwinder (engine read side, command door, listed instruments, the migrated
        database that keeps its history, settings)."""
        self._reader = reader
        self._submit = submit
        self._specs = specs
        self._db = db
        self.config = config or UnwindConfig()
        self._clock = clock
        self._sleep = sleep

    async def step(self) -> list[UnwindStep]:
        """Decides (and sends) one slice per symbol the fund holds; returns the new history rows."""
        fund = self._reader.account(_core.INSURANCE_FUND)
        specs = {spec.symbol: spec for spec in self._specs()}
        out: list[UnwindStep] = []
        for leg in fund.positions if fund is not None else []:
            spec = specs.get(leg.symbol)
            if spec is None or leg.qty == 0:
                continue
            prices = self._reader.prices(spec.symbol)
            depth = self._reader.depth(spec.symbol)
            opposite = [] if depth is None else depth.bids if leg.qty > 0 else depth.asks
            decision = plan(
                spec, leg.qty, None if prices is None else prices.mark, opposite, self.config
            )
            filled = (
                Decimal(0)
                if decision.reason is not UnwindReason.SLICE
                else await self._send(spec.symbol, decision)
            )
            out.append(UnwindStep(self._clock(), decision, filled))
        if out:
            await asyncio.to_thread(self._store, out)
        return out

    def _store(self, steps: Sequence[UnwindStep]) -> None:
        with self._db.session() as session:
            session.add_all(step.row() for step in steps)

    async def _send(self, symbol: int, decision: UnwindDecision) -> Decimal:
        order = PlaceOrder(
            _core.INSURANCE_FUND,
            symbol,
            decision.side,
            decision.qty,
            OrderType.LIMIT,
            decision.limit_price,
            TimeInForce.IOC,
            reduce_only=True,
        )
        result = await self._submit([order])
        fills = [
            e.event
            for e in result.events
            if isinstance(e.event, FillSettled)
            and e.event.account == _core.INSURANCE_FUND
            and e.event.symbol == symbol
        ]
        return sum((abs(f.qty) for f in fills), Decimal(0))

    async def run(self) -> None:
        """Steps every period until cancelled; a failed step is logged and retried next period."""
        while True:
            try:
                await self.step()
            except Exception:  # a step must not kill the loop; the next one re-reads the engine
                log.exception("fund unwinder step failed")
            await self._sleep(self.config.period_ms / 1000)

    async def history(self, limit: int = 500) -> list[dict[str, object]]:
        """The latest `limit` steps, oldest first (read from the database)."""
        return await asyncio.to_thread(self._history, limit)

    def _history(self, limit: int) -> list[dict[str, object]]:
        with self._db.reader() as session:
            rows = session.scalars(select(FundUnwind).order_by(FundUnwind.id.desc()).limit(limit)).all()
            return [history_dict(row) for row in reversed(rows)]
