//! Isolated margin ([OURS], MECHANICS §4.2 and §6.2): the margin type of a symbol, the trader's
//! own adjustments of a leg's isolated margin, and the moves a fill makes.
//!
//! The isolated margin of a leg is part of the account's wallet (see `accounts`), so nothing here
//! changes a wallet: it only moves an amount between the cross part and a leg.
//!
//! Rules:
//! - The margin type changes only with no position and no open order in the symbol (Binance
//!   -4048 / -4047); setting the current type again is refused (-4046). The fee account and the
//!   insurance fund stay cross.
//! - Adding margin needs that much `available` in the cross part (-4050). Removing it must leave
//!   `isolated margin + min(0, uPnL) ≥` the leg's initial margin at the reference price (-4051), so
//!   a removal can never put the leg under its maintenance margin. Both need an open leg (-4054).
//! - A fill on an isolated leg: closing part of it releases the closed share of the isolated
//!   margin (rounded down), which settles the realised PnL: a gain, or what is left of the share
//!   after a loss, goes to the cross part; a loss beyond the share stays with the leg. So the
//!   leg's margin balance scales with its size (`MB' = MB × remaining / before` at the mark).
//!   Closing all of it (or flipping) sweeps the whole isolated margin, PnL included, to the cross
//!   part. Opening moves the opened quantity's initial margin at the fill price (rounded up)
//!   from the cross part into the leg.
//! - A leg that ends flat keeps no isolated margin, whatever its sign: a trader who closes by their
//!   own order beyond the bankruptcy price (possible only when the last price runs ahead of the
//!   mark) bears that loss in the cross part. A liquidation covers such a deficit from the
//!   insurance fund instead (`liquidation`).

use crate::accounts::{leg_index, margin, Accounts, Position, ReferencePrices, SymbolAccount, FEE_ACCOUNT, INSURANCE_FUND};
use crate::event::Event;
use crate::ids::{AccountId, SymbolId};
use crate::order::PositionSide;
use crate::reject::RejectReason;
use crate::units::{mul_div, Overflow, Price, Quote, Rounding};

/// Switches `symbol` of `account` between cross and isolated margin.
///
/// # Errors
/// A reserved account, the type already set, or a position or open order in the symbol.
pub fn set_margin_type(
    accounts: &mut Accounts,
    (account, symbol): (AccountId, SymbolId),
    isolated: bool,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if account == FEE_ACCOUNT || account == INSURANCE_FUND {
        return Err(RejectReason::ReservedAccount);
    }
    let state = accounts.get(account).and_then(|a| a.symbols.get(&symbol)).cloned().unwrap_or_default();
    if state.isolated == isolated {
        return Err(RejectReason::MarginTypeUnchanged);
    }
    if state.positions.iter().any(|p| p.qty != 0) {
        return Err(RejectReason::MarginTypePositionOpen);
    }
    if !state.is_idle() {
        return Err(RejectReason::MarginTypeOrdersOpen);
    }
    accounts.get_mut(account).symbol_mut(symbol).isolated = isolated;
    events.push(Event::MarginTypeSet { account, symbol, isolated });
    Ok(())
}

/// What an adjustment names.
#[derive(Clone, Copy, Debug)]
pub struct Adjustment {
    /// Account.
    pub account: AccountId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Leg.
    pub position_side: PositionSide,
    /// Signed amount: positive adds, negative removes.
    pub amount: Quote,
}

