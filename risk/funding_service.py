"""The funding loop: premium samples, ``ApplyFunding`` at each funding time, history, estimate.

The history and the estimate are kept in Binance's shapes.

Each :meth:`FundingService.step`, at time ``now`` from the injected clock:
    1. if a sample is due (every ``sample_every_ms``, aligned to the clock), per listed symbol the
       engine's index (``prices``) and L2 depth are read and one premium sample is taken
       (:mod:`risk.funding`); a symbol without an index price is not sampled;
    2. a sample belongs to the window ``(T - interval, T]`` of the funding time ``T`` it precedes;
    3. once ``now ≥ T``, the window's samples are averaged, the rate computed, and
       ``ApplyFunding{symbol, rate, mark}`` submitted with the engine's published mark; the
       history records it only when the engine answers ``FundingApplied``.

Why an asyncio loop and not APScheduler: the loop wakes at the earlier of the next sample and the
next funding time read from the *injected* clock, so tests drive it through a funding time with a
fake clock and no real waiting (APScheduler 3 reads the wall clock in its triggers), it shares the
API's event loop like the oracle's ``MarkPriceService``, and a funding time missed while the process
was down is settled once on the next step from what was sampled, instead of being coalesced or
dropped by a misfire policy.

Invariants:
    * A window with no sample (no index price all along, or the service not running) settles
      nothing: no rate is invented.
    * At most one ``ApplyFunding`` per symbol and funding time.
    * Samples live in memory: after a restart the current window averages what was sampled since.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from derivatives.commands import ApplyFunding, InstrumentSpec
from derivatives.engine import Depth, Prices
from derivatives.events import CommandRejected, FundingApplied
from derivatives.funding_times import next_funding_time
from risk.funding import (
    DEFAULT_CAP_MULTIPLIER,
    DEFAULT_INTEREST_RATE,
    IMPACT_MARGIN,
    Averaging,
    PremiumSample,
    RateParams,
    average_premium,
    funding_cap,
    funding_rate,
    impact_notional,
    impact_price,
    premium_index,
    round_rate,
)
from risk.ports import Clock, EngineReader, Sleep, Specs, Submit, wall_clock_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SymbolFunding:
    """Per-symbol overrides of :class:`FundingConfig` (None: the default).

    The funding interval is not here: it is the instrument's (``InstrumentSpec.funding_interval_ms``).

    Attributes:
        interest_rate: Interest rate per 8 hours.
        cap: Absolute rate cap (instead of ``cap_multiplier * MMR``).
        impact_notional: Impact notional (instead of ``impact_margin * max leverage``).
    """

    interest_rate: Decimal | None = None
    cap: Decimal | None = None
    impact_notional: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FundingConfig:
    """How funding is sampled and settled.

    Attributes:
        sample_every_ms: Premium sampling period (Binance: 5 s).
        interest_rate: Default interest rate per 8 hours (0.01 %).
        cap_multiplier: Cap = multiplier * MMR of the first bracket (0.75).
        impact_margin: Impact notional = margin * max leverage (200 USDT).
        averaging: ``linear_weighted`` (default) or ``simple``.
        overrides: Per-symbol overrides, by symbol name.
    """

    sample_every_ms: int = 5_000
    interest_rate: Decimal = DEFAULT_INTEREST_RATE
    cap_multiplier: Decimal = DEFAULT_CAP_MULTIPLIER
    impact_margin: Decimal = IMPACT_MARGIN
    averaging: Averaging = Averaging.LINEAR_WEIGHTED
    overrides: Mapping[str, SymbolFunding] = field(default_factory=dict)

    def rate_params(self, spec: InstrumentSpec) -> RateParams:
        """The rate parameters of one symbol."""
        override = self.overrides.get(spec.name, SymbolFunding())
        cap = (
            override.cap
            if override.cap is not None
            else funding_cap(spec.brackets[0].maint_margin_rate, self.cap_multiplier)
        )
        return RateParams(
            interest_rate=override.interest_rate
            if override.interest_rate is not None
            else self.interest_rate,
            cap=cap,
            interval_ms=spec.funding_interval_ms,
        )

    def impact_notional(self, spec: InstrumentSpec) -> Decimal:
        """The impact notional of one symbol."""
        override = self.overrides.get(spec.name, SymbolFunding()).impact_notional
        return (
            override
            if override is not None
            else impact_notional(spec.brackets[0].max_leverage, self.impact_margin)
        )


@dataclass(frozen=True, slots=True)
class FundingRecord:
    """One settled funding.

    Attributes:
        symbol: Symbol name.
        rate: The rate applied (8 dp).
        funding_time_ms: The funding time ``T``.
        mark: The mark price it was settled at.
        premium: The average premium it was computed from.
        samples: How many samples the window held.
    """

    symbol: str
    rate: Decimal
    funding_time_ms: int
    mark: Decimal
    premium: Decimal
    samples: int

    def to_binance(self) -> dict[str, object]:
        """``GET /fapi/v1/fundingRate`` item: symbol, fundingRate, fundingTime, markPrice."""
        return {
            "symbol": self.symbol,
            "fundingRate": f"{self.rate:f}",
            "fundingTime": self.funding_time_ms,
            "markPrice": f"{self.mark:f}",
        }


@dataclass(frozen=True, slots=True)
class FundingEstimate:
    """Where the current funding window stands.

    Attributes:
        symbol: Engine symbol id.
        rate: The rate the window's samples so far would settle at (8 dp).
        interest_rate: The symbol's interest rate per 8 hours.
        next_funding_ms: The funding time ending the window.
        interval_ms: The funding interval.
    """

    symbol: int
    rate: Decimal
    interest_rate: Decimal
    next_funding_ms: int
    interval_ms: int


@dataclass(slots=True)
class _Window:
    """The samples of one symbol's current funding window ``(end - interval, end]``."""

    end_ms: int
    interval_ms: int
    samples: list[PremiumSample] = field(default_factory=list)

    @property
    def start_ms(self) -> int:
        return self.end_ms - self.interval_ms

    def successor(self, now_ms: int) -> _Window:
        """The window after this one that contains `now_ms` (or the very next one)."""
        end = max(self.end_ms + self.interval_ms, next_funding_time(now_ms, self.interval_ms))
        return _Window(end, self.interval_ms)


