"""Administration: users, API keys, instrument halt/resume, deposits, four-eyes withdrawals, and
the audit log of all of them.

Invariants: every change is audited in the same transaction as the change (engine changes right
after the engine applied them); a revoked key is evicted from the key cache at once; a
withdrawal reaches the engine only after a second admin identity approved it, exactly once (an
idempotency key; requests a crash left in flight are resolved at start-up,
:meth:`AdminService.resolve_withdrawals`); a user's account is opened by the engine.

Admin identities (decision): named bearer tokens from the settings (``DERIVATIVES_ADMIN_TOKENS``
= ``name:token,...``, plus ``DERIVATIVES_ADMIN_TOKEN`` as ``admin``); the name is the audit
actor. People reach ``/admin`` through an admin dashboard session instead (password + TOTP,
``api.services.staff``); ``api.auth.roles`` accepts either, and the session's user name is the actor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

import anyio
import anyio.to_thread

from api import errors
from api.errors import ApiError
from api.instruments import InstrumentRegistry
from api.projection import ProjectionProgress
from api.security import KeyStore
from derivatives import fee_schedule
from derivatives.commands import (
    Command,
    Deposit,
    OpenAccount,
    SetFeeTier,
    UpdateInstrument,
    Withdraw,
)
from derivatives.config import Settings
from derivatives.demo import DEMO_ACCOUNT
from derivatives.door import EngineDoor
from derivatives.enums import RejectReason
from derivatives.events import AccountOpened, BalanceChanged, CommandRejected
from derivatives.persistence import accounts, withdrawals
from derivatives.persistence.accounts import AuditEntry, KeyView, UserView
from derivatives.persistence.db import Database
from derivatives.persistence.projector import Batch
from derivatives.persistence.views import WithdrawalState
from derivatives.units import from_raw, to_raw

DEMO_USER = "demo"


def admin_identities(settings: Settings) -> dict[str, str]:
    """Admin name -> bearer token (see the module docstring)."""
    return settings.admins()


log = logging.getLogger(__name__)


class AdminService:
    """The ``/admin`` operations."""

    def __init__(self, db: Database, keys: KeyStore, gateway: EngineDoor, registry: InstrumentRegistry,
                 clock_ms: Callable[[], int], projection_wait_ms: int = 10_000,
                 worker: ProjectionProgress | None = None) -> None:
        self.db = db
        self.keys = keys
        self.gateway = gateway
        self.registry = registry
        self.clock_ms = clock_ms
        self.worker = worker
        self.wait_s = projection_wait_ms / 1000
        self._creating = anyio.Lock()

    async def _run(self, commands: list[Command]) -> Batch:
        """Runs engine commands; returns once they are projected too (a following query sees them)."""
        batch = await self.gateway.submit(commands)
        if self.worker is not None and not await self.worker.wait_for(batch.last_seq, self.wait_s):
            raise errors.backend_timeout()
        return batch

    async def create_user(self, actor: str, name: str, role: str) -> UserView:
        """A new user: the engine opens the account (journaled, a never-used id) and the
        projection writes the user's row; one creation at a time per process."""

        def taken() -> bool:
            with self.db.reader() as session:
                return accounts.find_user(session, name=name) is not None

        async with self._creating:
            if await anyio.to_thread.run_sync(taken):
                raise errors.admin_invalid(f"user {name!r} exists")
            batch = await self._run([OpenAccount(name, role)])
            opened = next((e.event for e in batch.events if isinstance(e.event, AccountOpened)), None)
            if opened is None:
                rejected = next((e.event for e in batch.events if isinstance(e.event, CommandRejected)), None)
                raise errors.reject(rejected.reason) if rejected else errors.engine_unavailable()
            account = opened.account

            def run() -> UserView:
                with self.db.session() as session:
                    user = accounts.find_user(session, account_id=account)
                    if user is None:
                        raise errors.backend_timeout()
                    accounts.audit(session, self.clock_ms(), actor, "user.create", f"user:{user.id}",
                                   name=user.name, role=role, account_id=account, seq=batch.last_seq)
                    return user

            return await anyio.to_thread.run_sync(run)

    async def users(self) -> list[UserView]:
        """Every user."""

        def run() -> list[UserView]:
            with self.db.reader() as session:
                return accounts.list_users(session)

        return await anyio.to_thread.run_sync(run)

    async def create_key(self, actor: str, user_id: int, label: str, can_trade: bool) -> KeyView:
        """A new API key for a user (the only time its secret is shown)."""

        def run() -> KeyView:
            with self.db.session() as session:
                try:
                    key = accounts.create_key(session, self.clock_ms(), user_id, label, can_trade)
                except ValueError as exc:
                    raise errors.admin_invalid(str(exc)) from None
                accounts.audit(session, self.clock_ms(), actor, "api_key.create", f"user:{user_id}",
                               api_key=key.api_key, label=label, can_trade=can_trade)
                return key

        key = await anyio.to_thread.run_sync(run)
        self.keys.evict(key.api_key)
        return key

    async def keys_of(self, user_id: int) -> list[KeyView]:
        """A user's keys."""

        def run() -> list[KeyView]:
            with self.db.reader() as session:
                return accounts.user_keys(session, user_id)

        return await anyio.to_thread.run_sync(run)

    async def revoke_key(self, actor: str, api_key: str) -> None:
        """Revokes a key at once."""

        def run() -> bool:
            with self.db.session() as session:
                done = accounts.revoke_key(session, self.clock_ms(), api_key)
                if done:
                    accounts.audit(session, self.clock_ms(), actor, "api_key.revoke", f"api_key:{api_key}")
                return done

        if not await anyio.to_thread.run_sync(run):
            raise errors.admin_invalid("no such live API key")
        self.keys.evict(api_key)

    async def set_trading(self, actor: str, symbol: str, trading: bool) -> dict[str, object]:
        """Halts or resumes an instrument (``UpdateInstrument`` with the trading flag)."""
        spec = self.registry.with_trading(symbol, trading)
        if spec is None:
            raise errors.invalid_symbol()
        batch = await self.gateway.submit([UpdateInstrument(spec)])
        for envelope in batch.events:
            if isinstance(envelope.event, CommandRejected):
                raise errors.reject(envelope.event.reason)
        self.registry.update(spec)

        def run() -> None:
            with self.db.session() as session:
                accounts.audit(session, self.clock_ms(), actor, "instrument.resume" if trading else "instrument.halt",
                               f"symbol:{symbol}", seq=batch.last_seq)

        await anyio.to_thread.run_sync(run)
        return {"symbol": symbol, "status": "TRADING" if trading else "CLOSE"}

    def _account_of(self, user_id: int) -> int:
        """The engine account of a user (blocking), or an admin error."""
        with self.db.reader() as session:
            user = accounts.find_user(session, user_id=user_id)
        if user is None:
            raise errors.admin_invalid("no such user")
        return user.account_id

    async def deposit(self, actor: str, user_id: int, amount: Decimal) -> dict[str, object]:
        """Credits a deposit to a user's account (a sequenced ``Deposit``), audited."""

        account = await anyio.to_thread.run_sync(self._account_of, user_id)
        batch = await self._run([Deposit(account, amount)])
        wallet: Decimal | None = None
        for envelope in batch.events:
            if isinstance(envelope.event, CommandRejected):
                raise errors.reject(envelope.event.reason)
            if isinstance(envelope.event, BalanceChanged):
                wallet = envelope.event.wallet

        def run() -> None:
            with self.db.session() as session:
                accounts.audit(session, self.clock_ms(), actor, "deposit.credit", f"account:{account}",
                               seq=batch.last_seq, amount=f"{amount:f}")

        await anyio.to_thread.run_sync(run)
        return {"accountId": account, "amount": f"{amount:f}", "balance": f"{wallet:f}" if wallet is not None else None}

    async def set_fee_tier(self, actor: str, user_id: int, tier: int) -> dict[str, object]:
        """Puts a user's account on a tier of the published fee schedule (the engine's ``SetFeeTier``
        with the tier's rates; 0: the instruments' own), audited."""
        account = await anyio.to_thread.run_sync(self._account_of, user_id)
        batch = await self._run([SetFeeTier(account, fee_schedule.rates_of(tier))])
        for envelope in batch.events:
            if isinstance(envelope.event, CommandRejected):
                raise errors.reject(envelope.event.reason)

        def run() -> None:
            with self.db.session() as session:
                accounts.audit(session, self.clock_ms(), actor, "fee_tier.set", f"account:{account}",
                               seq=batch.last_seq, tier=tier)

        await anyio.to_thread.run_sync(run)
        return {"accountId": account, "feeTier": tier}

    # Withdrawals (four eyes) ---------------------------------------------------------------------
    async def request_withdrawal(self, actor: str, user_id: int, amount: Decimal) -> WithdrawalState:
        """Records a pending withdrawal of `amount` USDT from a user's account, audited."""
        if amount <= 0:
            raise errors.admin_invalid("amount must be positive")

        def run() -> WithdrawalState:
            with self.db.session() as session:
                user = accounts.find_user(session, user_id=user_id)
                if user is None:
                    raise errors.admin_invalid("no such user")
                now = self.clock_ms()
                request = withdrawals.request(session, now, user.id, user.account_id, to_raw(amount), actor)
                accounts.audit(session, now, actor, "withdrawal.request", f"withdrawal:{request.id}",
                               account_id=user.account_id, amount=f"{amount:f}")
                return request

        return await anyio.to_thread.run_sync(run)

    async def withdrawals(self, status: str | None, limit: int) -> list[WithdrawalState]:
        """Withdrawal requests, newest first."""

        def run() -> list[WithdrawalState]:
            with self.db.reader() as session:
                return withdrawals.listing(session, status, limit)

        return await anyio.to_thread.run_sync(run)

    def _decision(self, step: Callable[[], WithdrawalState]) -> WithdrawalState:
        try:
            return step()
        except withdrawals.SameAdminError:
            raise errors.four_eyes() from None
        except withdrawals.WithdrawalError as exc:
            raise errors.admin_invalid(str(exc)) from None

    async def approve_withdrawal(self, actor: str, withdrawal_id: int, bootstrap: bool = False) -> WithdrawalState:
        """A second admin approves (never the bootstrap token): the request is claimed, then the
        engine's ``Withdraw`` runs; the outcome (COMPLETED or FAILED with the engine's reason) is
        recorded and audited."""
        if bootstrap:
            raise errors.bootstrap_cannot_approve()

        def claim() -> WithdrawalState:
            with self.db.session() as session:
                claimed = self._decision(lambda: withdrawals.claim(session, withdrawal_id, actor, self.clock_ms()))
                accounts.audit(session, self.clock_ms(), actor, "withdrawal.approve", f"withdrawal:{withdrawal_id}",
                               account_id=claimed.account_id, amount=f"{from_raw(claimed.amount):f}")
                return claimed

        claimed = await anyio.to_thread.run_sync(claim)
        done, failure = await self._carry_out(claimed, actor)
        if failure is not None:
            raise failure
        return done

    async def _carry_out(self, claimed: WithdrawalState, actor: str) -> tuple[WithdrawalState, ApiError | None]:
        """Sends the claimed request's keyed ``Withdraw`` and records the outcome (COMPLETED, also
        when the engine had already applied the key; FAILED with the engine's reason).

        Raises:
            ApiError: -1001/-1007 when the outcome is unknown (the request stays APPROVING and is
                resolved at the next start).
        """
        key = withdrawals.idempotency_key(claimed)
        batch = await self._run([Withdraw(claimed.account_id, from_raw(claimed.amount), key)])
        reasons = [e.event.reason for e in batch.events if isinstance(e.event, CommandRejected)]
        failure = None if not reasons or reasons[0] is RejectReason.DUPLICATE_WITHDRAWAL else errors.reject(reasons[0])
        note = failure.msg if failure else ("applied before a restart" if reasons else "")

        def finish() -> WithdrawalState:
            with self.db.session() as session:
                status = withdrawals.FAILED if failure else withdrawals.COMPLETED
                done = withdrawals.finish(session, claimed.id, status, None if reasons else batch.last_seq, note)
                accounts.audit(session, self.clock_ms(), actor, f"withdrawal.{status.lower()}",
                               f"withdrawal:{claimed.id}", seq=done.seq, note=note, key=key)
                return done

        return await anyio.to_thread.run_sync(finish), failure

    async def resolve_withdrawals(self) -> list[WithdrawalState]:
        """Resolves every request a crash left APPROVING (start-up, before serving), audited as
        ``startup``; returns them as resolved."""

        def in_flight() -> list[WithdrawalState]:
            with self.db.reader() as session:
                return withdrawals.in_flight(session)

        resolved = []
        for claimed in await anyio.to_thread.run_sync(in_flight):
            done, _failure = await self._carry_out(claimed, "startup")
            log.warning("withdrawal %d was in flight at start-up: %s %s", done.id, done.status, done.note)
            resolved.append(done)
        return resolved

    async def reject_withdrawal(self, actor: str, withdrawal_id: int) -> WithdrawalState:
        """Rejects a pending withdrawal (any admin), audited."""

        def run() -> WithdrawalState:
            with self.db.session() as session:
                rejected = self._decision(lambda: withdrawals.reject(session, withdrawal_id, actor, self.clock_ms()))
                accounts.audit(session, self.clock_ms(), actor, "withdrawal.reject", f"withdrawal:{withdrawal_id}")
                return rejected

        return await anyio.to_thread.run_sync(run)

    async def record(self, actor: str, action: str, target: str, details: dict[str, object]) -> None:
        """Audits an action taken outside the engine (e.g. steering the simulated feed)."""

        def run() -> None:
            with self.db.session() as session:
                accounts.audit(session, self.clock_ms(), actor, action, target, **details)

        await anyio.to_thread.run_sync(run)

    async def audit_log(self, limit: int, before_id: int | None) -> list[AuditEntry]:
        """Newest audit entries first."""

        def run() -> list[AuditEntry]:
            with self.db.reader() as session:
                return accounts.audit_entries(session, limit, before_id)

        return await anyio.to_thread.run_sync(run)

    def ensure_demo(self, api_key: str | None, secret: str | None) -> KeyView:
        """The demo user (account DEMO_ACCOUNT) and a trading key, created on first start (blocking)."""
        with self.db.session() as session:
            user = accounts.find_user(session, name=DEMO_USER)
            if user is None:
                user = accounts.create_user(session, self.clock_ms(), DEMO_USER, "trader", DEMO_ACCOUNT)
                accounts.audit(session, self.clock_ms(), "bootstrap", "user.create", f"user:{user.id}",
                               name=DEMO_USER, account_id=DEMO_ACCOUNT)
            for key in accounts.user_keys(session, user.id):
                matches = api_key is None or key.api_key == api_key
                if not key.revoked and matches and (secret is None or key.secret == secret):
                    return key
            created = accounts.create_key(session, self.clock_ms(), user.id, "demo", True, api_key, secret)
            accounts.audit(session, self.clock_ms(), "bootstrap", "api_key.create", f"user:{user.id}",
                           api_key=created.api_key, label="demo", can_trade=True)
            return created
