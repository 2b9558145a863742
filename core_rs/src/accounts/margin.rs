//! Pure margin arithmetic (MECHANICS §4.1, §10): notional, unrealised PnL, initial and
//! maintenance margin with Binance-style leverage brackets.
//!
//! Rounding (MECHANICS §10): requirements (IM, MM) round up; PnL credited rounds toward −∞.
//! Every function is total over valid inputs and reports overflow instead of wrapping.

use crate::instrument::{InstrumentSpec, LeverageBracket};
use crate::units::{mul_div, Overflow, Price, Quote, Rounding, SCALE};

/// The signed quote value of a signed base quantity at `price`, rounded by `rounding`.
///
/// # Errors
/// [`Overflow`] when the value does not fit.
pub fn signed_notional(qty: i64, price: Price, rounding: Rounding) -> Result<Quote, Overflow> {
    mul_div(qty, price.raw(), SCALE, rounding).map(Quote)
}

/// Unrealised PnL of a position (`qty` signed, `cost` its signed entry value) at `price`,
/// rounded toward −∞.
///
/// # Errors
/// [`Overflow`] when the value does not fit.
pub fn unrealised_pnl(qty: i64, cost: Quote, price: Price) -> Result<Quote, Overflow> {
    signed_notional(qty, price, Rounding::Floor)?.checked_sub(cost)
}

/// The bracket a position of absolute notional `notional` falls in
/// ([`crate::instrument::bracket_index`]: caps inclusive, the last bracket beyond every cap).
#[must_use]
pub fn bracket_for(spec: &InstrumentSpec, notional: Quote) -> &LeverageBracket {
    &spec.brackets[crate::instrument::bracket_index(&spec.brackets, notional)]
}

/// Maintenance margin `notional × MMR − cum` of an absolute notional, rounded up, never negative.
///
/// # Errors
/// [`Overflow`] when the value does not fit.
pub fn maintenance_margin(spec: &InstrumentSpec, notional: Quote) -> Result<Quote, Overflow> {
    let bracket = bracket_for(spec, notional);
    let gross = mul_div(notional.raw(), bracket.maint_margin_rate.raw(), SCALE, Rounding::Ceil)?;
    Ok(Quote((gross - bracket.cum.raw()).max(0)))
}

/// Initial margin `notional / leverage`, rounded up.
///
/// # Errors
/// [`Overflow`] when `leverage` is zero.
pub fn initial_margin(notional: Quote, leverage: u32) -> Result<Quote, Overflow> {
    mul_div(notional.raw(), 1, i64::from(leverage), Rounding::Ceil).map(Quote)
}

/// The highest leverage allowed for a position of absolute notional `notional`.
#[must_use]
pub fn max_leverage(spec: &InstrumentSpec, notional: Quote) -> u32 {
    bracket_for(spec, notional).max_leverage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{dec, instrument, px};

    #[test]
    fn test_maintenance_margin_uses_the_bracket_of_the_notional() {
        // Binance BTCUSDT brackets (testkit): 0-50k 0.4 %/0, 50k-250k 0.5 %/50, 250k-3M 1 %/1,300.
        let spec = instrument(1, "BTCUSDT");
        assert_eq!(maintenance_margin(&spec, Quote(dec("40000"))), Ok(Quote(dec("160"))));
        assert_eq!(maintenance_margin(&spec, Quote(dec("50000"))), Ok(Quote(dec("200"))));
        // Continuous at the boundary thanks to cum: 50,000.00000001 × 0.5 % − 50 ≈ 200.
        assert_eq!(maintenance_margin(&spec, Quote(dec("50000.00000001"))), Ok(Quote(dec("200.00000001"))));
        assert_eq!(maintenance_margin(&spec, Quote(dec("1000000"))), Ok(Quote(dec("8700"))));
        assert_eq!(max_leverage(&spec, Quote(dec("100000"))), 100);
    }

    #[test]
    fn test_pnl_rounds_toward_minus_infinity_and_margin_up() {
        assert_eq!(unrealised_pnl(dec("0.003"), Quote(dec("150")), px("50000.3")), Ok(Quote(dec("0.0009"))));
        assert_eq!(unrealised_pnl(-1, Quote(0), px("1.5")), Ok(Quote(-2)), "−1.5e-8 floors to −2e-8");
        assert_eq!(initial_margin(Quote(dec("100")), 3), Ok(Quote(dec("33.33333334"))));
    }
}
