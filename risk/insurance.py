"""Insurance-fund compensation payouts: the two-person rule as pure state transitions.

A payout request names an account, an amount and a memo. It is paid only after **two distinct
approvers**, neither of them the requester, have approved it; the second approval submits
``InsurancePayout{account, amount, COMPENSATION}`` and the engine's answer settles it: paid, or
refused (the engine keeps the fund above its floor and reports ``INSURANCE_FLOOR_BREACHED``).

States::

    PENDING --approve--> PENDING (one approval) --approve--> SUBMITTING --engine--> PAID | REFUSED
    PENDING --deny--> DENIED

Invariants:
    * Identities are compared trimmed and case-folded, so ``"Alice"`` and ``" alice"`` are one
      person; the requester can neither approve nor deny their own request.
    * Every transition returns a new value; an illegal one raises :class:`ApprovalError` and
      changes nothing.
    * Amounts are exact (``Decimal`` with at most 8 places, > 0); the fund and the fee account
      are never paid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from derivatives.enums import PayoutReason, RejectReason
from derivatives.events import CommandRejected, EventEnvelope, InsurancePaid
from derivatives.units import to_raw
from risk.positions import RESERVED_ACCOUNTS

REQUIRED_APPROVALS = 2


class PayoutStatus(StrEnum):
    """Where a payout request stands."""

    PENDING = "PENDING"
    SUBMITTING = "SUBMITTING"
    PAID = "PAID"
    REFUSED = "REFUSED"
    DENIED = "DENIED"


class ApprovalError(ValueError):
    """A request or transition that the two-person rule forbids."""


@dataclass(frozen=True, slots=True)
class Payout:
    """One compensation payout request.

    Attributes:
        id: Request id (0 before it is stored).
        account: The engine account to pay.
        amount: USDT to pay (> 0, 8 dp at most).
        memo: Why (ticket, incident).
        requested_by: Requester identity (normalised).
        approvals: Approver identities, in order (normalised).
        status: Current state.
        outcome: The engine's refusal reason or the denial note, when there is one.
        engine_seq: Seq of the ``InsurancePayout`` command once the engine answered.
    """

    id: int
    account: int
    amount: Decimal
    memo: str
    requested_by: str
    approvals: tuple[str, ...] = ()
    status: PayoutStatus = PayoutStatus.PENDING
    outcome: str | None = None
    engine_seq: int | None = None


def identity(name: str) -> str:
    """The comparable form of a person's identity.

    Args:
        name: As typed or as authenticated.

    Returns:
        Trimmed and case-folded.

    Raises:
        ApprovalError: If nothing is left.
    """
    normalised = name.strip().casefold()
    if not normalised:
        raise ApprovalError("an identity is required")
    return normalised


def new_payout(account: int, amount: Decimal, requested_by: str, memo: str) -> Payout:
    """A validated, pending request (id 0 until stored).

    Args:
        account: The account to pay.
        amount: USDT, > 0, at most 8 decimal places.
        requested_by: The requester.
        memo: Why.

    Returns:
        The pending request.

    Raises:
        ApprovalError: For a non-positive or inexact amount, a reserved account or no memo.
    """
    if account in RESERVED_ACCOUNTS:
        raise ApprovalError("the insurance fund and the fee account cannot be paid")
    try:
        raw = to_raw(amount)
    except (TypeError, ValueError) as bad:
        raise ApprovalError(f"invalid amount: {bad}") from None
    if raw <= 0:
        raise ApprovalError("the amount must be positive")
    if not memo.strip():
        raise ApprovalError("a memo is required")
    return Payout(0, account, amount, memo.strip(), identity(requested_by))


def approve(payout: Payout, approver: str) -> Payout:
    """Adds an approval; the second one moves the request to SUBMITTING.

    Args:
        payout: A pending request.
        approver: Who approves.

    Returns:
        The request with the approval.

    Raises:
        ApprovalError: If the request is not pending, the approver is the requester, or the
            approver already approved it.
    """
    who = identity(approver)
    _check_pending(payout, who)
    if who in payout.approvals:
        raise ApprovalError("the same person cannot approve twice")
    approvals = (*payout.approvals, who)
    status = (
        PayoutStatus.SUBMITTING if len(approvals) >= REQUIRED_APPROVALS else PayoutStatus.PENDING
    )
    return replace(payout, approvals=approvals, status=status)


def deny(payout: Payout, approver: str, note: str) -> Payout:
    """Denies a pending request.

    Args:
        payout: A pending request.
        approver: Who denies it (not the requester).
        note: Why.

    Returns:
        The denied request.

    Raises:
        ApprovalError: If the request is not pending or the approver is the requester.
    """
    who = identity(approver)
    _check_pending(payout, who)
    return replace(payout, status=PayoutStatus.DENIED, outcome=note.strip() or f"denied by {who}")


def settle(payout: Payout, events: Iterable[EventEnvelope]) -> Payout:
    """Reads the engine's answer to the ``InsurancePayout`` of a SUBMITTING request.

    Args:
        payout: The request being submitted.
        events: The events of the batch that carried its ``InsurancePayout``.

    Returns:
        PAID when the engine paid exactly this account and amount (or answered that this request's
        key was paid before: a resend after a crash), REFUSED with the reason when it rejected the
        command.

    Raises:
        ApprovalError: If the request is not SUBMITTING or the events answer neither way.
    """
    if payout.status is not PayoutStatus.SUBMITTING:
        raise ApprovalError(f"payout {payout.id} is {payout.status}, not being submitted")
    for envelope in events:
        event = envelope.event
        if isinstance(event, InsurancePaid) and (event.account, event.amount, event.reason) == (
            payout.account,
            payout.amount,
            PayoutReason.COMPENSATION,
        ):
            return replace(payout, status=PayoutStatus.PAID, engine_seq=envelope.seq)
        if isinstance(event, CommandRejected) and event.reason is RejectReason.DUPLICATE_PAYOUT:
            return replace(payout, status=PayoutStatus.PAID, outcome="paid before (resent)", engine_seq=envelope.seq)
        if isinstance(event, CommandRejected) and event.account == payout.account:
            return replace(
                payout,
                status=PayoutStatus.REFUSED,
                outcome=event.reason.name,
                engine_seq=envelope.seq,
            )
    raise ApprovalError(f"the engine's answer to payout {payout.id} is missing")


def _check_pending(payout: Payout, who: str) -> None:
    if payout.status is not PayoutStatus.PENDING:
        raise ApprovalError(f"payout {payout.id} is {payout.status}, not pending")
    if who == payout.requested_by:
        raise ApprovalError("the requester cannot approve or deny their own request")