/// Adds margin to or removes it from an isolated leg.
///
/// # Errors
/// A zero amount, a cross symbol, a leg of the other position mode, a flat leg, or more than the
/// cross part can give or the leg can spare.
pub fn adjust(
    accounts: &mut Accounts,
    prices: &ReferencePrices,
    adjustment: Adjustment,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let Adjustment { account, symbol, position_side, amount } = adjustment;
    if amount.raw() == 0 {
        return Err(RejectReason::AmountNotPositive);
    }
    let owner = accounts.get(account).ok_or(RejectReason::NotIsolated)?;
    let state = owner.symbols.get(&symbol).filter(|s| s.isolated).ok_or(RejectReason::NotIsolated)?;
    if owner.hedge_mode == (position_side == PositionSide::Both) {
        return Err(RejectReason::PositionSideMismatch);
    }
    let leg = leg_index(position_side);
    let position = state.positions[leg];
    if position.qty == 0 {
        return Err(RejectReason::NoPosition);
    }
    let current = state.isolated_margin[leg];
    if amount.raw() > 0 {
        if owner.available(prices)? < amount {
            return Err(RejectReason::CrossBalanceInsufficient);
        }
    } else {
        let reference = prices.get(&symbol).copied().unwrap_or_else(|| position.entry_price());
        let spare = removable(state, position, current, reference)?;
        if spare.raw() < -amount.raw() {
            return Err(RejectReason::IsolatedBalanceInsufficient);
        }
    }
    let after = current.checked_add(amount)?;
    accounts.get_mut(account).symbol_mut(symbol).isolated_margin[leg] = after;
    events.push(Event::IsolatedMarginChanged { account, symbol, position_side, amount, isolated_margin: after });
    Ok(())
}

/// `isolated margin + min(0, uPnL) − IM` of one leg at `reference` (negative: the leg does not
/// cover its initial margin).
fn headroom(state: &SymbolAccount, position: Position, isolated: Quote, reference: Price) -> Result<Quote, Overflow> {
    let pnl = margin::unrealised_pnl(position.qty, position.cost, reference)?;
    let notional = margin::signed_notional(position.qty.abs(), reference, Rounding::Ceil)?;
    let im = margin::initial_margin(notional, state.leverage)?;
    isolated.checked_add(Quote(pnl.raw().min(0)))?.checked_sub(im)
}

fn removable(state: &SymbolAccount, position: Position, isolated: Quote, reference: Price) -> Result<Quote, Overflow> {
    Ok(Quote(headroom(state, position, isolated, reference)?.raw().max(0)))
}

/// True when every open leg of an isolated `state` covers its initial margin at `reference`
/// (what a lower leverage must keep true).
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn legs_cover_initial_margin(state: &SymbolAccount, reference: Price) -> Result<bool, Overflow> {
    for (position, isolated) in state.positions.iter().zip(state.isolated_margin).filter(|(p, _)| p.qty != 0) {
        if headroom(state, *position, isolated, reference)?.raw() < 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Moves an isolated leg's margin for a fill that took the leg from `before` to `after` at
/// `price`, realising `realised_pnl`; returns the signed change of the leg's isolated margin.
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn on_fill(
    state: &mut SymbolAccount,
    leg: usize,
    (before, after): (Position, Position),
    realised_pnl: Quote,
    price: Price,
) -> Result<Quote, Overflow> {
    let old = state.isolated_margin[leg];
    let flipped = before.qty != 0 && after.qty != 0 && (before.qty > 0) != (after.qty > 0);
    let (closed, opened) = if flipped || after.qty == 0 {
        (before.qty.abs(), after.qty.abs())
    } else if after.qty.abs() >= before.qty.abs() {
        (0, after.qty.abs() - before.qty.abs())
    } else {
        (before.qty.abs() - after.qty.abs(), 0)
    };
    let mut margin = if closed == before.qty.abs() && closed > 0 {
        Quote::ZERO
    } else if closed > 0 {
        // The closed share of the margin settles the realised PnL; a loss beyond it stays.
        let released = mul_div(old.raw().max(0), closed, before.qty.abs(), Rounding::Floor)?;
        let settled = released.checked_add(realised_pnl.raw()).ok_or(Overflow)?;
        old.checked_sub(Quote(released))?.checked_add(Quote(settled.min(0)))?
    } else {
        old.checked_add(realised_pnl)?
    };
    if opened > 0 {
        let notional = margin::signed_notional(opened, price, Rounding::Ceil)?;
        margin = margin.checked_add(margin::initial_margin(notional, state.leverage)?)?;
    }
    state.isolated_margin[leg] = margin;
    margin.checked_sub(old)
}
