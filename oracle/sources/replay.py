"""Replay of a recorded tick file, mapped onto the service's clock.

File format (CSV, UTF-8): lines starting with ``#`` are comments (the provenance label lives
there); then the header ``offset_ms,venue,market,price`` and one row per tick, ordered by
``offset_ms``: receipt time since the start of the recording, venue name, ccxt unified market
and the venue price in that market's quote currency as a decimal string.

Invariants:
    * The recording's offset 0 is mapped to the ``start_ms`` given, or else to the first
      ``advance`` time; a tick is released once ``start + offset <= now``.
    * With ``loop=True`` the recording repeats every ``period_ms`` (last offset + 1 s) with
      shifted times; otherwise the board ages out after the last tick, as a dead feed would.
    * Prices are parsed with ``Decimal`` from their strings, never through float.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

from oracle.model import FeedKind, RawTick
from oracle.numeric import parse_price
from oracle.sources.base import Source

COLUMNS = ("offset_ms", "venue", "market", "price")
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "sample_ticks.csv"
"""The shipped sample recording (generated, see oracle/data/README.md)."""


def read_ticks(path: Path) -> list[RawTick]:
    """Read a tick file; ``received_ms`` of each tick is its offset in the recording.

    Args:
        path: The CSV file.

    Returns:
        The ticks in file order.

    Raises:
        ValueError: If the header is wrong, a price is not a positive decimal or offsets are not
            in order.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(line for line in handle if not line.startswith("#"))
        if tuple(next(rows, ())) != COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(COLUMNS)}")
        ticks = [
            RawTick(venue, market, parse_price(price), int(offset))
            for offset, venue, market, price in rows
        ]
    if any(a.received_ms > b.received_ms for a, b in itertools.pairwise(ticks)):
        raise ValueError(f"{path}: offsets must not decrease")
    return ticks


def format_ticks(ticks: Iterable[RawTick], comments: Sequence[str]) -> str:
    """Render ticks (with offsets in ``received_ms``) as a tick file.

    Args:
        ticks: Ticks in offset order.
        comments: Comment lines, written first with a ``# `` prefix.

    Returns:
        The file's text.
    """
    lines = [f"# {comment}" for comment in comments]
    lines.append(",".join(COLUMNS))
    lines.extend(f"{t.received_ms},{t.venue},{t.market},{t.price}" for t in ticks)
    return "\n".join(lines) + "\n"


class ReplaySource(Source):
    """Ticks from a recorded file, released as the clock passes them."""

    kind = FeedKind.REPLAY

    def __init__(
        self, path: Path = SAMPLE_PATH, *, start_ms: int | None = None, loop: bool = True
    ) -> None:
        """Load the recording.

        Args:
            path: The tick file.
            start_ms: Clock time of the recording's offset 0; default: the first ``advance``.
            loop: Repeat the recording when it ends.

        Raises:
            ValueError: If the file is malformed or empty.
        """
        super().__init__()
        self._ticks = read_ticks(path)
        if not self._ticks:
            raise ValueError(f"{path}: no tick")
        self._start_ms = start_ms
        self._loop = loop
        self._period_ms = self._ticks[-1].received_ms + 1_000
        self._cycle = 0
        self._next = 0

    async def advance(self, now_ms: int) -> None:
        """Record every tick due by ``now_ms``.

        Args:
            now_ms: The service's current time.
        """
        if self._start_ms is None:
            self._start_ms = now_ms
        skip_to = (now_ms - self._start_ms) // self._period_ms - 1
        if self._loop and skip_to > self._cycle:
            # The clock jumped over whole cycles: resume one cycle back instead of replaying all.
            self._cycle, self._next = skip_to, 0
        while self._next < len(self._ticks):
            tick = self._ticks[self._next]
            due = self._start_ms + self._cycle * self._period_ms + tick.received_ms
            if due > now_ms:
                return
            self.board.record(RawTick(tick.venue, tick.market, tick.price, due))
            self._next += 1
            if self._loop and self._next == len(self._ticks):
                self._cycle, self._next = self._cycle + 1, 0
