"""The account side of the projection: income rows, funding settlements, ADL fills, accumulated
realised PnL, traders' isolated-margin adjustments, accounts' fee rates, and the account changes that feed the user
data stream's ``ACCOUNT_UPDATE``.

Invariants:
    * Called by the projector's applier inside its transaction, in event order, so the rows are
      written exactly once (the cursor) and, besides, keyed by the event that caused them
      (``seq``, ``event_index``): a replay cannot duplicate an income row. Rows are plain dicts of
      the transaction's :class:`derivatives.persistence.batch_rows.BatchRows`, written at its end.
    * Engine system accounts (fee account, insurance fund: ids >= 2**63) are skipped: they are
      not users and do not fit a signed ``BIGINT``.
    * Money stays raw (1e-8 integers). Income signs are the account's: a fee is negative.

Context inside one command (events carry no symbol for some balance changes and no order for
some fills): ``BalanceChanged(FUNDING_FEE)`` precedes the ``FundingApplied`` that names the
symbol, so those rows wait for it; a liquidation fee follows the ``LiquidationOrder`` of its
symbol; a fill without an order id follows an ``AutoDeleveraged`` (ADL) or a
``PositionTakenOver`` (insurance-fund takeover).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from derivatives.enums import BalanceKind, PositionSide
from derivatives.events import (
    AutoDeleveraged,
    BalanceChanged,
    FeeTierSet,
    FillSettled,
    FundingApplied,
    IsolatedMarginChanged,
    LiquidationOrder,
    PositionTakenOver,
)
from derivatives.persistence.batch_rows import BatchRows, Row
from derivatives.units import to_raw

SYSTEM_ACCOUNTS = 2**63
"""Account ids at or above this are the engine's own (fee account, insurance fund)."""


def stored_account(account: int) -> int:
    """An account id as a ``BIGINT`` column stores it where the engine's own accounts can appear
    (a trade's counterparty, an ADL's bankrupt account): theirs, which do not fit, as ``2**63 - 1``."""
    return min(account, SYSTEM_ACCOUNTS - 1)

BALANCE_INCOME: dict[BalanceKind, tuple[str, str]] = {
    BalanceKind.DEPOSIT: ("TRANSFER", "DEPOSIT"),
    BalanceKind.WITHDRAWAL: ("TRANSFER", "WITHDRAWAL"),
    BalanceKind.TRANSFER_IN: ("INTERNAL_TRANSFER", "TRANSFER_IN"),
    BalanceKind.TRANSFER_OUT: ("INTERNAL_TRANSFER", "TRANSFER_OUT"),
    BalanceKind.LIQUIDATION_FEE: ("INSURANCE_CLEAR", "LIQUIDATION_FEE"),
    BalanceKind.INSURANCE_CLEAR: ("INSURANCE_CLEAR", "BAD_DEBT_CLEARED"),
    BalanceKind.INSURANCE_PAYOUT: ("INSURANCE_PAYOUT", "INSURANCE_PAYOUT"),
    BalanceKind.FUNDING_FEE: ("FUNDING_FEE", "FUNDING_FEE"),
}
"""Binance income type and ``info`` of each balance change (INSURANCE_CLEAR is Binance's name
for the liquidation clearance fee; INSURANCE_PAYOUT is ours: Binance has no such payment)."""

BALANCE_REASON: dict[BalanceKind, str] = {
    BalanceKind.DEPOSIT: "DEPOSIT",
    BalanceKind.WITHDRAWAL: "WITHDRAW",
    BalanceKind.TRANSFER_IN: "ASSET_TRANSFER",
    BalanceKind.TRANSFER_OUT: "ASSET_TRANSFER",
    BalanceKind.LIQUIDATION_FEE: "INSURANCE_CLEAR",
    BalanceKind.INSURANCE_CLEAR: "INSURANCE_CLEAR",
    BalanceKind.INSURANCE_PAYOUT: "ADJUSTMENT",
    BalanceKind.FUNDING_FEE: "FUNDING_FEE",
}
"""``ACCOUNT_UPDATE`` reason (``a.m``) of each balance change."""

_KIND_REALISED, _KIND_COMMISSION, _KIND_BALANCE = 0, 1, 2


