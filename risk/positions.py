"""An in-memory view of every account's wallet and positions, folded from the engine's events.

Until the engine answers account queries, this is how the risk services know positions:

    * ``FillSettled`` carries the leg's quantity and cost and the wallet *after* the fill (trades,
      liquidation fills, insurance-fund takeovers and ADL all settle through it);
    * ``BalanceChanged`` carries the wallet after deposits, withdrawals, transfers, fees, funding
      and insurance movements;
    * ``PositionModeSet`` and ``LeverageSet`` carry the mode and leverage;
    * ``MarginTypeSet`` and ``IsolatedMarginChanged`` carry the isolated symbols and each isolated
      leg's margin after the change (part of the wallet: the cross wallet is the rest);
    * ``MarkPriceSet`` and ``Trade`` give the reference price (the mark once published, else the
      last trade: the engine's ``ReferencePrices``).

Every event states values *after* it, so applying one is an assignment, never an increment.

Invariants:
    * Idempotent: a cursor ``(seq, index)`` records the last event applied; an event at or before
      it is skipped, so replaying a range (a re-read, a restart of the feed) changes nothing.
    * No silent gap: :meth:`PositionView.apply` is told which seq the events follow; if that is
      beyond the cursor, commands were missed and :class:`PositionViewGap` is raised with nothing
      applied. (A command with no event leaves no trace, so seq numbers alone cannot show a gap.)
    * Money is raw ``int`` at 1e-8.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from derivatives import _core
from derivatives.enums import PositionSide
from derivatives.events import (
    BalanceChanged,
    EventEnvelope,
    FillSettled,
    IsolatedMarginChanged,
    LeverageSet,
    MarginTypeSet,
    MarkPriceSet,
    PositionModeSet,
    Trade,
)
from derivatives.units import to_raw

RESERVED_ACCOUNTS = frozenset({_core.INSURANCE_FUND, _core.FEE_ACCOUNT})
"""The insurance fund and the fee account: ordinary accounts with reserved ids."""

_LAST_INDEX = 1 << 32
"""Above any event index (``u32``): ``(after_seq, _LAST_INDEX)`` precedes every later event."""

LegKey = tuple[int, PositionSide]
"""(symbol, position side)."""


class PositionViewGap(RuntimeError):
    """Events between the view's cursor and a batch are missing; back-fill from the cursor."""


@dataclass(frozen=True, slots=True)
class Leg:
    """One open position leg (raw units).

    Attributes:
        symbol: Engine symbol id.
        side: BOTH (one-way), LONG or SHORT (hedge).
        qty: Signed quantity (negative: short).
        cost: Signed entry value.
    """

    symbol: int
    side: PositionSide
    qty: int
    cost: int


@dataclass(slots=True)
class AccountState:
    """One account as the events describe it.

    Attributes:
        wallet: Wallet balance (raw), isolated margins included.
        hedge: Hedge mode (LONG and SHORT legs) instead of one-way.
        legs: Open legs by (symbol, position side); flat legs are removed.
        leverage: Leverage per symbol, where set.
        isolated_symbols: Symbols in isolated margin mode.
        isolated_margin: Isolated margin per leg (raw); flat legs hold none.
    """

    wallet: int = 0
    hedge: bool = False
    legs: dict[LegKey, Leg] = field(default_factory=dict)
    leverage: dict[int, int] = field(default_factory=dict)
    isolated_symbols: set[int] = field(default_factory=set)
    isolated_margin: dict[LegKey, int] = field(default_factory=dict)

    def legs_in(self, symbol: int) -> list[Leg]:
        """Open legs in `symbol`."""
        return [leg for (s, _), leg in self.legs.items() if s == symbol]

    def cross_wallet(self) -> int:
        """The wallet without the isolated margins: what backs the cross legs."""
        return self.wallet - sum(self.isolated_margin.values())

    def units(self) -> list[tuple[int, list[Leg]]]:
        """The margin units (the engine's): ``(backing, legs)`` of the cross part (cross wallet,
        cross legs) first, then each open isolated leg with its own margin."""
        cross = [leg for leg in self.legs.values() if leg.symbol not in self.isolated_symbols]
        isolated = [leg for leg in self.legs.values() if leg.symbol in self.isolated_symbols]
        return [(self.cross_wallet(), cross)] + [self._isolated_unit(leg) for leg in isolated]

    def unit_of(self, leg: Leg) -> tuple[int, list[Leg]]:
        """The margin unit `leg` belongs to."""
        return self._isolated_unit(leg) if leg.symbol in self.isolated_symbols else self.units()[0]

    def _isolated_unit(self, leg: Leg) -> tuple[int, list[Leg]]:
        return self.isolated_margin.get((leg.symbol, leg.side), 0), [leg]