@dataclass(frozen=True, slots=True)
class _Observation:
    """What the engine showed of one symbol at a sampling time."""

    prices: Prices | None
    depth: Depth | None


class FundingService:
    """Samples premiums and settles funding for every listed symbol."""

    def __init__(
        self,
        reader: EngineReader,
        submit: Submit,
        specs: Specs,
        config: FundingConfig | None = None,
        *,
        clock: Clock = wall_clock_ms,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Wire the service.

        Args:
            reader: The engine's read side (depth, prices).
            submit: The engine's command door.
            specs: The listed instruments.
            config: Sampling and settlement parameters.
            clock: Injected time (Unix ms).
            sleep: Injected sleep (seconds).
        """
        self._reader = reader
        self._submit = submit
        self._specs = specs
        self.config = config or FundingConfig()
        self._clock = clock
        self._sleep = sleep
        self._windows: dict[int, _Window] = {}
        self._next_sample_ms = 0
        self._history: list[FundingRecord] = []
        self._paused: set[int] = set()

    def set_paused(self, symbol: int, paused: bool) -> None:
        """Pauses or resumes funding accrual of a symbol (the oracle's ``funding_paused`` flag:
        no fresh index source). While paused no premium sample is taken, so the paused time adds
        nothing to the period's rate; a period paused throughout settles nothing."""
        if paused:
            self._paused.add(symbol)
        else:
            self._paused.discard(symbol)

    async def step(self) -> list[FundingRecord]:
        """Take the samples that are due and settle the funding times that have passed.

        Returns:
            The fundings settled by this step.
        """
        now = self._clock()
        specs = list(self._specs())
        sampling = now >= self._next_sample_ms
        observed = await asyncio.to_thread(self._observe, specs) if sampling else {}
        settled = []
        for spec in specs:
            params = self.config.rate_params(spec)
            window = self._windows.get(spec.symbol) or _Window(
                next_funding_time(now, params.interval_ms), params.interval_ms
            )
            sample = self._sample(spec, observed.get(spec.symbol), now)
            if sample is not None and sample.time_ms <= window.end_ms:
                window.samples.append(sample)
                sample = None
            if now >= window.end_ms:
                record = await self._settle(spec, params, window)
                if record is not None:
                    settled.append(record)
                window = window.successor(now)
            if sample is not None:
                window.samples.append(sample)
            self._windows[spec.symbol] = window
        if sampling:
            every = self.config.sample_every_ms
            self._next_sample_ms = now - now % every + every
        return settled

    async def run(self) -> None:
        """Step, then sleep until the next sample or funding time, until cancelled."""
        while True:
            try:
                await self.step()
            except Exception:  # one bad step must not stop funding
                log.exception("funding: step failed")
            now = self._clock()
            wake = min([self._next_sample_ms, *(w.end_ms for w in self._windows.values())])
            await self._sleep(max(0, wake - now) / 1000)

    def history(
        self,
        symbol: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, object]]:
        """Settled fundings, oldest first, in ``GET /fapi/v1/fundingRate`` shape.

        Args:
            symbol: Only this symbol (name), or all.
            start_ms: Only funding times at or after this.
            end_ms: Only funding times at or before this.
            limit: At most this many (the most recent ones when no start is given, as Binance).

        Returns:
            ``[{symbol, fundingRate, fundingTime, markPrice}]``.
        """
        records = [
            r
            for r in self._history
            if (symbol is None or r.symbol == symbol)
            and (start_ms is None or r.funding_time_ms >= start_ms)
            and (end_ms is None or r.funding_time_ms <= end_ms)
        ]
        chosen = records[:limit] if start_ms is not None else records[-limit:]
        return [r.to_binance() for r in chosen]

    def estimate(self, symbol: str) -> FundingEstimate | None:
        """The rate the samples so far would settle at, and when (Binance's live estimate).

        This is what the mark price's funding basis needs (``Price1`` of MECHANICS §2.1).
        Before any sample of the window it is the rate of a zero premium.

        Args:
            symbol: Symbol name.

        Returns:
            The estimate, or None for an unknown symbol.
        """
        spec = next((s for s in self._specs() if s.name == symbol), None)
        if spec is None:
            return None
        params = self.config.rate_params(spec)
        window = self._windows.get(spec.symbol) or _Window(
            next_funding_time(self._clock(), params.interval_ms), params.interval_ms
        )
        premium = (
            average_premium(window.samples, window.start_ms, self.config.averaging)
            if window.samples
            else Decimal(0)
        )
        return FundingEstimate(
            spec.symbol,
            funding_rate(premium, params),
            params.interest_rate,
            window.end_ms,
            params.interval_ms,
        )

    def premium_index(self, symbol: str) -> dict[str, object] | None:
        """The current estimate in ``GET /fapi/v1/premiumIndex`` shape.

        Args:
            symbol: Symbol name.

        Returns:
            ``{symbol, markPrice, indexPrice, estimatedSettlePrice, lastFundingRate, interestRate,
            nextFundingTime, time}`` (``lastFundingRate`` is :meth:`estimate`'s rate), or None
            for an unknown symbol.
        """
        estimate = self.estimate(symbol)
        if estimate is None:
            return None
        prices = self._reader.prices(estimate.symbol)
        mark = prices.mark if prices is not None else None
        index = prices.index if prices is not None else None
        return {
            "symbol": symbol,
            "markPrice": _text(mark),
            "indexPrice": _text(index),
            "estimatedSettlePrice": _text(index),
            "lastFundingRate": f"{estimate.rate:f}",
            "interestRate": f"{round_rate(estimate.interest_rate):f}",
            "nextFundingTime": estimate.next_funding_ms,
            "time": self._clock(),
        }

    def _observe(self, specs: list[InstrumentSpec]) -> dict[int, _Observation]:
        """Reads index and depth of every symbol (blocking engine queries, run off the loop)."""
        return {
            s.symbol: _Observation(self._reader.prices(s.symbol), self._reader.depth(s.symbol))
            for s in specs
        }

    def _sample(
        self, spec: InstrumentSpec, observed: _Observation | None, now: int
    ) -> PremiumSample | None:
        if (
            spec.symbol in self._paused
            or observed is None
            or observed.prices is None
            or observed.prices.index is None
            or observed.depth is None
        ):
            return None
        notional = self.config.impact_notional(spec)
        bid = impact_price(observed.depth.bids, notional)
        ask = impact_price(observed.depth.asks, notional)
        return PremiumSample(now, premium_index(bid, ask, observed.prices.index))

    async def _settle(
        self, spec: InstrumentSpec, params: RateParams, window: _Window
    ) -> FundingRecord | None:
        if not window.samples:
            log.warning(
                "funding: no premium sample for %s before %d; nothing settled",
                spec.name,
                window.end_ms,
            )
            return None
        prices = await asyncio.to_thread(self._reader.prices, spec.symbol)
        if prices is None or prices.mark is None:
            log.warning(
                "funding: %s has no mark price at %d; nothing settled", spec.name, window.end_ms
            )
            return None
        premium = average_premium(window.samples, window.start_ms, self.config.averaging)
        rate = funding_rate(premium, params)
        result = await self._submit([ApplyFunding(spec.symbol, rate, prices.mark)])
        if not any(isinstance(e.event, FundingApplied) for e in result.events):
            reasons = [
                e.event.reason.name for e in result.events if isinstance(e.event, CommandRejected)
            ]
            log.error(
                "funding: engine refused %s rate %s at %d: %s",
                spec.name,
                rate,
                window.end_ms,
                reasons,
            )
            return None
        record = FundingRecord(
            spec.name, rate, window.end_ms, prices.mark, premium, len(window.samples)
        )
        self._history.append(record)
        log.info(
            "funding: %s settled %s at mark %s (%d samples)",
            spec.name,
            rate,
            prices.mark,
            len(window.samples),
        )
        return record


def _text(value: Decimal | None) -> str:
    """A price as Binance prints it; empty when unknown."""
    return "" if value is None else f"{value:f}"
