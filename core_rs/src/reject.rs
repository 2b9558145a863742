//! Why the engine refused a command. A rejection is an event (journaled and replayed like any
//! other outcome) and a rejected command changes nothing else.
//!
//! Each reason has a stable wire value and the Binance USD-M error code it maps to, kept beside
//! the enum so the compiler forces every new reason to choose one. `api/errors.py` owns the
//! message texts.

use crate::order::wire_enum;
use crate::units::Overflow;

wire_enum!(
    /// A typed rejection reason.
    RejectReason {
        /** The symbol is not listed. */ UnknownSymbol = 1,
        /** The symbol is halted. */ SymbolHalted = 2,
        /** A symbol with this id or name is already listed. */ SymbolExists = 3,
        /** The instrument specification is inconsistent. */ InvalidInstrument = 4,
        /** Quantity zero or negative. */ QuantityNotPositive = 10,
        /** Quantity below the instrument minimum. */ QuantityBelowMin = 11,
        /** Quantity above the instrument maximum. */ QuantityAboveMax = 12,
        /** Quantity not a multiple of the step size. */ QuantityOffStep = 13,
        /** Price zero or missing where a price is needed. */ PriceNotPositive = 14,
        /** Price not a multiple of the tick size. */ PriceOffTick = 15,
        /** Notional (price × quantity) below the minimum. */ NotionalBelowMin = 16,
        /** Limit price above the band around the reference price. */ PriceAboveBand = 17,
        /** Limit price below the band around the reference price. */ PriceBelowBand = 18,
        /** A price was given where the order type takes none. */ PriceNotAllowed = 19,
        /** Stop price missing, zero or off tick. */ InvalidStopPrice = 20,
        /** The conditional order would trigger at once. */ WouldImmediatelyTrigger = 21,
        /** Callback rate outside 0.1 %..10 % or on an order type that takes none. */ InvalidCallbackRate = 22,
        /** Time in force not allowed for the order type. */ InvalidTimeInForce = 23,
        /** GTD expiry missing or not after the command time. */ InvalidGoodTill = 24,
        /** Close-position on a type other than stop/take-profit market, or with a quantity. */ InvalidClosePosition = 25,
        /** The client order id is used by a live order of the account. */ DuplicateClientOrderId = 30,
        /** No live order with that id for this account and symbol. */ UnknownOrder = 31,
        /** A post-only (GTX) order would take liquidity. */ PostOnlyWouldTake = 32,
        /** The amendment changes nothing. */ AmendNoChange = 33,
        /** Only resting limit orders can be amended. */ NotAmendable = 34,
        /** The amended quantity is not above the quantity already filled. */ AmendBelowFilled = 35,
        /** An arithmetic result left the representable range. */ ArithmeticOverflow = 40,
        /** The order would leave the account below its initial margin. */ InsufficientMargin = 50,
        /** The wallet cannot pay the withdrawal or transfer. */ InsufficientBalance = 51,
        /** An amount must be positive. */ AmountNotPositive = 52,
        /** Leverage outside 1 ..= the bracket maximum. */ InvalidLeverage = 53,
        /** Position mode cannot change with open positions or orders. */ PositionModeLocked = 54,
        /** A reduce-only order would not reduce the position. */ ReduceOnlyRejected = 55,
        /** The order's position side does not match the account's position mode. */ PositionSideMismatch = 56,
        /** The position would exceed the largest notional allowed at the current leverage. */ MaxPositionExceeded = 57,
        /** A transfer to the same account. */ SameAccount = 58,
        /** The payout would take the insurance fund below its floor. */ InsuranceFloorBreached = 59,
        /** A funding rate of 100 % or more. */ InvalidFundingRate = 60,
        /** Fee rates outside −1 %..1 %, or a maker rebate larger than the taker fee. */ InvalidFeeRates = 61,
        /** The symbol already has that margin type. */ MarginTypeUnchanged = 62,
        /** The margin type cannot change while the symbol has open orders. */ MarginTypeOrdersOpen = 63,
        /** The margin type cannot change while the symbol has a position. */ MarginTypePositionOpen = 64,
        /** Margin can only be added to or removed from an isolated position. */ NotIsolated = 65,
        /** The cross part cannot pay the margin to add. */ CrossBalanceInsufficient = 66,
        /** Removing that much would leave the isolated position below its initial margin. */ IsolatedBalanceInsufficient = 67,
        /** The position leg is flat. */ NoPosition = 68,
        /** The fee account and the insurance fund keep cross margin. */ ReservedAccount = 69,
        /** An insurance payout with this idempotency key was already paid. */ DuplicatePayout = 70,
        /** Withdrawals are suspended while an account's loss is not yet covered (MECHANICS §6.2 step 8). */ WithdrawalsSuspended = 71,
        /** A withdrawal with this idempotency key was already made. */ DuplicateWithdrawal = 72,
        /** An account owner's name or role is empty or too long. */ InvalidAccountOwner = 73,
    }
);

