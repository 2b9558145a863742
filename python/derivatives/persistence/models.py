"""SQLAlchemy 2 models of the projection database.

Invariants:
    * Money is never a float: prices, quantities and quote amounts are ``BIGINT`` raw integers at
      the engine's scale (1e-8), exact on SQLite and PostgreSQL alike (the column comment says so).
    * Times are ``BIGINT`` Unix milliseconds (Binance's unit).
    * ``orders``, ``trades``, ``klines_1m``, ``income``, ``funding_rates``, ``adl_fills`` and
      ``position_totals`` are projections of engine events and are written only by
      :class:`derivatives.persistence.projector.Projector`, in the same transaction as
      ``projection_cursor``; ``users``, ``api_keys``, ``audit_log`` and ``withdrawals`` are owned
      by the API; ``insurance_payouts`` and ``insurance_payout_actions`` by
      ``risk.insurance_service``; ``fund_unwinds`` by ``risk.unwinder_service``;
      ``market_statistics`` by ``api.services.market_statistics``;
      ``ip_bans``, ``login_windows``, ``login_failures`` and ``staff_guards`` (the abuse guards
      every gateway process shares) by ``derivatives.persistence.guards``.
    * Engine system accounts (the fee account and the insurance fund, ids >= 2**63) do not fit
      a signed ``BIGINT`` and are never projected into per-account tables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
RAW = "raw integer, scale 1e-8"


class Base(DeclarativeBase):
    """Declarative base with an explicit naming convention (stable Alembic names)."""

    metadata = MetaData(naming_convention=NAMING)


class Exact(TypeDecorator[Decimal]):
    """An exact decimal column (``Decimal`` in Python): ``NUMERIC(38, 8)`` on PostgreSQL; on SQLite,
    whose NUMERIC affinity would turn decimal text into a binary float, the decimal's text in a
    ``VARCHAR(48)`` (migrations declare ``Numeric(38, 8).with_variant(String(48), "sqlite")``)."""

    impl = Numeric(38, 8, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """TEXT on SQLite, NUMERIC elsewhere."""
        return dialect.type_descriptor(String(48) if dialect.name == "sqlite" else Numeric(38, 8, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """The decimal's plain text on SQLite (never a float)."""
        if value is None or dialect.name != "sqlite":
            return value
        return f"{value:f}"

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Always a Decimal."""
        return None if value is None else Decimal(value)


def _raw(nullable: bool = False) -> Mapped[int]:
    return mapped_column(BigInteger, nullable=nullable, comment=RAW)


class User(Base):
    """A trader, risk officer or admin owning one engine account (dashboard login: password, and TOTP
    for admins)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(BigInteger, unique=True, comment="engine account id")
    role: Mapped[str] = mapped_column(String(16), default="trader")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    password_hash: Mapped[str | None] = mapped_column(String(160), nullable=True,
                                                      comment="scrypt, api.auth.passwords; None: no login")
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                    comment="RFC 6238 base32 secret (admin logins)")


