"""Local fake spot venues speaking each venue's real public REST protocol, for stock ccxt.

Each fake serves exactly the endpoints and payload shapes that the installed ccxt calls and
parses (read from ``ccxt/async_support/<venue>.py``): the spot instrument list behind
``load_markets`` and the ticker behind ``fetch_ticker`` / ``fetch_tickers``. Binance also serves
its WebSocket ticker stream for ccxt.pro. Servers listen on 127.0.0.1 at free ports.

A test drives a venue through :class:`VenueState`: its quotes (strings, as the venues send
them) and its mode: healthy, ``down`` (HTTP 503), ``slow`` (answers only after
``slow_seconds``, or when the server stops), or ``html`` (an HTML error page with status 200).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

NOW_MS = 1_760_000_000_000
"""Venue-side timestamp written into payloads (the oracle uses its own receipt time)."""

# Venue market ids and the ccxt unified markets they stand for.
BINANCE_IDS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
OKX_IDS = {"BTC/USDT": "BTC-USDT", "ETH/USDT": "ETH-USDT"}
BYBIT_IDS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
COINBASE_IDS = {"BTC/USD": "BTC-USD", "ETH/USD": "ETH-USD", "USDT/USD": "USDT-USD"}
KRAKEN_PAIRS = {  # id: (altname, wsname, base, quote)
    "XXBTZUSD": ("XBTUSD", "XBT/USD", "XXBT", "ZUSD"),
    "XETHZUSD": ("ETHUSD", "ETH/USD", "XETH", "ZUSD"),
    "USDTZUSD": ("USDTUSD", "USDT/USD", "USDT", "ZUSD"),
}
KRAKEN_IDS = {"BTC/USD": "XXBTZUSD", "ETH/USD": "XETHZUSD", "USDT/USD": "USDTZUSD"}


@dataclass(frozen=True)
class Quote:
    """A venue's top of book and last trade, as the strings it sends."""

    bid: str
    ask: str
    last: str


@dataclass
class VenueState:
    """What a fake venue answers; tests change it between polls."""

    quotes: dict[str, Quote] = field(default_factory=dict)
    mode: str = "healthy"
    slow_seconds: float = 5.0
    paths: list[str] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def set(self, market: str, bid: str, ask: str, last: str | None = None) -> None:
        """Set a market's quote; the last price defaults to the bid."""
        self.quotes[market] = Quote(bid, ask, last or bid)

    def quote(self, unified_by_id: dict[str, str], market_id: str) -> Quote:
        """Return the quote of a venue market id (404 if unknown)."""
        for unified, venue_id in unified_by_id.items():
            if venue_id == market_id and unified in self.quotes:
                return self.quotes[unified]
        raise web.HTTPNotFound(text=f"unknown market {market_id}")


Handler = Callable[[web.Request, VenueState], Any]


def _binance_routes(state: VenueState) -> dict[str, Handler]:
    def exchange_info(_: web.Request, __: VenueState) -> Any:
        symbols = []
        for unified, venue_id in BINANCE_IDS.items():
            base, quote = unified.split("/")
            symbols.append(
                {
                    "symbol": venue_id,
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": True,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": "0.01000000",
                            "maxPrice": "1000000.00000000",
                            "tickSize": "0.01000000",
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": "0.00001000",
                            "maxQty": "9000.00000000",
                            "stepSize": "0.00001000",
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                }
            )
        return {"timezone": "UTC", "serverTime": NOW_MS, "rateLimits": [], "symbols": symbols}

    def ticker_24hr(request: web.Request, st: VenueState) -> Any:
        venue_id = request.query["symbol"]
        q = st.quote(BINANCE_IDS, venue_id)
        return {
            "symbol": venue_id,
            "priceChange": "0.00000000",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": q.last,
            "prevClosePrice": q.last,
            "lastPrice": q.last,
            "lastQty": "0.00100000",
            "bidPrice": q.bid,
            "bidQty": "1.50000000",
            "askPrice": q.ask,
            "askQty": "2.00000000",
            "openPrice": q.last,
            "highPrice": q.ask,
            "lowPrice": q.bid,
            "volume": "12345.00000000",
            "quoteVolume": "800000000.00000000",
            "openTime": NOW_MS - 86_400_000,
            "closeTime": NOW_MS,
            "firstId": 1,
            "lastId": 1000,
            "count": 1000,
        }

    return {"/api/v3/exchangeInfo": exchange_info, "/api/v3/ticker/24hr": ticker_24hr}


