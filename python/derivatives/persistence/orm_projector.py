"""The previous projector (ORM objects: one ``session.add``/``session.get`` per change, flushed as
it goes), kept unchanged only as the reference that the differential test compares the SQL
projector with and the baseline ``derivatives bench projection`` measures it against. The exchange
never runs it.

One change since it served: a trade's engine-owned side (the insurance fund) is stored as
``stored_account`` gives it, as the current projector does (it used to fail on such a trade).

Invariants: it writes the same tables, with the same contents, as
:class:`derivatives.persistence.projector.Projector` on contiguous batches (it has no gap
back-fill); the cursor is updated in the same transaction as the rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from derivatives.enums import (
    BalanceKind,
    ExpireReason,
    OrderType,
    PositionSide,
    Side,
    StpMode,
    TimeInForce,
)
from derivatives.events import (
    AccountOpened,
    AutoDeleveraged,
    BalanceChanged,
    EventEnvelope,
    FillSettled,
    FundingApplied,
    IsolatedMarginChanged,
    LiquidationOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderTriggered,
    PositionTakenOver,
    Trade,
)
from derivatives.persistence.db import Database
from derivatives.persistence.ledger_projection import (
    _KIND_BALANCE,
    _KIND_COMMISSION,
    _KIND_REALISED,
    BALANCE_INCOME,
    BALANCE_REASON,
    SYSTEM_ACCOUNTS,
    AccountChange,
    PositionUpdate,
    stored_account,
    tran_id,
)
from derivatives.persistence.models import (
    AdlFill,
    FundingRate,
    Income,
    Kline1m,
    Order,
    PositionTotal,
    ProjectionCursor,
    User,
)
from derivatives.persistence.models import Trade as TradeRow
from derivatives.persistence.projector import (
    CURSOR_NAME,
    FINAL_STATUSES,
    LIQUIDATION,
    MINUTE_MS,
    TYPE_NAMES,
    WORKING_TYPES,
    Batch,
    Fill,
    OrderChange,
    ProjectionResult,
)
from derivatives.persistence.views import order_state
from derivatives.units import SCALE, to_raw

log = logging.getLogger(__name__)


class OrmProjector:
    """Folds contiguous engine batches into the projection tables through ORM objects."""

    def __init__(self, db: Database, symbol_name: Callable[[int], str],
                 wall_clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.db = db
        self.symbol_name = symbol_name
        self.wall_clock_ns = wall_clock_ns

    def project(self, batches: Iterable[Batch]) -> ProjectionResult:
        """Applies `batches` (contiguous, in seq order) in one transaction."""
        with self.db.session() as session:
            cursor_row = session.execute(
                select(ProjectionCursor).where(ProjectionCursor.name == CURSOR_NAME).with_for_update()
            ).scalar_one_or_none()
            if cursor_row is None:
                cursor_row = ProjectionCursor(name=CURSOR_NAME, last_seq=0, updated_at=0)
                session.add(cursor_row)
            result = ProjectionResult(cursor_row.last_seq)
            apply = _Applier(session, self.symbol_name, result)
            for batch in batches:
                if batch.last_seq <= result.last_seq:
                    continue
                if batch.first_seq > result.last_seq + 1:
                    raise ValueError(f"gap before seq {batch.first_seq}: the reference projector has no back-fill")
                for envelope in batch.events:
                    if envelope.seq > result.last_seq:
                        apply.event(envelope, batch.ts // 1_000_000)
                result.last_seq = batch.last_seq
            cursor_row.last_seq = result.last_seq
            cursor_row.updated_at = self.wall_clock_ns() // 1_000_000
        return result


def _restore_user(session: Session, now_ms: int, account_id: int, name: str, role: str) -> None:
    if session.execute(select(User).where(User.account_id == account_id)).scalar_one_or_none() is not None:
        return
    if session.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
        name = f"{name[:40]}#{account_id}"
    session.add(User(name=name, account_id=account_id, role=role, active=True, created_at=now_ms))
    session.flush()


class _Applier:
    """Applies single events inside one session; collects the order changes."""

    def __init__(self, session: Session, symbol_name: Callable[[int], str], result: ProjectionResult) -> None:
        self.session = session
        self.symbol_name = symbol_name
        self.changes = result.changes
        self.ledger = _LedgerApplier(session, symbol_name, result.accounts)

    def event(self, envelope: EventEnvelope, now_ms: int) -> None:
        event, seq = envelope.event, envelope.seq
        match event:
            case OrderAccepted():
                self._accepted(event, seq, now_ms)
            case Trade():
                self._trade(event, seq, now_ms)
            case OrderCancelled():
                self._ended(event.order_id, "CANCELED", None, seq, now_ms)
            case OrderExpired():
                status = "EXPIRED_IN_MATCH" if event.reason == ExpireReason.SELF_TRADE else "EXPIRED"
                self._ended(event.order_id, status, event.reason.name, seq, now_ms)
            case OrderTriggered():
                self._triggered(event, seq, now_ms)
            case OrderAmended():
                self._amended(event, seq, now_ms)
            case LiquidationOrder():
                self._liquidation_order(event, seq, now_ms)
                self.ledger.liquidation_order(seq, event)
            case FillSettled():
                self._fill_settled(event)
                self.ledger.fill_settled(seq, envelope.index, event, now_ms)
            case BalanceChanged():
                self.ledger.balance_changed(seq, envelope.index, event, now_ms)
            case IsolatedMarginChanged():
                self.ledger.isolated_margin_changed(seq, event)
            case FundingApplied():
                self.ledger.funding_applied(seq, event, now_ms)
            case AutoDeleveraged():
                self.ledger.auto_deleveraged(seq, envelope.index, event, now_ms)
            case PositionTakenOver():
                self.ledger.taken_over(seq, event)
            case AccountOpened():
                _restore_user(self.session, now_ms, event.account, event.name, event.role)
            case _:
                pass  # book deltas, marks, settings and instrument updates are not projected

    def _emit(self, row: Order, execution: str, algo: bool, now_ms: int, fill: Fill | None = None) -> None:
        self.session.flush()
        self.changes.append(OrderChange(order_state(row), execution, algo, now_ms, fill))

    def _accepted(self, event: OrderAccepted, seq: int, now_ms: int) -> None:
        place = event.order
        conditional = place.order_type not in (OrderType.LIMIT, OrderType.MARKET)
        row = Order(
            order_id=event.order_id,
            account_id=place.account,
            symbol=self.symbol_name(place.symbol),
            client_order_id=place.client_order_id or f"srv-{event.order_id}",
            side=Side(place.side).name,
            order_type=TYPE_NAMES[place.order_type],
            time_in_force=TimeInForce(place.time_in_force).name,
            price=None if place.price is None else to_raw(place.price),
            orig_qty=to_raw(place.qty),
            executed_qty=0,
            cum_quote=0,
            stop_price=None if place.stop_price is None else to_raw(place.stop_price),
            activation_price=None if place.activation_price is None else to_raw(place.activation_price),
            callback_rate=None if place.callback_rate is None else to_raw(place.callback_rate),
            working_type=WORKING_TYPES[place.trigger_source],
            reduce_only=place.reduce_only,
            close_position=place.close_position,
            position_side=PositionSide(place.position_side).name,
            stp_mode=StpMode(place.stp).name,
            good_till_ms=None if place.good_till is None else place.good_till // 1_000_000,
            status="NEW",
            algo_status="NEW" if conditional else None,
            created_at=now_ms,
            updated_at=now_ms,
            seq=seq,
        )
        self.session.add(row)
        self._emit(row, "NEW", conditional, now_ms)

    def _row(self, order_id: int) -> Order | None:
        row = self.session.get(Order, order_id)
        if row is None:
            log.error("projection: event for unknown order %d", order_id)
        return row

    def _touch(self, row: Order, seq: int, now_ms: int) -> None:
        row.seq = seq
        row.updated_at = now_ms

    def _finish_algo(self, row: Order, now_ms: int) -> None:
        if row.algo_status is not None and row.triggered_at is not None and row.status in FINAL_STATUSES:
            row.algo_status = "FINISHED"
            self._emit(row, "FINISHED", True, now_ms)

    def _trade(self, event: Trade, seq: int, now_ms: int) -> None:
        price, qty = to_raw(event.price), to_raw(event.qty)
        quote = price * qty // SCALE
        symbol = self.symbol_name(event.symbol)
        self.session.add(TradeRow(
            trade_id=event.trade_id, symbol=symbol, price=price, qty=qty, quote_qty=quote,
            taker_side=Side(event.taker_side).name, maker_order_id=event.maker_order_id,
            maker_account=stored_account(event.maker_account), taker_order_id=event.taker_order_id,
            taker_account=stored_account(event.taker_account), time=now_ms, seq=seq,
        ))
        for order_id, leaves, maker in ((event.maker_order_id, event.maker_leaves, True),
                                         (event.taker_order_id, event.taker_leaves, False)):
            row = self._row(order_id)
            if row is None:
                continue
            row.executed_qty += qty
            row.cum_quote += quote
            row.status = "FILLED" if to_raw(leaves) == 0 else "PARTIALLY_FILLED"
            self._touch(row, seq, now_ms)
            execution = "CALCULATED" if row.order_type == LIQUIDATION else "TRADE"
            self._emit(row, execution, False, now_ms, Fill(event.trade_id, price, qty, maker))
            self._finish_algo(row, now_ms)
        self._kline(symbol, event, price, qty, quote, now_ms)

    def _kline(self, symbol: str, event: Trade, price: int, qty: int, quote: int, now_ms: int) -> None:
        open_time = now_ms - now_ms % MINUTE_MS
        bar = self.session.get(Kline1m, (symbol, open_time))
        taker_buy = event.taker_side == Side.BUY
        if bar is None:
            self.session.add(Kline1m(
                symbol=symbol, open_time=open_time, open=price, high=price, low=price, close=price,
                volume=qty, quote_volume=quote, trades=1,
                taker_buy_volume=qty if taker_buy else 0, taker_buy_quote_volume=quote if taker_buy else 0,
                first_trade_id=event.trade_id, last_trade_id=event.trade_id,
            ))
            self.session.flush()
            return
        bar.high = max(bar.high, price)
        bar.low = min(bar.low, price)
        bar.close = price
        bar.volume += qty
        bar.quote_volume += quote
        bar.trades += 1
        if taker_buy:
            bar.taker_buy_volume += qty
            bar.taker_buy_quote_volume += quote
        bar.last_trade_id = event.trade_id

    def _ended(self, order_id: int, status: str, reason: str | None, seq: int, now_ms: int) -> None:
        row = self._row(order_id)
        if row is None:
            return
        self._touch(row, seq, now_ms)
        row.expire_reason = reason
        if row.algo_status is not None and row.triggered_at is None:
            row.algo_status = "CANCELED" if status == "CANCELED" else "EXPIRED"
            row.status = status
            self._emit(row, row.algo_status, True, now_ms)
            return
        row.status = status
        self._emit(row, "CANCELED" if status == "CANCELED" else "EXPIRED", False, now_ms)
        self._finish_algo(row, now_ms)

    def _triggered(self, event: OrderTriggered, seq: int, now_ms: int) -> None:
        row = self._row(event.order_id)
        if row is None:
            return
        self._touch(row, seq, now_ms)
        row.triggered_at = now_ms
        row.trigger_price_seen = to_raw(event.trigger_price)
        row.algo_status = "TRIGGERED"
        self._emit(row, "TRIGGERED", True, now_ms)
        self._emit(row, "NEW", False, now_ms)

    def _liquidation_order(self, event: LiquidationOrder, seq: int, now_ms: int) -> None:
        """The engine's IOC at the bankruptcy price; Binance shows it as a LIQUIDATION order (no
        NEW update: the next change is its fill or its expiry)."""
        if event.account >= SYSTEM_ACCOUNTS:
            return
        self.session.add(Order(
            order_id=event.order_id, account_id=event.account, symbol=self.symbol_name(event.symbol),
            client_order_id=f"autoclose-{event.order_id}", side=Side(event.side).name, order_type=LIQUIDATION,
            time_in_force="IOC", price=to_raw(event.bankruptcy_price), orig_qty=to_raw(event.qty), executed_qty=0,
            cum_quote=0, stop_price=None, activation_price=None, callback_rate=None, working_type="CONTRACT_PRICE",
            reduce_only=True, close_position=False, position_side=PositionSide(event.position_side).name,
            stp_mode="NONE", good_till_ms=None,
            status="NEW", algo_status=None, created_at=now_ms, updated_at=now_ms, seq=seq,
        ))
        self.session.flush()

    def _fill_settled(self, event: FillSettled) -> None:
        """Writes a fill's fee and realised PnL on its trade row and on its order change."""
        if not event.order_id:
            return  # ADL and takeover fills have no trade
        fee, realised = to_raw(event.fee), to_raw(event.realised_pnl)
        trade = self.session.get(TradeRow, event.trade_id)
        if trade is not None:
            if trade.maker_order_id == event.order_id:
                trade.maker_fee, trade.maker_realised_pnl = fee, realised
            else:
                trade.taker_fee, trade.taker_realised_pnl = fee, realised
        for position in range(len(self.changes) - 1, -1, -1):
            change = self.changes[position]
            if change.fill and change.fill.trade_id == event.trade_id and change.order.order_id == event.order_id:
                self.changes[position] = replace(change, fill=replace(change.fill, fee=fee, realised_pnl=realised))
                break
        side = PositionSide(event.position_side).name
        row = self.session.get(Order, event.order_id)
        if row is not None and row.order_type == LIQUIDATION and row.position_side != side:
            row.position_side = side
            for position, change in enumerate(self.changes):
                if change.order.order_id == event.order_id:
                    self.changes[position] = replace(change, order=replace(change.order, position_side=side))

    def _amended(self, event: OrderAmended, seq: int, now_ms: int) -> None:
        row = self._row(event.order_id)
        if row is None:
            return
        self._touch(row, seq, now_ms)
        row.price = to_raw(event.price)
        row.orig_qty = to_raw(event.qty)
        self._emit(row, "AMENDMENT", False, now_ms)