class ApiKey(Base):
    """An HMAC API key. The secret is stored because HMAC verification needs it (as Binance)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    api_key: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64), default="")
    can_read: Mapped[bool] = mapped_column(Boolean, default=True)
    can_trade: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Order(Base):
    """Every order the engine accepted, with its latest state.

    Conditional types (stop, take-profit, trailing) are Binance *algo* orders: ``algo_status``
    tracks the algo life cycle and ``triggered_at`` is set once the child order is live; the
    child shares the engine order id.
    """

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_account_symbol_order", "account_id", "symbol", "order_id"),
        Index("ix_orders_account_client", "account_id", "client_order_id"),
    )

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(20))
    client_order_id: Mapped[str] = mapped_column(String(36))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(24), comment="Binance type as placed")
    time_in_force: Mapped[str] = mapped_column(String(3))
    price: Mapped[int | None] = _raw(nullable=True)
    orig_qty: Mapped[int] = _raw()
    executed_qty: Mapped[int] = _raw()
    cum_quote: Mapped[int] = _raw()
    stop_price: Mapped[int | None] = _raw(nullable=True)
    activation_price: Mapped[int | None] = _raw(nullable=True)
    callback_rate: Mapped[int | None] = _raw(nullable=True)
    working_type: Mapped[str] = mapped_column(String(16))
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    close_position: Mapped[bool] = mapped_column(Boolean)
    position_side: Mapped[str] = mapped_column(String(5))
    stp_mode: Mapped[str] = mapped_column(String(12))
    good_till_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(20), comment="Binance order status")
    algo_status: Mapped[str | None] = mapped_column(String(12), nullable=True)
    trigger_price_seen: Mapped[int | None] = _raw(nullable=True)
    expire_reason: Mapped[str | None] = mapped_column(String(24), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    triggered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger, comment="engine seq of the last change")


class Trade(Base):
    """One engine trade: both sides in one row (maker and taker); a side that is an engine system
    account (the insurance fund's own orders) shows account ``2**63 - 1``, which ``BIGINT`` holds."""

    __tablename__ = "trades"
    __table_args__ = (
        Index("ix_trades_symbol_trade", "symbol", "trade_id"),
        Index("ix_trades_maker_account", "maker_account", "symbol", "trade_id"),
        Index("ix_trades_taker_account", "taker_account", "symbol", "trade_id"),
    )

    trade_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    symbol: Mapped[str] = mapped_column(String(20))
    price: Mapped[int] = _raw()
    qty: Mapped[int] = _raw()
    quote_qty: Mapped[int] = _raw()
    taker_side: Mapped[str] = mapped_column(String(4))
    maker_order_id: Mapped[int] = mapped_column(BigInteger)
    maker_account: Mapped[int] = mapped_column(BigInteger)
    taker_order_id: Mapped[int] = mapped_column(BigInteger)
    taker_account: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    maker_fee: Mapped[int] = mapped_column(BigInteger, server_default="0", comment=RAW)
    maker_realised_pnl: Mapped[int] = mapped_column(BigInteger, server_default="0", comment=RAW)
    taker_fee: Mapped[int] = mapped_column(BigInteger, server_default="0", comment=RAW)
    taker_realised_pnl: Mapped[int] = mapped_column(BigInteger, server_default="0", comment=RAW)


class Kline1m(Base):
    """One-minute bar of traded prices; longer intervals are folded from these on read."""

    __tablename__ = "klines_1m"

    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)
    open_time: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open: Mapped[int] = _raw()
    high: Mapped[int] = _raw()
    low: Mapped[int] = _raw()
    close: Mapped[int] = _raw()
    volume: Mapped[int] = _raw()
    quote_volume: Mapped[int] = _raw()
    trades: Mapped[int] = mapped_column(Integer)
    taker_buy_volume: Mapped[int] = _raw()
    taker_buy_quote_volume: Mapped[int] = _raw()
    first_trade_id: Mapped[int] = mapped_column(BigInteger)
    last_trade_id: Mapped[int] = mapped_column(BigInteger)


