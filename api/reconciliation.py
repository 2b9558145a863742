"""Reconciliation: the engine's wallets against the database ledger, every minute (APScheduler).

The ledger projection writes one ``income`` row per wallet movement of a user account (realised
PnL, commission, funding, transfers, insurance), so the sum of an account's income rows is its
wallet. The job compares that sum with the engine's wallet and raises an alert (an ERROR log
line on the ``api.reconciliation`` logger, counted in ``/metrics``, and the report kept for the
admin) on any difference.

Invariants:
    * Only a consistent cut is compared: the sums are read in one database transaction with the
      projection cursor ``S``; the engine is asked afterwards, and every account that any event
      after ``S`` names in a ``FillSettled`` or ``BalanceChanged`` (the only events that move a
      wallet) is skipped, so a projection that simply lags never raises an alert.
    * Read-only: the job changes nothing in the engine or the database.
    * Exact: raw integers at 1e-8 on both sides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import func, select

from derivatives.bus.gateway import ReplicaClient
from derivatives.engine import EngineClient
from derivatives.events import BalanceChanged, FillSettled
from derivatives.persistence.db import Database
from derivatives.persistence.models import Income, ProjectionCursor, User
from derivatives.persistence.projector import CURSOR_NAME
from derivatives.units import from_raw, to_raw

log = logging.getLogger("api.reconciliation")

READ_CHUNK_BYTES = 1 << 20
"""Bytes of events read per call while collecting the accounts touched after the cursor."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """An account whose engine wallet and ledger sum differ (raw 1e-8 units)."""

    account: int
    engine: int
    ledger: int


@dataclass(frozen=True, slots=True)
class Report:
    """One reconciliation run."""

    at_ms: int
    projected_seq: int
    checked: int
    skipped: int
    mismatches: tuple[Mismatch, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (decimal strings)."""
        return {"time": self.at_ms, "projectedSeq": self.projected_seq, "checked": self.checked,
                "skipped": self.skipped, "mismatches": [
                    {"account": m.account, "engine": f"{from_raw(m.engine):f}", "ledger": f"{from_raw(m.ledger):f}"}
                    for m in self.mismatches]}


class Reconciler:
    """Compares the engine's wallets with the ledger; :meth:`run_once` blocks (call it on a
    worker thread)."""

    def __init__(self, db: Database, client: EngineClient | ReplicaClient) -> None:
        self.db = db
        self.client = client
        self.last: Report | None = None
        self.alerts = 0

    def run_once(self) -> Report:
        """One comparison of every user account and every account with income."""
        return self.compare(*self.read_ledger())

    def compare(self, projected_seq: int, ledger: dict[int, int], users: set[int]) -> Report:
        """Compares a ledger read as of `projected_seq` (Σ income per account, and the users'
        accounts) with the engine now, skipping the accounts moved since; alerts and keeps the
        report."""
        wallets = {account: self._wallet(account) for account in sorted(set(ledger) | users)}
        touched = self._touched_after(projected_seq)
        checked = [a for a in wallets if a not in touched]
        mismatches = tuple(Mismatch(a, wallets[a], ledger.get(a, 0)) for a in checked if wallets[a] != ledger.get(a, 0))
        report = Report(int(time.time() * 1000), projected_seq, len(checked), len(wallets) - len(checked), mismatches)
        for m in mismatches:
            self.alerts += 1
            log.error("reconciliation mismatch", extra={"account": m.account, "engine": str(from_raw(m.engine)),
                                                        "ledger": str(from_raw(m.ledger)), "seq": projected_seq})
        log.info("reconciliation run", extra={"seq": projected_seq, "checked": report.checked,
                                              "skipped": report.skipped, "mismatches": len(mismatches)})
        self.last = report
        return report

    def read_ledger(self) -> tuple[int, dict[int, int], set[int]]:
        """The projection cursor, Σ income per account and the users' accounts, in one read."""
        with self.db.reader() as session:
            if not self.db.is_sqlite:  # a SQLite read transaction is a snapshot already
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            cursor = session.get(ProjectionCursor, CURSOR_NAME)
            sums = session.execute(select(Income.account_id, func.sum(Income.amount)).group_by(Income.account_id))
            users = set(session.scalars(select(User.account_id)))
            return (0 if cursor is None else cursor.last_seq), {a: int(s) for a, s in sums}, users

    def _wallet(self, account: int) -> int:
        view = self.client.account(account)
        return 0 if view is None else to_raw(view.wallet)

    def _touched_after(self, seq: int) -> set[int]:
        """Accounts whose wallet any event after `seq` moved, up to the engine's present."""
        touched: set[int] = set()
        last = self.client.last_seq()
        while seq < last:
            envelopes = self.client.read_events(seq, READ_CHUNK_BYTES)
            if not envelopes:
                break
            for envelope in envelopes:
                if isinstance(envelope.event, FillSettled | BalanceChanged):
                    touched.add(envelope.event.account)
            seq = envelopes[-1].seq
        return touched


async def run_every(reconciler: Reconciler, interval_s: int) -> None:
    """Runs :meth:`Reconciler.run_once` on a worker thread every `interval_s` seconds (an
    APScheduler interval job: one run at a time, missed runs coalesced) until cancelled."""
    scheduler = AsyncIOScheduler()

    async def job() -> None:
        await asyncio.to_thread(reconciler.run_once)

    scheduler.add_job(job, "interval", seconds=interval_s, id="reconciliation", name="reconciliation", max_instances=1,
                      coalesce=True)
    scheduler.start()
    try:
        await asyncio.Event().wait()
    finally:
        scheduler.shutdown(wait=False)
