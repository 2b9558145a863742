"""Users, API keys and the audit log: the API's own tables (not projections).

Invariants:
    * A user owns exactly one engine account id, never reused: the engine picks it
      (``OpenAccount`` -> ``AccountOpened``, journaled; ids above ``_core.FIRST_USER_ACCOUNT``,
      below it are the demo and market-maker accounts) and the projector writes the user's row
      from that event (:func:`restore_user`), so a database rebuilt from the journal has every
      user row again (without credentials or keys, which are never journaled).
    * API keys are 64 alphanumeric characters, secrets 64 hex characters (``secrets`` module);
      a revoked key never authenticates again.
    * Every administrative change writes an audit row in the same transaction.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from derivatives.persistence.models import ApiKey, AuditLog, Base, User

log = logging.getLogger("derivatives.audit")
_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as the API shows it."""

    id: int
    name: str
    account_id: int
    role: str
    active: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class KeyView:
    """An API key with its owner (the secret is included: HMAC verification needs it)."""

    api_key: str
    secret: str
    label: str
    can_read: bool
    can_trade: bool
    user: UserView
    revoked: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row."""

    id: int
    at: int
    actor: str
    action: str
    target: str
    details: dict[str, object]


def _user(row: User) -> UserView:
    return UserView(row.id, row.name, row.account_id, row.role, row.active, row.created_at)


def new_api_key() -> str:
    """A fresh 64-character alphanumeric API key."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(64))


def new_secret() -> str:
    """A fresh 64-character hex secret."""
    return secrets.token_hex(32)


def audit(session: Session, now_ms: int, actor: str, action: str, target: str, **details: object) -> None:
    """Appends an audit row, and writes it as a structured log line (``derivatives.audit``)."""
    log.info(action, extra={"fields": {"actor": actor, "target": target, **details}})
    session.add(AuditLog(at=now_ms, actor=actor, action=action, target=target,
                         details=json.dumps(details, sort_keys=True, default=str)))


def create_user(session: Session, now_ms: int, name: str, role: str, account_id: int) -> UserView:
    """Creates the user of an account the operator numbered itself (the demo user).

    Raises:
        ValueError: If the name or account id is taken.
    """
    if session.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
        raise ValueError(f"user {name!r} exists")
    if session.execute(select(User).where(User.account_id == account_id)).scalar_one_or_none() is not None:
        raise ValueError(f"account {account_id} is taken")
    row = User(name=name, account_id=account_id, role=role, active=True, created_at=now_ms)
    session.add(row)
    session.flush()
    return _user(row)


def restore_user(connection: Connection, now_ms: int, account_id: int, name: str, role: str) -> None:
    """The row of an account the engine opened (idempotent: a row for the account is kept as it
    is). A name another account holds (two requests raced for it) gets ``#<account>`` appended,
    so the row is never lost. Written at once on the projection's connection (Core)."""
    users = Base.metadata.tables["users"]
    if connection.execute(select(users.c.id).where(users.c.account_id == account_id)).first() is not None:
        return
    if connection.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
        name = f"{name[:40]}#{account_id}"
    connection.execute(insert(users).values(name=name, account_id=account_id, role=role, active=True,
                                            created_at=now_ms))


def find_user(session: Session, user_id: int | None = None, name: str | None = None,
              account_id: int | None = None) -> UserView | None:
    """A user by id, name or account."""
    query = select(User)
    if user_id is not None:
        query = query.where(User.id == user_id)
    elif account_id is not None:
        query = query.where(User.account_id == account_id)
    else:
        query = query.where(User.name == name)
    row = session.execute(query).scalar_one_or_none()
    return None if row is None else _user(row)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a dashboard login is checked against."""

    user: UserView
    password_hash: str | None
    totp_secret: str | None


def find_credentials(session: Session, name: str) -> Credentials | None:
    """A user's login material, by name."""
    row = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    return None if row is None else Credentials(_user(row), row.password_hash, row.totp_secret)


def set_credentials(session: Session, user_id: int, password_hash: str, totp_secret: str | None) -> UserView:
    """Replaces a user's password hash and TOTP secret.

    Raises:
        ValueError: If there is no such user.
    """
    row = session.get(User, user_id)
    if row is None:
        raise ValueError(f"no user {user_id}")
    row.password_hash = password_hash
    row.totp_secret = totp_secret
    return _user(row)


def list_users(session: Session) -> list[UserView]:
    """Every user, by id."""
    return [_user(r) for r in session.execute(select(User).order_by(User.id)).scalars()]


def create_key(session: Session, now_ms: int, user_id: int, label: str, can_trade: bool,
               api_key: str | None = None, secret: str | None = None) -> KeyView:
    """Issues an API key for a user (read permission always, trade optionally)."""
    owner = session.get(User, user_id)
    if owner is None:
        raise ValueError(f"no user {user_id}")
    row = ApiKey(user_id=user_id, api_key=api_key or new_api_key(), secret=secret or new_secret(),
                 label=label, can_read=True, can_trade=can_trade, created_at=now_ms)
    session.add(row)
    session.flush()
    return KeyView(row.api_key, row.secret, row.label, row.can_read, row.can_trade, _user(owner), False)


def find_key(session: Session, api_key: str) -> KeyView | None:
    """A key and its owner, revoked or not."""
    found = session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.api_key == api_key)
    ).one_or_none()
    if found is None:
        return None
    key, owner = found
    return KeyView(key.api_key, key.secret, key.label, key.can_read, key.can_trade, _user(owner),
                   key.revoked_at is not None)


def user_keys(session: Session, user_id: int) -> list[KeyView]:
    """Every key of a user."""
    owner = session.get(User, user_id)
    if owner is None:
        return []
    rows = session.execute(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)).scalars()
    return [KeyView(k.api_key, k.secret, k.label, k.can_read, k.can_trade, _user(owner), k.revoked_at is not None)
            for k in rows]


def revoke_key(session: Session, now_ms: int, api_key: str) -> bool:
    """Revokes a key; False if there is no such live key."""
    row = session.execute(select(ApiKey).where(ApiKey.api_key == api_key)).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now_ms
    return True


def audit_entries(session: Session, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
    """Newest audit rows first."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    return [AuditEntry(r.id, r.at, r.actor, r.action, r.target, json.loads(r.details))
            for r in session.execute(query).scalars()]
