//! The pre-trade check of a new order (or an amendment): position mode, reduce-only, and the
//! initial margin it adds. Reads the accounts, changes nothing.
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
//! - The check copies nothing: the order's change to the open orders is evaluated alongside the
//!   account's state as it is ([`margin_needed`]), giving the number the copy-and-apply form gave.

use crate::accounts::margin;
use crate::accounts::{leg_index, Account, Accounts, OpenChange, OpenOrders, ReferencePrices, SymbolAccount};
use crate::clearing::OrderSide;
use crate::instrument::InstrumentSpec;
use crate::order::{PositionSide, Side};
use crate::reject::RejectReason;
use crate::units::{mul_div, Price, Qty, Quote, Rounding, SCALE};

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
    let Some(needed) = margin_needed(account, prices, order, intent)? else { return Ok(()) };
    let known = needed.reference_is_published.then_some((order.symbol, needed.im_before));
    if account.available_knowing(prices, known)? < needed.added {
        return Err(RejectReason::InsufficientMargin);
    }
    let worst = margin::signed_notional(needed.worst_qty_after, needed.reference, Rounding::Ceil)?;
    if margin::max_leverage(spec, worst) < needed.leverage {
        return Err(RejectReason::MaxPositionExceeded);
    }
    Ok(())
}

/// What an order that raises its symbol's initial margin needs (see [`margin_needed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarginNeeded {
    /// The initial margin it adds.
    pub added: Quote,
    /// The symbol's initial margin before it.
    pub im_before: Quote,
    /// The price both were taken at: the symbol's reference price, else the order's own.
    pub reference: Price,
    /// True when `reference` is the symbol's published reference price.
    pub reference_is_published: bool,
    /// The symbol's worst-case position quantity with the order resting.
    pub worst_qty_after: i64,
    /// The account's leverage in the symbol.
    pub leverage: u32,
}

/// The initial margin an order adds to its symbol, computed on the account's state as it is
/// with the order's change to the open orders evaluated alongside (nothing is copied or
/// changed); `None` when it adds none (its opening part does not raise the worst case and
/// carries no open loss).
///
/// # Errors
/// [`RejectReason::ArithmeticOverflow`] on absurd sizes, including an exposure whose value
/// would not fit the open orders' totals.
pub fn margin_needed(
    account: &Account,
    prices: &ReferencePrices,
    order: &OrderSide,
    intent: Intent,
) -> Result<Option<MarginNeeded>, RejectReason> {
    let fresh;
    let state = match account.symbols.get(&order.symbol) {
        Some(state) => state,
        None => {
            fresh = SymbolAccount::default();
            &fresh
        }
    };
    let leg = leg_index(order.position_side);
    check_exposure_fits(&state.open[leg], order.side, intent)?;
    let change = OpenChange {
        leg,
        side: order.side,
        add: (intent.exposure.qty.raw(), intent.exposure.price),
        replaces: intent.replaces.map(|old| (old.qty.raw(), old.price)),
    };
    let published = prices.get(&order.symbol).copied();
    let reference = published.unwrap_or(intent.exposure.price);
    let Some((im_before, im_after, worst_qty_after)) = state.margin_before_after(account.hedge_mode, reference, &change)? else {
        return Ok(None);
    };
    if im_after <= im_before {
        return Ok(None);
    }
    Ok(Some(MarginNeeded {
        added: im_after.checked_sub(im_before)?,
        im_before,
        reference,
        reference_is_published: published.is_some(),
        worst_qty_after,
        leverage: state.leverage,
    }))
}

/// The open orders' value total must still fit once the order (less what it replaces) is in:
/// the same overflow [`crate::accounts::OpenOrders::add`] would meet when it rests.
fn check_exposure_fits(open: &OpenOrders, side: Side, intent: Intent) -> Result<(), RejectReason> {
    let value = |qty: i64, price: Price| mul_div(qty, price.raw(), SCALE, Rounding::Ceil).map(Quote).map_err(RejectReason::from);
    let mut total = if side == Side::Buy { open.buy_value } else { open.sell_value };
    if let Some(old) = intent.replaces {
        total = total.checked_add(value(-old.qty.raw(), old.price)?)?;
    }
    total.checked_add(value(intent.exposure.qty.raw(), intent.exposure.price)?)?;
    Ok(())
}
