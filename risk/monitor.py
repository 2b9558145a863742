"""The liquidation monitor feed: margin ratios, accounts nearest liquidation, liquidation events.

Everything is plain data for the risk desk and the API.

* Margin ratio ``= MM / MB`` at the engine's reference prices (:mod:`risk.margin`), per account
  with an open position. The engine liquidates when ``MM > 0 and MB < MM``, i.e. a ratio above 1
  (or no ratio at all: ``MB ≤ 0``). It does so per margin unit (the cross part, or one isolated
  leg): an account's figures are those of its riskiest unit, so isolated legs rank correctly.
* Liquidation events are the engine's ``LiquidationStarted``, ``LiquidationOrder``,
  ``PositionTakenOver``, ``AutoDeleveraged`` and ``LiquidationFinished``, in stream order, each
  with its seq and time; recent ones are kept, and :meth:`LiquidationMonitor.stream` yields new
  ones to any number of subscribers.

Invariants:
    * The monitor is a feed consumer: it runs on the event loop, after the position view has
      applied the same events, so a snapshot and the stream agree on what has happened.
    * A slow subscriber never blocks the feed: its queue is bounded and the oldest undelivered
      event is dropped (and counted) when it is full.
    * Output is exact: ``Decimal`` values with 8 places, strings in ``to_dict``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from derivatives import _core
from derivatives.commands import InstrumentSpec
from derivatives.events import (
    AutoDeleveraged,
    EventEnvelope,
    LiquidationFinished,
    LiquidationOrder,
    LiquidationStarted,
    PositionTakenOver,
)
from derivatives.units import from_raw
from risk.margin import Health, RawBracket, health, maintenance_margin, raw_brackets, unrealised_pnl
from risk.ports import Specs
from risk.positions import Leg, PositionView

QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class MonitoredLeg:
    """One open leg at the reference price.

    Attributes:
        symbol: Symbol name.
        position_side: BOTH, LONG or SHORT.
        qty: Signed quantity.
        entry_price: ``cost / qty`` (8 dp, half-even; display only).
        price: The reference price (mark, else last trade), if any.
        unrealised: Unrealised PnL at that price.
        maintenance: Maintenance margin at that price.
    """

    symbol: str
    position_side: str
    qty: Decimal
    entry_price: Decimal
    price: Decimal | None
    unrealised: Decimal
    maintenance: Decimal


def _risk(margin: Health) -> tuple[int, Decimal]:
    """Orders units by risk: bankrupt with maintenance due first, then by margin ratio."""
    if margin.maintenance > 0 and margin.margin_balance <= 0:
        return (1, Decimal(0))
    return (0, margin.margin_ratio or Decimal(0))


@dataclass(frozen=True, slots=True)
class MonitoredAccount:
    """One account's margin (its riskiest unit's: the cross part or an isolated leg).

    Attributes:
        account: Engine account id.
        wallet: Wallet balance.
        unrealised: Σ uPnL.
        margin_balance: ``wallet + Σ uPnL``.
        maintenance: Σ maintenance margin.
        margin_ratio: ``MM / MB`` (8 dp), None when ``MB ≤ 0``.
        liquidatable: The engine's trigger, ``MM > 0 and MB < MM``.
        positions: The open legs.
    """

    account: int
    wallet: Decimal
    unrealised: Decimal
    margin_balance: Decimal
    maintenance: Decimal
    margin_ratio: Decimal | None
    liquidatable: bool
    positions: tuple[MonitoredLeg, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (decimal strings)."""
        return {
            "account": self.account,
            "walletBalance": f"{self.wallet:f}",
            "unrealizedProfit": f"{self.unrealised:f}",
            "marginBalance": f"{self.margin_balance:f}",
            "maintMargin": f"{self.maintenance:f}",
            "marginRatio": None if self.margin_ratio is None else f"{self.margin_ratio:f}",
            "liquidatable": self.liquidatable,
            "positions": [
                {
                    "symbol": p.symbol,
                    "positionSide": p.position_side,
                    "positionAmt": f"{p.qty:f}",
                    "entryPrice": f"{p.entry_price:f}",
                    "markPrice": None if p.price is None else f"{p.price:f}",
                    "unrealizedProfit": f"{p.unrealised:f}",
                    "maintMargin": f"{p.maintenance:f}",
                }
                for p in self.positions
            ],
        }