class ProjectionCursor(Base):
    """The last engine sequence number a projection has applied (updated in its transaction)."""

    __tablename__ = "projection_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class AuditLog(Base):
    """One administrative action: who did what to what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text, default="{}")


class PayoutRequest(Base):
    """An insurance-fund compensation payout and its two approvals (``risk.insurance``).

    The two-person rule is enforced by ``risk.insurance`` and, as a last line, by the check
    constraints: identities are stored normalised, so distinct values mean distinct people.
    """

    __tablename__ = "insurance_payouts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("first_approver IS NULL OR first_approver <> requested_by", name="first_not_requester"),
        CheckConstraint("second_approver IS NULL OR (second_approver <> requested_by "
                        "AND first_approver IS NOT NULL AND second_approver <> first_approver)",
                        name="second_distinct"),
        Index("ix_insurance_payouts_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger, comment="engine account id to pay")
    amount: Mapped[int] = _raw()
    memo: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(12), comment="PENDING, SUBMITTING, PAID, REFUSED or DENIED")
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[int] = mapped_column(BigInteger)
    first_approver: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_approved_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    second_approver: Mapped[str | None] = mapped_column(String(64), nullable=True)
    second_approved_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(256), nullable=True,
                                                comment="engine refusal reason or denial note")
    engine_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True,
                                                   comment="seq of the InsurancePayout command")


class PayoutAction(Base):
    """The append-only audit trail of payout requests: one row per action, never updated."""

    __tablename__ = "insurance_payout_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("insurance_payouts.id"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16), comment="REQUESTED, APPROVED, SUBMITTED, PAID, REFUSED, DENIED")
    details: Mapped[str] = mapped_column(Text, default="{}")


class FundUnwind(Base):
    """One step of the insurance fund's unwinder, sent or paused, with its reason (append-only)."""

    __tablename__ = "fund_unwinds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[int] = mapped_column(BigInteger, comment="when it was decided, Unix ms")
    symbol: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(24), comment="SLICE, PAUSED_THIN_BOOK or PAUSED_NO_MARK")
    side: Mapped[str] = mapped_column(String(4), comment="the closing side, BUY or SELL")
    position: Mapped[Decimal] = mapped_column(Exact(), comment="the fund's signed position before the step")
    qty: Mapped[Decimal] = mapped_column(Exact(), comment="quantity sent (0 when paused)")
    filled: Mapped[Decimal] = mapped_column(Exact(), comment="quantity the slice filled")
    limit_price: Mapped[Decimal | None] = mapped_column(Exact(), nullable=True, comment="the slippage cap")
    book_notional: Mapped[Decimal] = mapped_column(Exact(), comment="opposite depth within the cap, USDT")


