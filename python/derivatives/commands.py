"""Commands sent to the engine, as typed immutable values with exact Decimal money.

Defaults follow Binance: GTC, no client id, one-way position side, no self-trade prevention.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from derivatives.enums import (
    OrderType,
    PayoutReason,
    PositionSide,
    Side,
    StpMode,
    TimeInForce,
    TriggerSource,
)


@dataclass(frozen=True, slots=True)
class LeverageBracket:
    """One notional tier (MECHANICS §4.1)."""

    notional_cap: Decimal
    max_leverage: int
    maint_margin_rate: Decimal
    cum: Decimal


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Filters, fees and brackets of one perpetual contract."""

    symbol: int
    name: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    limit_price_band: Decimal
    market_price_band: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    liquidation_fee: Decimal
    brackets: tuple[LeverageBracket, ...]
    trading: bool = True


@dataclass(frozen=True, slots=True)
class AddInstrument:
    """List a new instrument."""

    spec: InstrumentSpec


@dataclass(frozen=True, slots=True)
class UpdateInstrument:
    """Replace an instrument's specification."""

    spec: InstrumentSpec


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Place an order."""

    account: int
    symbol: int
    side: Side
    qty: Decimal
    order_type: OrderType = OrderType.LIMIT
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None
    stop_price: Decimal | None = None
    trigger_source: TriggerSource = TriggerSource.CONTRACT_PRICE
    callback_rate: Decimal | None = None
    activation_price: Decimal | None = None
    good_till: int | None = None
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSide = PositionSide.BOTH
    stp: StpMode = StpMode.NONE


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one live order, by engine id or client order id (exactly one)."""

    account: int
    symbol: int
    order_id: int | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every live order of an account on a symbol."""

    account: int
    symbol: int


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """Change a resting limit order's price and total quantity."""

    account: int
    symbol: int
    price: Decimal
    qty: Decimal
    order_id: int | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class SetMarkPrice:
    """Publish the mark and index price."""

    symbol: int
    mark: Decimal
    index: Decimal


@dataclass(frozen=True, slots=True)
class Deposit:
    """Credit an account's wallet (creates the account on first use)."""

    account: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Debit an account's wallet, up to what is withdrawable."""

    account: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move funds between two accounts' wallets."""

    from_account: int
    to_account: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class SetLeverage:
    """Set an account's leverage on a symbol."""

    account: int
    symbol: int
    leverage: int


@dataclass(frozen=True, slots=True)
class SetPositionMode:
    """Switch between one-way (False) and hedge (True) mode."""

    account: int
    hedge: bool


@dataclass(frozen=True, slots=True)
class ApplyFunding:
    """Settle funding on every open position of a symbol."""

    symbol: int
    rate: Decimal
    mark: Decimal


@dataclass(frozen=True, slots=True)
class InsurancePayout:
    """Pay from the insurance fund to an account (never below its floor); a non-zero `key` is paid
    at most once (a resend is refused ``DUPLICATE_PAYOUT``)."""

    account: int
    amount: Decimal
    reason: PayoutReason
    key: int = 0


@dataclass(frozen=True, slots=True)
class SetInsuranceFloor:
    """Set the balance the insurance fund must keep after any payout."""

    amount: Decimal


@dataclass(frozen=True, slots=True)
class SetAdlRanking:
    """The ADL queue of one side of a symbol (BUY: longs, SELL: shorts), first out first."""

    symbol: int
    side: Side
    accounts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PlaceWithStops:
    """An entry order with a stop-loss and/or take-profit attached (close-position stop and
    take-profit market orders on the mark price), all validated before any is placed."""

    entry: PlaceOrder
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SetFeeTier:
    """Set an account's (maker, taker) fee rates, replacing the instruments' own (None: reset)."""

    account: int
    rates: tuple[Decimal, Decimal] | None


@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Close one position leg at market."""

    account: int
    symbol: int
    position_side: PositionSide = PositionSide.BOTH


@dataclass(frozen=True, slots=True)
class CloseAll:
    """Close every position of the account at market."""

    account: int


@dataclass(frozen=True, slots=True)
class Reverse:
    """One-way mode: close the position and open the same size the other way."""

    account: int
    symbol: int


@dataclass(frozen=True, slots=True)
class SetMarginType:
    """Switch a symbol between cross (False) and isolated (True) margin; only when flat there."""

    account: int
    symbol: int
    isolated: bool


@dataclass(frozen=True, slots=True)
class AdjustIsolatedMargin:
    """Add (positive) or remove (negative) margin of an isolated position leg."""

    account: int
    symbol: int
    position_side: PositionSide
    amount: Decimal


Command = (
    AddInstrument
    | UpdateInstrument
    | PlaceOrder
    | CancelOrder
    | CancelAll
    | AmendOrder
    | SetMarkPrice
    | Deposit
    | Withdraw
    | Transfer
    | SetLeverage
    | SetPositionMode
    | ApplyFunding
    | InsurancePayout
    | SetInsuranceFloor
    | SetAdlRanking
    | PlaceWithStops
    | SetFeeTier
    | ClosePosition
    | CloseAll
    | Reverse
    | SetMarginType
    | AdjustIsolatedMargin
)
"""Any command."""

__all__ = [
    "AddInstrument",
    "AdjustIsolatedMargin",
    "AmendOrder",
    "ApplyFunding",
    "CancelAll",
    "CancelOrder",
    "CloseAll",
    "ClosePosition",
    "Command",
    "Deposit",
    "InstrumentSpec",
    "InsurancePayout",
    "LeverageBracket",
    "PlaceOrder",
    "PlaceWithStops",
    "Reverse",
    "SetAdlRanking",
    "SetFeeTier",
    "SetInsuranceFloor",
    "SetLeverage",
    "SetMarginType",
    "SetMarkPrice",
    "SetPositionMode",
    "Transfer",
    "UpdateInstrument",
    "Withdraw",
]
