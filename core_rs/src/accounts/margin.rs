//! Pure margin arithmetic (MECHANICS §4.1, §5.1, §10): notional, unrealised PnL, initial and
//! maintenance margin with Binance-style leverage brackets, the health of a margin unit, and the
//! liquidation and bankruptcy prices of a position. The one owner of these numbers: the
//! liquidation sequence, its index, the account view and the stress test all read them here.
//!
//! A **margin unit** is an account's cross part (its cross wallet and every cross symbol) or one
//! leg of an isolated symbol. Its health is `(MB, MM)`: cross `MB = cross wallet + Σ cross
//! uPnL`, isolated `MB = isolated margin + uPnL`, and `MM = Σ (|q|·p·MMR_bracket − cum)` over its
//! legs, at the reference prices. A unit is under water when `MM > 0 && MB < MM`.
//!
//! Liquidation price (Binance's general formula, cross margin): the price `p` of a symbol at
//! which `MB(p) = MM(p)` with every other symbol held at its reference price, the other
//! positions' maintenance folded into the wallet: `p = (K − W' − cum) / (Q − A·MMR)` where `K` =
//! Σ cost, `Q` = Σ signed qty, `A` = Σ |qty| of the symbol's legs (hedge legs share one price),
//! `W' = wallet + Σ other uPnL − Σ other MM`. [OURS] brackets are tried from the highest down;
//! the first whose notional range holds `A·p` is taken. Bankruptcy price: `MB(p) = 0`. An
//! isolated leg has its own prices, backed by its isolated margin alone.
//!
//! Rounding (MECHANICS §10): requirements (IM, MM) round up; PnL credited rounds toward −∞;
//! liquidation and bankruptcy prices round to the tick toward safety (long up, short down), for
//! either sign of the divisor, exactly like the liquidation orders. Every function is total over
//! valid inputs and reports overflow instead of wrapping. Nothing here changes state.

use crate::accounts::{leg_index, Account, Position, ReferencePrices, SymbolAccount};
use crate::ids::SymbolId;
use crate::instrument::{InstrumentSpec, LeverageBracket};
use crate::order::PositionSide;
use crate::units::{mul_div, Overflow, Price, Quote, Rounding, SCALE};

/// Where the margin math finds the instrument of a symbol (the engine's markets).
pub trait Specs {
    /// The spec of `symbol`, if listed.
    fn spec(&self, symbol: SymbolId) -> Option<&InstrumentSpec>;
}

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

/// A margin unit (MECHANICS §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// The account's cross part: its cross wallet and every cross symbol.
    Cross,
    /// One leg of an isolated symbol.
    Isolated(SymbolId, PositionSide),
}

impl Unit {
    /// The unit a leg belongs to.
    #[must_use]
    pub fn of(account: &Account, symbol: SymbolId, position_side: PositionSide) -> Self {
        if account.symbols.get(&symbol).is_some_and(|s| s.isolated) {
            Self::Isolated(symbol, position_side)
        } else {
            Self::Cross
        }
    }
}

/// The units of `account`: the cross part, then each open isolated leg (by symbol, then leg).
#[must_use]
pub fn units(account: &Account) -> Vec<Unit> {
    let mut units = vec![Unit::Cross];
    for (&symbol, state) in account.symbols.iter().filter(|(_, s)| s.isolated) {
        let open = state.positions.iter().zip(PositionSide::ALL).filter(|(p, _)| p.qty != 0);
        units.extend(open.map(|(_, &side)| Unit::Isolated(symbol, side)));
    }
    units
}

/// Margin balance and maintenance margin of an account's cross part at the reference prices.
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn health(account: &Account, specs: &impl Specs, prices: &ReferencePrices) -> Result<(Quote, Quote), Overflow> {
    let mut balance = account.cross_wallet();
    let mut maintenance = Quote::ZERO;
    for (symbol, state) in account.symbols.iter().filter(|(_, s)| !s.isolated) {
        let (Some(&price), Some(spec)) = (prices.get(symbol), specs.spec(*symbol)) else { continue };
        balance = balance.checked_add(state.unrealised_pnl(price)?)?;
        for position in state.positions.iter().filter(|p| p.qty != 0) {
            let notional = signed_notional(position.qty.abs(), price, Rounding::Ceil)?;
            maintenance = maintenance.checked_add(maintenance_margin(spec, notional)?)?;
        }
    }
    Ok((balance, maintenance))
}

