//! Clearing: the pre-trade margin check, the open-order exposure that initial margin is charged
//! on, and the settlement of each side of a trade (position, realised PnL, fee).
//!
//! Rules:
//! - The position side must match the account's mode (BOTH in one-way, LONG/SHORT in hedge).
//! - Reduce-only (one-way) must be opposite to the position and not larger than it; in hedge
//!   mode reduce-only is implied by the leg (sell LONG, buy SHORT) and limited to the leg.
//! - Closing is never margined: an order that only closes (reduce-only, close-position, a hedge
//!   leg's closing direction) passes the margin check at any price inside the bands, whatever
//!   the account's available margin. A one-way order is margined on the part that opens.
//! - An order that raises the symbol's initial margin (the opening part's worst case plus its
//!   own open loss, see `accounts`) needs `available ≥ 0` afterwards, and the position's
//!   worst-case notional must fit the bracket of the account's leverage.
//! - A market order is margined at the price it is expected to fill at: the opposite side of the
//!   book walked for its size up to the market band; what the book cannot fill within the band
//!   expires unfilled and opens nothing, so it is not margined ([`Exposure`]).
//! - Fees: `notional × rate` rounded up (a negative maker rate is a rebate, rounded toward zero),
//!   paid to [`FEE_ACCOUNT`]; no other account is touched by a trade.
//! - A hedge-mode closing fill larger than its leg (possible only if the leg shrank after the
//!   order rested) closes the leg and opens the excess on the other leg; it never flips a leg.
//!   It is reported as two `FillSettled` events, one per leg, whose quantities add up to the fill.
//! - A fill on an isolated symbol also moves the leg's isolated margin (`isolated::on_fill`),
//!   reported as `IsolatedMarginChanged` after the fill's `FillSettled`.

use crate::accounts::{apply_fill, leg_index, signed, Account, Accounts, ReferencePrices, SymbolAccount, FEE_ACCOUNT, INSURANCE_FUND};
use crate::event::{BalanceKind, Event};
use crate::ids::{AccountId, OrderId, SymbolId, TradeId};
use crate::instrument::InstrumentSpec;
use crate::isolated;
use crate::order::{PositionSide, Side};
use crate::reject::RejectReason;
use crate::units::{mul_div, notional, Overflow, Price, Qty, Quote, Rounding, SCALE};

use crate::accounts::margin;

/// One side of an order, as clearing sees it.
#[derive(Clone, Copy, Debug)]
pub struct OrderSide {
    /// Owner.
    pub account: AccountId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Position leg.
    pub position_side: PositionSide,
}

const fn overflow(_: Overflow) -> RejectReason {
    RejectReason::ArithmeticOverflow
}

/// True when the order only closes: reduce-only in one-way mode, or the closing direction of a
/// hedge leg.
#[must_use]
pub const fn is_closing(order: &OrderSide, reduce_only: bool) -> bool {
    match order.position_side {
        PositionSide::Both => reduce_only,
        PositionSide::Long => matches!(order.side, Side::Sell),
        PositionSide::Short => matches!(order.side, Side::Buy),
    }
}

/// The quantity a closing order may still close: the opposite position (one-way) or the leg.
#[must_use]
pub fn closable(accounts: &Accounts, order: &OrderSide) -> Qty {
    let Some(state) = accounts.get(order.account).and_then(|a| a.symbols.get(&order.symbol)) else { return Qty::ZERO };
    let q = state.positions[leg_index(order.position_side)].qty;
    let reducible = match order.side {
        Side::Buy => -q,
        Side::Sell => q,
    };
    Qty(reducible.max(0))
}

/// What an order may add to the open-order exposure: a quantity at a price (a limit order's
/// quantity at its limit price; a market order's expected fill at its average price).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    /// Quantity.
    pub qty: Qty,
    /// Price it is margined at (its open loss is taken against the reference price).
    pub price: Price,
}

/// A new order (or an amendment) as the margin check sees it.
#[derive(Clone, Copy, Debug)]
pub struct Intent {
    /// Only closes (reduce-only or close-position)?
    pub reduce_only: bool,
    /// The order's quantity (what a closing order is checked against).
    pub qty: Qty,
    /// What it adds to the open-order exposure.
    pub exposure: Exposure,
    /// For an amendment: the exposure it replaces.
    pub replaces: Option<Exposure>,
}

