"""`derivatives serve`: the exchange on embedded defaults.

Until the trader API lands this runs the engine with the demo instruments, a market maker quoting
both books, and a simulated mark price (a seeded random walk, labelled as simulated), and logs
what it does once a second.
"""

from __future__ import annotations

import logging
import random
import time
from decimal import Decimal

from derivatives.commands import AddInstrument, CancelAll, Command, Deposit, PlaceOrder, SetMarkPrice
from derivatives.demo import (
    DEMO_ACCOUNT,
    DEMO_FUNDS,
    DEMO_INSTRUMENTS,
    DEMO_MAKER_FUNDS,
    DEMO_START_PRICES,
    MARKET_MAKER_ACCOUNT,
)
from derivatives.engine import EngineClient
from derivatives.enums import OrderType, Side
from derivatives.events import Trade

log = logging.getLogger("derivatives.serve")

LEVELS = 10
"""Price levels the demo market maker quotes on each side."""


class DemoExchange:
    """The engine plus a demo market maker and a simulated mark price."""

    def __init__(self, client: EngineClient, seed: int = 7) -> None:
        self.client = client
        self.random = random.Random(seed)
        self.marks = dict(DEMO_START_PRICES)
        listings: list[Command] = [AddInstrument(spec) for spec in DEMO_INSTRUMENTS]
        funding: list[Command] = [Deposit(MARKET_MAKER_ACCOUNT, DEMO_MAKER_FUNDS), Deposit(DEMO_ACCOUNT, DEMO_FUNDS)]
        client.execute([*listings, *funding])

    def _quotes(self, symbol: int, tick: Decimal, step: Decimal) -> list[Command]:
        mark = self.marks[symbol]
        commands: list[Command] = [CancelAll(MARKET_MAKER_ACCOUNT, symbol)]
        for level in range(1, LEVELS + 1):
            for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
                price = mark + sign * tick * level * 5
                qty = step * 100 * level
                commands.append(PlaceOrder(MARKET_MAKER_ACCOUNT, symbol, side, qty, price=price))
        return commands

    def tick(self) -> None:
        """One second of simulated market: move the mark, requote, and trade a little."""
        commands: list[Command] = []
        for spec in DEMO_INSTRUMENTS:
            move = spec.tick_size * self.random.randint(-20, 20)
            self.marks[spec.symbol] = max(spec.tick_size, self.marks[spec.symbol] + move)
            mark = self.marks[spec.symbol]
            commands.append(SetMarkPrice(spec.symbol, mark, mark))
            commands.extend(self._quotes(spec.symbol, spec.tick_size, spec.step_size))
            side = Side.BUY if self.random.random() < 0.5 else Side.SELL
            commands.append(PlaceOrder(DEMO_ACCOUNT, spec.symbol, side, spec.step_size * 10, order_type=OrderType.MARKET))
        result = self.client.execute(commands)
        trades = sum(1 for e in result.events if isinstance(e.event, Trade))
        for spec in DEMO_INSTRUMENTS:
            depth = self.client.depth(spec.symbol, 1)
            best_bid = depth.bids[0][0] if depth and depth.bids else None
            best_ask = depth.asks[0][0] if depth and depth.asks else None
            fields = {"symbol": spec.name, "mark": self.marks[spec.symbol], "mark_source": "simulated",
                      "best_bid": best_bid, "best_ask": best_ask, "seq": result.last_seq, "trades": trades}
            log.info("market", extra={"fields": fields})


def serve(seconds: float | None = None, seed: int = 7) -> DemoExchange:
    """Runs the demo exchange for `seconds` (forever when None) and returns it."""
    exchange = DemoExchange(EngineClient(), seed)
    names = ", ".join(spec.name for spec in DEMO_INSTRUMENTS)
    print(f"derivatives engine running: instruments {names}; demo account {DEMO_ACCOUNT} ({DEMO_FUNDS} USDT); "
          "mark prices are SIMULATED (seeded random walk). Ctrl-C stops.", flush=True)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            exchange.tick()
            time.sleep(1 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return exchange