/// Margin balance and maintenance margin of one unit at the reference prices.
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn unit_health(account: &Account, unit: Unit, specs: &impl Specs, prices: &ReferencePrices) -> Result<(Quote, Quote), Overflow> {
    let Unit::Isolated(symbol, position_side) = unit else { return health(account, specs, prices) };
    let Some(state) = account.symbols.get(&symbol) else { return Ok((Quote::ZERO, Quote::ZERO)) };
    let leg = leg_index(position_side);
    let (position, isolated) = (state.positions[leg], state.isolated_margin[leg]);
    let (Some(&price), Some(spec)) = (prices.get(&symbol), specs.spec(symbol)) else { return Ok((isolated, Quote::ZERO)) };
    let balance = isolated.checked_add(unrealised_pnl(position.qty, position.cost, price)?)?;
    let notional = signed_notional(position.qty.abs(), price, Rounding::Ceil)?;
    Ok((balance, maintenance_margin(spec, notional)?))
}

/// The liquidation trigger: `MM > 0 && MB < MM`.
#[must_use]
pub fn is_underwater(balance: Quote, maintenance: Quote) -> bool {
    maintenance.raw() > 0 && balance < maintenance
}

/// Bankruptcy price of one leg given its unit's margin balance `balance` (which includes this
/// leg's unrealised PnL at `price`): `p = (cost − MB_without_leg) / qty`, rounded to the tick
/// toward safety (long up, short down), never below one tick. The liquidation orders' price.
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn bankruptcy_price(qty: i64, cost: Quote, balance: Quote, price: Price, tick: Price) -> Result<Price, Overflow> {
    let without_leg = balance.checked_sub(unrealised_pnl(qty, cost, price)?)?;
    let numerator = cost.checked_sub(without_leg)?;
    let (exact, to_tick) = if qty > 0 { (Rounding::Ceil, Rounding::Ceil) } else { (Rounding::Floor, Rounding::Floor) };
    let raw = mul_div(numerator.raw(), SCALE, qty, exact)?;
    let ticks = mul_div(raw, 1, tick.raw(), to_tick)?;
    Ok(Price(ticks.max(1) * tick.raw()))
}

/// Displayed liquidation and bankruptcy price of an isolated leg, backed by its isolated margin
/// alone; zero when none.
#[must_use]
pub fn isolated_prices(position: Position, isolated_margin: Quote, spec: &InstrumentSpec) -> (Price, Price) {
    let backing = i128::from(isolated_margin.raw());
    leg_prices((backing, backing), (position.qty, position.qty.abs(), position.cost.raw()), spec)
}

/// Displayed liquidation and bankruptcy price of one cross symbol (its legs share them) at
/// `price`, given the cross part's health `(margin_balance, maintenance)` at the reference
/// prices; zero when none.
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn cross_prices(
    state: &SymbolAccount,
    spec: &InstrumentSpec,
    price: Price,
    (margin_balance, maintenance): (Quote, Quote),
) -> Result<(Price, Price), Overflow> {
    let qty: i64 = state.positions.iter().map(|p| p.qty).sum();
    let gross: i64 = state.positions.iter().map(|p| p.qty.abs()).sum();
    let cost: i64 = state.positions.iter().map(|p| p.cost.raw()).sum();
    let own_pnl = state.unrealised_pnl(price)?;
    let own_mm = state
        .positions
        .iter()
        .try_fold(Quote::ZERO, |acc, p| acc.checked_add(maintenance_margin(spec, signed_notional(p.qty.abs(), price, Rounding::Ceil)?)?))?;
    let others = i128::from(margin_balance.raw() - own_pnl.raw());
    let others_mm = i128::from(maintenance.raw() - own_mm.raw());
    Ok(leg_prices((others, others - others_mm), (qty, gross, cost), spec))
}

