"""The projection thread: folds every gateway batch into the database, then wakes whoever waits
for it (order requests answer only once their own batch is projected, so a following query sees
it) and passes the order changes on to the user data stream.

Invariants: one writer thread; batches are projected in sequence order; a batch lost to a
failure is recovered by the projector's gap back-fill on the next batch (or by ``catch_up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

from api import errors
from derivatives.persistence.ledger_projection import AccountChange
from derivatives.persistence.projector import Batch, OrderChange, Projector

log = logging.getLogger(__name__)

class ProjectionProgress(Protocol):
    """How far the SQL projection is: :class:`ProjectionWorker` (in process) or
    :class:`ProjectionCursor` (a gateway process: the projector process writes it)."""

    applied: int

    async def wait_for(self, seq: int, timeout_s: float) -> bool:
        """True once everything up to `seq` is projected; False on timeout."""


class ProjectionCursor:
    """The projector process's SQL cursor, read by a gateway: ``applied`` is refreshed by
    :meth:`run` (every `interval_s`), :meth:`wait_for` polls it more often while someone waits
    (admin commands whose answer reads projected rows, e.g. a new user's row)."""

    def __init__(self, projector: Projector, interval_s: float = 1.0, poll_s: float = 0.01) -> None:
        self.projector = projector
        self.interval_s = interval_s
        self.poll_s = poll_s
        self.applied = 0

    async def refresh(self) -> int:
        """Reads the cursor now."""
        self.applied = max(self.applied, await asyncio.to_thread(self.projector.cursor))
        return self.applied

    async def run(self) -> None:
        """Background task: keeps ``applied`` fresh (readiness, metrics)."""
        while True:
            with contextlib.suppress(Exception):
                await self.refresh()
            await asyncio.sleep(self.interval_s)

    async def wait_for(self, seq: int, timeout_s: float) -> bool:
        """True once the projector has `seq`; False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while await self.refresh() < seq:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(self.poll_s)
        return True


async def caught_up(projection: ProjectionProgress | None, seq: int, timeout_s: float) -> None:
    """Waits until `projection` (when given) has `seq`; -1007 when it does not in time."""
    if projection is not None and projection.applied < seq and not await projection.wait_for(seq, timeout_s):
        raise errors.backend_timeout()


ChangesListener = Callable[[list[OrderChange]], None]
AccountListener = Callable[[list[AccountChange]], None]
_STOP = object()


class ProjectionWorker:
    """Runs a :class:`Projector` on its own thread, fed by the gateway."""

    def __init__(self, projector: Projector, loop: asyncio.AbstractEventLoop) -> None:
        self.projector = projector
        self.loop = loop
        self.applied = 0
        self._queue: queue.Queue[object] = queue.Queue()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._listeners: list[ChangesListener] = []
        self._account_listeners: list[AccountListener] = []
        self._thread = threading.Thread(target=self._run, name="projection", daemon=True)

    def on_changes(self, listener: ChangesListener) -> None:
        """Calls `listener` (on the event loop) with each projected batch's order changes."""
        self._listeners.append(listener)

    def on_account_changes(self, listener: AccountListener) -> None:
        """Calls `listener` (on the event loop) with each projected batch's account changes,
        after its order changes."""
        self._account_listeners.append(listener)

    def enqueue(self, batch: Batch) -> None:
        """Gateway listener: queue a batch for projection."""
        self._queue.put(batch)

    def start(self) -> None:
        """Catches up with the engine, then starts the thread."""
        result = self.projector.catch_up()
        self.applied = result.last_seq
        self._thread.start()

    def stop(self) -> None:
        """Projects what is queued, then stops the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    async def wait_for(self, seq: int, timeout_s: float) -> bool:
        """True once everything up to `seq` is projected; False on timeout."""
        if self.applied >= seq:
            return True
        future: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append((seq, future))
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters = [(s, f) for s, f in self._waiters if f is not future]

    def _wake(self, applied: int, changes: list[OrderChange], accounts: list[AccountChange]) -> None:
        self.applied = max(self.applied, applied)
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("order-change listener failed")
        for account_listener in self._account_listeners:
            try:
                account_listener(accounts)
            except Exception:
                log.exception("account-change listener failed")
        for seq, future in self._waiters:
            if seq <= self.applied and not future.done():
                future.set_result(None)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batches: list[Batch] = []
            while True:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, Batch):
                    batches.append(item)
                if len(batches) >= 256 or self._queue.empty():
                    break
                item = self._queue.get()
            if not batches:
                continue
            try:
                result = self.projector.project(batches)
            except Exception:
                log.exception("projection failed; the next batch back-fills the gap")
                continue
            try:
                self.loop.call_soon_threadsafe(self._wake, result.last_seq, result.changes, result.accounts)
            except RuntimeError:
                return  # the loop is closed: shutting down
