"""The demo market of ``derivatives serve``: a maker quoting both books around the mark and a
small noise taker, so that books, trades and klines are alive. ``python -m
derivatives.demo_market`` runs it as a bus client of its own (``derivatives.bus.node``)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Protocol

from derivatives.bus.node import announce_ready, attach, run_until_signalled
from derivatives.commands import CancelAll, Command, PlaceOrder
from derivatives.demo import DEMO_INSTRUMENTS, MARKET_MAKER_ACCOUNT, NOISE_ACCOUNT
from derivatives.engine import Prices
from derivatives.enums import OrderType, Side

log = logging.getLogger("derivatives.demo_market")

LEVELS = 10
"""Price levels the demo market maker quotes on each side."""
REQUOTE_MOVE = Decimal("0.001")
"""The maker re-centres its ladder when the mark moved more than this fraction."""


class PriceSource(Protocol):
    """The engine's price query."""

    def prices(self, symbol: int) -> Prices | None: ...


def quotes(symbol: int, mark: Decimal, tick: Decimal, step: Decimal) -> list[Command]:
    """A fresh ladder around `mark`: cancel everything, then LEVELS bids and asks five ticks apart."""
    centre = (mark / tick).to_integral_value() * tick
    commands: list[Command] = [CancelAll(MARKET_MAKER_ACCOUNT, symbol)]
    for level in range(1, LEVELS + 1):
        for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
            price = centre + sign * tick * level * 5
            commands.append(
                PlaceOrder(
                    MARKET_MAKER_ACCOUNT,
                    symbol,
                    side,
                    step * 100 * level,
                    price=price,
                    client_order_id=f"mm-{symbol}-{side.name.lower()}-{level}",
                )
            )
    return commands


async def demo_market(
    client: PriceSource,
    submit: Callable[[Sequence[Command]], Awaitable[object]],
    seed: int = 7,
    interval_s: float = 1.0,
) -> None:
    """Requotes around the engine's mark and trades a little, once a second, for ever."""
    rng = random.Random(seed)
    centres: dict[int, Decimal] = {}
    while True:
        await asyncio.sleep(interval_s)
        commands: list[Command] = []
        for spec in DEMO_INSTRUMENTS:
            prices = client.prices(spec.symbol)
            if prices is None or prices.mark is None:
                continue
            centre = centres.get(spec.symbol)
            if centre is None or abs(prices.mark - centre) > centre * REQUOTE_MOVE:
                commands += quotes(spec.symbol, prices.mark, spec.tick_size, spec.step_size)
                centres[spec.symbol] = prices.mark
            if rng.random() < 0.3:
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                commands.append(
                    PlaceOrder(
                        NOISE_ACCOUNT,
                        spec.symbol,
                        side,
                        spec.step_size * rng.randint(1, 50),
                        order_type=OrderType.MARKET,
                    )
                )
        if commands:
            try:
                await submit(commands)
            except Exception:
                log.exception("demo market round failed")


async def run(stop: asyncio.Event, seed: int) -> None:
    """The demo market as a bus client, until `stop` is set."""
    node = await attach("demo-market")
    task = asyncio.create_task(demo_market(node.gateway.client, node.gateway.submit, seed))
    announce_ready("demo-market")
    await stop.wait()
    task.cancel()
    await node.close()


def main() -> None:
    """Entry point: ``python -m derivatives.demo_market [seed]``."""
    import sys

    from derivatives import logs

    logs.configure()
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    run_until_signalled(lambda stop: run(stop, seed))


if __name__ == "__main__":
    main()
