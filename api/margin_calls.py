"""``MARGIN_CALL`` user-stream events.

Decision: the margin ratio is Binance's, ``maintenance margin / margin balance`` of the whole
cross account. Once a second, every account with a live private socket (and only those: nobody
else can receive the event) is checked against the engine's account view: the call is due when
its maintenance margin exceeds :data:`THRESHOLD` (80 %) of its margin balance (so an account with
maintenance and no positive margin balance always is); a ``MARGIN_CALL`` is then sent, and again
at most every :data:`REPEAT_MS` while it stays due. Both figures are the engine's
(``Engine.account``); only the threshold is this module's. Liquidation itself is the engine's (at
100 %).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal

import anyio.to_thread

from api import account_formats
from api.services.account import AccountService, Snapshot
from api.userstream import UserStreams
from derivatives.engine import AccountRisk

log = logging.getLogger(__name__)

THRESHOLD = Decimal("0.8")
REPEAT_MS = 60_000
PERIOD_S = 1.0


def call_due(view: AccountRisk) -> bool:
    """Maintenance margin above :data:`THRESHOLD` of the margin balance (exact: both are the
    engine's 1e-8 figures and the threshold a short decimal)."""
    return view.maintenance > 0 and view.maintenance > THRESHOLD * view.margin_balance


class MarginCalls:
    """Watches the connected accounts' margin ratio and pushes ``MARGIN_CALL``."""

    def __init__(self, streams: UserStreams, accounts: AccountService, clock_ms: Callable[[], int]) -> None:
        self.streams = streams
        self.accounts = accounts
        self.clock_ms = clock_ms
        self._last_sent: dict[int, int] = {}

    async def run(self) -> None:
        """Checks once a second until cancelled."""
        while True:
            await asyncio.sleep(PERIOD_S)
            try:
                await self.check()
            except Exception:
                log.exception("margin-call check failed")

    async def check(self) -> None:
        """One pass over the connected accounts."""
        for account in self.streams.connected_accounts():
            snap: Snapshot = await anyio.to_thread.run_sync(self.accounts.snapshot_sync, account)
            if snap.view is None or not call_due(snap.view):
                self._last_sent.pop(account, None)
                continue
            now = self.clock_ms()
            if now - self._last_sent.get(account, -REPEAT_MS) < REPEAT_MS:
                continue
            self._last_sent[account] = now
            self.streams.push(account, account_formats.margin_call(snap.view, snap.legs, now))
