"""The named scenarios: each a script run after the market is warm (makers quoting, traders'
positions open), over ``duration_s`` seconds of the run.

* ``calm``: nothing scripted; the simulated walk alone (the live demo market).
* ``crash``: every index falls 20 % linearly over the duration (a minute by default): a
  liquidation cascade on the long side, the insurance fund taking over what the book cannot
  absorb, auto-deleveraging when the fund cannot.
* ``squeeze``: the same upward (+20 %): the short side's cascade.
* ``venue-outage``: two of the five venues stop quoting and a third quotes 10 % high, for the
  duration but at least ``OUTAGE_MIN_S`` (the 10 s staleness limit and a publication); the index
  rules must hold: the stale venues drop out once older than the staleness limit (and stay out),
  the outlier is excluded as deviating, and the index stays within 1 % of where it was. Then the
  faults clear.
* ``thin-book``: the makers withdraw every quote, then every index falls 15 % over the duration
  with no book to absorb liquidations; the makers return after the move.

A scenario's checks beyond the common invariants are returned as named booleans.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from derivatives.simulator.admin import AdminClient
from derivatives.simulator.agents import Maker, Taker

OUTAGE_STALE = ("okx", "kraken")
OUTAGE_OFF = "bybit"
OUTAGE_OFFSET = "0.10"
INDEX_TOLERANCE = Decimal("0.01")
OUTAGE_MIN_S = 13.0


@dataclass(slots=True)
class Stage:
    """What a scenario script may drive."""

    admin: AdminClient
    makers: Sequence[Maker]
    takers: Sequence[Taker]
    duration_s: float
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def calm(stage: Stage) -> None:
    """The walk alone."""
    await asyncio.sleep(stage.duration_s)


def move(change: str) -> Callable[[Stage], Awaitable[None]]:
    """A scripted move of every index by `change` over the duration."""

    async def script(stage: Stage) -> None:
        await stage.admin.steer(change=change, overMs=int(stage.duration_s * 1000))
        await asyncio.sleep(stage.duration_s)

    return script


async def venue_outage(stage: Stage) -> None:
    """Two venues stale, one 10 % off, for the duration (at least ``OUTAGE_MIN_S``); checks the
    index rules every second."""
    before = (await stage.admin.oracle())["prices"]
    await stage.admin.steer(stale=list(OUTAGE_STALE), offsets={OUTAGE_OFF: OUTAGE_OFFSET})
    outlier_excluded = stale_dropped = index_held = True
    saw_stale_dropped = False
    loop = asyncio.get_running_loop()
    end = loop.time() + max(stage.duration_s, OUTAGE_MIN_S)
    await asyncio.sleep(1.5)  # one publication with the faults
    while loop.time() < end:
        prices: dict[str, Any] = (await stage.admin.oracle())["prices"]
        for symbol, now in prices.items():
            excluded = now["excluded"]
            outlier_excluded &= excluded.get(OUTAGE_OFF) == "deviation"
            index_held &= (
                abs(Decimal(now["index"]) / Decimal(before[symbol]["index"]) - 1) < INDEX_TOLERANCE
            )
            dropped = all(excluded.get(venue) in {"stale", "missing"} for venue in OUTAGE_STALE)
            saw_stale_dropped |= dropped
            stale_dropped &= dropped or not saw_stale_dropped  # once dropped, they stay out
        await asyncio.sleep(1.0)
    await stage.admin.steer(reset=True)
    stage.checks["outlier venue excluded"] = outlier_excluded
    stage.checks["stale venues dropped"] = stale_dropped and saw_stale_dropped
    stage.checks["index within 1 %"] = index_held


async def thin_book(stage: Stage) -> None:
    """Makers withdraw, the index falls 15 %, makers return."""
    for maker in stage.makers:
        maker.quoting = False  # the maker's own loop cancels its ladder at its next round
    for taker in stage.takers:
        taker.active = False
    await asyncio.sleep(2.5)
    await stage.admin.steer(change="-0.15", overMs=int(stage.duration_s * 1000))
    await asyncio.sleep(stage.duration_s)
    for maker in stage.makers:
        maker.quoting = True
    for taker in stage.takers:
        taker.active = True


SCENARIOS: dict[str, Callable[[Stage], Awaitable[None]]] = {
    "calm": calm,
    "crash": move("-0.20"),
    "squeeze": move("0.20"),
    "venue-outage": venue_outage,
    "thin-book": thin_book,
}
