//! An independent reference of margin health, written from MECHANICS §4.1 and §10 (not from the
//! engine's code): slow, `i128` throughout, every rounding spelled out here.
//!
//! - notional of a leg = |qty| × price, rounded up (§10: margins are charged rounded up);
//! - the bracket is the first whose cap is at or above that notional, else the last (§4.1);
//! - maintenance margin = notional × MMR − cum, rounded up, never below zero;
//! - unrealised PnL of a leg = qty × price − cost, rounded toward −∞ (§10: PnL credited down);
//! - a cross part's margin balance = wallet − Σ isolated margins + Σ uPnL of its cross legs, its
//!   maintenance Σ of their maintenance margins; an isolated leg's balance = its isolated margin
//!   plus its uPnL, its maintenance its own (MECHANICS §4.2; isolated margin is part of the wallet,
//!   docs/ARCHITECTURE.md);
//! - a unit is liquidatable when its maintenance is positive and its balance below it (§6.2).
//!
//! It reads only the engine's plain state (wallets, legs, isolated margins, instrument brackets,
//! reference prices).

use derivatives_core::accounts::Account;
use derivatives_core::engine::Engine;
use derivatives_core::order::PositionSide;

const SCALE: i128 = 100_000_000;

/// A margin unit: the cross part, or one isolated leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// The cross wallet and every cross leg.
    Cross,
    /// One open leg of an isolated symbol.
    Isolated(u32, PositionSide),
}

/// Margin balance and maintenance margin of a unit, raw at 1e-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// Balance backing the unit.
    pub balance: i128,
    /// Maintenance margin it needs.
    pub maintenance: i128,
}

impl Health {
    /// Under water: the engine must liquidate it.
    pub const fn liquidatable(self) -> bool {
        self.maintenance > 0 && self.balance < self.maintenance
    }
}

fn div_floor(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    -div_floor(-a, b)
}

fn maintenance(engine: &Engine, symbol: u32, qty: i64, price: i64) -> i128 {
    let spec = &engine.market(symbol).expect("listed").spec;
    let notional = div_ceil(i128::from(qty).abs() * i128::from(price), SCALE);
    let bracket = spec.brackets.iter().find(|b| notional <= i128::from(b.notional_cap.raw())).or(spec.brackets.last()).expect("brackets");
    let gross = div_ceil(notional * i128::from(bracket.maint_margin_rate.raw()), SCALE);
    (gross - i128::from(bracket.cum.raw())).max(0)
}

fn unrealised(qty: i64, cost: i64, price: i64) -> i128 {
    div_floor(i128::from(qty) * i128::from(price), SCALE) - i128::from(cost)
}

/// Every unit of `account`: the cross part, then each open isolated leg.
pub fn units(account: &Account) -> Vec<Unit> {
    let mut out = vec![Unit::Cross];
    for (&symbol, state) in account.symbols.iter().filter(|(_, s)| s.isolated) {
        for (leg, side) in state.positions.iter().zip(PositionSide::ALL) {
            if leg.qty != 0 {
                out.push(Unit::Isolated(symbol, *side));
            }
        }
    }
    out
}

/// The health of one unit at the engine's reference prices (legs of a symbol without a price
/// count nothing).
pub fn health(engine: &Engine, account: &Account, unit: Unit) -> Health {
    let prices = engine.reference_prices();
    let mut balance = 0_i128;
    let mut needed = 0_i128;
    match unit {
        Unit::Cross => {
            balance += i128::from(account.wallet.raw());
            for (&symbol, state) in &account.symbols {
                balance -= state.isolated_margin.iter().map(|m| i128::from(m.raw())).sum::<i128>();
                let Some(price) = prices.get(&symbol).filter(|_| !state.isolated) else { continue };
                for leg in state.positions.iter().filter(|l| l.qty != 0) {
                    balance += unrealised(leg.qty, leg.cost.raw(), price.raw());
                    needed += maintenance(engine, symbol, leg.qty, price.raw());
                }
            }
        }
        Unit::Isolated(symbol, side) => {
            let state = &account.symbols[&symbol];
            let index = PositionSide::ALL.iter().position(|s| *s == side).expect("a side");
            let leg = state.positions[index];
            balance += i128::from(state.isolated_margin[index].raw());
            if let Some(price) = prices.get(&symbol) {
                balance += unrealised(leg.qty, leg.cost.raw(), price.raw());
                needed += maintenance(engine, symbol, leg.qty, price.raw());
            }
        }
    }
    Health { balance, maintenance: needed }
}
