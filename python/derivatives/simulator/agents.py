"""The simulated market's participants, each an account driving the exchange through the stock
ccxt ``binanceusdm`` client (REST) and ``ccxt.pro`` (the mark-price WebSocket stream):

* :class:`PriceFeed` follows each symbol's index and mark over the WebSocket stream;
* :class:`Maker` quotes a ladder around the index on both sides, re-quoted every interval, and
  can withdraw (cancel everything and stop) and return;
* :class:`Taker` sends small market orders at random, so there are trades between quotes;
* :class:`Trader` opens one leveraged position with a market order: leverage, size and side are
  drawn from the run's seeded random generator, so liquidation prices spread over a wide range.

Prices and quantities are ``Decimal`` throughout and reach ccxt as decimal strings, rounded to
the instrument's tick (toward the passive side) and step (down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any

import ccxt.async_support as ccxt
import ccxt.pro as ccxtpro

from derivatives.simulator.admin import Account

log = logging.getLogger("derivatives.simulator")


def ccxt_config(base: str, ws: str, account: Account | None = None) -> dict[str, Any]:
    """The stock ``binanceusdm`` configuration pointed at this exchange (CCXT.md §1)."""
    config: dict[str, Any] = {
        "urls": {
            "api": {
                "fapiPublic": base + "/fapi/v1",
                "fapiPublicV2": base + "/fapi/v2",
                "fapiPublicV3": base + "/fapi/v3",
                "fapiPrivate": base + "/fapi/v1",
                "fapiPrivateV2": base + "/fapi/v2",
                "fapiPrivateV3": base + "/fapi/v3",
                "fapiData": base + "/futures/data",
                "ws": {"linear": ws},
            }
        },
        "options": {
            "fetchMarkets": {"types": ["linear"]},
            "fetchCurrencies": False,
            "adjustForTimeDifference": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
        },
        "enableRateLimit": False,
    }
    if account is not None:
        config["apiKey"] = account.api_key
        config["secret"] = account.secret
    return config


@dataclass(frozen=True, slots=True)
class Market:
    """What the agents need of an instrument (from ccxt's ``load_markets``)."""

    symbol: str
    """ccxt unified symbol, e.g. ``BTC/USDT:USDT``."""
    tick: Decimal
    step: Decimal
    min_notional: Decimal

    def price(self, value: Decimal, up: bool) -> str:
        """`value` on the tick grid (up or down)."""
        return f"{(value / self.tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR) * self.tick:f}"

    def qty(self, notional: Decimal, price: Decimal) -> Decimal:
        """The quantity of `notional` at `price`, on the step grid (down)."""
        return (notional / price / self.step).to_integral_value(ROUND_DOWN) * self.step


def market_of(raw: dict[str, Any]) -> Market:
    """A :class:`Market` from a ccxt market (filters read from the exchange's own answer)."""
    filters = {f["filterType"]: f for f in raw["info"]["filters"]}
    return Market(
        raw["symbol"],
        Decimal(filters["PRICE_FILTER"]["tickSize"]),
        Decimal(filters["LOT_SIZE"]["stepSize"]),
        Decimal(filters["MIN_NOTIONAL"]["notional"]),
    )


class Outcomes:
    """Counts of what the agents' requests did (``placed``, ``rejected:<ccxt error>``...)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    async def call(self, what: str, request: Any) -> Any:
        """Awaits `request`, counting `what` or the ccxt error it raised (None on error)."""
        try:
            result = await request
        except ccxt.BaseError as error:
            self.counts[f"rejected:{type(error).__name__}"] += 1
            log.debug("%s refused: %s", what, error)
            return None
        self.counts[what] += 1
        return result


class PriceFeed:
    """Index and mark per symbol from the ``<symbol>@markPrice`` WebSocket streams."""

    def __init__(self, pro: Any, markets: Sequence[Market]) -> None:
        self.pro = pro
        self.markets = markets
        self.index: dict[str, Decimal] = {}
        self.mark: dict[str, Decimal] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, timeout_s: float = 30) -> None:
        """Starts following every symbol; returns once each has a price."""
        self.tasks = [asyncio.create_task(self._follow(m.symbol)) for m in self.markets]
        async with asyncio.timeout(timeout_s):
            while len(self.index) < len(self.markets):
                await asyncio.sleep(0.1)

    async def _follow(self, symbol: str) -> None:
        while True:
            try:
                ticker = await self.pro.watch_mark_price(symbol)
            except ccxt.BaseError as error:
                log.warning("mark price stream of %s: %s", symbol, error)
                await asyncio.sleep(0.5)
                continue
            info = ticker["info"]
            if info.get("i"):
                self.index[symbol] = Decimal(info["i"])
            if info.get("p"):
                self.mark[symbol] = Decimal(info["p"])

    async def stop(self) -> None:
        """Stops following."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task


@dataclass(slots=True)
class Maker:
    """Quotes `levels` bids and asks around the index, `spacing` apart, `level_notional` each."""

    exchange: Any
    markets: Sequence[Market]
    feed: PriceFeed
    outcomes: Outcomes
    levels: int = 5
    spacing: Decimal = Decimal("0.0005")
    level_notional: Decimal = Decimal(400_000)
    quoting: bool = True
    running: bool = True

    def ladder(self, market: Market, index: Decimal) -> list[dict[str, Any]]:
        """The orders of one re-quote (bids rounded down, asks up: never through the index)."""
        orders = []
        for level in range(1, self.levels + 1):
            for side, sign in (("buy", -1), ("sell", 1)):
                price = index * (1 + sign * self.spacing * level)
                amount = market.qty(self.level_notional, price)
                orders.append(
                    {
                        "symbol": market.symbol,
                        "type": "limit",
                        "side": side,
                        "amount": f"{amount:f}",
                        "price": market.price(price, up=sign > 0),
                    }
                )
        return orders

    async def requote(self) -> None:
        """Cancels and replaces every ladder (or only cancels, when withdrawn)."""
        for market in self.markets:
            await self.outcomes.call("cancel-all", self.exchange.cancel_all_orders(market.symbol))
            if not self.quoting:
                continue
            orders = self.ladder(market, self.feed.index[market.symbol])
            for start in range(0, len(orders), 5):
                await self.outcomes.call(
                    "quote-batch", self.exchange.create_orders(orders[start : start + 5])
                )

    async def run(self, interval_s: float = 1.0) -> None:
        """Re-quotes every interval until `running` is cleared (never cancelled mid-request, so no
        quote can reach the exchange after the final cancel), then cancels every quote."""
        while self.running:
            await self.requote()
            await asyncio.sleep(interval_s)
        self.quoting = False
        await self.requote()


@dataclass(slots=True)
class Taker:
    """A small market order on a random symbol now and then."""

    exchange: Any
    markets: Sequence[Market]
    feed: PriceFeed
    outcomes: Outcomes
    rng: random.Random
    notional: Decimal = Decimal(2_000)
    active: bool = True

    async def run(self, interval_s: float = 1.0) -> None:
        """Trades until cancelled (while `active`)."""
        while True:
            await asyncio.sleep(interval_s * (0.5 + self.rng.random()))
            if not self.active:
                continue
            market = self.rng.choice(list(self.markets))
            qty = market.qty(
                self.notional * (1 + self.rng.randint(0, 4)), self.feed.index[market.symbol]
            )
            side = self.rng.choice(("buy", "sell"))
            await self.outcomes.call(
                "taker-order", self.exchange.create_order(market.symbol, "market", side, f"{qty:f}")
            )


LEVERAGES = (3, 5, 10, 15, 20, 25, 50, 75, 100)
"""Leverages the traders draw from: a 20 % move liquidates everything from 5x up on the wrong
side, a 10 % move from 10x, and every step lands at a different liquidation price."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One trader's position: where, which way, how big, at what leverage."""

    market: Market
    side: str
    leverage: int
    notional: Decimal


def plan(
    rng: random.Random,
    markets: Sequence[Market],
    funds: Decimal,
    max_notional: dict[int, Decimal],
    number: int,
) -> Plan:
    """Trader `number`'s position: long when even, short when odd (both sides equally exposed),
    70 % on the first market, leverage and 25-60 % of the margin it allows drawn from `rng`
    (capped by the leverage's bracket)."""
    market = (
        markets[0] if rng.random() < 0.7 or len(markets) == 1 else rng.choice(list(markets[1:]))
    )
    leverage = rng.choice(LEVERAGES)
    share = Decimal(rng.randint(25, 60)) / 100
    notional = min(funds * leverage * share, max_notional.get(leverage, funds) * Decimal("0.9"))
    return Plan(
        market, ("buy", "sell")[number % 2], leverage, max(notional, market.min_notional * 2)
    )


SLIPPAGE = Decimal("0.004")
"""How far through the index a trader's opening order may fill (the makers quote 0.05 % apart)."""


class Trader:
    """One account that opens one leveraged position and holds it."""

    def __init__(
        self, exchange: Any, account: Account, plan: Plan, feed: PriceFeed, outcomes: Outcomes
    ) -> None:
        self.exchange = exchange
        self.account = account
        self.plan = plan
        self.feed = feed
        self.outcomes = outcomes

    async def open(self, attempts: int = 3, retry_s: float = 1.0) -> bool:
        """Sets the leverage and opens the position with an IOC limit order `SLIPPAGE` through the
        index (a market order would reserve margin for the whole price band); when nothing filled
        (other traders took the quotes first), tries again after the makers' next re-quote. True
        when something filled."""
        p = self.plan
        if await self.outcomes.call("leverage", self.exchange.set_leverage(p.leverage, p.market.symbol)) is None:
            return False
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(retry_s)
            index = self.feed.index[p.market.symbol]
            buy = p.side == "buy"
            limit = p.market.price(index * (1 + SLIPPAGE if buy else 1 - SLIPPAGE), up=not buy)
            qty = p.market.qty(p.notional, index)
            order = await self.outcomes.call(
                "position-order",
                self.exchange.create_order(p.market.symbol, "limit", p.side, f"{qty:f}", limit, {"timeInForce": "IOC"}),
            )
            if order is not None and order.get("filled"):
                return True
        return False


def exchange_for(
    base: str, ws: str, account: Account | None, markets: dict[str, Any], pro: bool = False
) -> Any:
    """A stock ccxt client for `account` sharing already loaded `markets`."""
    exchange = (ccxtpro if pro else ccxt).binanceusdm(ccxt_config(base, ws, account))
    if markets:
        exchange.set_markets(markets)
    return exchange
