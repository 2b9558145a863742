//! The liquidation map of one symbol: how much notional would be liquidated at each price bucket,
//! longs and shorts apart, from the engine's own liquidation prices ([`account_view`]), not an
//! estimate from leverage tiers as public trackers draw it.
//!
//! - Every open leg of every holder of the symbol (the insurance fund and the fee account
//!   excepted: the fund is deleveraged by its own rule, MECHANICS §9.6) with a positive
//!   liquidation price counts once, in the bucket `floor(price / step) · step`, on its own side
//!   (a LONG or one-way long leg in `long`, a SHORT or one-way short leg in `short`). Hedge legs
//!   of a cross symbol share one price (the unit is closed whole), so both legs sit in its bucket.
//! - A leg's notional is `|qty| · liquidation price`, rounded up (MECHANICS §10: a charge-like
//!   figure, the most that can be sent to the book at that price).
//! - Liquidation prices are the display prices of `account_view`: a cross leg's price holds the
//!   account's other symbols at their reference prices. Legs that cannot be liquidated at a
//!   positive price are counted in `unpriced` and placed nowhere.
//!
//! Read-only; deterministic (ascending buckets; holders ascending by id).

use std::collections::BTreeMap;

use crate::account_view::account_view;
use crate::accounts::{margin, FEE_ACCOUNT, INSURANCE_FUND};
use crate::engine::Engine;
use crate::ids::SymbolId;
use crate::units::{Overflow, Price, Quote, Rounding};

/// Notional liquidated when the mark reaches one price bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Lower bound of the bucket (a multiple of the step).
    pub price: Price,
    /// Notional of long legs liquidated in the bucket (the mark falling into it).
    pub long_notional: Quote,
    /// Notional of short legs liquidated in the bucket (the mark rising into it).
    pub short_notional: Quote,
    /// Long legs in the bucket.
    pub long_legs: u32,
    /// Short legs in the bucket.
    pub short_legs: u32,
}

/// The liquidation map of one symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationMap {
    /// Instrument.
    pub symbol: SymbolId,
    /// Current mark price, if published.
    pub mark: Option<Price>,
    /// Bucket width.
    pub step: Price,
    /// Non-empty buckets, ascending by price.
    pub buckets: Vec<Bucket>,
    /// Open legs without a positive liquidation price (not on the map).
    pub unpriced: u32,
}

/// The map of `symbol` in buckets of `step`; `None` for an unknown symbol or a zero step.
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn liquidation_map(engine: &Engine, symbol: SymbolId, step: Price) -> Result<Option<LiquidationMap>, Overflow> {
    let Some(market) = engine.market(symbol) else { return Ok(None) };
    if step.raw() <= 0 {
        return Ok(None);
    }
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    let mut unpriced = 0_u32;
    let holders = engine.accounts().holders(symbol).into_iter().filter(|&a| a != INSURANCE_FUND && a != FEE_ACCOUNT);
    for account in holders {
        let Some(view) = account_view(engine, account) else { continue };
        for leg in view.legs.iter().filter(|l| l.symbol == symbol) {
            let price = leg.liquidation_price;
            if price.raw() <= 0 {
                unpriced += 1;
                continue;
            }
            let lower = price.raw() - price.raw() % step.raw();
            let bucket = buckets.entry(lower).or_insert_with(|| Bucket { price: Price(lower), ..Bucket::default() });
            let notional = margin::signed_notional(leg.qty.abs(), price, Rounding::Ceil)?;
            if leg.qty > 0 {
                bucket.long_notional = bucket.long_notional.checked_add(notional)?;
                bucket.long_legs += 1;
            } else {
                bucket.short_notional = bucket.short_notional.checked_add(notional)?;
                bucket.short_legs += 1;
            }
        }
    }
    Ok(Some(LiquidationMap { symbol, mark: market.mark_price, step, buckets: buckets.into_values().collect(), unpriced }))
}