/// `(liquidation, bankruptcy)` of a position `(signed qty, gross qty, cost)` whose margin
/// balance without it is `bankrupt_backing` and, less the other positions' maintenance,
/// `liquidation_backing`; rounded to the tick toward the position, zero when none.
fn leg_prices(
    (bankrupt_backing, liquidation_backing): (i128, i128),
    (qty, gross, cost): (i64, i64, i64),
    spec: &InstrumentSpec,
) -> (Price, Price) {
    let long = qty > 0;
    let to_tick = |p: i128| -> Price {
        let tick = i128::from(spec.tick_size.raw());
        let ticks = if long { divide(p, tick, true) } else { p.div_euclid(tick) };
        Price(i64::try_from((ticks * tick).max(0)).unwrap_or(0))
    };
    let bankruptcy = if qty == 0 {
        Price::ZERO
    } else {
        to_tick(divide((i128::from(cost) - bankrupt_backing) * i128::from(SCALE), i128::from(qty), long))
    };
    let liquidation = exact_liquidation_price(liquidation_backing, (qty, gross, cost), spec).map_or(Price::ZERO, to_tick);
    (liquidation, bankruptcy)
}

/// The exact liquidation price (1e-8 units, rounded toward the position) of a one-way position
/// backed by `wallet` alone (no other position), or `None` when no bracket holds it. Zero when
/// it cannot be liquidated at a positive price.
#[must_use]
pub fn liquidation_price(wallet: Quote, position: Position, spec: &InstrumentSpec) -> Option<Price> {
    if position.qty == 0 {
        return None;
    }
    let raw = exact_liquidation_price(i128::from(wallet.raw()), (position.qty, position.qty.abs(), position.cost.raw()), spec)?;
    i64::try_from(raw).ok().map(Price)
}

/// `p = (K − W' − cum) / (Q − A·MMR)` with brackets tried from the highest down (module docs);
/// `Some(0)` when the crossing is not at a positive price, `None` when no bracket holds it.
fn exact_liquidation_price(backing: i128, (qty, gross, cost): (i64, i64, i64), spec: &InstrumentSpec) -> Option<i128> {
    let scale = i128::from(SCALE);
    let long = qty > 0;
    let last = spec.brackets.len().checked_sub(1)?;
    let mut positive = false;
    for (i, bracket) in spec.brackets.iter().enumerate().rev() {
        let low = if i == 0 { 0 } else { i128::from(spec.brackets[i - 1].notional_cap.raw()) };
        let high = i128::from(bracket.notional_cap.raw());
        let denominator = i128::from(qty) * scale - i128::from(gross) * i128::from(bracket.maint_margin_rate.raw());
        if denominator == 0 || gross == 0 {
            continue;
        }
        let numerator = (i128::from(cost) - backing - i128::from(bracket.cum.raw())) * scale * scale;
        let p = divide(numerator, denominator, long);
        if p <= 0 {
            continue;
        }
        positive = true;
        // The bracket the engine would use at `p` (notional rounded up, caps inclusive).
        let notional = divide(i128::from(gross) * p, scale, true);
        if (i == 0 || notional > low) && (notional <= high || i == last) {
            return Some(p);
        }
    }
    if positive {
        None
    } else {
        Some(0)
    }
}

/// `n / d` rounded toward +∞ (`up`) or −∞, exactly, for either sign of `d` (the same rounding
/// as [`crate::units::mul_div`] with `Ceil` or `Floor`, which the liquidation orders use).
fn divide(n: i128, d: i128, up: bool) -> i128 {
    let (q, r) = (n / d, n % d);
    if r == 0 {
        q
    } else if (r > 0) == (d > 0) {
        q + i128::from(up) // the exact quotient lies above the truncated one
    } else {
        q - i128::from(!up) // ... or below it
    }
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

    #[test]
    fn test_divide_rounds_like_mul_div_for_every_sign() {
        // −7 / −2 = 3.5: floor 3, ceil 4 (the old Euclidean division gave 4 for the floor, so a
        // short's bankruptcy price could show one tick above the liquidation order's).
        assert_eq!((divide(-7, -2, false), divide(-7, -2, true)), (3, 4));
        assert_eq!((divide(7, -2, false), divide(7, -2, true)), (-4, -3));
        for n in -9_i64..=9 {
            for d in [-4_i64, -3, -1, 1, 2, 3] {
                for (up, rounding) in [(false, Rounding::Floor), (true, Rounding::Ceil)] {
                    assert_eq!(divide(i128::from(n), i128::from(d), up), i128::from(mul_div(n, 1, d, rounding).unwrap()), "{n}/{d}");
                }
            }
        }
    }
}
