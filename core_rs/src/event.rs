//! Events: the ordered outcome of each command. Every event is self-describing (it names the
//! account, symbol and order it concerns), so consumers never need engine internals.
//!
//! Order within one command is part of the contract: GTD expiries due at the command's time
//! first; then the command's own events in the order they happened (a rejection is then the only
//! one), each triggered order after the order whose trade fired it; and finally the L2 book
//! deltas of every level the command touched, sorted by (side, price).

use crate::command::PlaceOrder;
use crate::ids::{AccountId, OrderId, Seq, SymbolId, TradeId};
use crate::order::PositionSide;
use crate::order::{wire_enum, Side};
use crate::reject::RejectReason;
use crate::units::{Price, Qty, Quote};

wire_enum!(
    /// Why a live order was cancelled.
    CancelReason {
        /** The owner cancelled it. */ User = 0,
        /** Cancel-all by the owner. */ CancelAll = 1,
        /** The account is being liquidated. */ Liquidation = 2,
        /** The account's position in the symbol was auto-deleveraged. */ AutoDeleverage = 3,
    }
);

wire_enum!(
    /// Why an order expired.
    ExpireReason {
        /** The unfilled rest of an IOC or market order. */ Unfilled = 0,
        /** A fill-or-kill order that could not fill completely. */ FokUnfillable = 1,
        /** Its GTD time passed. */ GoodTillReached = 2,
        /** Self-trade prevention. */ SelfTrade = 3,
        /** A triggered post-only order would have taken. */ PostOnlyWouldTake = 4,
        /** A triggered close-position or reduce-only order found nothing to close. */ NothingToClose = 5,
        /** A triggered order failed the margin check. */ InsufficientMargin = 6,
    }
);

wire_enum!(
    /// Why a wallet changed outside of trading (Binance income types).
    BalanceKind {
        /** A deposit. */ Deposit = 0,
        /** A withdrawal. */ Withdrawal = 1,
        /** An internal transfer in. */ TransferIn = 2,
        /** An internal transfer out. */ TransferOut = 3,
        /** A liquidation clearance fee, paid to the insurance fund. */ LiquidationFee = 4,
        /** The insurance fund covering a negative balance (Binance INSURANCE_CLEAR). */ InsuranceClear = 5,
        /** A payout from the insurance fund. */ InsurancePayout = 6,
        /** Funding paid or received (Binance FUNDING_FEE); the rounding dust goes to the fund. */ FundingFee = 7,
    }
);

wire_enum!(
    /// Why the insurance fund paid out.
    PayoutReason { /** Covering bad debt. */ BadDebt = 0, /** Compensation to a user, approved by two people. */ Compensation = 1 }
);

