"""Funding times of an instrument: the one rule every service uses (funding settlement, the mark
price's funding basis, the API's ``nextFundingTime``).

Funding is settled at every multiple of the instrument's ``funding_interval_ms`` since the Unix
epoch (UTC; the interval divides a day, so 8 h gives 00:00, 08:00, 16:00). Boundary rule: at
exactly a funding time ``T`` the next funding time is ``T`` itself: ``T`` settles at the first
sequenced event at or after it (MECHANICS §3.4), and a premium sample taken at ``T`` belongs to
the window ``(T - interval, T]``.
"""

from __future__ import annotations


def next_funding_time(now_ms: int, interval_ms: int) -> int:
    """The first funding time at or after `now_ms`.

    Args:
        now_ms: The current time (Unix ms).
        interval_ms: The instrument's funding interval (> 0).

    Returns:
        ``ceil(now / interval) * interval``.
    """
    return -(-now_ms // interval_ms) * interval_ms
