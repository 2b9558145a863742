"""The projection: engine events, pulled or pushed by sequence number, folded into ``orders``,
``trades`` and ``klines_1m`` here, and into the account tables (``income``, ``funding_rates``,
``adl_fills``, ``position_totals``) by :mod:`derivatives.persistence.ledger_projection`.

Invariants:
    * Exactly once: the cursor (``projection_cursor.last_seq``) is read (locked) and written in the
      same transaction as the rows it covers; an event whose command seq is at or below the cursor
      is skipped, so replaying the same events changes nothing, and a batch that is partly at or
      below it is applied from the cursor on. A crash before the commit leaves nothing; after it,
      the batch is skipped on its replay.
    * SQL in batches: a call folds all its events into in-memory rows
      (:mod:`derivatives.persistence.batch_rows`) and writes them at the end with one
      ``executemany`` per table and kind (SQLAlchemy Core, no ORM objects on this path).
    * No gap: a batch that starts after ``cursor + 1`` first back-fills the missing commands from
      the engine's event stream (``read_events``); a command with no event leaves no trace there,
      so back-filling up to ``first_seq - 1`` is complete once the stream has nothing older left.
    * Binance semantics live here only as status words (``NEW``, ``PARTIALLY_FILLED``, ...); the
      wire shapes are the API's job. Money stays raw (1e-8 integers, exact).
    * ``quote`` of a trade = price x qty / 1e8, rounded down; exact whenever tick size x step
      size has at most eight decimals (true of every listed instrument).
    * A liquidation order (``LiquidationOrder``, no ``OrderAccepted``) becomes an order row of
      type ``LIQUIDATION`` with client id ``autoclose-<id>`` (Binance); its fills are
      ``CALCULATED`` executions. Each fill's fee and realised PnL (``FillSettled``, right after
      its ``Trade``) are written on the trade row and on the fill's order change.
    * A trade of an engine account (the insurance fund unwinding a taken-over position) is
      stored with that side's account as ``2**63 - 1`` (``stored_account``): ids from ``2**63``
      do not fit the signed ``BIGINT`` column (the projection used to fail on such a batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from sqlalchemy import Connection, Table, delete, insert, select, update

from derivatives import _core
from derivatives.codec import decode_events
from derivatives.enums import (
    ExpireReason,
    OrderType,
    PositionSide,
    Side,
    StpMode,
    TimeInForce,
    TriggerSource,
)
from derivatives.events import (
    AccountOpened,
    AutoDeleveraged,
    BalanceChanged,
    EventEnvelope,
    FeeTierSet,
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
from derivatives.persistence import accounts
from derivatives.persistence.batch_rows import (
    ADL,
    FEE_RATES,
    FUNDING,
    INCOME,
    KLINES,
    MARGIN_CHANGES,
    ORDERS,
    TOTALS,
    TRADES,
    BatchRows,
    Row,
)
from derivatives.persistence.db import Database
from derivatives.persistence.ledger_projection import (
    SYSTEM_ACCOUNTS,
    AccountChange,
    LedgerApplier,
    stored_account,
)
from derivatives.persistence.models import Base
from derivatives.persistence.views import OrderState
from derivatives.units import SCALE, to_raw

log = logging.getLogger(__name__)

CURSOR_NAME = "orders"
MINUTE_MS = 60_000
READ_BYTES = 16 << 20
"""Bytes asked of the engine per back-fill read."""
TYPE_NAMES = {
    OrderType.LIMIT: "LIMIT",
    OrderType.MARKET: "MARKET",
    OrderType.STOP_MARKET: "STOP_MARKET",
    OrderType.STOP: "STOP",
    OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT_MARKET",
    OrderType.TAKE_PROFIT: "TAKE_PROFIT",
    OrderType.TRAILING_STOP_MARKET: "TRAILING_STOP_MARKET",
}
WORKING_TYPES = {TriggerSource.CONTRACT_PRICE: "CONTRACT_PRICE", TriggerSource.MARK_PRICE: "MARK_PRICE"}
FINAL_STATUSES = ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED")
LIQUIDATION = "LIQUIDATION"
"""Order type of the engine's liquidation orders (Binance's ``o`` of an ``autoclose-`` order)."""


class EventSource(Protocol):
    """The engine's event stream (``derivatives.engine.EngineClient`` satisfies it)."""

    def read_events(self, after_seq: int, max_bytes: int = ..., timeout_ms: int = ...) -> list[EventEnvelope]:
        """Events of commands after `after_seq`."""
        ...