/// One outcome of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An instrument was listed or updated.
    InstrumentUpdated {
        /// Instrument.
        symbol: SymbolId,
    },
    /// The order was accepted; conditional orders wait for their trigger.
    OrderAccepted {
        /// Engine id.
        order_id: OrderId,
        /// The order as placed.
        order: PlaceOrder,
    },
    /// An order command (place, cancel, cancel-all, amend, close, reverse, place with stops) was
    /// refused and changed nothing.
    OrderRejected {
        /// Account of the command.
        account: AccountId,
        /// Instrument of the command.
        symbol: SymbolId,
        /// The order concerned, when the command named an existing one.
        order_id: Option<OrderId>,
        /// Why.
        reason: RejectReason,
    },
    /// Any other command (money movements, account settings, prices, funding, listings, risk
    /// settings) was refused and changed nothing.
    CommandRejected {
        /// The account the command concerns, if it names one (the source of a transfer).
        account: Option<AccountId>,
        /// The instrument the command concerns, if it names one.
        symbol: Option<SymbolId>,
        /// Why.
        reason: RejectReason,
    },
    /// A conditional order's trigger was crossed; it now enters the book as a market or limit order.
    OrderTriggered {
        /// Owner.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Order.
        order_id: OrderId,
        /// The watched price that crossed the trigger.
        trigger_price: Price,
    },
    /// A match between a resting maker and an incoming taker, at the maker's price.
    Trade {
        /// Instrument.
        symbol: SymbolId,
        /// Engine trade id.
        trade_id: TradeId,
        /// Execution price.
        price: Price,
        /// Executed quantity.
        qty: Qty,
        /// Side of the taker.
        taker_side: Side,
        /// Maker order.
        maker_order_id: OrderId,
        /// Maker owner.
        maker_account: AccountId,
        /// Maker quantity still open after this trade.
        maker_leaves: Qty,
        /// Taker order.
        taker_order_id: OrderId,
        /// Taker owner.
        taker_account: AccountId,
        /// Taker quantity still open after this trade.
        taker_leaves: Qty,
    },
    /// A live order was cancelled.
    OrderCancelled {
        /// Owner.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Order.
        order_id: OrderId,
        /// Quantity that was still open.
        leaves: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// An order ended without filling completely.
    OrderExpired {
        /// Owner.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Order.
        order_id: OrderId,
        /// Quantity that was still open.
        leaves: Qty,
        /// Why.
        reason: ExpireReason,
    },
    /// A resting order's price or quantity changed.
    OrderAmended {
        /// Owner.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Order.
        order_id: OrderId,
        /// New price.
        price: Price,
        /// New total quantity.
        qty: Qty,
        /// Open quantity after the amendment (before any match it causes).
        leaves: Qty,
        /// True when the order kept its place in the queue.
        priority_kept: bool,
    },
    /// An L2 level's total open quantity after the command (zero: the level is gone).
    BookDelta {
        /// Instrument.
        symbol: SymbolId,
        /// Book side.
        side: Side,
        /// Level price.
        price: Price,
        /// Total open quantity at the level.
        qty: Qty,
    },
    /// One side of a trade was cleared: position, realised PnL and fee applied to the account.
    FillSettled {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// The account's order.
        order_id: OrderId,
        /// The trade.
        trade_id: TradeId,
        /// Position leg.
        position_side: PositionSide,
        /// Signed quantity (positive: bought).
        qty: i64,
        /// Trade price.
        price: Price,
        /// Fee paid (negative: rebate received), to the fee account.
        fee: Quote,
        /// Realised PnL credited before the fee.
        realised_pnl: Quote,
        /// Wallet balance after.
        wallet: Quote,
        /// Signed position quantity of the leg after.
        position_qty: i64,
        /// Signed entry value of the leg after.
        position_cost: Quote,
    },
    /// A wallet changed outside of trading.
    BalanceChanged {
        /// Account.
        account: AccountId,
        /// Signed change.
        amount: Quote,
        /// Wallet balance after.
        wallet: Quote,
        /// Why.
        kind: BalanceKind,
    },
    /// An account switched a symbol between cross and isolated margin.
    MarginTypeSet {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Isolated margin.
        isolated: bool,
    },
    /// The isolated margin of a position leg changed: added or removed by the trader, moved in or
    /// out by a fill (the opened part's initial margin in, the closed part's share out), or
    /// credited with realised PnL or funding. Moves between the cross part and a leg change no
    /// wallet (the isolated margin is part of it).
    IsolatedMarginChanged {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Leg.
        position_side: PositionSide,
        /// Signed change.
        amount: Quote,
        /// Isolated margin after.
        isolated_margin: Quote,
    },
    /// An account's leverage on a symbol changed.
    LeverageSet {
        /// Account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// New leverage.
        leverage: u32,
    },
    /// An account's fee tier changed.
    FeeTierSet {
        /// Account.
        account: AccountId,
        /// (maker, taker) rates, or `None` for the instruments' own.
        rates: Option<(crate::units::Rate, crate::units::Rate)>,
    },
    /// An account switched position mode.
    PositionModeSet {
        /// Account.
        account: AccountId,
        /// Hedge mode.
        hedge: bool,
    },
    /// An account fell below its maintenance margin at the mark price; it is locked while the
    /// liquidation runs (within this command).
    LiquidationStarted {
        /// Account.
        account: AccountId,
        /// Margin balance (wallet + unrealised PnL) at the mark.
        margin_balance: Quote,
        /// Maintenance margin at the mark.
        maintenance: Quote,
    },
    /// A liquidation order: the rest of a position offered at its bankruptcy price (IOC).
    LiquidationOrder {
        /// Liquidated account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Engine id of the liquidation order.
        order_id: OrderId,
        /// Closing side.
        side: Side,
        /// Quantity offered.
        qty: Qty,
        /// Bankruptcy price (its limit).
        bankruptcy_price: Price,
        /// The leg it closes (LONG or SHORT in hedge mode).
        position_side: PositionSide,
    },
    /// The insurance fund took over the unfilled rest of a liquidated position at its bankruptcy
    /// price.
    PositionTakenOver {
        /// Liquidated account.
        account: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Position leg.
        position_side: PositionSide,
        /// Signed quantity moved to the insurance fund.
        qty: i64,
        /// Bankruptcy price.
        price: Price,
    },
    /// A counterparty's position was closed against a bankrupt one at its bankruptcy price.
    AutoDeleveraged {
        /// The deleveraged (counterparty) account.
        account: AccountId,
        /// The bankrupt account.
        bankrupt: AccountId,
        /// Instrument.
        symbol: SymbolId,
        /// Signed quantity closed on the counterparty's position.
        qty: i64,
        /// Bankruptcy price.
        price: Price,
    },
    /// Funding was settled on a symbol.
    FundingApplied {
        /// Instrument.
        symbol: SymbolId,
        /// Rate.
        rate: crate::units::Rate,
        /// Mark price used.
        mark: Price,
        /// Rounding dust credited to the insurance fund.
        dust: Quote,
    },
    /// The insurance fund paid an account (the balance changes follow).
    InsurancePaid {
        /// Receiving account.
        account: AccountId,
        /// Amount.
        amount: Quote,
        /// Why.
        reason: PayoutReason,
        /// The command's idempotency key (0: none).
        key: u64,
    },
    /// A user account was opened.
    AccountOpened {
        /// The new account's id.
        account: AccountId,
        /// The owner's user name.
        name: String,
        /// The owner's role.
        role: String,
    },
    /// The insurance fund floor changed.
    InsuranceFloorSet {
        /// New floor.
        amount: Quote,
    },
    /// An ADL ranking was installed.
    AdlRankingSet {
        /// Instrument.
        symbol: SymbolId,
        /// Ranked side.
        side: Side,
        /// Number of accounts ranked.
        accounts: u32,
    },
    /// The liquidation of an account ended.
    LiquidationFinished {
        /// Account.
        account: AccountId,
        /// True when positions were closed; false when cancelling orders restored the margin.
        closed: bool,
    },
    /// The oracle's mark and index price were applied.
    MarkPriceSet {
        /// Instrument.
        symbol: SymbolId,
        /// Mark price.
        mark: Price,
        /// Index price.
        index: Price,
    },
}

/// An event with the sequence number and time of the command that caused it and its index within
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventEnvelope {
    /// Causing command.
    pub seq: Seq,
    /// Position among that command's events, from 0.
    pub index: u32,
    /// The causing command's sequenced time.
    pub ts: crate::ids::Nanos,
    /// The event.
    pub event: Event,
}
