"""The live orders of every account, folded in memory from the engine's events (no SQL).

A gateway answers order status, open orders, client-id reuse and the user data stream from this
view; the SQL projection (written by the projector process) serves only history beyond it.

Invariants:
    * The fold gives the same :class:`~derivatives.persistence.views.OrderState` values and the
      same :class:`~derivatives.persistence.projector.OrderChange` sequence as the SQL projection
      (``derivatives.persistence.projector``) for the same events: statuses, algo life cycle,
      liquidation orders (``autoclose-<id>``, system accounts left out), fill fee and realised PnL.
    * Every live order (and untriggered algo order) is kept. Finished orders are kept up to
      ``max_finished``, the oldest finished forgotten first; ``complete_since_ms`` is the creation
      time from which the view still holds *every* order, so a lookup by client id over a window
      starting at or after it is authoritative (a miss means no such order), and older windows
      must ask SQL.
    * Batches are applied in seq order, each once (a batch at or below ``applied`` is skipped).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace

from derivatives.enums import ExpireReason, OrderType, PositionSide, Side, StpMode, TimeInForce
from derivatives.events import (
    FillSettled,
    LiquidationOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderTriggered,
    Trade,
)
from derivatives.persistence.ledger_projection import SYSTEM_ACCOUNTS
from derivatives.persistence.projector import (
    FINAL_STATUSES,
    LIQUIDATION,
    TYPE_NAMES,
    WORKING_TYPES,
    Batch,
    Fill,
    OrderChange,
)
from derivatives.persistence.views import OrderState
from derivatives.units import SCALE, to_raw

MAX_FINISHED = 200_000
"""Finished orders kept in memory (about 1 KB each)."""


def _visible_as_order(order: OrderState) -> bool:
    return order.algo_status is None or order.triggered_at is not None


class OrderView:
    """Orders by id, per account, and by client id; fed batch by batch (see the module docstring)."""

    def __init__(self, symbol_name: Callable[[int], str], max_finished: int = MAX_FINISHED) -> None:
        self.symbol_name = symbol_name
        self.max_finished = max_finished
        self.applied = 0
        self.complete_since_ms = 0
        self._orders: dict[int, OrderState] = {}
        self._live: dict[int, dict[int, None]] = {}
        """Account -> ids of its live orders (and untriggered algo orders), in id order."""
        self._by_client: dict[tuple[int, str], int] = {}
        """(account, client order id) -> the newest order id that carried it."""
        self._finished: deque[int] = deque()
        self._changes: list[OrderChange] = []

    # Queries ------------------------------------------------------------------------------------
    def get(self, order_id: int) -> OrderState | None:
        """The order `order_id` when the view holds it."""
        return self._orders.get(order_id)

    def find(self, account: int, symbol: str, order_id: int | None, client_order_id: str | None,
             algo: bool) -> OrderState | None:
        """As ``queries.find_order``, over what the view holds (None: not here; SQL may have it)."""
        if order_id is None:
            if client_order_id is None:
                return None
            order_id = self._by_client.get((account, client_order_id))
            if order_id is None:
                return None
        order = self._orders.get(order_id)
        if order is None or order.account_id != account or order.symbol != symbol:
            return None
        if client_order_id is not None and order.client_order_id != client_order_id:
            return None
        if (order.algo_status is not None) if algo else _visible_as_order(order):
            return order
        return None

    def by_client_id(self, account: int, client_order_id: str) -> OrderState | None:
        """The newest order of the account with that client id (any symbol or kind), if held."""
        order_id = self._by_client.get((account, client_order_id))
        return None if order_id is None else self._orders.get(order_id)

    def open_orders(self, account: int, symbol: str | None, algo: bool) -> list[OrderState]:
        """As ``queries.open_orders``: live regular orders or untriggered algo orders, oldest first."""
        out = []
        for order_id in self._live.get(account, ()):
            order = self._orders[order_id]
            if symbol is not None and order.symbol != symbol:
                continue
            if algo:
                if order.algo_status == "NEW":
                    out.append(order)
            elif _visible_as_order(order) and order.status in ("NEW", "PARTIALLY_FILLED"):
                out.append(order)
        return out

    def seed(self, live: Iterable[OrderState], applied: int, now_ms: int) -> None:
        """Starts from the live orders of a projection at seq `applied` (an engine recovered in
        this process); orders created before `now_ms` are then not all held."""
        for order in live:
            self._orders[order.order_id] = order
            self._live.setdefault(order.account_id, {})[order.order_id] = None
            self._by_client[(order.account_id, order.client_order_id)] = order.order_id
        self.applied = applied
        self.complete_since_ms = now_ms

    # The fold ------------------------------------------------------------------------------------
    def apply(self, batches: Iterable[Batch]) -> list[OrderChange]:
        """Folds `batches` (seq order) and returns their order changes, in event order."""
        changes: list[OrderChange] = []
        self._changes = changes
        for batch in batches:
            if batch.last_seq <= self.applied:
                continue
            for envelope in batch.events:
                if envelope.seq > self.applied:
                    self._event(envelope.event, envelope.seq, (envelope.ts or batch.ts) // 1_000_000)
            self.applied = batch.last_seq
        self._changes = []
        self._evict()
        return changes

    def _event(self, event: object, seq: int, now_ms: int) -> None:
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
                self._update(event.order_id, seq, now_ms, triggered_at=now_ms,
                             trigger_price_seen=to_raw(event.trigger_price), algo_status="TRIGGERED",
                             emit=(("TRIGGERED", True), ("NEW", False)))
            case OrderAmended():
                self._update(event.order_id, seq, now_ms, price=to_raw(event.price), orig_qty=to_raw(event.qty),
                             emit=(("AMENDMENT", False),))
            case LiquidationOrder():
                self._liquidation_order(event, seq, now_ms)
            case FillSettled():
                self._fill_settled(event)
            case _:
                pass

    def _store(self, order: OrderState) -> None:
        self._orders[order.order_id] = order
        live = self._live.get(order.account_id)
        if live is None:
            if order.is_live:
                self._live[order.account_id] = {order.order_id: None}
        elif order.is_live:
            live[order.order_id] = None
        elif order.order_id in live:
            del live[order.order_id]
            self._finished.append(order.order_id)
            if not live:
                del self._live[order.account_id]

    def _emit(self, order: OrderState, execution: str, algo: bool, now_ms: int, fill: Fill | None = None) -> None:
        self._changes.append(OrderChange(order, execution, algo, now_ms, fill))

    def _accepted(self, event: OrderAccepted, seq: int, now_ms: int) -> None:
        place = event.order
        conditional = place.order_type not in (OrderType.LIMIT, OrderType.MARKET)
        order = OrderState(
            order_id=event.order_id, account_id=place.account, symbol=self.symbol_name(place.symbol),
            client_order_id=place.client_order_id or f"srv-{event.order_id}", side=Side(place.side).name,
            order_type=TYPE_NAMES[place.order_type], time_in_force=TimeInForce(place.time_in_force).name,
            price=None if place.price is None else to_raw(place.price), orig_qty=to_raw(place.qty),
            executed_qty=0, cum_quote=0,
            stop_price=None if place.stop_price is None else to_raw(place.stop_price),
            activation_price=None if place.activation_price is None else to_raw(place.activation_price),
            callback_rate=None if place.callback_rate is None else to_raw(place.callback_rate),
            working_type=WORKING_TYPES[place.trigger_source], reduce_only=place.reduce_only,
            close_position=place.close_position, position_side=PositionSide(place.position_side).name,
            stp_mode=StpMode(place.stp).name,
            good_till_ms=None if place.good_till is None else place.good_till // 1_000_000,
            status="NEW", algo_status="NEW" if conditional else None, trigger_price_seen=None,
            expire_reason=None, created_at=now_ms, updated_at=now_ms, triggered_at=None, seq=seq,
        )
        self._by_client[(order.account_id, order.client_order_id)] = order.order_id
        self._orders[order.order_id] = order  # registered before _store so a market order that ends
        self._live.setdefault(order.account_id, {})[order.order_id] = None  # in this batch is "finished"
        self._emit(order, "NEW", conditional, now_ms)

    def _update(self, order_id: int, seq: int, now_ms: int, emit: tuple[tuple[str, bool], ...] = (),
                **fields: object) -> OrderState | None:
        order = self._orders.get(order_id)
        if order is None:
            return None
        order = replace(order, seq=seq, updated_at=now_ms, **fields)  # type: ignore[arg-type]
        self._store(order)
        for execution, algo in emit:
            self._emit(order, execution, algo, now_ms)
        return order

    def _finish_algo(self, order: OrderState, now_ms: int) -> None:
        if order.algo_status is not None and order.triggered_at is not None and order.status in FINAL_STATUSES:
            finished = replace(order, algo_status="FINISHED")
            self._store(finished)
            self._emit(finished, "FINISHED", True, now_ms)

    def _trade(self, event: Trade, seq: int, now_ms: int) -> None:
        price, qty = to_raw(event.price), to_raw(event.qty)
        quote = price * qty // SCALE
        for order_id, leaves, maker in ((event.maker_order_id, event.maker_leaves, True),
                                         (event.taker_order_id, event.taker_leaves, False)):
            order = self._orders.get(order_id)
            if order is None:
                continue
            order = self._update(order_id, seq, now_ms, executed_qty=order.executed_qty + qty,
                                 cum_quote=order.cum_quote + quote,
                                 status="FILLED" if to_raw(leaves) == 0 else "PARTIALLY_FILLED")
            assert order is not None
            execution = "CALCULATED" if order.order_type == LIQUIDATION else "TRADE"
            self._emit(order, execution, False, now_ms, Fill(event.trade_id, price, qty, maker))
            self._finish_algo(order, now_ms)

    def _ended(self, order_id: int, status: str, reason: str | None, seq: int, now_ms: int) -> None:
        order = self._orders.get(order_id)
        if order is None:
            return
        if order.algo_status is not None and order.triggered_at is None:
            algo_status = "CANCELED" if status == "CANCELED" else "EXPIRED"
            self._update(order_id, seq, now_ms, expire_reason=reason, algo_status=algo_status, status=status,
                         emit=((algo_status, True),))
            return
        ended = self._update(order_id, seq, now_ms, expire_reason=reason, status=status,
                             emit=(("CANCELED" if status == "CANCELED" else "EXPIRED", False),))
        assert ended is not None
        self._finish_algo(ended, now_ms)

    def _liquidation_order(self, event: LiquidationOrder, seq: int, now_ms: int) -> None:
        """Binance shows the engine's IOC at the bankruptcy price as a LIQUIDATION order, with no
        NEW update (the next change is its fill or its expiry)."""
        if event.account >= SYSTEM_ACCOUNTS:
            return
        order = OrderState(
            order_id=event.order_id, account_id=event.account, symbol=self.symbol_name(event.symbol),
            client_order_id=f"autoclose-{event.order_id}", side=Side(event.side).name, order_type=LIQUIDATION,
            time_in_force="IOC", price=to_raw(event.bankruptcy_price), orig_qty=to_raw(event.qty), executed_qty=0,
            cum_quote=0, stop_price=None, activation_price=None, callback_rate=None, working_type="CONTRACT_PRICE",
            reduce_only=True, close_position=False, position_side=PositionSide(event.position_side).name,
            stp_mode="NONE", good_till_ms=None, status="NEW", algo_status=None, trigger_price_seen=None,
            expire_reason=None, created_at=now_ms, updated_at=now_ms, triggered_at=None, seq=seq,
        )
        self._orders[order.order_id] = order
        self._live.setdefault(order.account_id, {})[order.order_id] = None

    def _fill_settled(self, event: FillSettled) -> None:
        """A fill's fee and realised PnL onto its order change; a liquidation order's leg."""
        if not event.order_id:
            return  # ADL and takeover fills have no trade
        fee, realised = to_raw(event.fee), to_raw(event.realised_pnl)
        changes = self._changes
        for position in range(len(changes) - 1, -1, -1):
            change = changes[position]
            if change.fill and change.fill.trade_id == event.trade_id and change.order.order_id == event.order_id:
                changes[position] = replace(change, fill=replace(change.fill, fee=fee, realised_pnl=realised))
                break
        side = PositionSide(event.position_side).name
        order = self._orders.get(event.order_id)
        if order is not None and order.order_type == LIQUIDATION and order.position_side != side:
            self._store(replace(order, position_side=side))
            for position, change in enumerate(changes):
                if change.order.order_id == event.order_id:
                    changes[position] = replace(change, order=replace(change.order, position_side=side))

    def _evict(self) -> None:
        while len(self._finished) > self.max_finished:
            order = self._orders.get(self._finished.popleft())
            if order is None or order.is_live:
                continue
            del self._orders[order.order_id]
            key = (order.account_id, order.client_order_id)
            if self._by_client.get(key) == order.order_id:
                del self._by_client[key]
            self.complete_since_ms = max(self.complete_since_ms, order.created_at + 1)