@dataclass(frozen=True, slots=True)
class Batch:
    """Events of the contiguous commands ``first_seq..=last_seq``, all stamped ``ts`` (ns)."""

    first_seq: int
    last_seq: int
    ts: int
    events: Sequence[EventEnvelope]


def batches_from_body(body: bytes, ts: int) -> list[Batch]:
    """The batches of one message of the engine service's batch stream, from its body (``u32``
    frame length, journal frames, event envelopes; ``_core.split_batch_body`` checks it) and its
    ``Derivatives-Ts`` header (ns). A live message is one engine batch; one regenerated from the
    journal groups several, each event carrying its own command's time: it is cut where that time
    changes, so every row gets its command's time (an envelope without one takes the header's)."""
    first_seq, last_seq, data = _core.split_batch_body(body)
    if first_seq == 0:
        return []  # an empty body
    events = decode_events(data)
    out: list[Batch] = []
    start, run_ts = first_seq, ts
    run: list[EventEnvelope] = []
    for envelope in events:
        stamped = envelope.ts or ts
        if run and stamped != run_ts and envelope.seq != run[-1].seq:
            out.append(Batch(start, envelope.seq - 1, run_ts, run))
            start, run = envelope.seq, []
        run_ts = stamped if not run else run_ts
        run.append(envelope)
    if last_seq >= start:
        out.append(Batch(start, last_seq, run_ts, run))
    return out


@dataclass(frozen=True, slots=True)
class Fill:
    """One side's view of a trade, with its fee and realised PnL (raw)."""

    trade_id: int
    price: int
    qty: int
    maker: bool
    fee: int = 0
    realised_pnl: int = 0


@dataclass(frozen=True, slots=True)
class OrderChange:
    """One change of one order, in event order (feeds the user data stream).

    Attributes:
        order: The order right after the change.
        execution: ``NEW``, ``TRADE``, ``CALCULATED`` (liquidation fill), ``CANCELED``,
            ``EXPIRED``, ``AMENDMENT`` (orders) or
            ``NEW``, ``TRIGGERED``, ``CANCELED``, ``EXPIRED``, ``FINISHED`` (algo orders).
        algo: True for an algo life-cycle change (``ALGO_UPDATE``), False for an order change.
        time_ms: When it happened (the command's time).
        fill: The fill of a ``TRADE`` change.
    """

    order: OrderState
    execution: str
    algo: bool
    time_ms: int
    fill: Fill | None = None


@dataclass(slots=True)
class ProjectionResult:
    """What one :meth:`Projector.project` call did."""

    last_seq: int
    changes: list[OrderChange] = field(default_factory=list)
    backfilled: int = 0
    accounts: list[AccountChange] = field(default_factory=list)


class ProjectionGap(RuntimeError):
    """Events the projection needs are no longer readable (the engine evicted them)."""


CURSORS: Table = Base.metadata.tables["projection_cursor"]
PROJECTED: tuple[Table, ...] = (ORDERS, TRADES, KLINES, INCOME, FUNDING, ADL, TOTALS, MARGIN_CHANGES, FEE_RATES)
ORDER_EVENTS = (Trade, OrderCancelled, OrderExpired, OrderTriggered, OrderAmended, FillSettled)


