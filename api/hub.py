"""Market-data fan-out: the L2 mirror behind REST depth and the public WebSocket streams.

Runs on the event loop only (the gateway hands batches over with ``call_soon_threadsafe``, in
sequence order), so the mirror, the subscriptions and every connection queue are touched by one
thread.

Invariants:
    * Update ids are engine sequence numbers: a ``depthUpdate`` of a symbol covers the commands
      ``U..=u`` that changed its book, and ``pu`` is the previous event's ``u`` for that symbol,
      so the chain is continuous per symbol (CCXT.md §6b).
    * REST ``/fapi/v1/depth`` reads this same mirror, and its ``lastUpdateId`` is the ``u`` of the
      last delta folded in, so a snapshot and the diff stream always agree.
    * A connection whose queue overflows is closed (a slow consumer never blocks the fan-out).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from api import formats
from api.instruments import Instrument, InstrumentRegistry
from derivatives.enums import Side
from derivatives.events import BookDelta, FundingApplied, LiquidationOrder, MarkPriceSet, Trade
from derivatives.funding_times import next_funding_time
from derivatives.persistence.projector import Batch
from derivatives.units import SCALE, to_raw
from risk.funding_service import FundingEstimate

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
_STREAM = re.compile(
    r"^(?P<sym>[a-z0-9]{1,20})@(?P<kind>aggTrade|trade|markPrice(?:@1s)?|kline_(?P<iv>[0-9]{1,2}[mhdwM])|miniTicker|ticker"
    r"|bookTicker|forceOrder|liquidationMap|depth(?P<levels>5|10|20)?(?:@(?:0|100|250|500)ms)?)$"
)
_ALL = {"!miniTicker@arr": "!miniTicker@arr", "!ticker@arr": "!ticker@arr", "!bookTicker": "!bookTicker",
        "!markPrice@arr": "!markPrice@arr", "!markPrice@arr@1s": "!markPrice@arr", "!forceOrder@arr": "!forceOrder@arr"}


def frame(name: str, payload: object, combined: bool) -> str:
    """The text of one data frame: the raw event, or the combined-stream wrapper."""
    return json.dumps({"stream": name, "data": payload} if combined else payload)


class Connection:
    """One WebSocket's outgoing queue and subscriptions."""

    def __init__(self, combined: bool) -> None:
        self.combined = combined
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.streams: dict[str, str] = {}
        self.closed = False
        self.close_code = 1000

    def push(self, name: str, payload: object) -> None:
        """Queues one data frame (raw event, or the combined-stream wrapper)."""
        self.send(frame(name, payload, self.combined))

    def send(self, text: str) -> None:
        """Queues one text frame; closes the connection when it has fallen too far behind."""
        if self.closed:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            log.warning("closing a WebSocket that fell %d frames behind", QUEUE_LIMIT)
            self.close()
            return
        self.queue.put_nowait(text)

    def close(self, code: int = 1000) -> None:
        """Asks the writer to close the socket (with `code`) once the queued frames are out."""
        if not self.closed:
            self.closed = True
            self.close_code = code
            self.queue.put_nowait(None)


