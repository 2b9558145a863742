"""``derivatives bench oracle`` at a tiny size: every figure is produced (no timing is asserted)."""

from __future__ import annotations

import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from oracle.bench import QUANTILES, Load, bench_oracle, reference_prices, ticker
from oracle.config import SymbolConfig
from oracle.sources.live import LiveSource
from oracle.venues import VENUES

ROOT = Path(__file__).resolve().parents[2]
RUN_FIGURES = (
    "offered_ticks_per_s",
    "ticks_per_s",
    "publishes_per_s",
    "cpu_share",
    "pricing_share",
    "ingest_us_per_tick",
    "ingest_share",
    "rest_share",
    "pricing_us_per_symbol",
    "rounds",
    "round_ms_p50",
    "round_ms_max",
    "latency_samples",
    "unpublished",
    *(f"{name}_ms_{q}" for name in ("e2e", "wait", "processing") for q, _ in QUANTILES),
)


def test_bench_produces_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    figures = bench_oracle(
        venues=5, symbols=3, rate=20, seconds=0.5, interval_ms=100, micro_iterations=100
    )
    expected = (
        *RUN_FIGURES,
        *(f"baseline_{name}" for name in RUN_FIGURES),
        "cpu_ratio",
        "processing_p99_ratio",
        "ccxt_parse_us",
        "load_1min_before",
        "load_1min_after",
    )
    assert set(figures) == set(expected)
    assert all(math.isfinite(value) for value in figures.values())
    # Every figure but the rest share (a difference of two measurements) is non-negative.
    assert all(value >= 0 for key, value in figures.items() if "rest_share" not in key)
    # Every timed tick was published (the draining round), and ticks and publishes happened.
    assert figures["unpublished"] == figures["baseline_unpublished"] == 0
    assert figures["latency_samples"] > 0 and figures["publishes_per_s"] > 0
    # 5 venues x 3 bases + USDT/USD on the two USD venues, 20 updates/s each.
    assert figures["offered_ticks_per_s"] == 20 * (5 * 3 + 2)
    out = capsys.readouterr().out
    for text in ("baseline:", "main:", "end to end", "processing", "goal CPU", "load average"):
        assert text in out


def test_bench_tickers_are_read_by_the_live_source() -> None:
    """Every venue's synthetic ticker goes through the live callback into an exact price."""
    configs = (SymbolConfig(symbol="X000USDT", base="X000"),)
    source = LiveSource(configs, clock=lambda: 1)
    prices = reference_prices(configs)
    for venue in VENUES:
        for market in VENUES[venue].markets(["X000"]):
            source._record(venue, market, ticker(venue, market, prices[market]))
            tick = source.board.latest(venue, market)
            assert tick is not None
            # Bid/ask mid is one tick above the bid (the last price where no book is read).
            step = "0.00001" if market == "USDT/USD" else "0.01"
            assert tick.price == prices[market] + Decimal(step)


def test_load_refuses_a_sixth_venue() -> None:
    with pytest.raises(ValueError, match="venues"):
        Load(venues=6, symbols=1, rate=1, seconds=1)


def test_cli_subcommand_prints_the_figures() -> None:
    args = ("--venues", "1", "--symbols", "2", "--seconds", "0.3", "--interval-ms", "100")
    done = subprocess.run(
        [sys.executable, "-m", "derivatives", "bench", "oracle", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "goal update-to-publish p99" in done.stdout
