"""Once-a-second streams built from the projection: ``ticker``, ``miniTicker`` (and their
``!…@arr`` forms) and ``kline_<interval>``; and from an engine query, our ``<symbol>@liquidationMap``
(the public liquidation map, docs/API.md). A frame is sent only when its content changed."""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread

from api.hub import MarketHub
from api.services.desk_views import DeskViews
from api.services.market import MarketService

log = logging.getLogger(__name__)


def mini_ticker(t: dict[str, object], now: int) -> dict[str, object]:
    """``24hrMiniTicker`` from a REST 24-hour ticker."""
    return {"e": "24hrMiniTicker", "E": now, "s": t["symbol"], "c": t["lastPrice"], "o": t["openPrice"],
            "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"]}


def full_ticker(t: dict[str, object], now: int) -> dict[str, object]:
    """``24hrTicker`` from a REST 24-hour ticker."""
    return {"e": "24hrTicker", "E": now, "s": t["symbol"], "p": t["priceChange"], "P": t["priceChangePercent"],
            "w": t["weightedAvgPrice"], "c": t["lastPrice"], "Q": t["lastQty"], "o": t["openPrice"],
            "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"],
            "O": t["openTime"], "C": t["closeTime"], "F": t["firstId"], "L": t["lastId"], "n": t["count"]}


def _is_snapshot(name: str) -> bool:
    if name in ("!ticker@arr", "!miniTicker@arr"):
        return True
    return name.endswith(("@ticker", "@miniTicker", "@liquidationMap")) or "@kline_" in name


class SnapshotStreams:
    """Computes and publishes the projection-backed streams that have subscribers."""

    def __init__(self, hub: MarketHub, market: MarketService) -> None:
        self.hub = hub
        self.market = market
        self._last: dict[str, object] = {}

    def _wanted(self) -> list[str]:
        return [name for name, conns in self.hub.subscribers.items() if conns and _is_snapshot(name)]

    def compute(self, streams: list[str]) -> dict[str, object]:
        """Payloads of `streams` (blocking: reads the database)."""
        now = self.market.clock_ms()
        tickers: dict[str, dict[str, object]] = {}

        def ticker(symbol: str) -> dict[str, object]:
            if symbol not in tickers:
                tickers[symbol] = self.market.ticker_24h_sync(self.market.instrument(symbol))
            return tickers[symbol]

        out: dict[str, object] = {}
        for stream in streams:
            if stream in ("!ticker@arr", "!miniTicker@arr"):
                make = full_ticker if stream == "!ticker@arr" else mini_ticker
                out[stream] = [make(ticker(i.name), now) for i in self.market.registry.all()]
                continue
            symbol, kind = stream.split("@", 1)
            symbol = symbol.upper()
            if kind == "ticker":
                out[stream] = full_ticker(ticker(symbol), now)
            elif kind == "miniTicker":
                out[stream] = mini_ticker(ticker(symbol), now)
            elif kind == "liquidationMap":
                views = DeskViews(self.market.client, self.market.registry, None, self.market.clock_ms)
                out[stream] = {"e": "liquidationMap", "E": now, **views.liquidation_map(symbol, None, public=True)}
            elif kind.startswith("kline_"):
                bar = self.market.current_kline(symbol, kind.removeprefix("kline_"))
                if bar is not None:
                    out[stream] = {"e": "kline", "E": now, "s": symbol, "k": bar}
        return out

    def _changed(self, stream: str, payload: object) -> bool:
        def strip(p: object) -> object:
            if isinstance(p, dict):
                return {k: v for k, v in p.items() if k not in ("E", "C", "O", "closeTime", "time")}
            if isinstance(p, list):
                return [strip(x) for x in p]
            return p

        key = strip(payload)
        if self._last.get(stream) == key:
            return False
        self._last[stream] = key
        return True

    async def run(self, interval_s: float = 1.0) -> None:
        """Publishes every `interval_s` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            streams = self._wanted()
            if not streams:
                continue
            try:
                payloads = await anyio.to_thread.run_sync(self.compute, streams)
            except Exception:
                log.exception("snapshot streams failed")
                continue
            for stream, payload in payloads.items():
                if self._changed(stream, payload):
                    self.hub.publish(stream, payload)
