"""The ADL loop: ranks, installs ``SetAdlRanking`` when a queue changed.

Rankings are computed per (symbol, side) from the position view.

Each :meth:`AdlService.step` (at least once a second, MECHANICS §8.2):
    1. per listed symbol and side (BUY ranks longs, SELL ranks shorts), the candidates are scored
       and ranked (:mod:`risk.adl`) at the view's reference prices;
    2. every ranking that differs from the one last installed is submitted in one batch; a ranking
       counts as installed once the engine answers ``AdlRankingSet``.

Invariants:
    * Nothing is submitted while the view is stale (the event feed stopped): a queue computed from
      an outdated view would be worse than the engine's own fallback.
    * The engine deleverages the installed queue first, then whatever the queue leaves out by its
      own BitMEX score, so an account omitted here (in liquidation, the fund) is never skipped
      silently, only moved to the back.
    * Quantiles (``adlQuantile``, the risk desk) are the engine's (``Engine.adl_queue``,
      ``Engine.adl_quantiles``): positions in the queue it would deleverage, installed ranking first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from derivatives.commands import SetAdlRanking
from derivatives.enums import Side
from derivatives.events import AdlRankingSet
from risk.adl import AdlMode, rank, side_candidates
from risk.margin import raw_brackets
from risk.ports import Clock, Sleep, Specs, Submit, wall_clock_ms
from risk.positions import PositionView

log = logging.getLogger(__name__)

SIDES = (Side.BUY, Side.SELL)


class AdlService:
    """Keeps the engine's ADL queues current."""

    def __init__(
        self,
        view: PositionView,
        submit: Submit,
        specs: Specs,
        *,
        mode: AdlMode = AdlMode.BITMEX,
        period_ms: int = 1_000,
        stale: Callable[[], bool] = lambda: False,
        clock: Clock = wall_clock_ms,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Wire the service.

        Args:
            view: Positions and prices (kept current by the event feed).
            submit: The engine's command door.
            specs: The listed instruments.
            mode: BitMEX (default) or Binance scores.
            period_ms: Ranking period.
            stale: True while the view cannot be trusted.
            clock: Injected time (Unix ms).
            sleep: Injected sleep (seconds).
        """
        self._view = view
        self._submit = submit
        self._specs = specs
        self.mode = mode
        self._period_ms = period_ms
        self._stale = stale
        self._clock = clock
        self._sleep = sleep
        self._installed: dict[tuple[int, Side], tuple[int, ...]] = {}

    async def step(self) -> list[SetAdlRanking]:
        """Rank every (symbol, side) and install the rankings that changed.

        Returns:
            The rankings the engine installed in this step.
        """
        if self._stale():
            log.debug("adl: position view is stale or catching up; no ranking submitted")
            return []
        specs = list(self._specs())
        brackets = {spec.symbol: raw_brackets(spec) for spec in specs}
        changed: list[SetAdlRanking] = []
        for spec in specs:
            for side in SIDES:
                ranked = rank(side_candidates(self._view, brackets, spec.symbol, side, self.mode))
                accounts = tuple(c.account for c in ranked)
                if accounts != self._installed.get((spec.symbol, side), ()):
                    changed.append(SetAdlRanking(spec.symbol, side, accounts))
        if not changed:
            return []
        result = await self._submit(changed)
        installed = {
            (e.event.symbol, e.event.side)
            for e in result.events
            if isinstance(e.event, AdlRankingSet)
        }
        done = [command for command in changed if (command.symbol, command.side) in installed]
        for command in done:
            self._installed[command.symbol, command.side] = command.accounts
        if len(done) < len(changed):
            log.error("adl: the engine refused %d ranking(s)", len(changed) - len(done))
        return done

    async def run(self) -> None:
        """Rank every period, aligned to the clock, until cancelled."""
        while True:
            try:
                await self.step()
            except Exception:  # one bad round must not stop the ranking
                log.exception("adl: ranking round failed")
            await self._sleep((self._period_ms - self._clock() % self._period_ms) / 1000)

    def installed(self, symbol: int, side: Side) -> tuple[int, ...]:
        """The queue last installed in the engine for (symbol, side), first out first."""
        return self._installed.get((symbol, side), ())
