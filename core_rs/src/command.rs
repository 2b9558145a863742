//! Commands: the only way state changes. Each is stamped by the sequencer with a contiguous
//! sequence number and a timestamp ([`CommandEnvelope`]); the engine reads time from nowhere else.

use crate::event::PayoutReason;
use crate::ids::{AccountId, ClientOrderId, Nanos, OrderId, Seq, SymbolId};
use crate::instrument::InstrumentSpec;
use crate::order::{OrderType, PositionSide, Side, StpMode, TimeInForce, TriggerSource};
use crate::units::{Price, Qty, Quote, Rate};

/// A new order, Binance `POST /fapi/v1/order` (and the conditional algo orders) in engine terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaceOrder {
    /// Owner.
    pub account: AccountId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Optional client order id, unique among the account's live orders on this symbol (Binance
    /// looks orders up by symbol and `origClientOrderId`).
    pub client_order_id: Option<ClientOrderId>,
    /// Buy or sell.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Time in force (ignored for market orders, which behave as IOC).
    pub time_in_force: TimeInForce,
    /// Limit price; required for the limit types, refused for the others.
    pub price: Option<Price>,
    /// Quantity; zero only with `close_position`.
    pub qty: Qty,
    /// Trigger price of stop and take-profit orders.
    pub stop_price: Option<Price>,
    /// Price the trigger watches.
    pub trigger_source: TriggerSource,
    /// Trailing stop callback, 0.001..=0.1 (0.1 %..10 %).
    pub callback_rate: Option<Rate>,
    /// Trailing stop activation price; without it the trail starts at once.
    pub activation_price: Option<Price>,
    /// GTD expiry time.
    pub good_till: Option<Nanos>,
    /// Only reduce the position (enforced by the margin engine).
    pub reduce_only: bool,
    /// Close the whole position when triggered (stop/take-profit market only).
    pub close_position: bool,
    /// Hedge-mode position side.
    pub position_side: PositionSide,
    /// Self-trade prevention mode.
    pub stp: StpMode,
}

impl PlaceOrder {
    /// The close-position stop (`stop_loss`) or take-profit order protecting the position this
    /// entry opens, triggered on the mark price.
    #[must_use]
    pub const fn protection(&self, trigger: Price, stop_loss: bool) -> Self {
        let order_type = if stop_loss { OrderType::StopMarket } else { OrderType::TakeProfitMarket };
        Self {
            order_type,
            client_order_id: None,
            side: self.side.opposite(),
            price: None,
            qty: Qty::ZERO,
            stop_price: Some(trigger),
            trigger_source: TriggerSource::MarkPrice,
            time_in_force: TimeInForce::Gtc,
            good_till: None,
            reduce_only: false,
            close_position: true,
            callback_rate: None,
            activation_price: None,
            ..*self
        }
    }

    /// A GTC limit order with every optional field empty.
    #[must_use]
    pub const fn limit(account: AccountId, symbol: SymbolId, side: Side, price: Price, qty: Qty) -> Self {
        Self {
            account,
            symbol,
            client_order_id: None,
            side,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            price: Some(price),
            qty,
            stop_price: None,
            trigger_source: TriggerSource::LastPrice,
            callback_rate: None,
            activation_price: None,
            good_till: None,
            reduce_only: false,
            close_position: false,
            position_side: PositionSide::Both,
            stp: StpMode::None,
        }
    }

    /// A market order with every optional field empty.
    #[must_use]
    pub const fn market(account: AccountId, symbol: SymbolId, side: Side, qty: Qty) -> Self {
        Self { order_type: OrderType::Market, price: None, ..Self::limit(account, symbol, side, Price::ZERO, qty) }
    }
}

/// Names a live order either by engine id or by the account's client id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRef {
    /// Engine-assigned id.
    Id(OrderId),
    /// Client order id.
    Client(ClientOrderId),
}