def _okx_routes(state: VenueState) -> dict[str, Handler]:
    def instruments(request: web.Request, _: VenueState) -> Any:
        assert request.query["instType"] == "SPOT"
        data = []
        for unified, venue_id in OKX_IDS.items():
            base, quote = unified.split("/")
            data.append(
                {
                    "instType": "SPOT",
                    "instId": venue_id,
                    "uly": "",
                    "instFamily": "",
                    "baseCcy": base,
                    "quoteCcy": quote,
                    "settleCcy": "",
                    "ctVal": "",
                    "ctMult": "",
                    "ctValCcy": "",
                    "optType": "",
                    "stk": "",
                    "listTime": "1548133413000",
                    "expTime": "",
                    "lever": "10",
                    "tickSz": "0.1",
                    "lotSz": "0.00000001",
                    "minSz": "0.00001",
                    "ctType": "",
                    "alias": "",
                    "state": "live",
                    "maxLmtSz": "9999999999",
                    "maxMktSz": "1000000",
                }
            )
        return {"code": "0", "msg": "", "data": data}

    def ticker(request: web.Request, st: VenueState) -> Any:
        venue_id = request.query["instId"]
        q = st.quote(OKX_IDS, venue_id)
        return {
            "code": "0",
            "msg": "",
            "data": [
                {
                    "instType": "SPOT",
                    "instId": venue_id,
                    "last": q.last,
                    "lastSz": "0.001",
                    "askPx": q.ask,
                    "askSz": "1.2",
                    "bidPx": q.bid,
                    "bidSz": "0.8",
                    "open24h": q.last,
                    "high24h": q.ask,
                    "low24h": q.bid,
                    "volCcy24h": "500000000",
                    "vol24h": "7000",
                    "ts": str(NOW_MS),
                    "sodUtc0": q.last,
                    "sodUtc8": q.last,
                }
            ],
        }

    return {"/api/v5/public/instruments": instruments, "/api/v5/market/ticker": ticker}


def _bybit_routes(state: VenueState) -> dict[str, Handler]:
    def instruments(request: web.Request, _: VenueState) -> Any:
        assert request.query["category"] == "spot"
        items = []
        for unified, venue_id in BYBIT_IDS.items():
            base, quote = unified.split("/")
            items.append(
                {
                    "symbol": venue_id,
                    "baseCoin": base,
                    "quoteCoin": quote,
                    "innovation": "0",
                    "status": "Trading",
                    "marginTrading": "both",
                    "lotSizeFilter": {
                        "basePrecision": "0.000001",
                        "quotePrecision": "0.00000001",
                        "minOrderQty": "0.000048",
                        "maxOrderQty": "71.73956243",
                        "minOrderAmt": "1",
                        "maxOrderAmt": "2000000",
                    },
                    "priceFilter": {"tickSize": "0.01"},
                }
            )
        return {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": "spot", "list": items, "nextPageCursor": ""},
            "retExtInfo": {},
            "time": NOW_MS,
        }

    def tickers(request: web.Request, st: VenueState) -> Any:
        venue_id = request.query["symbol"]
        q = st.quote(BYBIT_IDS, venue_id)
        item = {
            "symbol": venue_id,
            "bid1Price": q.bid,
            "bid1Size": "0.5",
            "ask1Price": q.ask,
            "ask1Size": "0.7",
            "lastPrice": q.last,
            "prevPrice24h": q.last,
            "price24hPcnt": "0.0000",
            "highPrice24h": q.ask,
            "lowPrice24h": q.bid,
            "turnover24h": "300000000",
            "volume24h": "4000",
            "usdIndexPrice": q.last,
        }
        return {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": "spot", "list": [item]},
            "retExtInfo": {},
            "time": NOW_MS,
        }

    return {"/v5/market/instruments-info": instruments, "/v5/market/tickers": tickers}


def _coinbase_routes(state: VenueState) -> dict[str, Handler]:
    def products(_: web.Request, __: VenueState) -> Any:
        result = []
        for unified, venue_id in COINBASE_IDS.items():
            base, quote = unified.split("/")
            result.append(
                {
                    "id": venue_id,
                    "base_currency": base,
                    "quote_currency": quote,
                    "quote_increment": "0.00001" if base == "USDT" else "0.01",
                    "base_increment": "0.00000001",
                    "display_name": f"{base}/{quote}",
                    "min_market_funds": "1",
                    "margin_enabled": False,
                    "post_only": False,
                    "limit_only": False,
                    "cancel_only": False,
                    "status": "online",
                    "status_message": "",
                    "trading_disabled": False,
                    "fx_stablecoin": base == "USDT",
                    "max_slippage_percentage": "0.02000000",
                    "auction_mode": False,
                    "high_bid_limit_percentage": "",
                }
            )
        return result

    def ticker(request: web.Request, st: VenueState) -> Any:
        q = st.quote(COINBASE_IDS, request.match_info["id"])
        return {
            "ask": q.ask,
            "bid": q.bid,
            "volume": "9000.12345678",
            "trade_id": 123456789,
            "price": q.last,
            "size": "0.01",
            "time": "2025-10-09T08:53:20.000000Z",
            "rfq_volume": "10.5",
        }

    return {"/products": products, "/products/{id}/ticker": ticker}


