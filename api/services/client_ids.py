"""Idempotent client order ids: a ``newClientOrderId`` (or ``clientAlgoId``) resent after a
timeout answers the order it already created instead of creating a second one.

Invariants:
    * Within ``RETENTION_MS`` of an order's creation, its client id names that order for its
      account: a new order (or ``batchOrders`` item) sent with the same id is answered with the
      original order (same symbol and kind) or refused ``-4116`` (another symbol or kind), and never
      reaches the engine.
    * Single-order requests of one account with one client id run one at a time in a process (a
      keyed lock), so a retry racing its own original waits for it and then finds it (batch items
      are looked up without the lock: a batch racing its own retry may still place twice).
    * The lookup reads the projection after it has caught up with every command the engine had
      sequenced when the lookup began, so an order acknowledged late (``-1007``) is found.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

RETENTION_MS = 24 * 3_600_000
"""How long a client order id stays bound to its order (the engine frees it once the order ends)."""


class KeyedLocks:
    """One asyncio lock per key, forgotten once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Holds the lock of `key` for the body."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