@dataclass(slots=True)
class BookMirror:
    """L2 levels of one symbol (raw price -> raw qty) and the last update id folded in."""

    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    last_update_id: int = 0
    last_ts_ms: int = 0

    def levels(self, side: Side, limit: int) -> list[tuple[int, int]]:
        """Best `limit` levels of a side."""
        book = self.bids if side == Side.BUY else self.asks
        return sorted(book.items(), reverse=side == Side.BUY)[:limit]

    def best(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Best bid and ask."""
        bid = max(self.bids.items(), default=None)
        ask = min(self.asks.items(), default=None)
        return bid, ask


@dataclass(slots=True)
class _Liquidation:
    """A liquidation order of a batch and what it filled (for ``forceOrder``)."""

    order: LiquidationOrder
    filled: int = 0
    quote: int = 0


@dataclass(slots=True)
class _SymbolBatch:
    first: int = 0
    last: int = 0
    deltas: list[BookDelta] = field(default_factory=list)


def canonical_stream(name: str, registry: InstrumentRegistry) -> str | None:
    """The stream a subscription name refers to (speed suffixes dropped), or None if invalid."""
    if name in _ALL:
        return _ALL[name]
    match = _STREAM.fullmatch(name)
    if match is None or registry.get(match["sym"].upper()) is None:
        return None
    kind = match["kind"]
    if match["iv"] is not None and match["iv"] not in INTERVALS:
        return None
    if kind.startswith("depth"):
        kind = f"depth{match['levels'] or ''}"
    elif kind.startswith("markPrice"):
        kind = "markPrice"
    return f"{match['sym']}@{kind}"


class MarketHub:
    """The L2 mirror, last trades, marks, and the public stream subscriptions."""

    def __init__(self, registry: InstrumentRegistry) -> None:
        self.registry = registry
        self.books: dict[str, BookMirror] = defaultdict(BookMirror)
        self.last_trade: dict[str, tuple[int, int]] = {}
        self.subscribers: dict[str, set[Connection]] = defaultdict(set)
        self.snapshot_streams: Callable[[], None] | None = None
        self.marks: dict[str, int] = {}
        """Latest raw mark price per symbol name."""
        self.funding: dict[str, Decimal] = {}
        """Latest settled funding rate per symbol name (seeded from the projection at start)."""
        self.funding_estimate: Callable[[str], FundingEstimate | None] | None = None
        """The risk funding service's estimate of a symbol, when it runs (set once at start-up):
        the ``markPrice`` streams then carry its predicted rate, as ``premiumIndex`` does."""

    # Subscriptions -------------------------------------------------------------------------
    def subscribe(self, conn: Connection, names: list[str]) -> list[str]:
        """Subscribes `conn` to `names`; returns the invalid ones (nothing subscribed then)."""
        resolved = [(n, canonical_stream(n, self.registry)) for n in names]
        invalid = [n for n, c in resolved if c is None]
        if invalid:
            return invalid
        for name, canonical in resolved:
            assert canonical is not None
            conn.streams[name] = canonical
            self.subscribers[canonical].add(conn)
        return []

    def unsubscribe(self, conn: Connection, names: list[str]) -> None:
        """Drops subscriptions of `conn`."""
        for name in names:
            canonical = conn.streams.pop(name, None)
            if canonical is not None and canonical not in conn.streams.values():
                self.subscribers[canonical].discard(conn)

    def remove(self, conn: Connection) -> None:
        """Forgets a closed connection."""
        self.unsubscribe(conn, list(conn.streams))

    def publish(self, canonical: str, payload: object) -> None:
        """Sends `payload` to every subscriber of `canonical` under the names they used; each
        distinct frame text is serialised once, however many subscribers receive it."""
        texts: dict[tuple[str, bool], str] = {}
        for conn in list(self.subscribers.get(canonical, ())):
            for name, target in list(conn.streams.items()):
                if target == canonical:
                    key = (name, conn.combined)
                    if key not in texts:
                        texts[key] = frame(name, payload, conn.combined)
                    conn.send(texts[key])

    def subscribed(self, canonical: str) -> bool:
        """True if anyone listens to `canonical`."""
        return bool(self.subscribers.get(canonical))

    # Engine batches --------------------------------------------------------------------------
    def on_batch(self, batch: Batch) -> None:
        """Folds one batch into the mirror and publishes its stream events."""
        now_ms = batch.ts // 1_000_000
        per_symbol: dict[int, _SymbolBatch] = {}
        marks: list[MarkPriceSet] = []
        liquidations: dict[int, _Liquidation] = {}
        for envelope in batch.events:
            event = envelope.event
            if isinstance(event, BookDelta):
                entry = per_symbol.setdefault(event.symbol, _SymbolBatch(first=envelope.seq))
                entry.last = envelope.seq
                entry.deltas.append(event)
            elif isinstance(event, Trade):
                self._trade(event, now_ms)
                liquidation = liquidations.get(event.taker_order_id)
                if liquidation is not None:
                    qty = to_raw(event.qty)
                    liquidation.filled += qty
                    liquidation.quote += to_raw(event.price) * qty // SCALE
            elif isinstance(event, MarkPriceSet):
                marks.append(event)
            elif isinstance(event, LiquidationOrder):
                liquidations[event.order_id] = _Liquidation(event)
            elif isinstance(event, FundingApplied):
                instrument = self.registry.by_id(event.symbol)
                if instrument is not None:
                    self.funding[instrument.name] = event.rate
        for symbol, entry in per_symbol.items():
            instrument = self.registry.by_id(symbol)
            if instrument is not None:
                self._deltas(instrument, entry, now_ms)
        if marks:
            self._marks(marks, now_ms)
        for liquidation in liquidations.values():
            self._force_order(liquidation, now_ms)

    def _force_order(self, liquidation: _Liquidation, now_ms: int) -> None:
        """``<symbol>@forceOrder`` and ``!forceOrder@arr``: a liquidation order (LIMIT IOC at the
        bankruptcy price) with what it filled in its command."""
        order = liquidation.order
        instrument = self.registry.by_id(order.symbol)
        if instrument is None:
            return
        qty = to_raw(order.qty)
        status = "FILLED" if liquidation.filled == qty else ("PARTIALLY_FILLED" if liquidation.filled else "EXPIRED")
        average = liquidation.quote * SCALE // liquidation.filled if liquidation.filled else 0
        event = {"e": "forceOrder", "E": now_ms, "o": {
            "s": instrument.name, "S": Side(order.side).name, "o": "LIMIT", "f": "IOC",
            "q": formats.qty(instrument, qty), "p": formats.price(instrument, to_raw(order.bankruptcy_price)),
            "ap": formats.quote(average), "X": status, "l": formats.qty(instrument, liquidation.filled),
            "z": formats.qty(instrument, liquidation.filled), "T": now_ms,
        }}
        self.publish(f"{instrument.name.lower()}@forceOrder", event)
        self.publish("!forceOrder@arr", event)

    def _trade(self, event: Trade, now_ms: int) -> None:
        instrument = self.registry.by_id(event.symbol)
        if instrument is None:
            return
        price, qty = to_raw(event.price), to_raw(event.qty)
        self.last_trade[instrument.name] = (price, now_ms)
        stream = instrument.name.lower()
        buyer_maker = event.taker_side == Side.SELL
        if self.subscribed(f"{stream}@trade"):
            self.publish(f"{stream}@trade", {
                "e": "trade", "E": now_ms, "T": now_ms, "s": instrument.name, "t": event.trade_id,
                "p": formats.price(instrument, price), "q": formats.qty(instrument, qty), "X": "MARKET",
                "m": buyer_maker})
        if self.subscribed(f"{stream}@aggTrade"):
            self.publish(f"{stream}@aggTrade", {
                "e": "aggTrade", "E": now_ms, "a": event.trade_id, "s": instrument.name,
                "p": formats.price(instrument, price), "q": formats.qty(instrument, qty),
                "f": event.trade_id, "l": event.trade_id, "T": now_ms, "m": buyer_maker})

    def _deltas(self, instrument: Instrument, entry: _SymbolBatch, now_ms: int) -> None:
        book = self.books[instrument.name]
        before = book.best()
        previous = book.last_update_id
        changes: dict[Side, list[list[str]]] = {Side.BUY: [], Side.SELL: []}
        for delta in entry.deltas:
            side_book = book.bids if delta.side == Side.BUY else book.asks
            price, qty = to_raw(delta.price), to_raw(delta.qty)
            if qty == 0:
                side_book.pop(price, None)
            else:
                side_book[price] = qty
            changes[Side(delta.side)].append([formats.price(instrument, price), formats.qty(instrument, qty)])
        book.last_update_id = entry.last
        book.last_ts_ms = now_ms
        stream = instrument.name.lower()
        header = {"e": "depthUpdate", "E": now_ms, "T": now_ms, "s": instrument.name,
                  "U": entry.first, "u": entry.last, "pu": previous}
        if self.subscribed(f"{stream}@depth"):
            self.publish(f"{stream}@depth", {**header, "b": changes[Side.BUY], "a": changes[Side.SELL]})
        for levels in (5, 10, 20):
            if self.subscribed(f"{stream}@depth{levels}"):
                self.publish(f"{stream}@depth{levels}", {**header, **self._top(instrument, book, levels)})
        after = book.best()
        if after != before:
            ticker = self.book_ticker(instrument, now_ms)
            ticker = {"e": "bookTicker", **ticker}
            self.publish(f"{stream}@bookTicker", ticker)
            self.publish("!bookTicker", ticker)

    def _top(self, instrument: Instrument, book: BookMirror, levels: int) -> dict[str, list[list[str]]]:
        def fmt(rows: list[tuple[int, int]]) -> list[list[str]]:
            return [[formats.price(instrument, p), formats.qty(instrument, q)] for p, q in rows]

        return {"b": fmt(book.levels(Side.BUY, levels)), "a": fmt(book.levels(Side.SELL, levels))}

    def _marks(self, marks: list[MarkPriceSet], now_ms: int) -> None:
        updates = []
        for mark in marks:
            instrument = self.registry.by_id(mark.symbol)
            if instrument is None:
                continue
            self.marks[instrument.name] = to_raw(mark.mark)
            estimate = self.funding_estimate(instrument.name) if self.funding_estimate is not None else None
            rate = estimate.rate if estimate else self.funding.get(instrument.name, Decimal(0))
            update = {"e": "markPriceUpdate", "E": now_ms, "s": instrument.name,
                      "p": formats.decimal_text(mark.mark, 8), "i": formats.decimal_text(mark.index, 8),
                      "P": formats.decimal_text(mark.index, 8), "r": formats.decimal_text(rate, 8),
                      "T": estimate.next_funding_ms if estimate else next_funding_ms(instrument, now_ms)}
            self.publish(f"{instrument.name.lower()}@markPrice", update)
            updates.append(update)
        if updates:
            self.publish("!markPrice@arr", updates)

    # Queries (REST) --------------------------------------------------------------------------
    def depth(self, instrument: Instrument, limit: int, now_ms: int) -> dict[str, object]:
        """``/fapi/v1/depth`` from the mirror."""
        book = self.books[instrument.name]
        return {"lastUpdateId": book.last_update_id, "E": now_ms, "T": book.last_ts_ms or now_ms,
                **{k: v for k, v in zip(("bids", "asks"), self._top(instrument, book, limit).values(), strict=True)}}

    def book_ticker(self, instrument: Instrument, now_ms: int) -> dict[str, object]:
        """``bookTicker`` fields of a symbol."""
        book = self.books[instrument.name]
        bid, ask = book.best()
        return {"u": book.last_update_id, "s": instrument.name,
                "b": formats.price(instrument, bid[0] if bid else 0), "B": formats.qty(instrument, bid[1] if bid else 0),
                "a": formats.price(instrument, ask[0] if ask else 0), "A": formats.qty(instrument, ask[1] if ask else 0),
                "T": book.last_ts_ms or now_ms, "E": now_ms}


def next_funding_ms(instrument: Instrument, now_ms: int) -> int:
    """The instrument's next funding time (``derivatives.funding_times``: its own interval)."""
    return next_funding_time(now_ms, instrument.spec.funding_interval_ms)
