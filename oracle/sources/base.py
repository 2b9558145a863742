"""The ``Source`` interface: something that keeps a :class:`~oracle.quotes.QuoteBoard` current.

Invariants:
    * A source only writes raw venue ticks to its board; conversion, ageing and the index rules
      are applied downstream, identically for every source kind.
    * ``kind`` labels every price computed from the source (live, replay or simulated).
    * The service calls ``start`` once, ``advance(now_ms)`` before each publication and ``close``
      once; a tick recorded by ``advance(now_ms)`` is never received after ``now_ms``.
"""

from __future__ import annotations

from typing import ClassVar

from oracle.model import FeedKind
from oracle.quotes import QuoteBoard


class Source:
    """Base class of the venue price feeds; every hook defaults to doing nothing.

    Attributes:
        kind: The feed kind, carried in every published price's flags.
        board: The latest raw tick per (venue, market).
    """

    kind: ClassVar[FeedKind]

    def __init__(self) -> None:
        """Create the source with an empty board."""
        self.board = QuoteBoard()

    async def start(self) -> None:
        """Begin receiving ticks in the background; the default does nothing."""

    async def advance(self, now_ms: int) -> None:
        """Bring the board up to ``now_ms``; the default (a pushed feed) does nothing.

        Args:
            now_ms: The service's current time.
        """

    async def close(self) -> None:
        """Stop background work and release connections; the default does nothing."""
