"""Bounded login work: password hashing (scrypt, tens of milliseconds of CPU each) must never
crowd out trading.

Invariants:
    * Each client IP may start at most ``LOGINS_PER_IP_PER_MINUTE`` logins per one-minute window;
      beyond that the answer is HTTP 429 ``-1003`` at once, before any password work, and the
      refusal counts towards the IP's ban (``api.ratelimit.Bans``: an IP that keeps trying is
      then refused with 418 before its requests reach any route).
    * At most ``CONCURRENT`` logins do password work at a time (one: a core stays free for trading
      on a two-core machine), on their own worker threads (a
      dedicated limiter, so the shared worker pool that key lookups and reads use stays free);
      at most ``WAITING`` more wait for a turn; any further login is answered HTTP 429 at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from api import errors
from api.ratelimit import FixedWindow

T = TypeVar("T")

LOGINS_PER_IP_PER_MINUTE = 30
CONCURRENT = 1
WAITING = 8


class LoginGate:
    """The per-IP budget and the bounded worker pool of logins (one per app)."""

    def __init__(self, clock_ms: Callable[[], int], refused: Callable[[str], object] = lambda _ip: None) -> None:
        self.per_ip = FixedWindow(LOGINS_PER_IP_PER_MINUTE, 60_000, clock_ms)
        self.refused = refused
        self._workers = anyio.CapacityLimiter(CONCURRENT)
        self._queued = 0

    async def run(self, ip: str, work: Callable[[], T]) -> T:
        """`work` on a login worker thread, if `ip` is within budget and the queue has room.

        Raises:
            ApiError: -1003 (HTTP 429) otherwise.
        """
        usage = self.per_ip.hit(ip, 1)
        if not usage.allowed:
            self.refused(ip)
            raise errors.too_many_logins(usage.retry_after_s, f"IP({ip})")
        if self._queued >= CONCURRENT + WAITING:
            raise errors.too_many_logins(1, "the server")
        self._queued += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=self._workers)
        finally:
            self._queued -= 1
