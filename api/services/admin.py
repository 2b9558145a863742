"""Administration: users, API keys, instrument halt/resume, and the audit log of all of them.

Invariants: every change is audited in the same transaction as the change (instrument changes
right after the engine accepted them); a revoked key is evicted from the key cache at once.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import anyio.to_thread

from api import errors
from api.gateway import EngineGateway
from api.instruments import InstrumentRegistry
from api.security import KeyStore
from derivatives.commands import Deposit, UpdateInstrument
from derivatives.demo import DEMO_ACCOUNT
from derivatives.events import BalanceChanged, OrderRejected
from derivatives.persistence import accounts
from derivatives.persistence.accounts import AuditEntry, KeyView, UserView
from derivatives.persistence.db import Database

DEMO_USER = "demo"


class AdminService:
    """The ``/admin`` operations."""

    def __init__(self, db: Database, keys: KeyStore, gateway: EngineGateway, registry: InstrumentRegistry,
                 clock_ms: Callable[[], int]) -> None:
        self.db = db
        self.keys = keys
        self.gateway = gateway
        self.registry = registry
        self.clock_ms = clock_ms

    async def create_user(self, actor: str, name: str, role: str) -> UserView:
        """A new user with the next account id."""

        def run() -> UserView:
            with self.db.session() as session:
                try:
                    user = accounts.create_user(session, self.clock_ms(), name, role)
                except ValueError as exc:
                    raise errors.admin_invalid(str(exc)) from None
                accounts.audit(session, self.clock_ms(), actor, "user.create", f"user:{user.id}",
                               name=name, role=role, account_id=user.account_id)
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
            if isinstance(envelope.event, OrderRejected):
                raise errors.reject(envelope.event.reason)
        self.registry.update(spec)

        def run() -> None:
            with self.db.session() as session:
                accounts.audit(session, self.clock_ms(), actor, "instrument.resume" if trading else "instrument.halt",
                               f"symbol:{symbol}", seq=batch.last_seq)

        await anyio.to_thread.run_sync(run)
        return {"symbol": symbol, "status": "TRADING" if trading else "CLOSE"}

    async def deposit(self, actor: str, user_id: int, amount: Decimal) -> dict[str, object]:
        """Credits a deposit to a user's account (a sequenced ``Deposit``), audited."""

        def account_of() -> int | None:
            with self.db.reader() as session:
                user = accounts.find_user(session, user_id=user_id)
                return None if user is None else user.account_id

        account = await anyio.to_thread.run_sync(account_of)
        if account is None:
            raise errors.admin_invalid("no such user")
        batch = await self.gateway.submit([Deposit(account, amount)])
        wallet: Decimal | None = None
        for envelope in batch.events:
            if isinstance(envelope.event, OrderRejected):
                raise errors.reject(envelope.event.reason)
            if isinstance(envelope.event, BalanceChanged):
                wallet = envelope.event.wallet

        def run() -> None:
            with self.db.session() as session:
                accounts.audit(session, self.clock_ms(), actor, "deposit.credit", f"account:{account}",
                               seq=batch.last_seq, amount=f"{amount:f}")

        await anyio.to_thread.run_sync(run)
        return {"accountId": account, "amount": f"{amount:f}", "balance": f"{wallet:f}" if wallet is not None else None}

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
                if not key.revoked and (api_key is None or key.api_key == api_key):
                    if secret is None or key.secret == secret:
                        return key
            created = accounts.create_key(session, self.clock_ms(), user.id, "demo", True, api_key, secret)
            accounts.audit(session, self.clock_ms(), "bootstrap", "api_key.create", f"user:{user.id}",
                           api_key=created.api_key, label="demo", can_trade=True)
            return created