/// Checks position mode, reduce-only and margin for a new order (or an amendment).
///
/// Steps, in order: the position side must fit the mode; a closing order must fit what it
/// closes and then passes (closing is never margined); any other order needs the initial
/// margin it adds ([`margin_needed`]) available, and its worst case must fit the bracket of the
/// account's leverage.
///
/// # Errors
/// The first rule the order breaks.
pub fn check_order(
    accounts: &Accounts,
    prices: &ReferencePrices,
    spec: &InstrumentSpec,
    order: &OrderSide,
    intent: Intent,
) -> Result<(), RejectReason> {
    let account = accounts.get(order.account);
    let hedge = account.is_some_and(|a| a.hedge_mode);
    if hedge == (order.position_side == PositionSide::Both) {
        return Err(RejectReason::PositionSideMismatch);
    }
    if hedge && intent.reduce_only {
        return Err(RejectReason::ReduceOnlyRejected);
    }
    if is_closing(order, intent.reduce_only) {
        return if intent.qty > closable(accounts, order) { Err(RejectReason::ReduceOnlyRejected) } else { Ok(()) };
    }
    let Some(account) = account else { return Err(RejectReason::InsufficientMargin) };
    let Some((needed, after)) = margin_needed(account, prices, order, intent)? else { return Ok(()) };
    if account.available(prices).map_err(overflow)? < needed {
        return Err(RejectReason::InsufficientMargin);
    }
    let reference = prices.get(&order.symbol).copied().unwrap_or(intent.exposure.price);
    let worst = margin::signed_notional(after.worst_qty(hedge), reference, Rounding::Ceil).map_err(overflow)?;
    if margin::max_leverage(spec, worst) < after.leverage {
        return Err(RejectReason::MaxPositionExceeded);
    }
    Ok(())
}

/// The initial margin an order adds to its symbol, and the symbol's state as if the order
/// rested; `None` when it adds none (its opening part does not raise the worst case and carries
/// no open loss).
///
/// # Errors
/// [`RejectReason::ArithmeticOverflow`] on absurd sizes.
pub fn margin_needed(
    account: &Account,
    prices: &ReferencePrices,
    order: &OrderSide,
    intent: Intent,
) -> Result<Option<(Quote, SymbolAccount)>, RejectReason> {
    let before = account.symbols.get(&order.symbol).cloned().unwrap_or_default();
    let mut after = before.clone();
    let open = &mut after.open[leg_index(order.position_side)];
    if let Some(old) = intent.replaces {
        open.add(order.side, -old.qty.raw(), old.price).map_err(overflow)?;
    }
    open.add(order.side, intent.exposure.qty.raw(), intent.exposure.price).map_err(overflow)?;
    let reference = prices.get(&order.symbol).copied().unwrap_or(intent.exposure.price);
    let im_before = before.initial_margin(account.hedge_mode, reference).map_err(overflow)?;
    let im_after = after.initial_margin(account.hedge_mode, reference).map_err(overflow)?;
    if im_after <= im_before {
        return Ok(None);
    }
    Ok(Some((im_after.checked_sub(im_before).map_err(overflow)?, after)))
}

/// Records a resting order's open quantity change (`qty` negative when it leaves the book).
///
/// # Panics
/// On overflow of an exposure that was accepted before (an engine bug).
pub fn adjust_open(accounts: &mut Accounts, order: &OrderSide, qty: i64, price: Price) {
    let state = accounts.get_mut(order.account).symbol_mut(order.symbol);
    state.open[leg_index(order.position_side)].add(order.side, qty, price).expect("Invariant: accepted exposure fits");
}

/// What a settled fill needs besides the order side.
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    /// The account's order.
    pub order_id: OrderId,
    /// The trade.
    pub trade_id: TradeId,
    /// Quantity.
    pub qty: Qty,
    /// Price.
    pub price: Price,
    /// Fee rate (maker or taker).
    pub fee_rate: crate::units::Rate,
}

