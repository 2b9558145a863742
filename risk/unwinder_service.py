"""The fund unwinder: works the insurance fund's taken-over positions out in the market, one
reduce-only IOC slice per symbol per period (:mod:`risk.unwinder` decides), and keeps every step
with its reason in the unwind history the risk desk shows (``GET /risk/insurance/unwinds``).

Invariants: the only orders it sends are the fund's reduce-only IOC limit orders at the slippage
cap, so it can never open, flip or rest a position; a paused step sends nothing; every step, sent
or paused, is one history entry with what filled.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

from derivatives import _core
from derivatives.commands import PlaceOrder
from derivatives.enums import OrderType, TimeInForce
from derivatives.events import FillSettled
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

    def as_dict(self) -> dict[str, object]:
        """The history row the risk desk shows."""
        d = self.decision
        return {
            "time": self.time_ms,
            "symbol": d.symbol,
            "reason": d.reason.value,
            "side": d.side.name,
            "position": str(d.position),
            "qty": str(d.qty),
            "filled": str(self.filled),
            "limitPrice": None if d.limit_price is None else str(d.limit_price),
            "bookNotional": str(d.book_notional),
        }


class FundUnwinder:
    """Slices the fund's positions out every ``config.period_ms``."""

    def __init__(
        self,
        reader: EngineReader,
        submit: Submit,
        specs: Specs,
        config: UnwindConfig | None = None,
        *,
        clock: Clock = wall_clock_ms,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Wire the unwinder (engine read side, command door, listed instruments, settings)."""
        self._reader = reader
        self._submit = submit
        self._specs = specs
        self.config = config or UnwindConfig()
        self._clock = clock
        self._sleep = sleep
        self.steps: list[UnwindStep] = []

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
        self.steps.extend(out)
        return out

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

    def history(self, limit: int = 500) -> list[dict[str, object]]:
        """The latest `limit` steps, oldest first."""
        return [s.as_dict() for s in self.steps[-limit:]]