class Projector:
    """Folds engine events into the projection tables, exactly once, in sequence order."""

    def __init__(
        self,
        db: Database,
        source: EventSource,
        symbol_name: Callable[[int], str],
        time_of: Callable[[int], int | None] = lambda _seq: None,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """Wires the projector.

        Args:
            db: The projection database.
            source: Where missing events are back-filled from.
            symbol_name: Engine symbol id -> name.
            time_of: Engine seq -> batch timestamp (ns) when known, for back-filled events whose
                envelope carries no time.
            wall_clock_ns: Fallback time for back-filled events of unknown time.
        """
        self.db = db
        self.source = source
        self.symbol_name = symbol_name
        self.time_of = time_of
        self.wall_clock_ns = wall_clock_ns

    def cursor(self) -> int:
        """The last applied engine seq (0 before any)."""
        with self.db.engine.connect() as connection:
            last = connection.execute(select(CURSORS.c.last_seq).where(CURSORS.c.name == CURSOR_NAME)).scalar()
            return 0 if last is None else int(last)

    def reset(self) -> None:
        """Empties the projection (used when the engine restarted without a journal)."""
        with self.db.engine.begin() as connection:
            for table in (*PROJECTED, CURSORS):
                connection.execute(delete(table))

    def project(self, batches: Iterable[Batch]) -> ProjectionResult:
        """Applies `batches` (in seq order) in one transaction, back-filling any gap first.

        Raises:
            ProjectionGap: If a gap cannot be back-filled.
        """
        with self.db.engine.begin() as connection:
            stored = self._lock_cursor(connection)
            result = ProjectionResult(stored or 0)
            timed: list[tuple[EventEnvelope, int]] = []
            for batch in batches:
                if batch.last_seq <= result.last_seq:
                    continue
                if batch.first_seq > result.last_seq + 1:
                    missing = self._read_range(result.last_seq, batch.first_seq - 1)
                    result.backfilled += len(missing)
                    log.warning("projection gap: back-filling commands %d..%d (%d events)",
                                result.last_seq + 1, batch.first_seq - 1, len(missing))
                    timed.extend(self._timed(missing))
                    result.last_seq = batch.first_seq - 1
                now_ms = batch.ts // 1_000_000
                timed.extend((envelope, now_ms) for envelope in batch.events if envelope.seq > result.last_seq)
                result.last_seq = batch.last_seq
            self._commit(connection, stored, timed, result)
        return result

    def catch_up(self) -> ProjectionResult:
        """Pulls and applies every event after the cursor (start-up and safety net)."""
        with self.db.engine.begin() as connection:
            stored = self._lock_cursor(connection)
            result = ProjectionResult(stored or 0)
            events = self._read_range(result.last_seq, None)
            if events:
                result.last_seq = events[-1].seq
                result.backfilled = len(events)
                self._commit(connection, stored, self._timed(events), result)
        return result

    def _lock_cursor(self, connection: Connection) -> int | None:
        """The stored cursor (None: no row yet), locked until the transaction ends."""
        last = connection.execute(
            select(CURSORS.c.last_seq).where(CURSORS.c.name == CURSOR_NAME).with_for_update()
        ).scalar()
        return None if last is None else int(last)

    def _commit(self, connection: Connection, stored: int | None, timed: Sequence[tuple[EventEnvelope, int]],
                result: ProjectionResult) -> None:
        """Folds `timed` into rows, writes them and moves the cursor (the caller commits)."""
        rows = BatchRows(connection)
        _Applier(rows, self.symbol_name, result).apply(timed)
        rows.write()
        values = {"last_seq": result.last_seq, "updated_at": self.wall_clock_ns() // 1_000_000}
        if stored is None:
            connection.execute(insert(CURSORS).values(name=CURSOR_NAME, **values))
        else:
            connection.execute(update(CURSORS).where(CURSORS.c.name == CURSOR_NAME).values(**values))

    def _read_range(self, after: int, upto: int | None) -> list[EventEnvelope]:
        """Events of commands ``after+1 ..= upto`` (``upto=None``: everything available)."""
        out: list[EventEnvelope] = []
        position = after
        while True:
            try:
                chunk = self.source.read_events(position, READ_BYTES)
            except LookupError as evicted:
                raise ProjectionGap(f"events after seq {position} are gone: {evicted}") from evicted
            if not chunk:
                return out
            last = chunk[-1].seq
            done = upto is not None and last >= upto
            if not done and chunk[0].seq != last:
                # A read may stop inside one command's events: re-read that command whole.
                last -= 1
            out.extend(e for e in chunk if position < e.seq <= last and (upto is None or e.seq <= upto))
            if done:
                return out
            position = last

    def _timed(self, events: Sequence[EventEnvelope]) -> list[tuple[EventEnvelope, int]]:
        """Back-filled events with their time (ms): the envelope's, the batch's, or now."""
        out: list[tuple[EventEnvelope, int]] = []
        for envelope in events:
            ts = envelope.ts or self.time_of(envelope.seq)
            out.append((envelope, (ts if ts is not None else self.wall_clock_ns()) // 1_000_000))
        return out


def _referenced(timed: Sequence[tuple[EventEnvelope, int]]) -> tuple[set[int], set[int]]:
    """The order ids and (user) accounts whose stored rows the events will change."""
    order_ids: set[int] = set()
    accounts_: set[int] = set()
    for envelope, _ in timed:
        event = envelope.event
        if not isinstance(event, ORDER_EVENTS):
            continue
        if isinstance(event, Trade):
            order_ids.update((event.maker_order_id, event.taker_order_id))
        elif isinstance(event, FillSettled):
            if event.order_id:
                order_ids.add(event.order_id)
            if event.account < SYSTEM_ACCOUNTS:
                accounts_.add(event.account)
        else:
            order_ids.add(event.order_id)
    return order_ids, accounts_


class _Applier:
    """Applies single events to one transaction's rows; collects the order changes."""

    def __init__(self, rows: BatchRows, symbol_name: Callable[[int], str], result: ProjectionResult) -> None:
        self.rows = rows
        self.symbol_name = symbol_name
        self.changes = result.changes
        self.ledger = LedgerApplier(rows, symbol_name, result.accounts)

    def apply(self, timed: Sequence[tuple[EventEnvelope, int]]) -> None:
        """Reads the rows the events touch in bulk, then applies the events in order."""
        self.rows.prefetch(*_referenced(timed))
        for envelope, now_ms in timed:
            self.event(envelope, now_ms)

    def event(self, envelope: EventEnvelope, now_ms: int) -> None:
        event, seq = envelope.event, envelope.seq
        match event:
            case OrderAccepted() if event.order.account >= SYSTEM_ACCOUNTS:
                pass  # the insurance fund's own orders (its unwinder) have no order row
            case OrderCancelled() | OrderExpired() | OrderTriggered() | OrderAmended() if event.account >= SYSTEM_ACCOUNTS:
                pass
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
                self.ledger.isolated_margin_changed(seq, envelope.index, event, now_ms)
            case FundingApplied():
                self.ledger.funding_applied(seq, event, now_ms)
            case AutoDeleveraged():
                self.ledger.auto_deleveraged(seq, envelope.index, event, now_ms)
            case PositionTakenOver():
                self.ledger.taken_over(seq, event)
            case FeeTierSet():
                self.ledger.fee_tier_set(event)
            case AccountOpened():
                accounts.restore_user(self.rows.connection, now_ms, event.account, event.name, event.role)
            case _:
                pass  # book deltas, marks, settings and instrument updates are not projected

    def _emit(self, row: Row, execution: str, algo: bool, now_ms: int, fill: Fill | None = None) -> None:
        self.changes.append(OrderChange(OrderState(**row), execution, algo, now_ms, fill))

    def _new_order(self, **values: object) -> Row:
        """An order row created in this transaction (the columns no event has set yet: None)."""
        return self.rows.orders.add({**values, "trigger_price_seen": None, "expire_reason": None,
                                     "triggered_at": None})

    def _accepted(self, event: OrderAccepted, seq: int, now_ms: int) -> None:
        place = event.order
        conditional = place.order_type not in (OrderType.LIMIT, OrderType.MARKET)
        row = self._new_order(
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
        self._emit(row, "NEW", conditional, now_ms)

    def _row(self, order_id: int) -> Row | None:
        row = self.rows.order(order_id)
        if row is None:
            log.error("projection: event for unknown order %d", order_id)
        return row

    def _touch(self, row: Row, seq: int, now_ms: int) -> None:
        row["seq"] = seq
        row["updated_at"] = now_ms

    def _finish_algo(self, row: Row, now_ms: int) -> None:
        if row["algo_status"] is not None and row["triggered_at"] is not None and row["status"] in FINAL_STATUSES:
            row["algo_status"] = "FINISHED"
            self._emit(row, "FINISHED", True, now_ms)

    def _trade(self, event: Trade, seq: int, now_ms: int) -> None:
        price, qty = to_raw(event.price), to_raw(event.qty)
        quote = price * qty // SCALE
        symbol = self.symbol_name(event.symbol)
        self.rows.trades.add({
            "trade_id": event.trade_id, "symbol": symbol, "price": price, "qty": qty, "quote_qty": quote,
            "taker_side": Side(event.taker_side).name, "maker_order_id": event.maker_order_id,
            "maker_account": stored_account(event.maker_account), "taker_order_id": event.taker_order_id,
            "taker_account": stored_account(event.taker_account), "time": now_ms, "seq": seq,
            "maker_fee": 0, "maker_realised_pnl": 0, "taker_fee": 0, "taker_realised_pnl": 0,
        })
        for order_id, leaves, maker, account in (
                (event.maker_order_id, event.maker_leaves, True, event.maker_account),
                (event.taker_order_id, event.taker_leaves, False, event.taker_account)):
            row = None if account >= SYSTEM_ACCOUNTS else self._row(order_id)
            if row is None:
                continue
            row["executed_qty"] += qty
            row["cum_quote"] += quote
            row["status"] = "FILLED" if to_raw(leaves) == 0 else "PARTIALLY_FILLED"
            self._touch(row, seq, now_ms)
            execution = "CALCULATED" if row["order_type"] == LIQUIDATION else "TRADE"
            self._emit(row, execution, False, now_ms, Fill(event.trade_id, price, qty, maker))
            self._finish_algo(row, now_ms)
        self._kline(symbol, event, price, qty, quote, now_ms)

    def _kline(self, symbol: str, event: Trade, price: int, qty: int, quote: int, now_ms: int) -> None:
        open_time = now_ms - now_ms % MINUTE_MS
        bar = self.rows.kline(symbol, open_time)
        taker_buy = event.taker_side == Side.BUY
        if bar is None:
            self.rows.klines.add({
                "symbol": symbol, "open_time": open_time, "open": price, "high": price, "low": price,
                "close": price, "volume": qty, "quote_volume": quote, "trades": 1,
                "taker_buy_volume": qty if taker_buy else 0, "taker_buy_quote_volume": quote if taker_buy else 0,
                "first_trade_id": event.trade_id, "last_trade_id": event.trade_id,
            })
            return
        bar["high"] = max(bar["high"], price)
        bar["low"] = min(bar["low"], price)
        bar["close"] = price
        bar["volume"] += qty
        bar["quote_volume"] += quote
        bar["trades"] += 1
        if taker_buy:
            bar["taker_buy_volume"] += qty
            bar["taker_buy_quote_volume"] += quote
        bar["last_trade_id"] = event.trade_id

    def _ended(self, order_id: int, status: str, reason: str | None, seq: int, now_ms: int) -> None:
        row = self._row(order_id)
        if row is None:
            return
        self._touch(row, seq, now_ms)
        row["expire_reason"] = reason
        if row["algo_status"] is not None and row["triggered_at"] is None:
            row["algo_status"] = "CANCELED" if status == "CANCELED" else "EXPIRED"
            row["status"] = status
            self._emit(row, row["algo_status"], True, now_ms)
            return
        row["status"] = status
        self._emit(row, "CANCELED" if status == "CANCELED" else "EXPIRED", False, now_ms)
        self._finish_algo(row, now_ms)

    def _triggered(self, event: OrderTriggered, seq: int, now_ms: int) -> None:
        row = self._row(event.order_id)
        if row is None:
            return
        self._touch(row, seq, now_ms)
        row["triggered_at"] = now_ms
        row["trigger_price_seen"] = to_raw(event.trigger_price)
        row["algo_status"] = "TRIGGERED"
        self._emit(row, "TRIGGERED", True, now_ms)
        self._emit(row, "NEW", False, now_ms)

    def _liquidation_order(self, event: LiquidationOrder, seq: int, now_ms: int) -> None:
        """The engine's IOC at the bankruptcy price; Binance shows it as a LIQUIDATION order (no
        NEW update: the next change is its fill or its expiry)."""
        if event.account >= SYSTEM_ACCOUNTS:
            return
        self._new_order(
            order_id=event.order_id, account_id=event.account, symbol=self.symbol_name(event.symbol),
            client_order_id=f"autoclose-{event.order_id}", side=Side(event.side).name, order_type=LIQUIDATION,
            time_in_force="IOC", price=to_raw(event.bankruptcy_price), orig_qty=to_raw(event.qty), executed_qty=0,
            cum_quote=0, stop_price=None, activation_price=None, callback_rate=None, working_type="CONTRACT_PRICE",
            reduce_only=True, close_position=False, position_side=PositionSide(event.position_side).name,
            stp_mode="NONE", good_till_ms=None,
            status="NEW", algo_status=None, created_at=now_ms, updated_at=now_ms, seq=seq,
        )

    def _fill_settled(self, event: FillSettled) -> None:
        """Writes a fill's fee and realised PnL on its trade row and on its order change."""
        if not event.order_id:
            return  # ADL and takeover fills have no trade
        fee, realised = to_raw(event.fee), to_raw(event.realised_pnl)
        trade = self.rows.trade(event.trade_id)
        if trade is not None:
            if trade["maker_order_id"] == event.order_id:
                trade["maker_fee"], trade["maker_realised_pnl"] = fee, realised
            else:
                trade["taker_fee"], trade["taker_realised_pnl"] = fee, realised
        for position in range(len(self.changes) - 1, -1, -1):
            change = self.changes[position]
            if change.fill and change.fill.trade_id == event.trade_id and change.order.order_id == event.order_id:
                self.changes[position] = replace(change, fill=replace(change.fill, fee=fee, realised_pnl=realised))
                break
        side = PositionSide(event.position_side).name
        row = self.rows.order(event.order_id)
        if row is not None and row["order_type"] == LIQUIDATION and row["position_side"] != side:
            row["position_side"] = side
            for position, change in enumerate(self.changes):
                if change.order.order_id == event.order_id:
                    self.changes[position] = replace(change, order=replace(change.order, position_side=side))

    def _amended(self, event: OrderAmended, seq: int, now_ms: int) -> None:
        row = self._row(event.order_id)
        if row is None:
            return
        self._touch(row, seq, now_ms)
        row["price"] = to_raw(event.price)
        row["orig_qty"] = to_raw(event.qty)
        self._emit(row, "AMENDMENT", False, now_ms)
