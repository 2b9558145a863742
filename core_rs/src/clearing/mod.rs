//! Clearing: what happens to accounts around an order. Two jobs, one module each:
//! - [`margin_check`]: before an order rests or trades (position mode, reduce-only, the margin
//!   an order adds); it reads accounts and changes nothing.
//! - [`settlement`]: after the book moved: the open-order exposure an order leaves on the book,
//!   each side of a trade (position, realised PnL, fee, isolated margin), fund moves and
//!   takeovers by the insurance fund.
//!
//! Invariant: the open-order exposure the margin check reads is exactly the book's: every
//! quantity an accepted order rests with is added by [`settlement::adjust_open`], and removed by
//! it when the order fills, is cancelled or expires.

pub mod margin_check;
pub mod settlement;

use crate::ids::{AccountId, SymbolId};
use crate::order::{PositionSide, Side};

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