/// An arithmetic overflow while checking a command rejects it with [`RejectReason::ArithmeticOverflow`].
impl From<Overflow> for RejectReason {
    fn from(_: Overflow) -> Self {
        Self::ArithmeticOverflow
    }
}

impl RejectReason {
    /// The Binance USD-M error code a client library expects for this reason.
    #[must_use]
    pub const fn binance_code(self) -> i32 {
        match self {
            Self::UnknownSymbol => -1121,
            Self::SymbolHalted => -4022,
            Self::SymbolExists | Self::InvalidInstrument => -1130,
            Self::QuantityNotPositive => -4003,
            Self::QuantityBelowMin => -4004,
            Self::QuantityAboveMax => -4005,
            Self::QuantityOffStep => -4023,
            Self::PriceNotPositive => -4013,
            Self::PriceOffTick => -4014,
            Self::NotionalBelowMin => -4164,
            Self::PriceAboveBand => -4016,
            Self::PriceBelowBand => -4024,
            Self::PriceNotAllowed => -1106,
            Self::InvalidStopPrice => -4006,
            Self::WouldImmediatelyTrigger => -2021,
            Self::InvalidCallbackRate => -2007,
            Self::InvalidTimeInForce => -1115,
            Self::InvalidGoodTill => -5040,
            Self::InvalidClosePosition => -4136,
            Self::DuplicateClientOrderId => -4116,
            Self::UnknownOrder => -2011,
            Self::PostOnlyWouldTake => -5022,
            Self::AmendNoChange => -5027,
            Self::NotAmendable => -5026,
            Self::AmendBelowFilled => -4003,
            Self::ArithmeticOverflow => -1111,
            Self::InsufficientMargin => -2019,
            Self::InsufficientBalance => -2018,
            Self::AmountNotPositive | Self::SameAccount => -1102,
            Self::InvalidLeverage => -4028,
            Self::PositionModeLocked => -4068,
            Self::ReduceOnlyRejected => -2022,
            Self::PositionSideMismatch => -4061,
            Self::MaxPositionExceeded => -2027,
            Self::InsuranceFloorBreached => -2018,
            Self::InvalidFundingRate | Self::InvalidFeeRates | Self::ReservedAccount | Self::DuplicatePayout => -1102,
            Self::DuplicateWithdrawal | Self::InvalidAccountOwner => -1102,
            Self::MarginTypeUnchanged => -4046,
            Self::MarginTypeOrdersOpen => -4047,
            Self::MarginTypePositionOpen => -4048,
            Self::NotIsolated => -4049,
            Self::CrossBalanceInsufficient => -4050,
            Self::IsolatedBalanceInsufficient => -4051,
            Self::NoPosition => -4054,
            Self::WithdrawalsSuspended => -4500,
        }
    }
}
