//! The vocabulary of orders: side, type, time in force, trigger source, self-trade prevention.
//!
//! Each enum has a stable `u8` wire value (used by the codec and the Python binding); the values
//! never change once published.

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $value),+
        }

        impl $name {
            /// Every variant, in wire-value order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The variant's name, as the Python binding exposes it.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant)),+
                }
            }

            /// The stable wire value.
            #[must_use]
            pub const fn to_u8(self) -> u8 {
                self as u8
            }

            /// Decodes a wire value.
            #[must_use]
            pub const fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// Buy or sell.
    Side { /** Buy (bid). */ Buy = 0, /** Sell (ask). */ Sell = 1 }
);

impl Side {
    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

wire_enum!(
    /// Binance USD-M order types.
    OrderType {
        /** `LIMIT`. */ Limit = 0,
        /** `MARKET`: IOC inside the market price band. */ Market = 1,
        /** `STOP_MARKET`: market order once the trigger is crossed adversely. */ StopMarket = 2,
        /** `STOP`: limit order once the trigger is crossed adversely. */ StopLimit = 3,
        /** `TAKE_PROFIT_MARKET`: market order once the trigger is crossed favourably. */ TakeProfitMarket = 4,
        /** `TAKE_PROFIT`: limit order once the trigger is crossed favourably. */ TakeProfitLimit = 5,
        /** `TRAILING_STOP_MARKET`: market order after a callback from the best price since activation. */ TrailingStopMarket = 6,
    }
);

impl OrderType {
    /// True for the types that wait for a trigger before they reach the book.
    #[must_use]
    pub const fn is_conditional(self) -> bool {
        !matches!(self, Self::Limit | Self::Market)
    }

    /// True for the types that carry a limit price.
    #[must_use]
    pub const fn has_limit_price(self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit | Self::TakeProfitLimit)
    }
}

wire_enum!(
    /// How long an order may rest.
    TimeInForce {
        /** Good till cancelled. */ Gtc = 0,
        /** Immediate or cancel: the unfilled rest expires. */ Ioc = 1,
        /** Fill or kill: all at once or nothing. */ Fok = 2,
        /** Good till crossing (post-only): rejected if it would take. */ Gtx = 3,
        /** Good till date: expires at `good_till`. */ Gtd = 4,
    }
);

wire_enum!(
    /// Which price a conditional order watches (Binance `workingType`).
    TriggerSource { /** `CONTRACT_PRICE`: the last trade. */ LastPrice = 0, /** `MARK_PRICE`. */ MarkPrice = 1 }
);

wire_enum!(
    /// Self-trade prevention, Binance's modes; the taker's mode decides.
    StpMode {
        /** Allow self-trades. */ None = 0,
        /** Expire the taker's remainder. */ ExpireTaker = 1,
        /** Expire the resting maker and keep matching. */ ExpireMaker = 2,
        /** Expire both. */ ExpireBoth = 3,
    }
);

wire_enum!(
    /// Position side (hedge mode); carried for the margin engine.
    PositionSide { /** One-way mode. */ Both = 0, /** Hedge-mode long leg. */ Long = 1, /** Hedge-mode short leg. */ Short = 2 }
);
