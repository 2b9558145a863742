"""The abuse guards every gateway process shares through the database: IP bans, login attempts
per client IP and failures per user name, and per staff user the session epoch and the last TOTP
step accepted. The policies (limits, windows, ban lengths) belong to the API (``api.ratelimit``,
``api.auth``); this module only stores.

Invariants:
    * Every change is atomic across processes: a row is first ensured (an insert that ignores a
      conflict), then changed by one conditional ``UPDATE``; so concurrent processes never lose an
      increment, never shorten a ban, and never accept one TOTP step twice.
    * None of this is on the order path: bans are written when one starts and read in bulk once a
      second; the rest is read and written only by logins, enrolments and staff requests.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from derivatives.persistence.models import IpBan, LoginFailure, LoginWindow, StaffGuard

WINDOW_MS = 60_000
"""Length of a login-attempt window."""
BAN_MEMORY_MS = 7 * 24 * 3_600_000
"""How long after its end a ban still counts as an offence (then its row is dropped)."""


def _ensure(session: Session, model: Any, **values: object) -> None:
    """Inserts the row unless one with its key exists (PostgreSQL and SQLite)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


# IP bans --------------------------------------------------------------------------------------
def store_ban(session: Session, ip: str, until_ms: int, offences: int, now_ms: int) -> None:
    """Records a ban of `ip` until `until_ms` (a stored later ban is kept); forgets bans that ended
    more than :data:`BAN_MEMORY_MS` ago."""
    session.execute(delete(IpBan).where(IpBan.until_ms < now_ms - BAN_MEMORY_MS))
    _ensure(session, IpBan, ip=ip, until_ms=until_ms, offences=offences)
    session.execute(update(IpBan).where(IpBan.ip == ip, IpBan.until_ms < until_ms)
                    .values(until_ms=until_ms, offences=offences))


def bans(session: Session) -> dict[str, tuple[int, int]]:
    """Every remembered ban: IP -> (end in Unix ms, offences)."""
    return {row.ip: (row.until_ms, row.offences) for row in session.execute(select(IpBan)).scalars()}


# Logins ---------------------------------------------------------------------------------------
def count_login(session: Session, ip: str, now_ms: int) -> int:
    """Counts a login attempt of `ip` in the current window; its attempts so far, this one included."""
    window = now_ms // WINDOW_MS
    session.execute(delete(LoginWindow).where(LoginWindow.window < window - 1))
    _ensure(session, LoginWindow, ip=ip, window=window, attempts=0)
    session.execute(update(LoginWindow).where(LoginWindow.ip == ip, LoginWindow.window == window)
                    .values(attempts=LoginWindow.attempts + 1))
    attempts: int = session.execute(select(LoginWindow.attempts).where(
        LoginWindow.ip == ip, LoginWindow.window == window)).scalar_one()
    return attempts


def failures(session: Session, name: str, since_ms: int) -> list[int]:
    """The times of the failed logins of `name` after `since_ms`, oldest first."""
    query = select(LoginFailure.at_ms).where(LoginFailure.name == name, LoginFailure.at_ms > since_ms)
    return list(session.execute(query.order_by(LoginFailure.at_ms)).scalars())


def record_failure(session: Session, name: str, now_ms: int, forget_before_ms: int) -> None:
    """Records a failed login of `name`; drops its failures at or before `forget_before_ms`."""
    session.execute(delete(LoginFailure).where(LoginFailure.name == name, LoginFailure.at_ms <= forget_before_ms))
    session.add(LoginFailure(name=name, at_ms=now_ms))


def clear_failures(session: Session, name: str) -> None:
    """Forgets the failed logins of `name`."""
    session.execute(delete(LoginFailure).where(LoginFailure.name == name))


# Staff users ----------------------------------------------------------------------------------
def session_epoch(session: Session, user_id: int) -> int:
    """The user's session epoch (0 until their credentials are first set)."""
    epoch = session.execute(select(StaffGuard.session_epoch).where(StaffGuard.user_id == user_id)).scalar()
    return 0 if epoch is None else int(epoch)


def end_sessions(session: Session, user_id: int) -> None:
    """Ends every session of the user issued so far (their epoch moves on)."""
    _ensure(session, StaffGuard, user_id=user_id, session_epoch=0, totp_step=-1)
    session.execute(update(StaffGuard).where(StaffGuard.user_id == user_id)
                    .values(session_epoch=StaffGuard.session_epoch + 1))


def accept_totp_step(session: Session, user_id: int, step: int) -> bool:
    """Records `step` as the user's last TOTP step; False if it is not newer than the last one."""
    _ensure(session, StaffGuard, user_id=user_id, session_epoch=0, totp_step=-1)
    changed = session.execute(update(StaffGuard).where(StaffGuard.user_id == user_id, StaffGuard.totp_step < step)
                              .values(totp_step=step))
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]
