"""The reconciliation job: engine wallets against the ledger, on a real server (SQLite and
PostgreSQL); an alert on any difference, none for a projection that merely lags."""

from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest
from sqlalchemy import update

from api.reconciliation import Mismatch, Reconciler
from derivatives.commands import Deposit, PlaceOrder
from derivatives.enums import Side
from derivatives.persistence.models import Income
from derivatives.units import to_raw
from tests.api.conftest import BTC, execute, make_trader
from tests.api.server import RunningServer


def reconciler(server: RunningServer) -> Reconciler:
    job: Reconciler = server.app.state.reconciler
    return job


def test_engine_and_ledger_agree_after_trading(server: RunningServer) -> None:
    maker, taker = make_trader(server), make_trader(server)
    execute(server, PlaceOrder(maker.account, BTC, Side.SELL, D("0.5"), price=D("50000")),
            PlaceOrder(taker.account, BTC, Side.BUY, D("0.5"), price=D("50000")))
    report = reconciler(server).run_once()
    assert report.mismatches == ()
    assert report.checked >= 2 and report.projected_seq == server.services.worker.applied


def test_a_ledger_that_differs_raises_an_alert(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    trader = make_trader(server, funds="1000")
    job = reconciler(server)
    with server.services.db.session() as session:  # damage the ledger: one income row 1 USDT short
        session.execute(update(Income).where(Income.account_id == trader.account).values(amount=Income.amount - to_raw(D(1))))
    alerts = job.alerts
    with caplog.at_level(logging.ERROR, logger="api.reconciliation"):
        report = job.run_once()
    assert Mismatch(trader.account, to_raw(D(1000)), to_raw(D(999))) in report.mismatches
    assert job.alerts == alerts + len(report.mismatches)
    assert any(r.getMessage() == "reconciliation mismatch" and getattr(r, "account", None) == trader.account
               for r in caplog.records)
    assert report.to_dict()["mismatches"] == [{"account": trader.account, "engine": "1000.00000000",
                                                "ledger": "999.00000000"}]
    with server.services.db.session() as session:  # repair it for the other tests of the module
        session.execute(update(Income).where(Income.account_id == trader.account).values(amount=Income.amount + to_raw(D(1))))
    assert job.run_once().mismatches == ()


def test_accounts_moved_after_the_projected_seq_are_skipped(server: RunningServer) -> None:
    trader = make_trader(server, funds="1000")
    job = reconciler(server)
    ledger = job.read_ledger()  # as of the projection now
    execute(server, Deposit(trader.account, D(5)))  # then the engine (and the projection) move on
    assert trader.account not in {m.account for m in job.compare(*ledger).mismatches}
    # Read as if it were current, the same stale ledger would be a difference: the skip is what saves it.
    _, sums, users = ledger
    stale = job.compare(server.services.worker.applied, sums, users)
    assert Mismatch(trader.account, to_raw(D(1005)), to_raw(D(1000))) in stale.mismatches
