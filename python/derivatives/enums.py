"""The engine's wire enums. Values are the Rust ``to_u8`` values; a contract test checks them
against ``_core.enum_tables()`` so the two languages cannot drift apart."""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    """Buy or sell."""

    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    """Binance USD-M order types."""

    LIMIT = 0
    MARKET = 1
    STOP_MARKET = 2
    STOP = 3
    TAKE_PROFIT_MARKET = 4
    TAKE_PROFIT = 5
    TRAILING_STOP_MARKET = 6


class TimeInForce(IntEnum):
    """How long an order may rest."""

    GTC = 0
    IOC = 1
    FOK = 2
    GTX = 3
    GTD = 4


class TriggerSource(IntEnum):
    """Binance ``workingType``."""

    CONTRACT_PRICE = 0
    MARK_PRICE = 1


class StpMode(IntEnum):
    """Self-trade prevention (``selfTradePreventionMode``)."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3


class PositionSide(IntEnum):
    """Hedge-mode position side."""

    BOTH = 0
    LONG = 1
    SHORT = 2


class CancelReason(IntEnum):
    """Why a live order was cancelled."""

    USER = 0
    CANCEL_ALL = 1
    LIQUIDATION = 2
    AUTO_DELEVERAGE = 3


class ExpireReason(IntEnum):
    """Why an order expired."""

    UNFILLED = 0
    FOK_UNFILLABLE = 1
    GOOD_TILL_REACHED = 2
    SELF_TRADE = 3
    POST_ONLY_WOULD_TAKE = 4
    NOTHING_TO_CLOSE = 5
    INSUFFICIENT_MARGIN = 6


class BalanceKind(IntEnum):
    """Why a wallet changed outside of trading."""

    DEPOSIT = 0
    WITHDRAWAL = 1
    TRANSFER_IN = 2
    TRANSFER_OUT = 3
    LIQUIDATION_FEE = 4
    INSURANCE_CLEAR = 5
    INSURANCE_PAYOUT = 6
    FUNDING_FEE = 7


class PayoutReason(IntEnum):
    """Why the insurance fund paid out."""

    BAD_DEBT = 0
    COMPENSATION = 1


class RejectReason(IntEnum):
    """Why the engine refused a command (Binance codes: ``derivatives.errors``)."""

    UNKNOWN_SYMBOL = 1
    SYMBOL_HALTED = 2
    SYMBOL_EXISTS = 3
    INVALID_INSTRUMENT = 4
    QUANTITY_NOT_POSITIVE = 10
    QUANTITY_BELOW_MIN = 11
    QUANTITY_ABOVE_MAX = 12
    QUANTITY_OFF_STEP = 13
    PRICE_NOT_POSITIVE = 14
    PRICE_OFF_TICK = 15
    NOTIONAL_BELOW_MIN = 16
    PRICE_ABOVE_BAND = 17
    PRICE_BELOW_BAND = 18
    PRICE_NOT_ALLOWED = 19
    INVALID_STOP_PRICE = 20
    WOULD_IMMEDIATELY_TRIGGER = 21
    INVALID_CALLBACK_RATE = 22
    INVALID_TIME_IN_FORCE = 23
    INVALID_GOOD_TILL = 24
    INVALID_CLOSE_POSITION = 25
    DUPLICATE_CLIENT_ORDER_ID = 30
    UNKNOWN_ORDER = 31
    POST_ONLY_WOULD_TAKE = 32
    AMEND_NO_CHANGE = 33
    NOT_AMENDABLE = 34
    AMEND_BELOW_FILLED = 35
    ARITHMETIC_OVERFLOW = 40
    INSUFFICIENT_MARGIN = 50
    INSUFFICIENT_BALANCE = 51
    AMOUNT_NOT_POSITIVE = 52
    INVALID_LEVERAGE = 53
    POSITION_MODE_LOCKED = 54
    REDUCE_ONLY_REJECTED = 55
    POSITION_SIDE_MISMATCH = 56
    MAX_POSITION_EXCEEDED = 57
    SAME_ACCOUNT = 58
    INSURANCE_FLOOR_BREACHED = 59
    INVALID_FUNDING_RATE = 60
    INVALID_FEE_RATES = 61
    MARGIN_TYPE_UNCHANGED = 62
    MARGIN_TYPE_ORDERS_OPEN = 63
    MARGIN_TYPE_POSITION_OPEN = 64
    NOT_ISOLATED = 65
    CROSS_BALANCE_INSUFFICIENT = 66
    ISOLATED_BALANCE_INSUFFICIENT = 67
    NO_POSITION = 68
    RESERVED_ACCOUNT = 69
    DUPLICATE_PAYOUT = 70
    WITHDRAWALS_SUSPENDED = 71
