"""Insurance payouts: the two-person rule (pure), then the stored service against a real engine on
SQLite and PostgreSQL, with its audit trail and the fund's balance history."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal as D

import pytest
import sqlalchemy.exc
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from derivatives import _core
from derivatives.commands import Command, Deposit, SetInsuranceFloor
from derivatives.engine import BatchResult
from derivatives.enums import BalanceKind, PayoutReason, RejectReason
from derivatives.events import BalanceChanged, CommandRejected, EventEnvelope, InsurancePaid
from derivatives.persistence.db import Database
from derivatives.persistence.models import Base, PayoutRequest
from risk.feed import EventFeed
from risk.fund_history import FundHistory
from risk.insurance import ApprovalError, PayoutStatus, approve, deny, new_payout, settle
from risk.insurance_service import InsuranceService, PayoutNotFound
from risk.positions import PositionView
from tests.risk.conftest import Exchange, FakeClock

FUND = _core.INSURANCE_FUND


# --- the rules ---------------------------------------------------------------------------------


def test_two_distinct_approvers_neither_the_requester() -> None:
    payout = new_payout(7, D("250.5"), "Requester", "ticket 42: outage")
    with pytest.raises(ApprovalError, match="requester"):
        approve(payout, " requester ")  # the same person, however typed
    once = approve(payout, "Alice")
    assert (once.status, once.approvals) == (PayoutStatus.PENDING, ("alice",))
    with pytest.raises(ApprovalError, match="twice"):
        approve(once, "ALICE")
    twice = approve(once, "bob")
    assert (twice.status, twice.approvals) == (PayoutStatus.SUBMITTING, ("alice", "bob"))
    with pytest.raises(ApprovalError, match="not pending"):
        approve(twice, "carol")
    with pytest.raises(ApprovalError, match="not pending"):
        deny(twice, "carol", "too late")


def test_requests_must_be_exact_positive_and_payable() -> None:
    for amount in (D(0), D("-1"), D("0.000000001")):
        with pytest.raises(ApprovalError):
            new_payout(7, amount, "r", "m")
    for account in (FUND, _core.FEE_ACCOUNT):
        with pytest.raises(ApprovalError, match="cannot be paid"):
            new_payout(account, D(1), "r", "m")
    with pytest.raises(ApprovalError, match="memo"):
        new_payout(7, D(1), "r", "  ")
    with pytest.raises(ApprovalError, match="identity"):
        new_payout(7, D(1), " ", "m")
    with pytest.raises(ApprovalError, match="requester"):
        deny(new_payout(7, D(1), "r", "m"), "R", "mine")


def test_the_engine_answer_settles_a_submitted_payout() -> None:
    submitted = approve(approve(new_payout(7, D(5), "r", "m"), "a"), "b")
    paid = settle(
        submitted, [EventEnvelope(40, 0, InsurancePaid(7, D(5), PayoutReason.COMPENSATION))]
    )
    assert (paid.status, paid.engine_seq) == (PayoutStatus.PAID, 40)
    refused = settle(
        submitted,
        [EventEnvelope(41, 0, CommandRejected(7, None, RejectReason.INSURANCE_FLOOR_BREACHED))],
    )
    assert (refused.status, refused.outcome) == (PayoutStatus.REFUSED, "INSURANCE_FLOOR_BREACHED")
    with pytest.raises(ApprovalError, match="missing"):
        settle(submitted, [EventEnvelope(42, 0, InsurancePaid(8, D(5), PayoutReason.COMPENSATION))])
    with pytest.raises(ApprovalError, match="not being submitted"):
        settle(paid, [])


# --- the service -------------------------------------------------------------------------------


def _wallet_changes(exchange: Exchange, after: int) -> list[BalanceChanged]:
    return [
        e.event for e in exchange.client.read_events(after) if isinstance(e.event, BalanceChanged)
    ]


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


async def test_second_distinct_approval_pays_through_the_engine(
    db: Database, exchange: Exchange, clock: FakeClock
) -> None:
    exchange.run(Deposit(FUND, D(10_000)))
    service = InsuranceService(db, exchange.submit, clock=clock)
    payout = await service.request(7, D("250.5"), "Requester", "ticket 42: outage")
    with pytest.raises(ApprovalError, match="requester"):
        await service.approve(payout.id, "REQUESTER")
    assert (await service.approve(payout.id, "alice")).status is PayoutStatus.PENDING
    with pytest.raises(ApprovalError, match="twice"):
        await service.approve(payout.id, "Alice")
    after = exchange.client.last_seq()
    paid = await service.approve(payout.id, "bob")
    assert paid.status is PayoutStatus.PAID
    assert paid.engine_seq == after + 1
    assert _wallet_changes(exchange, after) == [
        BalanceChanged(FUND, D("-250.5"), D("9749.5"), BalanceKind.INSURANCE_PAYOUT),
        BalanceChanged(7, D("250.5"), D("1000250.5"), BalanceKind.INSURANCE_PAYOUT),
    ]
    with pytest.raises(ApprovalError, match="not pending"):
        await service.approve(payout.id, "carol")
    assert service.get(payout.id) == paid
    assert [(a.actor, a.action) for a in service.trail(payout.id)] == [
        ("requester", "REQUESTED"),
        ("alice", "APPROVED"),
        ("bob", "APPROVED"),
        ("engine", "SUBMITTED"),
        ("engine", "PAID"),
    ]
    assert [p.id for p in service.payouts(PayoutStatus.PAID)] == [payout.id]


async def test_a_payout_left_submitting_by_a_crash_is_resent_and_paid_once(
    db: Database, exchange: Exchange, clock: FakeClock
) -> None:
    exchange.run(Deposit(FUND, D(10_000)))

    async def reaches_the_engine_then_dies(commands: Sequence[Command]) -> BatchResult:
        await exchange.submit(commands)
        raise ConnectionError("the process died before storing the engine's answer")

    async def dies_before_the_engine(commands: Sequence[Command]) -> BatchResult:
        raise ConnectionError("the process died before the engine got the command")

    crashed = InsuranceService(db, reaches_the_engine_then_dies, clock=clock)
    paid_once = await crashed.request(7, D(30), "r", "paid, but the answer was lost")
    lost = await crashed.request(8, D(20), "r", "never reached the engine")
    for payout, submit in ((paid_once, reaches_the_engine_then_dies), (lost, dies_before_the_engine)):
        service = InsuranceService(db, submit, clock=clock)
        await service.approve(payout.id, "a")
        with pytest.raises(ConnectionError):
            await service.approve(payout.id, "b")
        assert service.get(payout.id).status is PayoutStatus.SUBMITTING
    after = exchange.client.last_seq()
    restarted = InsuranceService(db, exchange.submit, clock=clock)
    resumed = await restarted.resume()
    assert [(p.id, p.status, p.outcome) for p in resumed] == [
        (paid_once.id, PayoutStatus.PAID, "paid before (resent)"),
        (lost.id, PayoutStatus.PAID, None),
    ]
    # The resend of the paid request moved nothing; the lost one was paid now, once.
    assert _wallet_changes(exchange, after) == [
        BalanceChanged(FUND, D("-20"), D("9950"), BalanceKind.INSURANCE_PAYOUT),
        BalanceChanged(8, D("20"), D("1000020"), BalanceKind.INSURANCE_PAYOUT),
    ]
    assert await restarted.resume() == []


async def test_a_floor_breach_reported_by_the_engine_refuses_the_payout(
    db: Database, exchange: Exchange, clock: FakeClock
) -> None:
    exchange.run(Deposit(FUND, D(1_000)), SetInsuranceFloor(D(900)))
    service = InsuranceService(db, exchange.submit, clock=clock)
    payout = await service.request(7, D(200), "r", "compensation above what the floor allows")
    await service.approve(payout.id, "a")
    after = exchange.client.last_seq()
    refused = await service.approve(payout.id, "b")
    assert (refused.status, refused.outcome) == (PayoutStatus.REFUSED, "INSURANCE_FLOOR_BREACHED")
    assert _wallet_changes(exchange, after) == []  # nothing moved
    assert service.trail(payout.id)[-1].action == "REFUSED"
    # Within the floor, the next request is paid.
    smaller = await service.request(7, D(100), "r", "what the floor allows")
    await service.approve(smaller.id, "a")
    assert (await service.approve(smaller.id, "b")).status is PayoutStatus.PAID


async def test_denials_unknown_ids_and_concurrent_second_approvals(
    db: Database, exchange: Exchange, clock: FakeClock
) -> None:
    exchange.run(Deposit(FUND, D(10_000)))
    service = InsuranceService(db, exchange.submit, clock=clock)
    denied = await service.request(7, D(1), "r", "m")
    assert (await service.deny(denied.id, "a", "no ticket")).status is PayoutStatus.DENIED
    assert service.trail(denied.id)[-1].action == "DENIED"
    with pytest.raises(PayoutNotFound):
        await service.approve(10_000, "a")
    racing = await service.request(8, D(3), "r", "m")
    await service.approve(racing.id, "a")
    results = await asyncio.gather(
        service.approve(racing.id, "b"), service.approve(racing.id, "c"), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["ApprovalError", "Payout"]
    payments = [e for e in exchange.all_events() if isinstance(e.event, InsurancePaid)]
    assert len(payments) == 1  # paid once


def test_the_table_refuses_one_person_approving_twice_even_behind_the_service(db: Database) -> None:
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.session() as session:
        session.add(
            PayoutRequest(
                account_id=7,
                amount=1,
                memo="m",
                status="PENDING",
                requested_by="r",
                requested_at=0,
                first_approver="a",
                second_approver="a",
            )
        )


async def test_fund_balance_history_follows_the_fund_account(
    db: Database, exchange: Exchange, clock: FakeClock
) -> None:
    exchange.run(Deposit(FUND, D(1_000)))
    service = InsuranceService(db, exchange.submit, clock=clock)
    payout = await service.request(7, D(100), "r", "m")
    await service.approve(payout.id, "a")
    clock.now += 5_000
    await service.approve(payout.id, "b")
    view = PositionView()
    history = FundHistory(lambda _event: clock.now, lambda: ["BTCUSDT", "ETHUSDT"])
    EventFeed(exchange.client, [view.apply, history]).catch_up()
    assert [(p.reason, p.change, p.wallet) for p in history.points] == [
        ("DEPOSIT", 100_000_000_000, 100_000_000_000),
        ("INSURANCE_PAYOUT", -10_000_000_000, 90_000_000_000),
    ]
    assert history.history()[-1] == {
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "assets": [{"asset": "USDT", "marginBalance": "900.00000000", "updateTime": clock.now}],
    }
    assert history.current(view)["assets"] == [
        {"asset": "USDT", "marginBalance": "900.00000000", "updateTime": clock.now}
    ]
