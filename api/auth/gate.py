"""Bounded login work: password hashing (scrypt, tens of milliseconds of CPU each) must never
crowd out trading.

Invariants:
    * Each client IP may start at most ``LOGINS_PER_IP_PER_MINUTE`` logins per one-minute window,
      counted across every gateway process in the database (``derivatives.persistence.guards``)
      before any password work, and in each process's memory first (so a flood from one IP never
      reaches the database or the queue); beyond that the answer is HTTP 429 ``-1003``, and the
      refusal counts towards the IP's ban (``api.ratelimit.Bans``: an IP that keeps trying is
      then refused with 418 before its requests reach any route).
    * At most ``CONCURRENT`` logins do password work at a time (one: a core stays free for trading
      on a two-core machine), on their own worker threads (a
      dedicated limiter, so the shared worker pool that key lookups and reads use stays free);
      at most ``WAITING`` more wait for a turn; any further login is answered HTTP 429 at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

import anyio
import anyio.to_thread

from api import errors
from api.ratelimit import FixedWindow
from derivatives.persistence import guards
from derivatives.persistence.db import Database

T = TypeVar("T")

LOGINS_PER_IP_PER_MINUTE = 30
CONCURRENT = 1
WAITING = 8


class LoginGate:
    """The per-IP budget and the bounded worker pool of logins (one per app)."""

    def __init__(self, clock_ms: Callable[[], int], refused: Callable[[str], object] = lambda _ip: None) -> None:
        self.per_ip = FixedWindow(LOGINS_PER_IP_PER_MINUTE, guards.WINDOW_MS, clock_ms)
        self.refused = refused
        self._workers = anyio.CapacityLimiter(CONCURRENT)
        self._queued = 0

    async def run(self, db: Database, ip: str, work: Callable[[], T]) -> T:
        """`work` on a login worker thread, if `ip` is within budget and the queue has room.

        Raises:
            ApiError: -1003 (HTTP 429) otherwise.
        """
        usage = self.per_ip.hit(ip, 1)
        if not usage.allowed:
            self._refuse(ip, usage.retry_after_s)
        if self._queued >= CONCURRENT + WAITING:
            raise errors.too_many_logins(1, "the server")

        def counted() -> T:
            now = self.per_ip.clock()
            with db.session() as session:
                attempts = guards.count_login(session, ip, now)
            if attempts > LOGINS_PER_IP_PER_MINUTE:
                self._refuse(ip, max(1, -(-(guards.WINDOW_MS - now % guards.WINDOW_MS) // 1000)))
            return work()

        self._queued += 1
        try:
            return await anyio.to_thread.run_sync(counted, limiter=self._workers)
        finally:
            self._queued -= 1

    def _refuse(self, ip: str, retry_after_s: int) -> NoReturn:
        self.refused(ip)
        raise errors.too_many_logins(retry_after_s, f"IP({ip})")
