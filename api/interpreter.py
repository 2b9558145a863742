"""Interpreter tuning of a serving process: a short GIL switch interval.

Why: the engine gateway holds its lock across the engine call, and the engine call releases the
GIL. With CPython's default 5 ms switch interval, the thread coming back from the engine waits up
to 5 ms for the GIL while request threads run, still holding the gateway lock, so concurrent orders
queue behind one another 5 ms at a time (measured by ``derivatives bench api``: at 300 orders/s
the order latency p50 fell from 93 ms to 5 ms; BENCHMARKS.md). Process-wide; set once at start.
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.0005


def tune() -> None:
    """Applies the serving settings to this interpreter."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
