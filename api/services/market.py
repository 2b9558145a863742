"""Public market data: exchange information, books, trades, klines, tickers, mark and index.

Sources: the hub's L2 mirror (depth, book tickers), the projection (trades, klines, 24-hour
statistics), the engine (last/mark/index prices) and the oracle (index constituents and the
mark/index kline series), funding settlements (the projection). The predicted funding rate is
not computed yet (the risk service): ``lastFundingRate`` is the last settled rate (docs/API.md).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import anyio.to_thread

from api import errors, formats
from api.hub import MarketHub, next_funding_ms
from api.instruments import Instrument, InstrumentRegistry, digits
from api.services.klines import INTERVAL_MS, bucket, fold, query_range, rolling_day, select_bars
from derivatives.engine import EngineQueries
from derivatives.persistence import ledger_queries, queries
from derivatives.persistence.db import Database
from derivatives.persistence.ledger_queries import TimeWindow
from derivatives.persistence.queries import Window
from derivatives.persistence.views import FundingState, KlineState, TradeState
from derivatives.units import to_raw
from oracle import MarkPriceService, PriceKind

ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX", "GTD"]
DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3_600_000


class MarketService:
    """Answers the public ``/fapi`` market-data endpoints."""

    def __init__(self, registry: InstrumentRegistry, hub: MarketHub, db: Database, client: EngineQueries,
                 oracle: MarkPriceService | None, clock_ms: Callable[[], int], rate_limits: list[dict[str, object]],
                 funding_estimate: Callable[[str], dict[str, object] | None] | None = None) -> None:
        """`funding_estimate`: the risk funding service's ``premiumIndex`` row of a symbol (the
        predicted rate), when it runs; without it the last settled rate is shown."""
        self.funding_estimate = funding_estimate
        self.registry = registry
        self.hub = hub
        self.db = db
        self.client = client
        self.oracle = oracle
        self.clock_ms = clock_ms
        self.rate_limits = rate_limits

    def instrument(self, symbol: str | None) -> Instrument:
        """The listed instrument `symbol`, or -1121."""
        return self.registry.require(symbol)

    def _chosen(self, symbol: str | None) -> list[Instrument]:
        return self.registry.all() if symbol is None else [self.instrument(symbol)]

    def exchange_info(self) -> dict[str, object]:
        """``/fapi/v1/exchangeInfo``."""
        return {
            "timezone": "UTC",
            "serverTime": self.clock_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": self.rate_limits,
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "0"}],
            "symbols": [self._symbol_info(i) for i in self.registry.all()],
        }

    def _symbol_info(self, i: Instrument) -> dict[str, object]:
        spec = i.spec
        price_digits, qty_digits = digits(spec.tick_size), digits(spec.step_size)

        def text(value: Decimal) -> str:
            return f"{value.normalize():f}"

        return {
            "symbol": i.name, "pair": i.name, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
            "onboardDate": i.onboard_ms, "status": "TRADING" if spec.trading else "CLOSE",
            "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
            "baseAsset": i.base_asset, "quoteAsset": "USDT", "marginAsset": "USDT",
            "pricePrecision": price_digits, "quantityPrecision": qty_digits,
            "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
            "settlePlan": 0, "triggerProtect": text(spec.market_price_band),
            "liquidationFee": text(spec.liquidation_fee), "marketTakeBound": text(spec.market_price_band),
            "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": text(spec.tick_size), "maxPrice": text(i.max_price),
                 "tickSize": text(spec.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": text(spec.min_qty), "maxQty": text(spec.max_qty),
                 "stepSize": text(spec.step_size)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": text(spec.min_qty), "maxQty": text(spec.max_qty),
                 "stepSize": text(spec.step_size)},
                {"filterType": "MIN_NOTIONAL", "notional": text(spec.min_notional)},
                {"filterType": "PERCENT_PRICE", "multiplierUp": text(1 + spec.limit_price_band),
                 "multiplierDown": text(1 - spec.limit_price_band), "multiplierDecimal": "4"},
            ],
            "orderTypes": ORDER_TYPES,
            "timeInForce": TIME_IN_FORCE,
        }

    def depth(self, symbol: str | None, limit: int) -> dict[str, object]:
        """``/fapi/v1/depth`` (from the hub's mirror; consistent with the diff stream)."""
        return self.hub.depth(self.instrument(symbol), limit, self.clock_ms())

    async def trades(self, symbol: str | None, limit: int) -> list[dict[str, object]]:
        """``/fapi/v1/trades``: the most recent trades."""
        instrument = self.instrument(symbol)
        rows = await anyio.to_thread.run_sync(self._trades, instrument.name, Window(limit))
        return [formats.public_trade(instrument, t) for t in rows]

    async def agg_trades(self, symbol: str | None, window: Window) -> list[dict[str, object]]:
        """``/fapi/v1/aggTrades`` (one engine trade per aggregate)."""
        if window.start is not None and window.end is not None and window.end - window.start > 3_600_000:
            raise errors.bad_combination("startTime and endTime must be at most one hour apart.")
        instrument = self.instrument(symbol)
        rows = await anyio.to_thread.run_sync(self._trades, instrument.name, window)
        return [formats.agg_trade(instrument, t) for t in rows]

    def _trades(self, symbol: str, window: Window) -> list[TradeState]:
        with self.db.reader() as session:
            return queries.market_trades(session, symbol, window)

    async def klines(self, symbol: str | None, interval: str | None, start: int | None, end: int | None,
                     limit: int) -> list[list[object]]:
        """``/fapi/v1/klines`` from traded prices."""
        instrument = self.instrument(symbol)
        if interval not in INTERVAL_MS:
            raise errors.invalid_interval()
        bars = await anyio.to_thread.run_sync(self._bars, instrument.name, interval, start, end, limit)
        return [self._kline_row(instrument, b) for b in bars]

    def _bars(self, symbol: str, interval: str, start: int | None, end: int | None, limit: int) -> list[KlineState]:
        low, high = query_range(interval, start, end, limit, self.clock_ms())
        with self.db.reader() as session:
            rows = queries.minute_bars(session, symbol, low, high)
        return select_bars(fold(rows, interval), start, end, limit)

    @staticmethod
    def _kline_row(i: Instrument, b: KlineState) -> list[object]:
        return [b.open_time, formats.price(i, b.open), formats.price(i, b.high), formats.price(i, b.low),
                formats.price(i, b.close), formats.qty(i, b.volume), b.close_time, formats.quote(b.quote_volume),
                b.trades, formats.qty(i, b.taker_buy_volume), formats.quote(b.taker_buy_quote_volume), "0"]

    def current_kline(self, symbol: str, interval: str) -> dict[str, object] | None:
        """The open bar of a kline stream (blocking), as the WS ``k`` object."""
        instrument = self.instrument(symbol)
        now = self.clock_ms()
        bars = self._bars(instrument.name, interval, None, now, 1)
        if not bars:
            return None
        b = bars[-1]
        return {"t": b.open_time, "T": b.close_time, "s": instrument.name, "i": interval, "f": 0, "L": 0,
                "o": formats.price(instrument, b.open), "c": formats.price(instrument, b.close),
                "h": formats.price(instrument, b.high), "l": formats.price(instrument, b.low),
                "v": formats.qty(instrument, b.volume), "n": b.trades, "x": b.close_time < now,
                "q": formats.quote(b.quote_volume), "V": formats.qty(instrument, b.taker_buy_volume),
                "Q": formats.quote(b.taker_buy_quote_volume), "B": "0"}

    def ticker_24h_sync(self, instrument: Instrument) -> dict[str, object]:
        """24-hour rolling statistics of one symbol (blocking).

        Every price, the last one included, comes from one read of the 1-minute bars (one statement,
        so one consistent snapshot; no upper time bound, so a trade stamped after ``now`` cannot be
        the last price while missing from the high): ``low <= last <= high`` and ``open``/``last``
        are the window's first and last trades. ``lastQty`` is the quantity of the bars' last trade.
        """
        now = self.clock_ms()
        with self.db.reader() as session:
            rows = queries.minute_bars(session, instrument.name, now - DAY_MS + 60_000, None)
            last = queries.last_trade(session, instrument.name, rows[-1].last_trade_id if rows else None)
        day = rolling_day(rows)
        last_price = last.price if last else 0
        if day is None:
            open_price = high = low = last_price
            volume = quote_volume = count = 0
            open_time, first_id, last_id = now - DAY_MS, -1, -1
        else:
            last_price = day.close
            open_price, high, low = day.open, day.high, day.low
            volume, quote_volume, count = day.volume, day.quote_volume, day.trades
            open_time, first_id, last_id = day.open_time, rows[0].first_trade_id, rows[-1].last_trade_id
        change = last_price - open_price
        percent = Decimal(0) if open_price == 0 else Decimal(change * 100) / Decimal(open_price)
        weighted = Decimal(0) if volume == 0 else Decimal(quote_volume) / Decimal(volume)
        i = instrument
        return {
            "symbol": i.name, "priceChange": formats.price(i, change) if change >= 0 else "-" + formats.price(i, -change),
            "priceChangePercent": formats.decimal_text(percent, 3),
            "weightedAvgPrice": formats.decimal_text(weighted, digits(i.spec.tick_size)),
            "lastPrice": formats.price(i, last_price), "lastQty": formats.qty(i, last.qty if last else 0),
            "openPrice": formats.price(i, open_price), "highPrice": formats.price(i, high),
            "lowPrice": formats.price(i, low), "volume": formats.qty(i, volume),
            "quoteVolume": formats.quote(quote_volume), "openTime": open_time, "closeTime": now,
            "firstId": first_id, "lastId": last_id, "count": count,
        }

    async def ticker_24h(self, symbol: str | None) -> dict[str, object] | list[dict[str, object]]:
        """``/fapi/v1/ticker/24hr``: one object with a symbol, else a list."""
        chosen = self._chosen(symbol)
        rows = [await anyio.to_thread.run_sync(self.ticker_24h_sync, i) for i in chosen]
        return rows[0] if symbol is not None else rows

    async def ticker_price(self, symbol: str | None) -> dict[str, object] | list[dict[str, object]]:
        """``/fapi/v1|v2/ticker/price``: last traded price."""
        now = self.clock_ms()
        rows = []
        for i in self._chosen(symbol):
            prices = self.client.prices(i.spec.symbol)
            last = prices.last if prices and prices.last is not None else Decimal(0)
            rows.append({"symbol": i.name, "price": formats.price(i, to_raw(last)), "time": now})
        return rows[0] if symbol is not None else rows

    def book_ticker(self, symbol: str | None) -> dict[str, object] | list[dict[str, object]]:
        """``/fapi/v1/ticker/bookTicker`` from the mirror."""
        now = self.clock_ms()
        rows = []
        for i in self._chosen(symbol):
            t = self.hub.book_ticker(i, now)
            rows.append({"symbol": i.name, "bidPrice": t["b"], "bidQty": t["B"], "askPrice": t["a"],
                         "askQty": t["A"], "time": t["T"], "lastUpdateId": t["u"]})
        return rows[0] if symbol is not None else rows

    def premium_index(self, symbol: str | None) -> dict[str, object] | list[dict[str, object]]:
        """``/fapi/v1/premiumIndex``: mark and index from the engine; the funding fields from the risk
        service's estimate (the predicted rate) when it runs, else the last settled rate."""
        now = self.clock_ms()
        rows: list[dict[str, object]] = []
        for i in self._chosen(symbol):
            prices = self.client.prices(i.spec.symbol)
            mark = prices.mark if prices and prices.mark is not None else Decimal(0)
            index = prices.index if prices and prices.index is not None else Decimal(0)
            rows.append({"symbol": i.name, "markPrice": formats.decimal_text(mark, 8),
                         "indexPrice": formats.decimal_text(index, 8),
                         "estimatedSettlePrice": formats.decimal_text(index, 8),
                         "lastFundingRate": formats.decimal_text(self.hub.funding.get(i.name, Decimal(0)), 8),
                         "interestRate": "0.00010000",
                         "nextFundingTime": next_funding_ms(i, now), "time": now})
            estimate = self.funding_estimate(i.name) if self.funding_estimate is not None else None
            if estimate is not None:
                rows[-1].update({key: estimate[key] for key in ("lastFundingRate", "interestRate", "nextFundingTime")})
        return rows[0] if symbol is not None else rows

    def price_klines(self, kind: PriceKind, pair: str | None, interval: str | None, start: int | None,
                     end: int | None, limit: int) -> list[list[object]]:
        """``markPriceKlines`` / ``indexPriceKlines`` from the oracle's 1-minute series."""
        instrument = self.instrument(pair)
        if interval not in INTERVAL_MS:
            raise errors.invalid_interval()
        if self.oracle is None:
            return []
        minute_rows = self.oracle.klines(instrument.name, kind, None, end, 1500)
        bars: list[tuple[int, int, Decimal, Decimal, Decimal, Decimal]] = []
        for k in minute_rows:
            open_time, close_time = bucket(k.open_time_ms, interval)
            if bars and bars[-1][0] == open_time:
                prev = bars[-1]
                bars[-1] = (open_time, close_time, prev[2], max(prev[3], k.high), min(prev[4], k.low), k.close)
            else:
                bars.append((open_time, close_time, k.open, k.high, k.low, k.close))
        chosen = [b for b in bars if (start is None or b[0] >= start) and (end is None or b[0] <= end)]
        chosen = chosen[:limit] if start is not None else chosen[-limit:]
        return [[b[0], formats.decimal_text(b[2], 8), formats.decimal_text(b[3], 8), formats.decimal_text(b[4], 8),
                 formats.decimal_text(b[5], 8), "0", b[1], "0", 0, "0", "0", "0"] for b in chosen]

    def constituents(self, symbol: str | None) -> dict[str, object]:
        """``/fapi/v1/constituents`` from the oracle."""
        instrument = self.instrument(symbol)
        payload = self.oracle.constituents(instrument.name) if self.oracle else None
        return payload or {"symbol": instrument.name, "time": self.clock_ms(), "constituents": []}

    # Funding and open interest -----------------------------------------------------------------
    async def funding_rate_history(self, symbol: str | None, start: int | None, end: int | None,
                                   limit: int | None) -> list[dict[str, object]]:
        """``/fapi/v1/fundingRate``: settled rates, oldest first."""
        if symbol is not None:
            self.instrument(symbol)

        def read() -> list[FundingState]:
            with self.db.reader() as session:
                return ledger_queries.funding_history(session, symbol, TimeWindow(limit or 100, start, end))

        rows = await anyio.to_thread.run_sync(read)
        return [{"symbol": r.symbol, "fundingRate": formats.fixed(r.rate, 8), "fundingTime": r.time,
                 "markPrice": formats.fixed(r.mark, 8)} for r in rows]

    def funding_info(self) -> list[dict[str, object]]:
        """``/fapi/v1/fundingInfo``: the funding interval of every symbol (its instrument's; whole
        hours, as Binance: a sub-hour demo interval shows 0)."""
        return [{"symbol": i.name, "fundingIntervalHours": i.spec.funding_interval_ms // HOUR_MS, "disclaimer": False}
                for i in self.registry.all()]

    def open_interest_sync(self, instrument: Instrument) -> Decimal:
        """Sum of long quantities of every holder (the insurance fund included), blocking: one
        engine query."""
        return self.client.open_interest(instrument.spec.symbol)

    async def open_interest(self, symbol: str | None) -> dict[str, object]:
        """``/fapi/v1/openInterest``."""
        instrument = self.instrument(symbol)
        total = await anyio.to_thread.run_sync(self.open_interest_sync, instrument)
        return {"openInterest": formats.qty(instrument, to_raw(total)), "symbol": instrument.name,
                "time": self.clock_ms()}
