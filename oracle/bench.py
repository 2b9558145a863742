"""``derivatives bench oracle``: the mark price service under a synthetic venue load.

Load: every symbol is quoted by ``venues`` venues (plus each USD venue's ``USDT/USD`` market) and
every venue market is updated ``rate`` times a second on average (each venue's ticks a seeded
Poisson process, round robin over its markets). A tick enters where the live source's ccxt
callbacks hand it over: a ccxt-shaped ticker whose ``info`` holds the venue's own price strings
goes through
:class:`~oracle.sources.live.LiveSource`'s ``_record`` (price parsing, bid/ask mid, receipt
stamp, board). The unmodified :class:`~oracle.service.MarkPriceService` loop then prices every
symbol each interval (USDT conversion, index, basis window, mark, klines) and awaits the publish
callback, a fake engine submit that records the time. The ccxt clients and sockets are not in
the driven path (their cost at this rate is larger than the whole goal, see BENCHMARKS.md); the
cost of ccxt's own ticker parsing is measured on its own and reported next to the figures.

Measured over the feed window (``seconds`` of wall time):
    * CPU share of one core: process CPU seconds / wall seconds, split into the pricing rounds
      (CPU inside ``publish_once``), the ingestion callback (CPU around each batch of ticks
      handed over) and the rest (the harness's feeders and timing, the event loop).
    * For every base-market tick: end to end = its arrival (its scheduled time) -> the first
      publish of its symbol after it; wait = arrival -> start of that round; processing = round
      start -> that publish. A round never yields to the event loop, so a round reflects every
      tick that arrived before it started, and none after. Ticks still pending when the feed
      stops are published by one more round, which is outside the CPU window.
    * Publishes per second, round count and durations.

Baseline in the same invocation: the same run with 1 venue x 1 symbol. Prices are Decimal
strings from end to end; floats hold only timings and CPU figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import ccxt.pro as ccxt_pro

from oracle.clock import wall_clock_ms
from oracle.config import DEFAULT_WEIGHTS, SymbolConfig
from oracle.model import PriceFlags
from oracle.service import MarkPriceService, Publication
from oracle.sources.live import LiveSource
from oracle.venues import USDT_USD, VENUES

SLICE_S = 0.005
"""Shortest pause of a venue feeder: ticks falling due within one slice are handed over together,
as the frames returned by one socket read would be."""
VARIANTS = 16
"""Distinct quotes cycled per market, so that successive ticks move the price."""
ASSET_TICK = Decimal("0.01")
RATE_TICK = Decimal("0.00001")
ARRAY_PRICE_VENUES = frozenset({"kraken"})
"""Venues whose ticker sends each price as ``[price, volume, ...]`` (Kraken's REST Ticker)."""
QUANTILES = (("p50", 0.5), ("p99", 0.99), ("p999", 0.999), ("max", 1.0))
# fmt: off
BINANCE_TICKER_FRAME = {
    "e": "24hrTicker", "E": 1, "s": "X000USDT", "p": "0.00", "P": "0.000", "w": "100.01",
    "x": "100.01", "c": "100.01", "Q": "0.001", "b": "100.00", "B": "1.0", "a": "100.02",
    "A": "1.0", "o": "100.01", "h": "100.02", "l": "100.00", "v": "1000", "q": "100000",
    "O": 0, "C": 1, "F": 1, "L": 1000, "n": 1000,
}
# fmt: on
"""One event of Binance's spot ``<symbol>@ticker`` stream, as ccxt.pro receives it."""
CPU_GOAL = 0.20
"""Goal: under 20 % of one core."""
P99_GOAL_MS = 50.0
"""Goal: update-to-publish p99 under 50 ms."""


@dataclass(frozen=True, slots=True)
class Load:
    """One benchmark configuration.

    Attributes:
        venues: How many of the five venues quote every symbol (in ``VENUES`` order).
        symbols: Perpetual symbols priced.
        rate: Updates per second of every venue market.
        seconds: Wall time of the feed.
        interval_ms: The service's publication period.
    """

    venues: int
    symbols: int
    rate: float
    seconds: float
    interval_ms: int = 1_000

    def __post_init__(self) -> None:
        """Validate the sizes.

        Raises:
            ValueError: On a venue count outside 1..5 or a non-positive size.
        """
        if not 1 <= self.venues <= len(VENUES):
            raise ValueError(f"venues must be within 1..{len(VENUES)}")
        if min(self.symbols, self.rate, self.seconds, self.interval_ms) <= 0:
            raise ValueError("symbols, rate, seconds and interval must be positive")

    def configs(self) -> tuple[SymbolConfig, ...]:
        """Return the synthetic symbols ``X000USDT``, ``X001USDT``... on the first venues.

        Returns:
            One configuration per symbol, default weights restricted to the chosen venues.
        """
        weights = {name: DEFAULT_WEIGHTS[name] for name in tuple(VENUES)[: self.venues]}
        return tuple(
            SymbolConfig(symbol=f"X{i:03d}USDT", base=f"X{i:03d}", weights=weights)
            for i in range(self.symbols)
        )

    def describe(self) -> str:
        """Return a one-line description for the report.

        Returns:
            The sizes in words.
        """
        return (
            f"{self.venues} venue(s) x {self.symbols} symbol(s), {self.rate:g} updates/s per "
            f"venue market, publication every {self.interval_ms} ms, {self.seconds:g} s"
        )


def reference_prices(configs: Sequence[SymbolConfig]) -> dict[str, Decimal]:
    """Return the opening price of every market a venue may quote: 100 + i, and 0.9999 USDT/USD.

    Args:
        configs: The symbols.

    Returns:
        Price per ccxt unified market (same number in USDT and USD terms).
    """
    prices = {USDT_USD: Decimal("0.99990")}
    for i, config in enumerate(configs):
        for quote in ("USDT", "USD"):
            prices[f"{config.base}/{quote}"] = Decimal(100 + i)
    return prices


def ticker(venue: str, market: str, bid: Decimal) -> dict[str, object]:
    """Build a ccxt ticker whose ``info`` holds the venue's price fields: bid, ask, last strings.

    The field names are the stream's on streamed venues, the REST ticker's otherwise.

    Args:
        venue: Venue name.
        market: ccxt unified market.
        bid: Best bid; the ask is two ticks above it and the last trade one tick above.

    Returns:
        ``{"symbol", "info"}``, all that the live source reads from a ccxt ticker.
    """
    spec, tick = VENUES[venue], RATE_TICK if market == USDT_USD else ASSET_TICK
    at = -1 if spec.websocket else 0  # field names: REST first, then the stream's
    prices = {
        spec.bid_fields[at]: bid,
        spec.ask_fields[at]: bid + 2 * tick,
        spec.last_fields[at]: bid + tick,
    }
    array = venue in ARRAY_PRICE_VENUES
    info = {key: [str(price), "1"] if array else str(price) for key, price in prices.items()}
    return {"symbol": market, "info": info}


def ticker_pool(venue: str, market: str, reference: Decimal) -> tuple[dict[str, object], ...]:
    """Return the :data:`VARIANTS` tickers cycled on one market, bids one tick apart.

    Args:
        venue: Venue name.
        market: ccxt unified market.
        reference: The market's lowest bid.

    Returns:
        The tickers, built once so that delivering one costs no generation.
    """
    tick = RATE_TICK if market == USDT_USD else ASSET_TICK
    return tuple(ticker(venue, market, reference + k * tick) for k in range(VARIANTS))


def percentile(ordered: Sequence[int], q: float) -> int:
    """Return the nearest-rank quantile of sorted samples.

    Args:
        ordered: Samples in ascending order, at least one.
        q: Quantile in ``[0, 1]``.

    Returns:
        The sample at rank ``q``.
    """
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Recorder:
    """Arrival, round and publish times of one run (``perf_counter_ns``; CPU in seconds).

    Attributes:
        symbol_of: The symbol of every base market (USDT/USD ticks are load, not samples).
        pending: Arrival times of the ticks of each symbol not yet reflected in a publish.
        end_to_end: Arrival -> publish, per tick.
        wait: Arrival -> start of the round that published it, per tick.
        processing: Round start -> publish, per tick.
        round_wall: Duration of each round.
        round_cpu: CPU seconds of each round.
        ticks: Ticks delivered, all markets.
        ingest_cpu: CPU seconds spent in the live source's ticker callback.
        publishes: Publish callbacks.
        round_done: Set at the end of every round.
        round_start_ns: Start of the current (or last) round.
        round_start_cpu: Process CPU time at that start.
    """

    symbol_of: Mapping[str, str]
    pending: dict[str, list[int]] = field(default_factory=dict)
    end_to_end: list[int] = field(default_factory=list)
    wait: list[int] = field(default_factory=list)
    processing: list[int] = field(default_factory=list)
    round_wall: list[int] = field(default_factory=list)
    round_cpu: list[float] = field(default_factory=list)
    ticks: int = 0
    ingest_cpu: float = 0.0
    publishes: int = 0
    round_done: asyncio.Event = field(default_factory=asyncio.Event)
    round_start_ns: int = 0
    round_start_cpu: float = 0.0

    def arrived(self, market: str, arrival_ns: int) -> None:
        """Note a tick handed to the source.

        Args:
            market: Its ccxt unified market.
            arrival_ns: When it arrived.
        """
        self.ticks += 1
        symbol = self.symbol_of.get(market)
        if symbol is not None:
            self.pending.setdefault(symbol, []).append(arrival_ns)

    def round_started(self) -> None:
        """Note the start of a pricing round."""
        self.round_start_ns, self.round_start_cpu = time.perf_counter_ns(), time.process_time()

    def round_ended(self) -> None:
        """Note the end of a pricing round and wake whoever waits for one."""
        self.round_wall.append(time.perf_counter_ns() - self.round_start_ns)
        self.round_cpu.append(time.process_time() - self.round_start_cpu)
        self.round_done.set()

    async def publish(self, symbol: str, mark: Decimal, index: Decimal, flags: PriceFlags) -> None:
        """Fake engine submit: time the publish against every tick of the symbol it reflects.

        Args:
            symbol: The symbol.
            mark: The mark price (unused).
            index: The index price (unused).
            flags: The flags (unused).
        """
        del mark, index, flags
        now = time.perf_counter_ns()
        self.publishes += 1
        for arrival in self.pending.pop(symbol, ()):
            self.end_to_end.append(now - arrival)
            self.wait.append(self.round_start_ns - arrival)
            self.processing.append(now - self.round_start_ns)


class FeedSource(LiveSource):
    """The live source with its ccxt tasks replaced by feeders of pre-built tickers."""

    def __init__(self, load: Load, configs: Sequence[SymbolConfig], recorder: Recorder) -> None:
        """Plan the markets as the live source does and build every market's tickers.

        Args:
            load: Sizes and rate.
            configs: The symbols.
            recorder: Receives every arrival.
        """
        super().__init__(configs, clock=wall_clock_ms)
        self._rate = load.rate
        self._recorder = recorder
        prices = reference_prices(configs)
        self._pools = {
            (venue, market): ticker_pool(venue, market, prices[market])
            for venue, markets in self._markets.items()
            for market in markets
        }

    @property
    def market_count(self) -> int:
        """Venue markets fed (each at the configured rate)."""
        return len(self._pools)

    async def start(self) -> None:
        """Record one untimed snapshot per market (as a stream's first message), start feeders."""
        for (venue, market), pool in self._pools.items():
            self._record(venue, market, pool[0])
        self._tasks.extend(
            asyncio.create_task(self._feed(venue, markets))
            for venue, markets in self._markets.items()
        )

    async def stop_feed(self) -> None:
        """Cancel the feeders and wait for them to end."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _feed(self, venue: str, markets: tuple[str, ...]) -> None:
        """Deliver one venue's ticks, round robin over its markets, each market at the rate.

        Ticks arrive as a Poisson process (seeded per venue), so that their times do not lock
        onto the service's publication grid. A tick's arrival is its scheduled time, when the
        venue's message would reach the socket; so the wait for the feeder's next slice, and
        for a pricing round holding the event loop, counts in its latency as it would for a
        real socket.

        Args:
            venue: Venue name.
            markets: Its markets.
        """
        rng = random.Random(venue)  # seeded: the same arrival times on every run
        rate = self._rate * len(markets)
        due_ns, sent = time.perf_counter_ns(), 0
        while True:
            batch = []
            while due_ns <= time.perf_counter_ns():
                market = markets[sent % len(markets)]
                self._recorder.arrived(market, due_ns)
                batch.append((market, self._pools[venue, market][sent // len(markets) % VARIANTS]))
                sent += 1
                due_ns += int(rng.expovariate(rate) * 1e9)
            if batch:
                self._ingest(venue, batch)
            await asyncio.sleep(max(SLICE_S, (due_ns - time.perf_counter_ns()) / 1e9))

    def _ingest(self, venue: str, batch: list[tuple[str, dict[str, object]]]) -> None:
        """Hand a batch of tickers to the live source's callback, timing its CPU.

        Args:
            venue: Venue name.
            batch: ``(market, ticker)`` pairs, in arrival order.
        """
        started = time.process_time()
        for market, quote in batch:
            self._record(venue, market, quote)
        self._recorder.ingest_cpu += time.process_time() - started


class TimedService(MarkPriceService):
    """The mark price service, with each round's start, duration and CPU recorded."""

    def __init__(
        self, source: FeedSource, recorder: Recorder, configs: Sequence[SymbolConfig], load: Load
    ) -> None:
        """Wire the service to the feed and the fake engine submit.

        Args:
            source: The fed live source.
            recorder: Times rounds and publishes.
            configs: The symbols.
            load: Gives the publication interval.
        """
        super().__init__(source, recorder.publish, symbols=configs, interval_ms=load.interval_ms)
        self._recorder = recorder

    async def publish_once(self) -> list[Publication]:
        """Run one round of the service between two timestamps.

        Returns:
            The round's publications.
        """
        self._recorder.round_started()
        published = await super().publish_once()
        self._recorder.round_ended()
        return published


def symbol_of(configs: Sequence[SymbolConfig]) -> dict[str, str]:
    """Map every venue market of a base asset to its symbol (``X000/USD`` -> ``X000USDT``).

    Args:
        configs: The symbols.

    Returns:
        Symbol per ccxt unified market.
    """
    return {
        VENUES[venue].market(config.base): config.symbol
        for config in configs
        for venue in config.weights
    }


@dataclass(frozen=True, slots=True)
class Window:
    """Totals at the end of the feed window (before the draining round).

    Attributes:
        wall: Wall seconds.
        cpu: Process CPU seconds.
        rounds: Rounds completed.
        ticks: Ticks delivered.
        ingest_cpu: CPU seconds of the ticker callback.
        publishes: Publish callbacks.
    """

    wall: float
    cpu: float
    rounds: int
    ticks: int
    ingest_cpu: float
    publishes: int


async def run_load(load: Load) -> dict[str, float]:
    """Feed the service for ``load.seconds``, drain one round, and compute the figures.

    Args:
        load: Sizes, rate and interval.

    Returns:
        The figures of :func:`figures`.
    """
    configs = load.configs()
    recorder = Recorder(symbol_of(configs))
    source = FeedSource(load, configs, recorder)
    service = TimedService(source, recorder, configs, load)
    wall, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(service.run())
    await asyncio.sleep(load.seconds)
    await source.stop_feed()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    window = Window(
        wall, cpu, len(recorder.round_cpu), recorder.ticks, recorder.ingest_cpu, recorder.publishes
    )
    recorder.round_done.clear()
    await asyncio.wait_for(recorder.round_done.wait(), load.interval_ms / 1000 + 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return figures(load, source.market_count, recorder, window)


def latency_figures(name: str, samples: list[int]) -> dict[str, float]:
    """Return the quantiles of a latency sample in milliseconds.

    Args:
        name: Prefix of the figures.
        samples: Nanoseconds, at least one.

    Returns:
        ``{name}_ms_p50``, ``_p99``, ``_p999`` and ``_max``.
    """
    ordered = sorted(samples)
    return {f"{name}_ms_{label}": percentile(ordered, q) / 1e6 for label, q in QUANTILES}


def figures(load: Load, markets: int, recorder: Recorder, window: Window) -> dict[str, float]:
    """Compute every figure of one run.

    The CPU share is split into the pricing rounds, the ingestion callback (both timed in the
    run) and the rest: the harness's feeders and timing, and the event loop.

    Args:
        load: The configuration.
        markets: Venue markets fed.
        recorder: The run's timestamps.
        window: Totals of the feed window.

    Returns:
        Rates, CPU shares, round and latency figures, sample counts.
    """
    round_cpu = sum(recorder.round_cpu[: window.rounds])
    rounds_ns = sorted(recorder.round_wall[: window.rounds])
    cpu_share, pricing_share = window.cpu / window.wall, round_cpu / window.wall
    ingest_share = window.ingest_cpu / window.wall
    return {
        "offered_ticks_per_s": load.rate * markets,
        "ticks_per_s": window.ticks / window.wall,
        "publishes_per_s": window.publishes / window.wall,
        "cpu_share": cpu_share,
        "pricing_share": pricing_share,
        "ingest_us_per_tick": window.ingest_cpu / max(window.ticks, 1) * 1e6,
        "ingest_share": ingest_share,
        "rest_share": cpu_share - pricing_share - ingest_share,
        "pricing_us_per_symbol": round_cpu / max(window.publishes, 1) * 1e6,
        "rounds": window.rounds,
        "round_ms_p50": percentile(rounds_ns, 0.5) / 1e6,
        "round_ms_max": rounds_ns[-1] / 1e6,
        "latency_samples": len(recorder.end_to_end),
        "unpublished": sum(len(arrivals) for arrivals in recorder.pending.values()),
        **latency_figures("e2e", recorder.end_to_end),
        **latency_figures("wait", recorder.wait),
        **latency_figures("processing", recorder.processing),
    }


def ccxt_parse_us(iterations: int) -> float:
    """Measure ccxt.pro's CPU cost of turning one Binance ticker frame into a ticker.

    This is the first thing a streamed tick costs in the live process, before the ingestion
    callback; it is *not* in the driven path and is reported so that its share shows.

    Args:
        iterations: Frames parsed.

    Returns:
        Mean CPU microseconds per frame (``json.loads`` + ``parse_ws_ticker``).
    """
    client = ccxt_pro.binance(dict(VENUES["binance"].ccxt_config))
    frame = json.dumps(BINANCE_TICKER_FRAME)
    started = time.process_time()
    for _ in range(iterations):
        client.parse_ws_ticker(json.loads(frame), "spot")
    return (time.process_time() - started) / iterations * 1e6


def report(label: str, load: Load, result: Mapping[str, float]) -> None:
    """Print one run's figures.

    Args:
        label: ``main`` or ``baseline``.
        load: Its configuration.
        result: Its figures.
    """
    print(f"{label}: {load.describe()}")
    print(
        f"  ticks offered {result['offered_ticks_per_s']:.1f}/s, delivered "
        f"{result['ticks_per_s']:.1f}/s; {result['publishes_per_s']:.1f} publishes/s in "
        f"{result['rounds']:.0f} rounds (round p50 {result['round_ms_p50']:.1f} ms, max "
        f"{result['round_ms_max']:.1f} ms)"
    )
    print(
        f"  CPU {result['cpu_share']:.1%} of one core = pricing rounds "
        f"{result['pricing_share']:.1%} ({result['pricing_us_per_symbol']:.0f} us per symbol "
        f"priced) + ingestion "
        f"{result['ingest_share']:.1%} ({result['ingest_us_per_tick']:.1f} us per tick) + rest "
        f"(feeders, timing, event loop) {result['rest_share']:.1%}"
    )
    for name, title in (
        ("e2e", "end to end (arrival -> publish)"),
        ("wait", "  wait for the round"),
        ("processing", "  processing (round start -> publish)"),
    ):
        quantiles = ", ".join(f"{q} {result[f'{name}_ms_{q}']:.1f}" for q, _ in QUANTILES)
        print(f"  {title}: {quantiles} ms")
    print(f"  {result['latency_samples']:.0f} ticks timed, {result['unpublished']:.0f} unpublished")


def verdict(result: Mapping[str, float], parse_us: float) -> None:
    """Print the two goals (:data:`CPU_GOAL`, :data:`P99_GOAL_MS`), met or missed, and what ccxt would add in a live process.

    Args:
        result: Figures of the main run.
        parse_us: ccxt parse cost per frame.
    """
    own = result["pricing_share"] + result["ingest_share"]
    live = own + parse_us * result["offered_ticks_per_s"] / 1e6
    print(
        f"goal CPU < {CPU_GOAL:.0%} of a core: {_met(result['cpu_share'] < CPU_GOAL)} in the "
        f"driven path ({result['cpu_share']:.1%} with the harness, {own:.1%} the oracle's own "
        f"code); a live process adds ccxt's parse, {parse_us:.0f} us per frame (not in the "
        f"driven path): >= {live:.0%} at {result['offered_ticks_per_s']:.0f} ticks/s, "
        f"{_met(live < CPU_GOAL)} before sockets and framing"
    )
    print(
        f"goal update-to-publish p99 < {P99_GOAL_MS:.0f} ms: end to end "
        f"{_met(result['e2e_ms_p99'] < P99_GOAL_MS)} ({result['e2e_ms_p99']:.1f} ms); processing "
        f"alone {_met(result['processing_ms_p99'] < P99_GOAL_MS)} "
        f"({result['processing_ms_p99']:.1f} ms)"
    )


def _met(condition: bool) -> str:
    """Word a goal check.

    Args:
        condition: Whether the goal holds.

    Returns:
        ``"met"`` or ``"missed"``.
    """
    return "met" if condition else "missed"


def bench_oracle(
    venues: int,
    symbols: int,
    rate: float,
    seconds: float,
    interval_ms: int = 1_000,
    micro_iterations: int = 20_000,
) -> dict[str, float]:
    """Run the baseline (1 venue x 1 symbol) and the main load, print and return the figures.

    Args:
        venues: Venues quoting every symbol (1..5).
        symbols: Symbols priced.
        rate: Updates per second of every venue market.
        seconds: Feed duration of each run.
        interval_ms: Publication period of the service.
        micro_iterations: Frames parsed to time ccxt.

    Returns:
        The main run's figures, the baseline's prefixed ``baseline_``, the ratios, the ccxt
        parse cost and the 1-minute load average before and after.
    """
    main = Load(venues, symbols, rate, seconds, interval_ms)
    baseline = Load(1, 1, rate, seconds, interval_ms)
    load_before = os.getloadavg()[0]
    print(f"oracle bench; load average {load_before:.2f} (1 min)")
    base = asyncio.run(run_load(baseline))
    report("baseline", baseline, base)
    result = asyncio.run(run_load(main))
    report("main", main, result)
    cpu_ratio = result["cpu_share"] / base["cpu_share"]
    processing_ratio = result["processing_ms_p99"] / base["processing_ms_p99"]
    ticks_ratio = result["ticks_per_s"] / base["ticks_per_s"]
    print(
        f"main / baseline: {ticks_ratio:.0f}x the ticks for {cpu_ratio:.1f}x the CPU; "
        f"processing p99 {processing_ratio:.1f}x"
    )
    parse_us = ccxt_parse_us(micro_iterations)
    verdict(result, parse_us)
    load_after = os.getloadavg()[0]
    print(f"load average {load_after:.2f} (1 min) at the end")
    return {
        **result,
        **{f"baseline_{key}": value for key, value in base.items()},
        "cpu_ratio": cpu_ratio,
        "processing_p99_ratio": processing_ratio,
        "ccxt_parse_us": parse_us,
        "load_1min_before": load_before,
        "load_1min_after": load_after,
    }
