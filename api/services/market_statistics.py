"""Market statistics of ``/futures/data``: the 5-minute sampler and its period views.

Sampling (:meth:`MarketStatistics.sample`, run by :meth:`MarketStatistics.run` every
``settings.market_stats_interval_ms``, aligned to that interval; a test calls ``sample`` with the
time it wants). Per listed symbol, from the engine's account views of the symbol's holders (read
on a worker thread):

* open interest = the sum of long quantities (insurance fund included, as ``/fapi/v1/openInterest``),
  with the mark and index price of the moment;
* the accounts net long and net short on the symbol (an account's net = the sum of its legs;
  engine system accounts excluded; a hedged account at net 0 counts on neither side);
* the top traders: the ⌈n/5⌉ (20 %) holders with an open position on the symbol with the highest
  margin balance (ties: lower account id first), their net long / net short account counts and
  their net long / net short quantities;
* the taker buy and sell volume of the bucket, from the projected one-minute bars; the previous
  bucket's volumes are completed by the next sample.

One row per symbol and 5-minute bucket (the bucket holding the sample time); a later sample of the
same bucket replaces it. Rows older than 30 days are deleted (Binance keeps 30 days).

Views: a period row (``timestamp`` = the period's start, UTC-aligned like klines) takes the open
interest, prices and ratios of its *last* 5-minute sample and the *sum* of the taker volumes.
Ratios (``longShortRatio``, ``longAccount``, ``shortAccount``, ``buySellRatio``, ``basisRate``)
are the exact quotient rounded half-even to 4 decimals (Binance's display), so ``longAccount +
shortAccount`` may be 0.9999 or 1.0001; a ratio whose denominator is zero is ``""`` (undefined, as
Binance's ``annualizedBasisRate``). ``sumOpenInterestValue`` = open interest x mark, half-even to 8
decimals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import Enum

import anyio.to_thread

from api import errors, formats
from api.instruments import Instrument, InstrumentRegistry
from api.services.account import SYSTEM_ACCOUNTS
from api.services.klines import INTERVAL_MS, bucket, query_range, select_bars
from derivatives import _core
from derivatives.engine import AccountRisk, EngineQueries
from derivatives.persistence import statistics
from derivatives.persistence.db import Database
from derivatives.persistence.statistics import Positioning, Sample
from derivatives.units import to_raw

log = logging.getLogger("api.market_statistics")

PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
BUCKET = "5m"
BUCKET_MS = INTERVAL_MS[BUCKET]
RETENTION_MS = 30 * INTERVAL_MS["1d"]
RATIO_PLACES = 4
VALUE_PLACES = 8


def holder_views(client: EngineQueries, symbol: int) -> list[AccountRisk]:
    """The account views of the symbol's holders, the engine's fee account left out."""
    views = (client.account(holder) for holder in client.holders(symbol) if holder != _core.FEE_ACCOUNT)
    return [view for view in views if view is not None]


def open_interest(views: Sequence[AccountRisk], symbol: int) -> Decimal:
    """Sum of the long quantities of `symbol` over `views`."""
    return sum((leg.qty for view in views for leg in view.positions if leg.symbol == symbol and leg.qty > 0),
               Decimal(0))


def positioning(views: Sequence[AccountRisk], symbol: int) -> Positioning:
    """Net long/short accounts of every trader and of the top 20 % by margin balance."""
    traders: list[tuple[AccountRisk, Decimal]] = []
    for view in views:
        legs = [leg.qty for leg in view.positions if leg.symbol == symbol and leg.qty != 0]
        if legs and view.account not in SYSTEM_ACCOUNTS:
            traders.append((view, sum(legs, Decimal(0))))
    top_count = -(-len(traders) // 5)
    top = sorted(traders, key=lambda t: (-t[0].margin_balance, t[0].account))[:top_count]
    return Positioning(
        sum(1 for _, net in traders if net > 0), sum(1 for _, net in traders if net < 0),
        sum(1 for _, net in top if net > 0), sum(1 for _, net in top if net < 0),
        sum((net for _, net in top if net > 0), Decimal(0)), sum((-net for _, net in top if net < 0), Decimal(0)))


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """One period: its start, its last sample and its summed taker volumes."""

    open_time: int
    last: Sample
    buy_volume: Decimal
    sell_volume: Decimal


def fold(samples: Sequence[Sample], period: str) -> list[PeriodRow]:
    """Groups 5-minute samples (oldest first) into periods."""
    rows: list[PeriodRow] = []
    for sample in samples:
        start = bucket(sample.bucket, period)[0]
        if rows and rows[-1].open_time == start:
            prev = rows[-1]
            rows[-1] = PeriodRow(start, sample, prev.buy_volume + sample.taker_buy_volume,
                                 prev.sell_volume + sample.taker_sell_volume)
        else:
            rows.append(PeriodRow(start, sample, sample.taker_buy_volume, sample.taker_sell_volume))
    return rows


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> str:
    """numerator / denominator, half-even to 4 decimals; "" when the denominator is zero."""
    if denominator == 0:
        return ""
    return formats.decimal_text(Decimal(numerator) / Decimal(denominator), RATIO_PLACES)


class Crowd(Enum):
    """Whose long/short ratio: every trader's accounts, or the top traders' accounts or positions."""

    ALL_ACCOUNTS = "globalLongShortAccountRatio"
    TOP_ACCOUNTS = "topLongShortAccountRatio"
    TOP_POSITIONS = "topLongShortPositionRatio"

    def shares(self, sample: Sample) -> tuple[Decimal | int, Decimal | int]:
        """(long, short) of this crowd in `sample`."""
        if self is Crowd.ALL_ACCOUNTS:
            return sample.long_accounts, sample.short_accounts
        if self is Crowd.TOP_ACCOUNTS:
            return sample.top_long_accounts, sample.top_short_accounts
        return sample.top_long_position, sample.top_short_position


class MarketStatistics:
    """Samples the market every interval and answers ``/futures/data/*``."""

    def __init__(self, registry: InstrumentRegistry, db: Database, client: EngineQueries,
                 clock_ms: Callable[[], int], interval_ms: int) -> None:
        self.registry = registry
        self.db = db
        self.client = client
        self.clock_ms = clock_ms
        self.interval_ms = interval_ms

    # Sampling ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Samples at every multiple of the interval, for the app's lifetime."""
        while True:
            now = self.clock_ms()
            await asyncio.sleep((self.interval_ms - now % self.interval_ms) / 1000)
            try:
                await anyio.to_thread.run_sync(self.sample, self.clock_ms())
            except Exception:  # a failed sample must not end the sampler
                log.exception("market statistics sample failed")

    def sample(self, now_ms: int) -> None:
        """Records every listed symbol's figures in the bucket of `now_ms` (blocking)."""
        start = bucket(now_ms, BUCKET)[0]
        figures = []
        for instrument in self.registry.all():
            symbol = instrument.spec.symbol
            views = holder_views(self.client, symbol)
            prices = self.client.prices(symbol)
            mark = prices.mark if prices is not None and prices.mark is not None else Decimal(0)
            index = prices.index if prices is not None and prices.index is not None else Decimal(0)
            figures.append((instrument.name, open_interest(views, symbol), mark, index, positioning(views, symbol)))
        with self.db.session() as session:
            for name, interest, mark, index, who in figures:
                buy, sell = statistics.taker_volumes(session, name, start, start + BUCKET_MS)
                statistics.store(session, Sample(
                    symbol=name, bucket=start, sampled_at=now_ms, open_interest=interest, mark_price=mark,
                    index_price=index, taker_buy_volume=buy, taker_sell_volume=sell, **asdict(who)))
                statistics.refresh_volumes(session, name, start - BUCKET_MS, BUCKET_MS)
            statistics.prune(session, start - RETENTION_MS)

    # Views -------------------------------------------------------------------------------------
    async def _periods(self, symbol: str | None, period: str | None, start: int | None, end: int | None,
                       limit: int | None) -> tuple[Instrument, list[PeriodRow]]:
        instrument = self.registry.require(symbol)
        if period not in PERIODS:
            raise errors.invalid_value("period")
        if start is not None and end is not None and start > end:
            raise errors.bad_combination("startTime must not be after endTime.")
        count = limit or 30
        low, high = query_range(period, start, end, count, self.clock_ms())

        def read() -> Sequence[Sample]:
            with self.db.reader() as session:
                return statistics.samples(session, instrument.name, low, high)

        rows = fold(await anyio.to_thread.run_sync(read), period)
        return instrument, select_bars(rows, start, end, count)

    async def open_interest_hist(self, symbol: str | None, period: str | None, start: int | None,
                                 end: int | None, limit: int | None) -> list[dict[str, object]]:
        """``/futures/data/openInterestHist``."""
        instrument, rows = await self._periods(symbol, period, start, end, limit)
        return [{"symbol": instrument.name,
                 "sumOpenInterest": formats.decimal_text(r.last.open_interest, VALUE_PLACES),
                 "sumOpenInterestValue": formats.decimal_text(r.last.open_interest * r.last.mark_price, VALUE_PLACES),
                 "timestamp": r.open_time} for r in rows]

    async def long_short_ratio(self, crowd: Crowd, symbol: str | None, period: str | None, start: int | None,
                               end: int | None, limit: int | None) -> list[dict[str, object]]:
        """``/futures/data/<crowd.value>``."""
        instrument, rows = await self._periods(symbol, period, start, end, limit)
        out: list[dict[str, object]] = []
        for r in rows:
            longs, shorts = crowd.shares(r.last)
            out.append({"symbol": instrument.name, "longShortRatio": ratio(longs, shorts),
                        "longAccount": ratio(longs, longs + shorts), "shortAccount": ratio(shorts, longs + shorts),
                        "timestamp": r.open_time})
        return out

    async def taker_volume(self, symbol: str | None, period: str | None, start: int | None, end: int | None,
                           limit: int | None) -> list[dict[str, object]]:
        """``/futures/data/takerlongshortRatio`` (no ``symbol`` field, as Binance)."""
        instrument, rows = await self._periods(symbol, period, start, end, limit)
        return [{"buySellRatio": ratio(r.buy_volume, r.sell_volume),
                 "buyVol": formats.qty(instrument, to_raw(r.buy_volume)),
                 "sellVol": formats.qty(instrument, to_raw(r.sell_volume)), "timestamp": r.open_time}
                for r in rows]

    async def basis(self, pair: str | None, contract_type: str | None, period: str | None, start: int | None,
                    end: int | None, limit: int | None) -> list[dict[str, object]]:
        """``/futures/data/basis``: perpetual only; futures price = the mark price."""
        if contract_type != "PERPETUAL":
            raise errors.unsupported("contractType", str(contract_type))
        instrument, rows = await self._periods(pair, period, start, end, limit)
        out: list[dict[str, object]] = []
        for r in rows:
            mark, index = r.last.mark_price, r.last.index_price
            out.append({"indexPrice": formats.decimal_text(index, VALUE_PLACES), "contractType": "PERPETUAL",
                        "basisRate": ratio(mark - index, index),
                        "futuresPrice": formats.decimal_text(mark, VALUE_PLACES), "annualizedBasisRate": "",
                        "basis": formats.decimal_text(mark - index, VALUE_PLACES), "pair": instrument.name,
                        "timestamp": r.open_time})
        return out
