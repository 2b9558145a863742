"""The shipped replay sample (``oracle/data/sample_ticks.csv``): how it is generated.

The sample is *generated*, not recorded: :class:`~oracle.sources.simulated.RandomWalk` run for a
few minutes, written in the replay tick-file format with a provenance label in its header.
Regenerate it with ``python -m oracle.sample --seed 20250918 --seconds 240 > FILE``; the test
suite checks that the shipped file is exactly this output.

Invariants:
    * Same seed and length give byte-identical files.
    * The file's first comment line says that it is generated data.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oracle.config import DEFAULT_SYMBOLS, SymbolConfig
from oracle.model import RawTick
from oracle.sources.replay import format_ticks
from oracle.sources.simulated import RandomWalk

SAMPLE_SEED = 20250918
SAMPLE_SECONDS = 240


def recording(symbols: Sequence[SymbolConfig], seed: int, seconds: int) -> list[RawTick]:
    """Return ``seconds`` of the walk as a recording (ticks with offsets from its start).

    Args:
        symbols: Symbols to simulate.
        seed: Random seed.
        seconds: Number of one-second steps.

    Returns:
        The ticks in time order.
    """
    walk = RandomWalk(symbols, seed)
    return [tick for _ in range(seconds) for tick in walk.step()]


def sample_text(seed: int = SAMPLE_SEED, seconds: int = SAMPLE_SECONDS) -> str:
    """Return a generated tick file for the default symbols, with its provenance label.

    Args:
        seed: Random seed.
        seconds: Length of the recording.

    Returns:
        The file's text.
    """
    comments = [
        "GENERATED DATA - NOT A MARKET RECORDING.",
        f"Made by `python -m oracle.sample --seed {seed} --seconds {seconds}`: a seeded",
        "random walk with jumps seen through five venues (oracle/sources/simulated.py).",
        "offset_ms: receipt time since the start; market: ccxt unified market;",
        "price: venue mid in the market's quote currency (USD venues also quote USDT/USD).",
    ]
    return format_ticks(recording(DEFAULT_SYMBOLS, seed, seconds), comments)


def main(argv: Sequence[str] | None = None) -> None:
    """Write a generated tick file to standard output.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description="Write a generated replay tick file.")
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED)
    parser.add_argument("--seconds", type=int, default=SAMPLE_SECONDS)
    args = parser.parse_args(argv)
    sys.stdout.write(sample_text(args.seed, args.seconds))


if __name__ == "__main__":
    main()