def tran_id(seq: int, index: int, kind: int) -> int:
    """A deterministic transaction id for an income row (unique per event and kind)."""
    return (seq << 20) + index * 4 + kind


@dataclass(slots=True)
class PositionUpdate:
    """A position leg right after a fill: signed quantity and cost, the account's accumulated
    realised PnL on the symbol, and the leg's isolated margin after the fill (None: cross)."""

    symbol: str
    position_side: str
    qty: int
    cost: int
    realised_total: int
    isolated_wallet: int | None = None


@dataclass(slots=True)
class AccountChange:
    """What one command did to one account for one reason (one ``ACCOUNT_UPDATE``).

    Attributes:
        account: Engine account.
        reason: Binance reason: ORDER, ADL, FUNDING_FEE, DEPOSIT, WITHDRAW, ASSET_TRANSFER,
            INSURANCE_CLEAR or ADJUSTMENT.
        time_ms: The command's time.
        wallet: Wallet balance after the change (raw).
        balance_change: Wallet change other than realised PnL and commission (raw).
        positions: The legs the change touched, by (symbol, position side).
    """

    account: int
    reason: str
    time_ms: int
    wallet: int
    balance_change: int = 0
    positions: dict[tuple[str, str], PositionUpdate] = field(default_factory=dict)


