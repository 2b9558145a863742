"""Wiring: :class:`RiskServices` builds and starts every risk service for the API lifespan.

The services share one engine, one command door and one database; their loops run as tasks of the
API's event loop (like the oracle's).

What runs:
    * the event feed, folding the engine's events into the position view, the liquidation
      monitor and the insurance fund's balance history (in that order);
    * the funding loop (premium samples, ``ApplyFunding`` at each funding time);
    * the ADL loop (``SetAdlRanking`` every second when a queue changed), once the feed has caught
      up and for as long as it is healthy;
    * the insurance service (payout requests, approvals, ``InsurancePayout``) on demand.

Invariants:
    * Every command goes through the injected ``submit`` (the API's ``EngineGateway.submit``).
    * Event times are their command's sequenced time, which the journal keeps (so a replay after a
      restart gives every event its original time); only an event without one falls back to
      ``time_of`` (the gateway remembers each batch's time), then to the clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal

from derivatives.commands import SetInsuranceFloor
from derivatives.events import EventEnvelope, InsuranceFloorSet
from derivatives.persistence.db import Database
from risk.adl import AdlMode
from risk.adl_service import AdlService
from risk.feed import EventFeed
from risk.fund_history import FundHistory
from risk.funding_service import FundingConfig, FundingService
from risk.insurance_service import InsuranceService
from risk.monitor import LiquidationMonitor
from risk.ports import Clock, EngineReader, Sleep, Specs, Submit, TimeOf, wall_clock_ms
from risk.positions import PositionView
from risk.unwinder import UnwindConfig
from risk.unwinder_service import FundUnwinder


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Settings of the risk services.

    Attributes:
        funding: Funding sampling and settlement.
        adl_mode: ``bitmex`` (default) or ``binance`` ranking.
        adl_period_ms: ADL ranking period.
        feed_poll_ms: How long one event read waits.
        insurance_floor: Balance the fund must keep after any payout, installed at start (None:
            leave the engine's floor as it is).
        unwind: How the fund unwinder slices the fund's taken-over positions out.
    """

    funding: FundingConfig = field(default_factory=FundingConfig)
    adl_mode: AdlMode = AdlMode.BITMEX
    adl_period_ms: int = 1_000
    feed_poll_ms: int = 200
    insurance_floor: Decimal | None = None
    unwind: UnwindConfig = field(default_factory=UnwindConfig)


class RiskServices:
    """Every risk service, wired and ready to start."""

    def __init__(
        self,
        reader: EngineReader,
        submit: Submit,
        specs: Specs,
        db: Database,
        *,
        config: RiskConfig | None = None,
        clock: Clock = wall_clock_ms,
        time_of: TimeOf | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Wire the services.

        Args:
            reader: The engine's read side (``EngineClient``).
            submit: The engine's command door (``EngineGateway.submit``).
            specs: The listed instruments, read each time.
            db: The migrated database (payout requests and their audit trail, the unwind history).
            config: Settings.
            clock: Injected time (Unix ms).
            time_of: Engine seq -> batch time (ns), when known (``EngineGateway.time_of``).
            sleep: Injected sleep (seconds).
        """
        self.config = config or RiskConfig()
        self._submit = submit
        self._clock = clock
        self._time_of = time_of
        self.view = PositionView()
        self.monitor = LiquidationMonitor(self.view, specs, self.event_time_ms)
        self.fund_history = FundHistory(self.event_time_ms, lambda: [spec.name for spec in specs()])
        self.feed = EventFeed(
            reader,
            [self.view.apply, self.monitor, self.fund_history],
            poll_timeout_ms=self.config.feed_poll_ms,
        )
        self.funding = FundingService(
            reader, submit, specs, self.config.funding, clock=clock, sleep=sleep
        )
        self.adl = AdlService(
            self.view,
            submit,
            specs,
            mode=self.config.adl_mode,
            period_ms=self.config.adl_period_ms,
            stale=lambda: self.feed.failure is not None or not self.feed.caught_up,
            clock=clock,
            sleep=sleep,
        )
        self.insurance = InsuranceService(db, submit, clock=clock)
        self.unwinder = FundUnwinder(reader, submit, specs, db, self.config.unwind, clock=clock, sleep=sleep)

    async def start(self) -> list[asyncio.Task[None]]:
        """Install the insurance floor (if configured), resend the payouts a crash left
        submitting (the engine pays each request id once), and start the loops.

        Returns:
            The running tasks (the caller cancels them at shut-down).

        Raises:
            RuntimeError: If the engine refuses the configured floor.
        """
        if self.config.insurance_floor is not None:
            result = await self._submit([SetInsuranceFloor(self.config.insurance_floor)])
            if not any(isinstance(e.event, InsuranceFloorSet) for e in result.events):
                raise RuntimeError(
                    f"the engine refused insurance floor {self.config.insurance_floor}"
                )
        await self.insurance.resume()
        return [
            asyncio.create_task(self.feed.run(), name="risk-feed"),
            asyncio.create_task(self.funding.run(), name="risk-funding"),
            asyncio.create_task(self.adl.run(), name="risk-adl"),
            asyncio.create_task(self.unwinder.run(), name="risk-fund-unwinder"),
        ]

    def start_view(self) -> list[asyncio.Task[None]]:
        """The read side only, for a process that serves the risk desk beside the one that acts (a
        gateway of the served topology): the event feed (position view, liquidation monitor, fund
        history). No floor, no resent payouts, no funding, ADL or unwinder loop: the risk process
        runs those once for the exchange; payout requests and decisions made here are SQL rows and
        engine commands keyed by request id, so they are the same whichever process takes them."""
        return [asyncio.create_task(self.feed.run(), name="risk-feed")]

    def event_time_ms(self, envelope: EventEnvelope) -> int:
        """Unix ms of the event's command (its sequenced time, else its batch time, else now)."""
        ns = envelope.ts or (self._time_of(envelope.seq) if self._time_of is not None else None)
        return ns // 1_000_000 if ns is not None else self._clock()
