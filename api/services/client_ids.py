"""Idempotent client order ids: a ``newClientOrderId`` (or ``clientAlgoId``) resent after a
timeout answers the order it already created instead of creating a second one.

Invariants:
    * Within ``RETENTION_MS`` of an order's creation, its client id names that order for its
      account: a new order (or ``batchOrders`` item) sent with the same id is answered with the
      original order (same symbol and kind) or refused ``-4116`` (another symbol or kind), and never
      reaches the engine.
    * Requests of one account naming one client id run one at a time in a process (a keyed lock;
      a ``batchOrders`` request holds the locks of all its items' ids, taken in sorted order so two
      batches never wait for each other in a cycle), so a retry racing its own original, single or
      batch, waits for it and then finds it.
    * Across gateway processes the engine is the backstop: it refuses a client id of a live order,
      and the refused request answers the order that holds it (a retry on another process while
      its original is in flight and already finished is not caught: docs/API.md).
    * The lookup reads the projection after it has caught up with every command the engine had
      sequenced when the lookup began, so an order acknowledged late (``-1007``) is found.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

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

    @asynccontextmanager
    async def hold_all(self, keys: Iterable[Any]) -> AsyncIterator[None]:
        """Holds the locks of all `keys` (distinct, comparable) for the body, taken in sorted order."""
        async with AsyncExitStack() as stack:
            for key in sorted(set(keys)):
                await stack.enter_async_context(self.hold(key))
            yield