class Income(Base):
    """One wallet movement of an account (Binance ``/fapi/v1/income``), from ``FillSettled`` and
    ``BalanceChanged``. Keyed by the event that caused it, so projecting it twice is impossible."""

    __tablename__ = "income"
    __table_args__ = (Index("ix_income_account_time", "account_id", "time"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    income_type: Mapped[str] = mapped_column(String(24), primary_key=True)
    tran_id: Mapped[int] = mapped_column(BigInteger, unique=True, comment="seq * 2**20 + index * 4 + kind")
    account_id: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(20), default="")
    amount: Mapped[int] = _raw()
    info: Mapped[str] = mapped_column(String(32), default="")
    trade_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    time: Mapped[int] = mapped_column(BigInteger)


class FundingRate(Base):
    """One funding settlement of a symbol (``FundingApplied``)."""

    __tablename__ = "funding_rates"

    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    rate: Mapped[int] = _raw()
    mark: Mapped[int] = _raw()
    time: Mapped[int] = mapped_column(BigInteger)


class AdlFill(Base):
    """One auto-deleveraging of a counterparty (``AutoDeleveraged``), for ``forceOrders``."""

    __tablename__ = "adl_fills"
    __table_args__ = (Index("ix_adl_fills_account_time", "account_id", "time"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger)
    bankrupt_account: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(20))
    side: Mapped[str] = mapped_column(String(4), comment="the deleveraged account's closing side")
    position_side: Mapped[str] = mapped_column(String(5), default="BOTH")
    qty: Mapped[int] = _raw()
    price: Mapped[int] = _raw()
    time: Mapped[int] = mapped_column(BigInteger)


class PositionMarginChange(Base):
    """A trader's adjustment of an isolated leg's margin (``IsolatedMarginChanged`` of an
    ``AdjustIsolatedMargin``), for ``positionMargin/history``; moves by fills and funding are not
    listed."""

    __tablename__ = "position_margin_changes"
    __table_args__ = (Index("ix_position_margin_changes_account_symbol_time", "account_id", "symbol", "time"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(20))
    position_side: Mapped[str] = mapped_column(String(5))
    amount: Mapped[int] = mapped_column(BigInteger, comment="raw integer, scale 1e-8; signed: negative removes")
    time: Mapped[int] = mapped_column(BigInteger)


class AccountFeeRate(Base):
    """An account's fee rates replacing the instruments' own (``FeeTierSet`` with rates; no row: the
    instruments' rates)."""

    __tablename__ = "account_fee_rates"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    maker: Mapped[int] = _raw()
    taker: Mapped[int] = _raw()


class PositionTotal(Base):
    """Accumulated realised PnL and commission of an account on a symbol (``cr`` of
    ``ACCOUNT_UPDATE``)."""

    __tablename__ = "position_totals"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)
    realised_pnl: Mapped[int] = _raw()
    commission: Mapped[int] = _raw()


class Withdrawal(Base):
    """A withdrawal request: requested by one admin, approved by another, then executed as a
    ``Withdraw`` command (``PENDING`` -> ``APPROVING`` -> ``COMPLETED``/``FAILED``, or
    ``REJECTED``)."""

    __tablename__ = "withdrawals"
    __table_args__ = (Index("ix_withdrawals_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    account_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = _raw()
    status: Mapped[str] = mapped_column(String(12))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[int] = mapped_column(BigInteger)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, comment="engine seq of the Withdraw")
    note: Mapped[str] = mapped_column(String(128), default="")


class MarketStatistic(Base):
    """One 5-minute sample of a symbol's market statistics (``/futures/data/*``), keyed by the
    bucket's start. A later sample in the same bucket replaces the snapshot figures; taker volumes
    cover the trades of the whole bucket."""

    __tablename__ = "market_statistics"

    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, comment="bucket start, Unix ms")
    sampled_at: Mapped[int] = mapped_column(BigInteger)
    open_interest: Mapped[Decimal] = mapped_column(Exact(), comment="sum of long quantities")
    mark_price: Mapped[Decimal] = mapped_column(Exact())
    index_price: Mapped[Decimal] = mapped_column(Exact())
    long_accounts: Mapped[int] = mapped_column(Integer, comment="accounts net long")
    short_accounts: Mapped[int] = mapped_column(Integer, comment="accounts net short")
    top_long_accounts: Mapped[int] = mapped_column(Integer, comment="top 20% by margin balance, net long")
    top_short_accounts: Mapped[int] = mapped_column(Integer, comment="top 20% by margin balance, net short")
    top_long_position: Mapped[Decimal] = mapped_column(Exact(), comment="net long quantity of the top accounts")
    top_short_position: Mapped[Decimal] = mapped_column(Exact(), comment="net short quantity of the top accounts")
    taker_buy_volume: Mapped[Decimal] = mapped_column(Exact())
    taker_sell_volume: Mapped[Decimal] = mapped_column(Exact())


class AdminEnrolment(Base):
    """A request for a new admin (four eyes): requested by one admin identity, approved by another
    (never the bootstrap token), then enrolled by the new admin through a one-time link."""

    __tablename__ = "admin_enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), comment="PENDING, APPROVED, ENROLLED")
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[int] = mapped_column(BigInteger)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, comment="the admin user, once approved")
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                   comment="SHA-256 hex of the one-time enrolment token")
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class IpBan(Base):
    """A client IP banned for ignoring 429s, shared by every gateway process (each reads the table
    into memory once a second)."""

    __tablename__ = "ip_bans"

    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    until_ms: Mapped[int] = mapped_column(BigInteger, comment="the ban ends at this Unix ms")
    offences: Mapped[int] = mapped_column(Integer, comment="bans so far: each lasts twice the previous")


class LoginWindow(Base):
    """Login and enrolment attempts of one client IP in one one-minute window (all processes)."""

    __tablename__ = "login_windows"

    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True, comment="Unix ms // 60000")
    attempts: Mapped[int] = mapped_column(Integer)


class LoginFailure(Base):
    """A failed login of a user name as typed (all processes; kept for the throttle's window)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)


class StaffGuard(Base):
    """Per staff user: the session epoch (setting the credentials increments it, which ends every
    session issued before) and the last TOTP step accepted (a code works once), for all processes."""

    __tablename__ = "staff_guards"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    session_epoch: Mapped[int] = mapped_column(Integer)
    totp_step: Mapped[int] = mapped_column(BigInteger, comment="RFC 6238 time step; -1 before any")