class LiquidationKind(StrEnum):
    """The engine events the liquidation stream carries."""

    STARTED = "LIQUIDATION_STARTED"
    ORDER = "LIQUIDATION_ORDER"
    TAKEN_OVER = "POSITION_TAKEN_OVER"
    AUTO_DELEVERAGED = "AUTO_DELEVERAGED"
    FINISHED = "LIQUIDATION_FINISHED"


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    """One step of a liquidation.

    Attributes:
        seq: Engine seq of the command (the mark or funding update that triggered it).
        index: Index of the event within that command.
        time_ms: When.
        kind: Which step.
        account: The liquidated account (for ADL: the deleveraged counterparty).
        symbol: Symbol name (None for account-wide steps).
        qty: Quantity (signed for ADL and takeovers, as the engine reports it).
        price: Bankruptcy price of the step, when it has one.
        details: Step-specific values (margin balance and maintenance, side, bankrupt account,
            whether positions were closed).
    """

    seq: int
    index: int
    time_ms: int
    kind: LiquidationKind
    account: int
    symbol: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    details: tuple[tuple[str, object], ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (decimal strings)."""
        return {
            "seq": self.seq,
            "index": self.index,
            "time": self.time_ms,
            "type": self.kind.value,
            "account": self.account,
            "symbol": self.symbol,
            "qty": None if self.qty is None else f"{self.qty:f}",
            "price": None if self.price is None else f"{self.price:f}",
            **{
                key: f"{value:f}" if isinstance(value, Decimal) else value
                for key, value in self.details
            },
        }


def liquidation_event(
    envelope: EventEnvelope, time_ms: int, name_of: Callable[[int], str]
) -> LiquidationEvent | None:
    """The liquidation step an engine event records, if it records one.

    Args:
        envelope: Any engine event.
        time_ms: Its time.
        name_of: Symbol id -> name.

    Returns:
        The step, or None for other events.
    """
    event = envelope.event
    at = (envelope.seq, envelope.index, time_ms)
    match event:
        case LiquidationStarted():
            return LiquidationEvent(
                *at,
                LiquidationKind.STARTED,
                event.account,
                details=(
                    ("marginBalance", event.margin_balance),
                    ("maintMargin", event.maintenance),
                ),
            )
        case LiquidationOrder():
            return LiquidationEvent(
                *at,
                LiquidationKind.ORDER,
                event.account,
                name_of(event.symbol),
                event.qty,
                event.bankruptcy_price,
                (("side", event.side.name), ("orderId", event.order_id)),
            )
        case PositionTakenOver():
            return LiquidationEvent(
                *at,
                LiquidationKind.TAKEN_OVER,
                event.account,
                name_of(event.symbol),
                event.qty,
                event.price,
                (("positionSide", event.position_side.name),),
            )
        case AutoDeleveraged():
            return LiquidationEvent(
                *at,
                LiquidationKind.AUTO_DELEVERAGED,
                event.account,
                name_of(event.symbol),
                event.qty,
                event.price,
                (("bankrupt", event.bankrupt),),
            )
        case LiquidationFinished():
            return LiquidationEvent(
                *at, LiquidationKind.FINISHED, event.account, details=(("closed", event.closed),)
            )
        case _:
            return None


class LiquidationMonitor:
    """Margin ratios and the liquidation stream, kept current by the event feed."""

    def __init__(
        self,
        view: PositionView,
        specs: Specs,
        time_ms: Callable[[int], int],
        *,
        keep: int = 1_000,
        queue_size: int = 1_000,
    ) -> None:
        """Wire the monitor.

        Args:
            view: Positions and prices (a consumer of the same feed, placed before this one).
            specs: The listed instruments (brackets and names).
            time_ms: Engine seq -> Unix ms of its command.
            keep: How many recent liquidation events to keep.
            queue_size: Per-subscriber buffer of the stream.
        """
        self._view = view
        self._specs = specs
        self._time_ms = time_ms
        self._recent: deque[LiquidationEvent] = deque(maxlen=keep)
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[LiquidationEvent]] = set()
        self.dropped = 0

    def __call__(self, after_seq: int, events: Sequence[EventEnvelope]) -> None:
        """Picks the liquidation steps out of `events` (a feed consumer)."""
        del after_seq
        names = {spec.symbol: spec.name for spec in self._specs()}
        for envelope in events:
            step = liquidation_event(
                envelope, self._time_ms(envelope.seq), lambda s: names.get(s, str(s))
            )
            if step is None:
                continue
            self._recent.append(step)
            for queue in self._subscribers:
                if queue.full():
                    queue.get_nowait()
                    self.dropped += 1
                queue.put_nowait(step)

    def snapshot(self) -> list[MonitoredAccount]:
        """Every account holding a position (the fee account aside), by account id."""
        specs = {spec.symbol: spec for spec in self._specs()}
        brackets = {symbol: raw_brackets(spec) for symbol, spec in specs.items()}
        prices = self._view.reference_prices()
        out = []
        for account in sorted(self._view.accounts):
            state = self._view.accounts[account]
            if account == _core.FEE_ACCOUNT or not state.legs:
                continue
            margin = max(
                (
                    health(backing, ((leg.symbol, leg.qty, leg.cost) for leg in legs), prices, brackets)
                    for backing, legs in state.units()
                    if legs
                ),
                key=_risk,
            )
            legs = tuple(
                _position_risk(
                    leg, specs.get(leg.symbol), brackets.get(leg.symbol), prices.get(leg.symbol)
                )
                for leg in sorted(state.legs.values(), key=lambda leg: (leg.symbol, leg.side))
            )
            out.append(
                MonitoredAccount(
                    account,
                    from_raw(margin.wallet),
                    from_raw(margin.unrealised),
                    from_raw(margin.margin_balance),
                    from_raw(margin.maintenance),
                    margin.margin_ratio,
                    margin.underwater,
                    legs,
                )
            )
        return out

    def nearest(self, limit: int = 20) -> list[MonitoredAccount]:
        """The accounts nearest liquidation: no margin balance left first, then by margin ratio.

        Args:
            limit: At most this many.

        Returns:
            Highest risk first (ties by account id); accounts without maintenance margin
            are left out.
        """
        at_risk = [r for r in self.snapshot() if r.maintenance > 0]
        at_risk.sort(key=lambda r: (r.margin_ratio is not None, -(r.margin_ratio or 0), r.account))
        return at_risk[:limit]

    def recent(self, limit: int = 100, account: int | None = None) -> list[LiquidationEvent]:
        """The latest liquidation steps, oldest first.

        Args:
            limit: At most this many.
            account: Only this account's steps.

        Returns:
            The steps.
        """
        steps = [s for s in self._recent if account is None or s.account == account]
        return steps[-limit:]

    async def stream(self) -> AsyncGenerator[LiquidationEvent, None]:
        """Yields every liquidation step from now on, until the consumer stops iterating."""
        queue: asyncio.Queue[LiquidationEvent] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)


def _position_risk(
    leg: Leg, spec: InstrumentSpec | None, tiers: tuple[RawBracket, ...] | None, price: int | None
) -> MonitoredLeg:
    name = spec.name if spec is not None else str(leg.symbol)
    entry = (Decimal(leg.cost) / Decimal(leg.qty)).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
    if price is None or tiers is None:
        return MonitoredLeg(
            name, leg.side.name, from_raw(leg.qty), entry, None, Decimal(0), Decimal(0)
        )
    return MonitoredLeg(
        name,
        leg.side.name,
        from_raw(leg.qty),
        entry,
        from_raw(price),
        from_raw(unrealised_pnl(leg.qty, leg.cost, price)),
        from_raw(maintenance_margin(tiers, leg.qty, price)),
    )