class _LedgerApplier:
    """Projects the account events of a batch; collects :class:`AccountChange` values."""

    def __init__(self, session: Session, symbol_name: Callable[[int], str], changes: list[AccountChange]) -> None:
        self.session = session
        self.symbol_name = symbol_name
        self.changes = changes
        self._seq = -1
        self._open: dict[tuple[int, str], AccountChange] = {}
        self._symbol = ""
        self._forced = "ORDER"
        self._waiting_funding: list[Income] = []
        self._adl: AdlFill | None = None

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
                info: str, trade_id: int | None, now_ms: int) -> Income:
        row = Income(seq=seq, event_index=index, income_type=income_type, tran_id=tran_id(seq, index, kind),
                     account_id=account, symbol=symbol, amount=amount, info=info, trade_id=trade_id, time=now_ms)
        self.session.add(row)
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
        self._adl = AdlFill(seq=seq, event_index=index, account_id=event.account,
                            bankrupt_account=stored_account(event.bankrupt), symbol=self._symbol,
                            side="BUY" if qty > 0 else "SELL", position_side="BOTH", qty=abs(qty),
                            price=to_raw(event.price), time=now_ms)
        self.session.add(self._adl)

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
        totals = self.session.get(PositionTotal, (event.account, symbol))
        if totals is None:
            totals = PositionTotal(account_id=event.account, symbol=symbol, realised_pnl=0, commission=0)
            self.session.add(totals)
        totals.realised_pnl += realised
        totals.commission += fee
        reason = "ORDER" if event.order_id else self._forced
        change = self._change(event.account, reason, now_ms, to_raw(event.wallet))
        side = PositionSide(event.position_side).name
        if self._adl is not None and reason == "ADL" and self._adl.account_id == event.account:
            self._adl.position_side = side
        change.positions[(symbol, side)] = PositionUpdate(symbol, side, to_raw(event.position_qty),
                                                          to_raw(event.position_cost), totals.realised_pnl)

    def isolated_margin_changed(self, seq: int, event: IsolatedMarginChanged) -> None:
        """The isolated margin of a leg a fill of this command moved (``iw`` of its update)."""
        self._command(seq)
        key = (self.symbol_name(event.symbol), PositionSide(event.position_side).name)
        for (account, _), change in self._open.items():
            if account == event.account and key in change.positions:
                change.positions[key].isolated_wallet = to_raw(event.isolated_margin)

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
            row.symbol = symbol
        self._waiting_funding = []
        self.session.add(FundingRate(symbol=symbol, seq=seq, rate=to_raw(event.rate), mark=to_raw(event.mark),
                                     time=now_ms))
