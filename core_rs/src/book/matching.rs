//! Matching an incoming (taker) order against the book.
//!
//! Semantics:
//! - Price-time priority: the best opposite level first, FIFO within it; every trade is at the
//!   maker's price.
//! - Self-trade prevention uses the taker's mode when the maker has the same account:
//!   `None` trades; `ExpireTaker` stops matching (the caller expires the rest); `ExpireMaker`
//!   expires the resting maker and goes on; `ExpireBoth` does both.
//! - [`fok_fillable`] answers whether a fill-or-kill order would fill completely under exactly
//!   these rules, without changing anything; [`expected_fill`] what a taker would fill and for
//!   how much (the price a market order is margined at).
//!
//! Invariants: filled quantity is equal on both sides of every trade; a taker never fills more
//! than its open quantity and a maker never more than its own.

use super::{OrderBook, RestingOrder, Touch};
use crate::event::{Event, ExpireReason};
use crate::ids::{AccountId, OrderId, SymbolId, TradeId};
use crate::order::{Side, StpMode};
use crate::units::{notional, Overflow, Price, Qty, Quote, Rounding};

/// The incoming order while it matches.
#[derive(Clone, Copy, Debug)]
pub struct Taker {
    /// Engine id.
    pub id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Side.
    pub side: Side,
    /// Worst acceptable price; `None` takes any price.
    pub limit: Option<Price>,
    /// Open quantity, reduced by every trade.
    pub leaves: Qty,
    /// Self-trade prevention mode.
    pub stp: StpMode,
}

/// Where matching writes what happened.
#[derive(Debug)]
pub struct MatchSink<'a> {
    /// Instrument, for the events.
    pub symbol: SymbolId,
    /// Trades and maker expiries, in order.
    pub events: &'a mut Vec<Event>,
    /// Every level touched, for the book deltas.
    pub touched: &'a mut Vec<Touch>,
    /// Every fill, in trade order, with the maker as it was before the fill.
    pub fills: &'a mut Vec<MakerFill>,
    /// Makers expired by self-trade prevention, as they were.
    pub expired_makers: &'a mut Vec<RestingOrder>,
    /// Last trade id used; incremented per trade.
    pub last_trade_id: &'a mut TradeId,
}

/// One trade from the maker's point of view.
#[derive(Clone, Copy, Debug)]
pub struct MakerFill {
    /// The maker before this fill.
    pub maker: RestingOrder,
    /// Quantity traded.
    pub qty: Qty,
    /// The trade's id.
    pub trade_id: TradeId,
}

/// What a match left behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchOutcome {
    /// Price of the last trade, if any.
    pub last_price: Option<Price>,
    /// True when self-trade prevention stopped the taker.
    pub taker_stopped_by_stp: bool,
}

fn crosses(taker_side: Side, limit: Option<Price>, maker_price: Price) -> bool {
    match (limit, taker_side) {
        (None, _) => true,
        (Some(limit), Side::Buy) => maker_price <= limit,
        (Some(limit), Side::Sell) => maker_price >= limit,
    }
}

/// True when an order of `side` at `limit` would trade against the current book (GTX check).
#[must_use]
pub fn would_take(book: &OrderBook, side: Side, limit: Price) -> bool {
    book.best_price(side.opposite()).is_some_and(|best| crosses(side, Some(limit), best))
}

/// True when `taker` would fill completely right now (fill-or-kill pre-check).
#[must_use]
pub fn fok_fillable(book: &OrderBook, taker: &Taker) -> bool {
    let mut needed = taker.leaves.raw();
    for maker in book.iter_side(taker.side.opposite()) {
        if !crosses(taker.side, taker.limit, maker.price) {
            break;
        }
        if maker.account == taker.account && taker.stp != StpMode::None {
            if taker.stp == StpMode::ExpireMaker {
                continue;
            }
            return false;
        }
        needed -= needed.min(maker.leaves.raw());
        if needed == 0 {
            return true;
        }
    }
    false
}

/// What a taker of `side` for `qty` up to `limit` would fill against the book as it stands, as
/// (quantity, Σ price × quantity at 1e-8), without changing anything. Self-trade prevention is
/// not applied: own orders count as liquidity (the estimate only prices the order's margin).
///
/// # Errors
/// [`Overflow`] when the value does not fit.
pub fn expected_fill(book: &OrderBook, side: Side, limit: Option<Price>, qty: Qty) -> Result<(Qty, Quote), Overflow> {
    let mut filled = 0_i64;
    let mut value = Quote::ZERO;
    for (price, available) in book.depth(side.opposite()) {
        if filled == qty.raw() || !crosses(side, limit, price) {
            break;
        }
        let take = available.raw().min(qty.raw() - filled);
        filled += take;
        value = value.checked_add(notional(price, Qty(take), Rounding::Floor)?)?;
    }
    Ok((Qty(filled), value))
}

/// Matches `taker` against the book until it is filled, runs out of acceptable prices, or is
/// stopped by self-trade prevention.
pub fn match_taker(book: &mut OrderBook, taker: &mut Taker, sink: &mut MatchSink<'_>) -> MatchOutcome {
    let mut outcome = MatchOutcome::default();
    let maker_side = taker.side.opposite();
    while taker.leaves.raw() > 0 {
        let Some((&maker, level)) = book.best_entry(maker_side) else { break };
        if !crosses(taker.side, taker.limit, maker.price) {
            break;
        }
        if maker.account == taker.account && taker.stp != StpMode::None {
            if matches!(taker.stp, StpMode::ExpireMaker | StpMode::ExpireBoth) {
                book.remove(maker.id);
                sink.touched.push((maker_side, maker.price, level));
                sink.expired_makers.push(maker);
                sink.events.push(Event::OrderExpired {
                    account: maker.account,
                    symbol: sink.symbol,
                    order_id: maker.id,
                    leaves: maker.leaves,
                    reason: ExpireReason::SelfTrade,
                });
            }
            if matches!(taker.stp, StpMode::ExpireTaker | StpMode::ExpireBoth) {
                outcome.taker_stopped_by_stp = true;
                break;
            }
            continue;
        }
        let qty = Qty(taker.leaves.raw().min(maker.leaves.raw()));
        taker.leaves.0 -= qty.0;
        let maker_leaves = Qty(maker.leaves.0 - qty.0);
        book.reduce(maker.id, maker_leaves, maker.qty);
        sink.touched.push((maker_side, maker.price, level));
        *sink.last_trade_id += 1;
        sink.fills.push(MakerFill { maker, qty, trade_id: *sink.last_trade_id });
        sink.events.push(Event::Trade {
            symbol: sink.symbol,
            trade_id: *sink.last_trade_id,
            price: maker.price,
            qty,
            taker_side: taker.side,
            maker_order_id: maker.id,
            maker_account: maker.account,
            maker_leaves,
            taker_order_id: taker.id,
            taker_account: taker.account,
            taker_leaves: taker.leaves,
        });
        outcome.last_price = Some(maker.price);
    }
    outcome
}
