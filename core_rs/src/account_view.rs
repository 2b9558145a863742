//! Read-only risk figures of one account, for callers (the API's account, balance and
//! positionRisk; the risk services): margin balance, maintenance and initial margin, available
//! and withdrawable balance, and per position leg the entry price, unrealised PnL, liquidation
//! price and bankruptcy price at the reference prices.
//!
//! Liquidation price (MECHANICS §5.1, Binance's general formula, cross margin): the price `p` of
//! this symbol at which `MB(p) = MM(p)` with every other symbol held at its reference price, the
//! other positions' maintenance folded into the wallet:
//! `p = (K − W' − cum) / (Q − A·MMR)` where `K` = Σ cost, `Q` = Σ signed qty, `A` = Σ |qty| of
//! the symbol's legs (hedge legs share one price), `W' = wallet + Σ other uPnL − Σ other MM`.
//! [OURS] brackets are tried from the highest down; the first whose notional range holds `A·p` is
//! taken. Rounded to the tick toward the position (long up, short down); 0 when the position
//! cannot be liquidated at a positive price. Bankruptcy price: `MB(p) = 0`, same rounding.
//! An isolated leg has its own prices, backed by its isolated margin alone (MECHANICS §5.1,
//! "hedge and isolated: only the side being computed").
//! Display only: liquidation itself is decided by `liquidation::unit_health` at each mark.

use crate::accounts::{margin, SymbolAccount};
use crate::engine::Engine;
use crate::ids::{AccountId, SymbolId};
use crate::instrument::InstrumentSpec;
use crate::liquidation::health;
use crate::order::PositionSide;
use crate::units::{Overflow, Price, Quote, Rounding, SCALE};

/// One position leg as callers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegView {
    /// Instrument.
    pub symbol: SymbolId,
    /// Leg.
    pub position_side: PositionSide,
    /// Signed quantity.
    pub qty: i64,
    /// Signed entry value.
    pub cost: Quote,
    /// Average entry price.
    pub entry_price: Price,
    /// Unrealised PnL at the reference price.
    pub unrealised_pnl: Quote,
    /// Maintenance margin of the leg.
    pub maintenance: Quote,
    /// Liquidation price of the symbol (shared by hedge legs); zero if none.
    pub liquidation_price: Price,
    /// Bankruptcy price of the symbol; zero if none.
    pub bankruptcy_price: Price,
    /// Isolated margin mode (else cross).
    pub isolated: bool,
    /// The leg's isolated margin (zero when cross).
    pub isolated_margin: Quote,
}

/// One account as callers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// Account.
    pub account: AccountId,
    /// Wallet balance (isolated margins included).
    pub wallet: Quote,
    /// The wallet without the isolated margins.
    pub cross_wallet: Quote,
    /// Hedge mode.
    pub hedge_mode: bool,
    /// Cross wallet + cross unrealised PnL.
    pub margin_balance: Quote,
    /// Maintenance margin of the cross positions.
    pub maintenance: Quote,
    /// Initial margin of positions and open orders.
    pub initial_margin: Quote,
    /// Margin left for new orders.
    pub available: Quote,
    /// What may be withdrawn.
    pub withdrawable: Quote,
    /// Leverage of every symbol the account has touched.
    pub leverage: Vec<(SymbolId, u32)>,
    /// The symbols in isolated margin mode.
    pub isolated_symbols: Vec<SymbolId>,
    /// Open position legs.
    pub legs: Vec<LegView>,
}

/// The view of `account`, or `None` when it does not exist.
#[must_use]
pub fn account_view(engine: &Engine, account: AccountId) -> Option<AccountView> {
    let state = engine.accounts().get(account)?;
    let prices = engine.reference_prices();
    let markets = engine.market_map();
    let (margin_balance, maintenance) = health(state, markets, prices).ok()?;
    let (_, initial_margin) = state.margin_totals(prices).ok()?;
    let mut legs = Vec::new();
    for (&symbol, symbol_state) in &state.symbols {
        let Some(market) = markets.get(&symbol) else { continue };
        let reference = prices.get(&symbol).copied();
        let cross_prices = reference
            .filter(|_| !symbol_state.isolated)
            .and_then(|price| symbol_prices(symbol_state, &market.spec, price, (margin_balance, maintenance)).ok())
            .unwrap_or((Price::ZERO, Price::ZERO));
        for (index, position) in symbol_state.positions.iter().enumerate().filter(|(_, p)| p.qty != 0) {
            let isolated_margin = symbol_state.isolated_margin[index];
            let (liquidation_price, bankruptcy_price) =
                if symbol_state.isolated { isolated_prices(*position, isolated_margin, &market.spec) } else { cross_prices };
            let price = reference.unwrap_or_else(|| position.entry_price());
            let notional = margin::signed_notional(position.qty.abs(), price, Rounding::Ceil).ok()?;
            legs.push(LegView {
                symbol,
                position_side: PositionSide::ALL[index],
                qty: position.qty,
                cost: position.cost,
                entry_price: position.entry_price(),
                unrealised_pnl: margin::unrealised_pnl(position.qty, position.cost, price).ok()?,
                maintenance: margin::maintenance_margin(&market.spec, notional).ok()?,
                liquidation_price,
                bankruptcy_price,
                isolated: symbol_state.isolated,
                isolated_margin,
            });
        }
    }
    Some(AccountView {
        account,
        wallet: state.wallet,
        cross_wallet: state.cross_wallet(),
        hedge_mode: state.hedge_mode,
        margin_balance,
        maintenance,
        initial_margin,
        available: state.available(prices).ok()?,
        withdrawable: state.withdrawable(prices).ok()?,
        leverage: state.symbols.iter().map(|(s, a)| (*s, a.leverage)).collect(),
        isolated_symbols: state.symbols.iter().filter(|(_, a)| a.isolated).map(|(s, _)| *s).collect(),
        legs,
    })
}

/// Liquidation and bankruptcy price of an isolated leg, backed by its isolated margin alone.
fn isolated_prices(position: crate::accounts::Position, isolated_margin: Quote, spec: &InstrumentSpec) -> (Price, Price) {
    let backing = i128::from(isolated_margin.raw());
    leg_prices((backing, backing), (position.qty, position.qty.abs(), position.cost.raw()), spec)
}

/// Liquidation and bankruptcy price of one cross symbol.
fn symbol_prices(
    state: &SymbolAccount,
    spec: &InstrumentSpec,
    price: Price,
    (margin_balance, maintenance): (Quote, Quote),
) -> Result<(Price, Price), Overflow> {
    let qty: i64 = state.positions.iter().map(|p| p.qty).sum();
    let gross: i64 = state.positions.iter().map(|p| p.qty.abs()).sum();
    let cost: i64 = state.positions.iter().map(|p| p.cost.raw()).sum();
    let own_pnl = state.unrealised_pnl(price)?;
    let own_mm = state.positions.iter().try_fold(Quote::ZERO, |acc, p| {
        acc.checked_add(margin::maintenance_margin(spec, margin::signed_notional(p.qty.abs(), price, Rounding::Ceil)?)?)
    })?;
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
pub fn liquidation_price(wallet: Quote, position: crate::accounts::Position, spec: &InstrumentSpec) -> Option<Price> {
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
    use super::divide;
    use crate::units::{mul_div, Rounding};

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
