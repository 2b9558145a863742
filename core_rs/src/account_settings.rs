//! The account settings: leverage per symbol, position mode (one-way or hedge), fee tier. Each
//! validates fully before it changes anything and reports the change as one event.
//!
//! Rules: leverage is `1 ..=` the maximum of the bracket the account's worst-case position falls
//! in, and lowering it must leave `available ≥ 0` (and, on an isolated symbol, every leg covering
//! its new initial margin); the position mode changes only with no position and no open order
//! anywhere (Binance -4068); a fee tier's rates are within ±1 % and a maker rebate never exceeds
//! the taker fee (the fee account never pays out more than it takes on a pair of fills).
//! Margin type and isolated margin are `isolated`'s.
//!
//! Invariant: a setting moves no money: no wallet, position or order changes here.

use crate::accounts::{margin, Accounts, ReferencePrices};
use crate::event::Event;
use crate::ids::{AccountId, SymbolId};
use crate::instrument::InstrumentSpec;
use crate::isolated;
use crate::reject::RejectReason;
use crate::units::{Quote, Rate, Rounding, SCALE};

/// Sets an account's leverage on a symbol.
///
/// # Errors
/// Leverage out of range for the current exposure, or a lower leverage the margin cannot carry.
pub fn set_leverage(
    accounts: &mut Accounts,
    prices: &ReferencePrices,
    spec: &InstrumentSpec,
    (account, symbol): (AccountId, SymbolId),
    leverage: u32,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let current = accounts.get(account).cloned().unwrap_or_default();
    let state = current.symbols.get(&symbol).cloned().unwrap_or_default();
    let reference = prices.get(&symbol).copied();
    let worst_qty = state.worst_qty(current.hedge_mode);
    let worst = reference.map_or(Ok(Quote::ZERO), |p| margin::signed_notional(worst_qty, p, Rounding::Ceil));
    let worst = worst?;
    if leverage == 0 || leverage > margin::max_leverage(spec, worst) {
        return Err(RejectReason::InvalidLeverage);
    }
    let mut changed = current;
    changed.symbol_mut(symbol).leverage = leverage;
    if leverage < state.leverage {
        let lowered = &changed.symbols[&symbol];
        let legs_ok = !lowered.isolated || reference.map_or(Ok(true), |p| isolated::legs_cover_initial_margin(lowered, p))?;
        if !legs_ok || changed.available(prices)?.raw() < 0 {
            return Err(RejectReason::InsufficientMargin);
        }
    }
    accounts.get_mut(account).symbol_mut(symbol).leverage = leverage;
    events.push(Event::LeverageSet { account, symbol, leverage });
    Ok(())
}

/// Sets (or clears) an account's fee tier.
///
/// # Errors
/// Rates outside −1 %..1 %, or a maker rebate larger than the taker fee (the fee account would
/// pay out more than it takes on a self-crossing pair of fills).
pub fn set_fee_tier(
    accounts: &mut Accounts,
    account: AccountId,
    rates: Option<(Rate, Rate)>,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if let Some((maker, taker)) = rates {
        let bound = SCALE / 100;
        let in_range = |r: Rate| (-bound..=bound).contains(&r.raw());
        if !in_range(maker) || !in_range(taker) || maker.raw() + taker.raw() < 0 {
            return Err(RejectReason::InvalidFeeRates);
        }
    }
    accounts.get_mut(account).fee_tier = rates;
    events.push(Event::FeeTierSet { account, rates });
    Ok(())
}

/// Switches between one-way and hedge mode.
///
/// # Errors
/// Any open position or order.
pub fn set_position_mode(accounts: &mut Accounts, account: AccountId, hedge: bool, events: &mut Vec<Event>) -> Result<(), RejectReason> {
    if accounts.get(account).is_some_and(|a| a.symbols.values().any(|s| !s.is_idle())) {
        return Err(RejectReason::PositionModeLocked);
    }
    accounts.get_mut(account).hedge_mode = hedge;
    events.push(Event::PositionModeSet { account, hedge });
    Ok(())
}
