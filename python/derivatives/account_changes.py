"""What each command did to each account, folded in memory from the engine's events (no SQL):
the ``ACCOUNT_UPDATE`` events of a gateway process's user streams.

Invariants:
    * The same :class:`~derivatives.persistence.ledger_projection.AccountChange` values, in the
      same order, as the SQL ledger projection (``LedgerApplier``) gives for the same events: one
      change per account and reason within a command, the wallet after it, the balance change
      outside trading, and every leg a fill touched with the account's accumulated realised PnL on
      the symbol (so the fold must see every batch from seq 1: a gateway's view does).
    * System accounts (the fee and insurance accounts) have no user stream and no changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from derivatives.enums import BalanceKind, PositionSide
from derivatives.events import (
    AutoDeleveraged,
    BalanceChanged,
    FillSettled,
    IsolatedMarginChanged,
    LiquidationOrder,
    PositionTakenOver,
)
from derivatives.persistence.ledger_projection import (
    BALANCE_REASON,
    SYSTEM_ACCOUNTS,
    AccountChange,
    PositionUpdate,
)
from derivatives.persistence.projector import Batch
from derivatives.units import to_raw


class AccountChanges:
    """Folds batches into account changes (see the module docstring)."""

    def __init__(self, symbol_name: Callable[[int], str]) -> None:
        self.symbol_name = symbol_name
        self.applied = 0
        self._realised: dict[tuple[int, str], int] = {}
        """(account, symbol) -> accumulated realised PnL (raw)."""
        self._open: dict[tuple[int, str], AccountChange] = {}
        self._seq = -1
        self._symbol = ""
        self._forced = "ORDER"

    def apply(self, batches: Iterable[Batch]) -> list[AccountChange]:
        """Folds `batches` (seq order; each once) and returns their account changes."""
        changes: list[AccountChange] = []
        for batch in batches:
            if batch.last_seq <= self.applied:
                continue
            for envelope in batch.events:
                if envelope.seq > self.applied:
                    self._event(envelope.event, envelope.seq, (envelope.ts or batch.ts) // 1_000_000, changes)
            self.applied = batch.last_seq
        return changes

    def _event(self, event: object, seq: int, now_ms: int, changes: list[AccountChange]) -> None:
        if seq != self._seq:
            self._seq, self._open, self._symbol, self._forced = seq, {}, "", "ORDER"
        match event:
            case LiquidationOrder():
                self._symbol, self._forced = self.symbol_name(event.symbol), "ORDER"
            case PositionTakenOver():
                self._symbol, self._forced = self.symbol_name(event.symbol), "INSURANCE_CLEAR"
            case AutoDeleveraged():
                self._symbol, self._forced = self.symbol_name(event.symbol), "ADL"
            case FillSettled() if event.account < SYSTEM_ACCOUNTS:
                symbol = self.symbol_name(event.symbol)
                total = self._realised.get((event.account, symbol), 0) + to_raw(event.realised_pnl)
                self._realised[(event.account, symbol)] = total
                reason = "ORDER" if event.order_id else self._forced
                change = self._change(event.account, reason, now_ms, to_raw(event.wallet), changes)
                side = PositionSide(event.position_side).name
                change.positions[(symbol, side)] = PositionUpdate(symbol, side, to_raw(event.position_qty),
                                                                  to_raw(event.position_cost), total)
            case IsolatedMarginChanged():
                key = (self.symbol_name(event.symbol), PositionSide(event.position_side).name)
                for (account, _), change in self._open.items():
                    if account == event.account and key in change.positions:
                        change.positions[key].isolated_wallet = to_raw(event.isolated_margin)
            case BalanceChanged() if event.account < SYSTEM_ACCOUNTS:
                change = self._change(event.account, BALANCE_REASON[BalanceKind(event.kind)], now_ms,
                                      to_raw(event.wallet), changes)
                change.balance_change += to_raw(event.amount)
            case _:
                pass

    def _change(self, account: int, reason: str, now_ms: int, wallet: int,
                changes: list[AccountChange]) -> AccountChange:
        change = self._open.get((account, reason))
        if change is None:
            change = AccountChange(account, reason, now_ms, wallet)
            self._open[(account, reason)] = change
            changes.append(change)
        change.wallet = wallet
        return change