class LedgerApplier:
    """Projects the account events of a batch; collects :class:`AccountChange` values."""

    def __init__(self, rows: BatchRows, symbol_name: Callable[[int], str], changes: list[AccountChange]) -> None:
        self.rows = rows
        self.symbol_name = symbol_name
        self.changes = changes
        self._seq = -1
        self._open: dict[tuple[int, str], AccountChange] = {}
        self._symbol = ""
        self._forced = "ORDER"
        self._waiting_funding: list[Row] = []
        self._adl: Row | None = None

    def _command(self, seq: int) -> None:
        if seq != self._seq:
            self._seq = seq
            self._open = {}
            self._symbol = ""
            self._forced = "ORDER"
            self._waiting_funding = []
            self._adl = None

    def _change(self, account: int, reason: str, now_ms: int, wallet: int) -> AccountChange:
        change = self._open.get((account, reason))
        if change is None:
            change = AccountChange(account, reason, now_ms, wallet)
            self._open[(account, reason)] = change
            self.changes.append(change)
        change.wallet = wallet
        return change

    def _income(self, seq: int, index: int, kind: int, income_type: str, account: int, symbol: str, amount: int,
                info: str, trade_id: int | None, now_ms: int) -> Row:
        row = {"seq": seq, "event_index": index, "income_type": income_type, "tran_id": tran_id(seq, index, kind),
               "account_id": account, "symbol": symbol, "amount": amount, "info": info, "trade_id": trade_id,
               "time": now_ms}
        self.rows.income.append(row)
        return row

    # Context markers ---------------------------------------------------------------------------
    def liquidation_order(self, seq: int, event: LiquidationOrder) -> None:
        """Remembers the symbol a following liquidation fee belongs to."""
        self._command(seq)
        self._symbol = self.symbol_name(event.symbol)
        self._forced = "ORDER"

    def taken_over(self, seq: int, event: PositionTakenOver) -> None:
        """The fills without an order id that follow are the insurance fund's takeover."""
        self._command(seq)
        self._symbol = self.symbol_name(event.symbol)
        self._forced = "INSURANCE_CLEAR"

    def auto_deleveraged(self, seq: int, index: int, event: AutoDeleveraged, now_ms: int) -> None:
        """Records the counterparty's ADL fill; the fills that follow are ADL."""
        self._command(seq)
        self._symbol = self.symbol_name(event.symbol)
        self._forced = "ADL"
        self._adl = None
        if event.account >= SYSTEM_ACCOUNTS:
            return
        qty = to_raw(event.qty)
        self._adl = {"seq": seq, "event_index": index, "account_id": event.account,
                     "bankrupt_account": stored_account(event.bankrupt), "symbol": self._symbol,
                     "side": "BUY" if qty > 0 else "SELL", "position_side": "BOTH", "qty": abs(qty),
                     "price": to_raw(event.price), "time": now_ms}
        self.rows.adl.append(self._adl)

    # Money -------------------------------------------------------------------------------------
    def fill_settled(self, seq: int, index: int, event: FillSettled, now_ms: int) -> None:
        """Income (realised PnL, commission), accumulated totals and the account change of a fill."""
        self._command(seq)
        if event.account >= SYSTEM_ACCOUNTS:
            return
        symbol = self.symbol_name(event.symbol)
        realised, fee = to_raw(event.realised_pnl), to_raw(event.fee)
        trade_id = event.trade_id if event.order_id else None
        info = str(event.trade_id) if event.order_id else ("ADL" if self._forced == "ADL" else "INSURANCE_TAKEOVER")
        if realised:
            self._income(seq, index, _KIND_REALISED, "REALIZED_PNL", event.account, symbol, realised, info, trade_id,
                         now_ms)
        if fee:
            self._income(seq, index, _KIND_COMMISSION, "COMMISSION", event.account, symbol, -fee, info, trade_id,
                         now_ms)
        totals = self.rows.position_total(event.account, symbol)
        totals["realised_pnl"] += realised
        totals["commission"] += fee
        reason = "ORDER" if event.order_id else self._forced
        change = self._change(event.account, reason, now_ms, to_raw(event.wallet))
        side = PositionSide(event.position_side).name
        if self._adl is not None and reason == "ADL" and self._adl["account_id"] == event.account:
            self._adl["position_side"] = side
        change.positions[(symbol, side)] = PositionUpdate(symbol, side, to_raw(event.position_qty),
                                                          to_raw(event.position_cost), totals["realised_pnl"])

    def isolated_margin_changed(self, seq: int, index: int, event: IsolatedMarginChanged, now_ms: int) -> None:
        """The isolated margin of a leg a fill of this command moved (``iw`` of its update), or a
        trader's adjustment: the engine reports fill and funding moves after the fill's
        ``FillSettled`` or the payment's ``BalanceChanged``, so a change with no earlier account
        change of its account in the command is an ``AdjustIsolatedMargin``."""
        self._command(seq)
        key = (self.symbol_name(event.symbol), PositionSide(event.position_side).name)
        if event.account < SYSTEM_ACCOUNTS and not any(account == event.account for account, _ in self._open):
            self.rows.margin_changes.append({"seq": seq, "event_index": index, "account_id": event.account,
                                             "symbol": key[0], "position_side": key[1],
                                             "amount": to_raw(event.amount), "time": now_ms})
            return
        for (account, _), change in self._open.items():
            if account == event.account and key in change.positions:
                change.positions[key].isolated_wallet = to_raw(event.isolated_margin)

    def fee_tier_set(self, event: FeeTierSet) -> None:
        """The account's own fee rates (``commissionRate``, ``accountConfig``); none: the instruments'."""
        if event.account >= SYSTEM_ACCOUNTS:
            return
        if event.rates is None:
            self.rows.fee_rates[event.account] = None
            return
        maker, taker = (to_raw(rate) for rate in event.rates)
        self.rows.fee_rates[event.account] = (maker, taker)

    def balance_changed(self, seq: int, index: int, event: BalanceChanged, now_ms: int) -> None:
        """An income row and the account change of a wallet movement outside trading."""
        self._command(seq)
        if event.account >= SYSTEM_ACCOUNTS:
            return
        kind = BalanceKind(event.kind)
        income_type, info = BALANCE_INCOME[kind]
        amount = to_raw(event.amount)
        symbol = self._symbol if kind == BalanceKind.LIQUIDATION_FEE else ""
        row = self._income(seq, index, _KIND_BALANCE, income_type, event.account, symbol, amount, info, None, now_ms)
        if kind == BalanceKind.FUNDING_FEE:
            self._waiting_funding.append(row)
        change = self._change(event.account, BALANCE_REASON[kind], now_ms, to_raw(event.wallet))
        change.balance_change += amount

    def funding_applied(self, seq: int, event: FundingApplied, now_ms: int) -> None:
        """The funding settlement row; names the symbol of this command's funding payments."""
        self._command(seq)
        symbol = self.symbol_name(event.symbol)
        for row in self._waiting_funding:
            row["symbol"] = symbol
        self._waiting_funding = []
        self.rows.funding.append({"symbol": symbol, "seq": seq, "rate": to_raw(event.rate),
                                  "mark": to_raw(event.mark), "time": now_ms})
