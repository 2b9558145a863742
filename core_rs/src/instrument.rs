//! Instrument specifications: the filters every order is checked against, fee rates, and the
//! leverage brackets the margin engine uses.
//!
//! Invariants (checked by [`InstrumentSpec::validate`] before a spec is accepted):
//! - tick size, step size, minimum quantity > 0; the minimum and maximum quantities are
//!   multiples of the step, and min ≤ max;
//! - the price bands are in (0, 1): a limit price must lie within `reference × (1 ± band)`;
//! - brackets are non-empty with strictly increasing notional caps, and every `cum` follows the
//!   recurrence of MECHANICS §4.1: `cum_1 = 0`, `cum_n = cap_{n−1} × (MMR_n − MMR_{n−1}) +
//!   cum_{n−1}` (the floor of bracket n is the cap of bracket n − 1), so maintenance margin is
//!   continuous at every boundary. A spec whose `cum` breaks it is refused, not corrected.
//!
//! Bracket boundary rule (one for every lookup): bracket n holds the notionals in
//! `(cap_{n−1}, cap_n]` (the first from 0, the last also beyond its cap); [`bracket_index`].

use crate::ids::{SymbolId, SymbolName};
use crate::units::{Price, Qty, Quote, Rate, SCALE};

/// One notional tier (Binance "leverage bracket"): up to `notional_cap`, at most `max_leverage`,
/// with maintenance margin rate `maint_margin_rate` and the cumulative amount `cum`
/// (MECHANICS §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeverageBracket {
    /// Upper notional bound of the tier (inclusive; the next tier starts above it).
    pub notional_cap: Quote,
    /// Highest leverage allowed in the tier (whole number).
    pub max_leverage: u32,
    /// Maintenance margin rate.
    pub maint_margin_rate: Rate,
    /// Maintenance amount: the `cum` of Binance's formula.
    pub cum: Quote,
}

/// Everything the engine needs to know about one perpetual contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Numeric id used by every command.
    pub symbol: SymbolId,
    /// Display name, e.g. `BTCUSDT`.
    pub name: SymbolName,
    /// Price increment.
    pub tick_size: Price,
    /// Quantity increment.
    pub step_size: Qty,
    /// Smallest order quantity.
    pub min_qty: Qty,
    /// Largest order quantity.
    pub max_qty: Qty,
    /// Smallest order notional (price × quantity); market orders use the reference price.
    pub min_notional: Quote,
    /// Limit orders must be within `reference × (1 ± limit_price_band)`.
    pub limit_price_band: Rate,
    /// Market orders fill only within `reference × (1 ± market_price_band)`; the rest expires.
    pub market_price_band: Rate,
    /// Maker fee rate (negative is a rebate).
    pub maker_fee: Rate,
    /// Taker fee rate.
    pub taker_fee: Rate,
    /// Liquidation clearance fee rate.
    pub liquidation_fee: Rate,
    /// Leverage brackets, ascending by cap.
    pub brackets: Vec<LeverageBracket>,
    /// False when trading is halted: new orders are rejected, cancels still work.
    pub trading: bool,
}

impl InstrumentSpec {
    /// Checks the invariants in the module docs.
    ///
    /// # Errors
    /// A short static description of the first broken rule.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.tick_size.raw() <= 0 || self.step_size.raw() <= 0 || self.min_qty.raw() <= 0 {
            return Err("tick size, step size and minimum quantity must be positive");
        }
        if !self.min_qty.is_multiple_of(self.step_size) || !self.max_qty.is_multiple_of(self.step_size) {
            return Err("minimum and maximum quantity must be multiples of the step size");
        }
        if self.max_qty < self.min_qty {
            return Err("maximum quantity below minimum quantity");
        }
        if self.min_notional.raw() < 0 {
            return Err("minimum notional must not be negative");
        }
        let band_ok = |band: Rate| band.raw() > 0 && band.raw() < SCALE;
        if !band_ok(self.limit_price_band) || !band_ok(self.market_price_band) {
            return Err("price bands must be strictly between 0 and 1");
        }
        if self.brackets.is_empty() {
            return Err("at least one leverage bracket is required");
        }
        if self.brackets.windows(2).any(|w| w[0].notional_cap >= w[1].notional_cap) {
            return Err("bracket caps must be strictly increasing");
        }
        if self.brackets.iter().any(|b| b.max_leverage == 0 || b.maint_margin_rate.raw() <= 0) {
            return Err("brackets need a positive leverage and maintenance rate");
        }
        if self.brackets.iter().enumerate().any(|(i, b)| Some(b.cum) != self.expected_cum(i)) {
            return Err("bracket cum must follow cum_n = cap_(n-1) × (MMR_n − MMR_(n-1)) + cum_(n-1), cum_1 = 0");
        }
        Ok(())
    }

    /// The `cum` bracket `i` must have by the recurrence (exact: caps and rates are at 1e-8 and
    /// the product is required to land on the 1e-8 grid), `None` when it does not fit.
    fn expected_cum(&self, i: usize) -> Option<Quote> {
        let Some(previous) = i.checked_sub(1).map(|j| self.brackets[j]) else { return Some(Quote::ZERO) };
        let step = i128::from(self.brackets[i].maint_margin_rate.raw()) - i128::from(previous.maint_margin_rate.raw());
        let product = i128::from(previous.notional_cap.raw()) * step;
        if product % i128::from(SCALE) != 0 {
            return None;
        }
        i64::try_from(product / i128::from(SCALE) + i128::from(previous.cum.raw())).ok().map(Quote)
    }
}

/// Index of the bracket a position of absolute notional `notional` falls in: the first whose
/// cap is not below it, the last beyond every cap (the module's boundary rule).
#[must_use]
pub fn bracket_index(brackets: &[LeverageBracket], notional: Quote) -> usize {
    brackets.iter().position(|b| notional <= b.notional_cap).unwrap_or(brackets.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{dec, instrument};

    #[test]
    fn test_cum_must_follow_the_recurrence() {
        // BTCUSDT (testkit): cum_2 = 50,000 × (0.5 % − 0.4 %) + 0 = 50; cum_3 = 250,000 × 0.5 % + 50
        // = 1,300; cum_4 = 3,000,000 × 1.5 % + 1,300 = 46,300.
        let mut spec = instrument(1, "BTCUSDT");
        assert_eq!(spec.validate(), Ok(()));
        spec.brackets[2].cum = Quote(dec("1299"));
        assert!(spec.validate().is_err(), "a cum off the recurrence makes MM jump at the boundary");
        spec.brackets[2].cum = Quote(dec("1300"));
        spec.brackets[0].cum = Quote(dec("1"));
        assert!(spec.validate().is_err(), "the first bracket has no cum");
    }

    #[test]
    fn test_caps_are_inclusive_for_every_lookup() {
        let spec = instrument(1, "BTCUSDT");
        let at = |text: &str| bracket_index(&spec.brackets, Quote(dec(text)));
        assert_eq!((at("0"), at("50000"), at("50000.00000001"), at("250000")), (0, 0, 1, 1));
        assert_eq!(at("20000000"), 3, "beyond every cap: the last bracket");
    }
}