def _kraken_routes(state: VenueState) -> dict[str, Handler]:
    def asset_pairs(_: web.Request, __: VenueState) -> Any:
        result = {}
        for pair_id, (altname, wsname, base, quote) in KRAKEN_PAIRS.items():
            result[pair_id] = {
                "altname": altname,
                "wsname": wsname,
                "aclass_base": "currency",
                "base": base,
                "aclass_quote": "currency",
                "quote": quote,
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": 5 if base == "USDT" else 1,
                "lot_decimals": 8,
                "lot_multiplier": 1,
                "leverage_buy": [2, 3],
                "leverage_sell": [2, 3],
                "fees": [[0, 0.4], [10000, 0.35]],
                "fees_maker": [[0, 0.25], [10000, 0.2]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": "0.00005",
                "costmin": "0.5",
                "tick_size": "0.00001" if base == "USDT" else "0.1",
                "status": "online",
            }
        return {"error": [], "result": result}

    def ticker(request: web.Request, st: VenueState) -> Any:
        result = {}
        for pair_id in request.query["pair"].split(","):
            q = st.quote(KRAKEN_IDS, pair_id)
            result[pair_id] = {
                "a": [q.ask, "1", "1.000"],
                "b": [q.bid, "2", "2.000"],
                "c": [q.last, "0.00100000"],
                "v": ["1000.0", "2000.0"],
                "p": [q.last, q.last],
                "t": [5000, 9000],
                "l": [q.bid, q.bid],
                "h": [q.ask, q.ask],
                "o": q.last,
            }
        return {"error": [], "result": result}

    return {"/0/public/AssetPairs": asset_pairs, "/0/public/Ticker": ticker}


ROUTES: dict[str, Callable[[VenueState], dict[str, Handler]]] = {
    "binance": _binance_routes,
    "okx": _okx_routes,
    "bybit": _bybit_routes,
    "coinbase": _coinbase_routes,
    "kraken": _kraken_routes,
}


def url_overrides(venue: str, base: str) -> dict[str, Any]:
    """Return the ccxt ``urls`` override that points a venue's client at a fake server."""
    api: dict[str, dict[str, Any]] = {
        "binance": {"public": f"{base}/api/v3", "ws": {"spot": f"{base.replace('http', 'ws')}/ws"}},
        "okx": {"rest": base},
        "bybit": {key: base for key in ("spot", "futures", "v2", "public", "private")},
        "coinbase": {"public": base, "private": base},
        "kraken": {"public": base, "private": base},
    }
    return {"urls": {"api": api[venue]}}


class FakeVenue:
    """One fake venue server on 127.0.0.1."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = VenueState()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._streams: dict[web.WebSocketResponse, set[str]] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wrap(self, handler: Handler) -> Callable[[web.Request], Any]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            self.state.paths.append(request.path)
            if self.state.mode == "down":
                return web.Response(status=503, text="Service Unavailable")
            if self.state.mode == "slow":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.state.released.wait(), self.state.slow_seconds)
            if self.state.mode == "html":
                return web.Response(text="<html><body>oops</body></html>", content_type="text/html")
            return web.json_response(handler(request, self.state))

        return endpoint

    async def _binance_ws(self, request: web.Request) -> web.WebSocketResponse:
        """Binance spot stream: answer SUBSCRIBE, then one 24hrTicker event per ticker stream."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._streams[ws] = set()
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                command = json.loads(message.data)
                await ws.send_json({"result": None, "id": command["id"]})
                for stream in command["params"]:
                    market_id, channel = stream.split("@")
                    if channel == "ticker":  # only the full ticker stream is served
                        self._streams[ws].add(market_id.upper())
                        await self._send_ticker(ws, market_id.upper())
        finally:
            del self._streams[ws]
        return ws

    async def push(self) -> None:
        """Send the current quote on every open Binance ticker stream."""
        for ws, market_ids in list(self._streams.items()):
            for market_id in market_ids:
                await self._send_ticker(ws, market_id)

    async def drop_streams(self) -> None:
        """Close every open WebSocket from the server side."""
        for ws in list(self._streams):
            await ws.close()

    async def _send_ticker(self, ws: web.WebSocketResponse, market_id: str) -> None:
        """Send one Binance ``24hrTicker`` event."""
        q = self.state.quote(BINANCE_IDS, market_id)
        await ws.send_json(
            {
                "e": "24hrTicker",
                "E": NOW_MS,
                "s": market_id,
                "p": "0.00",
                "P": "0.000",
                "w": q.last,
                "x": q.last,
                "c": q.last,
                "Q": "0.001",
                "b": q.bid,
                "B": "1.0",
                "a": q.ask,
                "A": "1.0",
                "o": q.last,
                "h": q.ask,
                "l": q.bid,
                "v": "1000",
                "q": "60000000",
                "O": NOW_MS - 86_400_000,
                "C": NOW_MS,
                "F": 1,
                "L": 1000,
                "n": 1000,
            }
        )

    async def start(self) -> None:
        app = web.Application()
        for path, handler in ROUTES[self.name](self.state).items():
            app.router.add_get(path, self._wrap(handler))
        if self.name == "binance":
            app.router.add_get("/ws/{stream}", self._binance_ws)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # a free port chosen by the OS
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self.state.released.set()
        await self.drop_streams()
        if self._runner is not None:
            await self._runner.cleanup()