/// A state-changing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// List a new instrument.
    AddInstrument(InstrumentSpec),
    /// Replace an instrument's specification (same id and name); resting orders are kept.
    UpdateInstrument(InstrumentSpec),
    /// Place an order.
    PlaceOrder(PlaceOrder),
    /// Cancel one live order.
    CancelOrder {
        /// Owner.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Which order.
        order: OrderRef,
    },
    /// Cancel every live order (resting and untriggered) of the account on the symbol.
    CancelAll {
        /// Owner.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
    },
    /// Change the price and/or quantity of a resting limit order. A quantity decrease at the same
    /// price keeps queue priority; anything else re-queues it (and it may match).
    AmendOrder {
        /// Owner.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Which order.
        order: OrderRef,
        /// New limit price.
        price: Price,
        /// New total quantity (filled part included, as Binance counts it).
        qty: Qty,
    },
    /// Credit an account's wallet (creates the account on first use).
    Deposit {
        /// Account.
        account: AccountId,
        /// Amount, > 0.
        amount: Quote,
    },
    /// Debit an account's wallet, up to what is withdrawable.
    Withdraw {
        /// Account.
        account: AccountId,
        /// Amount, > 0.
        amount: Quote,
        /// Idempotency key (0: none): a key already withdrawn is refused, so a withdrawal whose
        /// answer was lost (a crash) can be sent again safely.
        key: u64,
    },
    /// Open a user account: the engine picks its id (above every id it has seen and at least
    /// [`crate::accounts::FIRST_USER_ACCOUNT`] + 1), so an id is never given out twice, whatever
    /// happened to the databases around the engine.
    OpenAccount {
        /// The owner's user name (1 to 64 bytes), journaled so the account's owner row can be
        /// rebuilt from the journal.
        name: String,
        /// The owner's role (1 to 16 bytes).
        role: String,
    },
    /// Move funds between two accounts' wallets.
    Transfer {
        /// Paying account.
        from: AccountId,
        /// Receiving account.
        to: AccountId,
        /// Amount, > 0.
        amount: Quote,
    },
    /// Set an account's leverage on a symbol.
    SetLeverage {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Leverage, 1 ..= the bracket maximum.
        leverage: u32,
    },
    /// Switch between one-way (false) and hedge (true) mode; only with no position and no order.
    SetPositionMode {
        /// Account.
        account: AccountId,
        /// Hedge mode.
        hedge: bool,
    },
    /// Settle funding on every open position of a symbol: longs pay `qty × mark × rate` to shorts
    /// when the rate is positive (the reverse when negative).
    ApplyFunding {
        /// Instrument.
        symbol: SymbolId,
        /// Funding rate, |rate| < 1.
        rate: Rate,
        /// Mark price at the funding time.
        mark: Price,
    },
    /// Pay from the insurance fund to an account (never below the fund's floor).
    InsurancePayout {
        /// Receiving account.
        account: AccountId,
        /// Amount, > 0.
        amount: Quote,
        /// Why.
        reason: PayoutReason,
        /// Idempotency key (0: none): a key already paid is refused, so a payout whose answer was
        /// lost can be sent again safely.
        key: u64,
    },
    /// Set the balance the insurance fund must keep after any payout.
    SetInsuranceFloor {
        /// The floor, ≥ 0.
        amount: Quote,
    },
    /// The auto-deleveraging queue of one side of a symbol, first to be deleveraged first
    /// (computed by the risk service).
    SetAdlRanking {
        /// Instrument.
        symbol: SymbolId,
        /// The side whose positions the ranking orders (Buy: longs, Sell: shorts).
        side: Side,
        /// Accounts, highest rank first.
        accounts: Vec<AccountId>,
    },
    /// Place an order with a stop-loss and/or take-profit attached: both are validated with the
    /// entry before anything is placed, then placed as close-position stop / take-profit market
    /// orders on the mark price, closing whatever the position is when they trigger.
    PlaceWithStops {
        /// The entry order.
        entry: PlaceOrder,
        /// Stop-loss trigger price.
        stop_loss: Option<Price>,
        /// Take-profit trigger price.
        take_profit: Option<Price>,
    },
    /// Set an account's fee tier: (maker, taker) rates replacing the instruments' own, or back to
    /// the instruments' rates with `None`. Rates are between −1 % and 1 % (a negative maker rate
    /// is a rebate; the taker rate must cover any rebate).
    SetFeeTier {
        /// Account.
        account: AccountId,
        /// (maker, taker) rates.
        rates: Option<(Rate, Rate)>,
    },
    /// Close one position leg at market (a reduce-only market order for all of it).
    ClosePosition {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Leg (BOTH in one-way mode).
        position_side: PositionSide,
    },
    /// Close every position of the account at market, ascending by symbol and leg.
    CloseAll {
        /// Account.
        account: AccountId,
    },
    /// One-way mode: close the position and open the same size the other way, as one market order
    /// of twice the size (margin-checked like any order).
    Reverse {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
    },
    /// Switch a symbol between cross (false) and isolated (true) margin for an account; only with
    /// no position and no open order in that symbol (Binance `POST /fapi/v1/marginType`).
    SetMarginType {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Isolated margin.
        isolated: bool,
    },
    /// Add margin to (positive) or remove it from (negative) an isolated position leg
    /// (Binance `POST /fapi/v1/positionMargin`, type 1 add, 2 reduce).
    AdjustIsolatedMargin {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Leg (BOTH in one-way mode).
        position_side: PositionSide,
        /// Signed amount, ≠ 0.
        amount: Quote,
    },
    /// Publish the mark and index price (the oracle, once a second).
    SetMarkPrice {
        /// Instrument.
        symbol: SymbolId,
        /// Mark price.
        mark: Price,
        /// Index price.
        index: Price,
    },
}

/// A command with its place in the total order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandEnvelope {
    /// Contiguous sequence number, from 1.
    pub seq: Seq,
    /// Sequencer time; never decreases.
    pub ts: Nanos,
    /// The command.
    pub command: Command,
}