@dataclass(slots=True)
class PositionView:
    """Every account's wallet and positions, and the reference prices, as of ``(seq, index)``.

    Attributes:
        seq: Seq of the last applied event (0: none).
        index: Index of that event within its command (-1: none).
        accounts: Accounts by id (created on first event).
        marks: Last published mark per symbol (raw).
        indexes: Last published index per symbol (raw).
        last_trades: Last trade price per symbol (raw).
    """

    seq: int = 0
    index: int = -1
    accounts: dict[int, AccountState] = field(default_factory=dict)
    marks: dict[int, int] = field(default_factory=dict)
    indexes: dict[int, int] = field(default_factory=dict)
    last_trades: dict[int, int] = field(default_factory=dict)
    _holders: dict[int, set[int]] = field(default_factory=dict)

    def apply(self, after_seq: int, envelopes: Iterable[EventEnvelope]) -> int:
        """Folds the events of the commands after `after_seq`, skipping what was already applied.

        Args:
            after_seq: The seq the events follow (the ``after_seq`` they were read with).
            envelopes: Events in stream order.

        Returns:
            How many events were applied (the rest were duplicates).

        Raises:
            PositionViewGap: If `after_seq` is beyond the cursor (commands in between are missing).
            ValueError: If the events are not in increasing ``(seq, index)`` order.
        """
        if after_seq > self.seq:
            raise PositionViewGap(f"commands {self.seq + 1}..{after_seq} were never applied")
        applied = 0
        previous = (after_seq, _LAST_INDEX)
        for envelope in envelopes:
            position = (envelope.seq, envelope.index)
            if position <= previous:
                raise ValueError(f"event {position} out of order after {previous}")
            previous = position
            if position <= (self.seq, self.index):
                continue
            self._fold(envelope)
            self.seq, self.index = position
            applied += 1
        return applied

    def reference_price(self, symbol: int) -> int | None:
        """The engine's reference price of `symbol`: the mark once published, else last trade."""
        return self.marks.get(symbol, self.last_trades.get(symbol))

    def reference_prices(self) -> dict[int, int]:
        """Reference price of every symbol that has one."""
        return {**self.last_trades, **self.marks}

    def holders(self, symbol: int) -> list[int]:
        """Accounts with an open position in `symbol`, ascending."""
        return sorted(self._holders.get(symbol, ()))

    def account(self, account: int) -> AccountState | None:
        """One account, if any event named it."""
        return self.accounts.get(account)

    def open_legs(self) -> Iterator[tuple[int, Leg]]:
        """Every open leg as ``(account, leg)``."""
        for account, state in self.accounts.items():
            for leg in state.legs.values():
                yield account, leg

    def _fold(self, envelope: EventEnvelope) -> None:
        event = envelope.event
        match event:
            case FillSettled():
                state = self.accounts.setdefault(event.account, AccountState())
                state.wallet = to_raw(event.wallet)
                self._set_leg(
                    event.account,
                    state,
                    Leg(
                        event.symbol,
                        event.position_side,
                        to_raw(event.position_qty),
                        to_raw(event.position_cost),
                    ),
                )
            case BalanceChanged():
                self.accounts.setdefault(event.account, AccountState()).wallet = to_raw(
                    event.wallet
                )
            case PositionModeSet():
                self.accounts.setdefault(event.account, AccountState()).hedge = event.hedge
            case LeverageSet():
                self.accounts.setdefault(event.account, AccountState()).leverage[event.symbol] = (
                    event.leverage
                )
            case MarginTypeSet():
                symbols = self.accounts.setdefault(event.account, AccountState()).isolated_symbols
                (symbols.add if event.isolated else symbols.discard)(event.symbol)
            case IsolatedMarginChanged():
                margins = self.accounts.setdefault(event.account, AccountState()).isolated_margin
                margins[(event.symbol, event.position_side)] = to_raw(event.isolated_margin)
                if not margins[(event.symbol, event.position_side)]:
                    del margins[(event.symbol, event.position_side)]
            case MarkPriceSet():
                self.marks[event.symbol] = to_raw(event.mark)
                self.indexes[event.symbol] = to_raw(event.index)
            case Trade():
                self.last_trades[event.symbol] = to_raw(event.price)
            case _:
                pass

    def _set_leg(self, account: int, state: AccountState, leg: Leg) -> None:
        key = (leg.symbol, leg.side)
        if leg.qty == 0:
            state.legs.pop(key, None)
            state.isolated_margin.pop(key, None)  # the engine sweeps a flat leg's margin
        else:
            state.legs[key] = leg
        holders = self._holders.setdefault(leg.symbol, set())
        if state.legs_in(leg.symbol):
            holders.add(account)
        else:
            holders.discard(account)
