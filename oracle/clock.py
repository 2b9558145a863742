"""Injected time: every component reads "now" through a :data:`Clock`.

Invariants:
    * Time is an ``int`` of Unix milliseconds (Binance's unit), never a float.
    * Nothing in ``oracle`` reads the system clock except :func:`wall_clock_ms`, which is only the
      default for the service; tests pass a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]
"""A zero-argument callable returning the current time in Unix milliseconds."""


def wall_clock_ms() -> int:
    """Return the system time in Unix milliseconds.

    Returns:
        Milliseconds since the epoch, from the integer nanosecond clock.
    """
    return time.time_ns() // 1_000_000