/// Settles one side of a trade and emits its [`Event::FillSettled`].
///
/// # Panics
/// On arithmetic overflow of an accepted position (an engine bug).
pub fn settle(accounts: &mut Accounts, order: &OrderSide, fill: &Fill, events: &mut Vec<Event>) {
    let trade_value = notional(fill.price, fill.qty, Rounding::Ceil).expect("Invariant: accepted notional fits");
    let fee = Quote(mul_div(trade_value.raw(), fill.fee_rate.raw(), SCALE, Rounding::Ceil).expect("fee fits"));
    let account = accounts.get_mut(order.account);
    let hedge = account.hedge_mode;
    let state = account.symbol_mut(order.symbol);
    let delta = signed(order.side, fill.qty);
    let leg = leg_index(order.position_side);
    let held = state.holds_position();
    let position = state.positions[leg];
    let new_qty = position.qty + delta;
    let crosses_zero = (leg == 1 && new_qty < 0) || (leg == 2 && new_qty > 0);
    // A hedge closing fill larger than its leg closes the leg and opens the excess on the other.
    let (effect, spill) = if hedge && crosses_zero {
        let closing = apply_fill(position, -position.qty, fill.price).expect("Invariant: closing fits");
        let other = 3 - leg;
        let before_other = state.positions[other];
        let opened = apply_fill(before_other, new_qty, fill.price).expect("Invariant: opening fits");
        state.positions[other] = opened.position;
        (closing, Some((other, new_qty, before_other, opened.position)))
    } else {
        (apply_fill(position, delta, fill.price).expect("Invariant: accepted position fits"), None)
    };
    let delta = if spill.is_some() { -position.qty } else { delta };
    state.positions[leg] = effect.position;
    let mut isolated_moves = [None, None];
    if state.isolated {
        let moved = isolated::on_fill(state, leg, (position, effect.position), effect.realised_pnl, fill.price);
        isolated_moves[0] = Some((leg, moved.expect("Invariant: isolated margin fits")));
        if let Some((other, _, before_other, opened)) = spill {
            let moved = isolated::on_fill(state, other, (before_other, opened), Quote::ZERO, fill.price);
            isolated_moves[1] = Some((other, moved.expect("Invariant: isolated margin fits")));
        }
    }
    let isolated_after = state.isolated_margin;
    let holder_changed = held != state.holds_position();
    account.wallet = account.wallet.checked_add(effect.realised_pnl).and_then(|w| w.checked_sub(fee)).expect("wallet fits");
    let wallet = account.wallet;
    let fees = accounts.get_mut(FEE_ACCOUNT);
    fees.wallet = fees.wallet.checked_add(fee).expect("fee account fits");
    if holder_changed {
        // Only opening the first leg or closing the last changes who holds the symbol.
        accounts.note_position(order.account, order.symbol);
    }
    events.push(Event::FillSettled {
        account: order.account,
        symbol: order.symbol,
        order_id: fill.order_id,
        trade_id: fill.trade_id,
        position_side: order.position_side,
        qty: delta,
        price: fill.price,
        fee,
        realised_pnl: effect.realised_pnl,
        wallet,
        position_qty: effect.position.qty,
        position_cost: effect.position.cost,
    });
    if let Some((other, qty, _, opened)) = spill {
        let position_side = PositionSide::ALL[other];
        events.push(Event::FillSettled {
            account: order.account,
            symbol: order.symbol,
            order_id: fill.order_id,
            trade_id: fill.trade_id,
            position_side,
            qty,
            price: fill.price,
            fee: Quote::ZERO,
            realised_pnl: Quote::ZERO,
            wallet,
            position_qty: opened.qty,
            position_cost: opened.cost,
        });
    }
    for (leg, amount) in isolated_moves.into_iter().flatten().filter(|(_, amount)| amount.raw() != 0) {
        events.push(Event::IsolatedMarginChanged {
            account: order.account,
            symbol: order.symbol,
            position_side: PositionSide::ALL[leg],
            amount,
            isolated_margin: isolated_after[leg],
        });
    }
}

/// Moves `amount` (> 0) from one wallet to another with a [`Event::BalanceChanged`] each.
///
/// # Panics
/// On wallet overflow (an engine bug).
pub fn move_funds(accounts: &mut Accounts, (from, to): (AccountId, AccountId), amount: Quote, kind: BalanceKind, events: &mut Vec<Event>) {
    for (account, delta) in [(from, -amount.raw()), (to, amount.raw())] {
        let entry = accounts.get_mut(account);
        entry.wallet = entry.wallet.checked_add(Quote(delta)).expect("Invariant: wallets fit");
        events.push(Event::BalanceChanged { account, amount: Quote(delta), wallet: entry.wallet, kind });
    }
}

/// Moves a signed `qty` of a position leg from `account` to the insurance fund at `price`:
/// the account closes it there (realising PnL), the fund opens it there. No fee.
///
/// # Panics
/// On overflow of accepted positions (an engine bug).
pub fn take_over(accounts: &mut Accounts, order: &OrderSide, qty: i64, price: Price, events: &mut Vec<Event>) {
    events.push(Event::PositionTakenOver { account: order.account, symbol: order.symbol, position_side: order.position_side, qty, price });
    let closing = OrderSide { side: if qty > 0 { Side::Sell } else { Side::Buy }, ..*order };
    let fund = OrderSide { account: INSURANCE_FUND, position_side: PositionSide::Both, side: closing.side.opposite(), ..*order };
    let fill = Fill { order_id: 0, trade_id: 0, qty: Qty(qty.abs()), price, fee_rate: crate::units::Rate(0) };
    settle(accounts, &closing, &fill, events);
    settle(accounts, &fund, &fill, events);
}
