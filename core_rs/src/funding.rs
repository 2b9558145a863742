//! Funding settlement.
//!
//! Funding (MECHANICS §3.4 [OURS]): every account holding a position in the symbol is paid
//! `−net_qty × mark × rate` (longs pay when the rate is positive), one payment per account over
//! all its legs (per leg, into its isolated margin, for an isolated symbol), rounded toward −∞;
//! the rounding dust (`−Σ payments ≥ 0`, because long and short quantities are equal) goes to the
//! insurance fund, so funding is exactly conserved. Margin is re-checked afterwards by the
//! caller.

use crate::accounts::{Accounts, INSURANCE_FUND};
use crate::event::{BalanceKind, Event};
use crate::ids::{AccountId, SymbolId};
use crate::order::PositionSide;
use crate::reject::RejectReason;
use crate::units::{Price, Quote, Rate, SCALE};

/// Settles funding on `symbol`.
///
/// # Errors
/// A rate of 100 % or more, a non-positive mark, or an overflowing payment; nothing changed.
pub fn apply(accounts: &mut Accounts, symbol: SymbolId, rate: Rate, mark: Price, events: &mut Vec<Event>) -> Result<(), RejectReason> {
    if rate.raw().abs() >= SCALE {
        return Err(RejectReason::InvalidFundingRate);
    }
    if mark.raw() <= 0 {
        return Err(RejectReason::PriceNotPositive);
    }
    // (account, isolated leg, payment): cross symbols pay once on the net quantity, isolated
    // symbols once per leg, into the leg's isolated margin (MECHANICS §3.4 step 4).
    let mut payments: Vec<(AccountId, Option<usize>, i64)> = Vec::new();
    let payment_of = |qty: i64| -> Result<i64, RejectReason> {
        let exact = -i128::from(qty) * i128::from(mark.raw()) * i128::from(rate.raw());
        i64::try_from(exact.div_euclid(i128::from(SCALE) * i128::from(SCALE))).map_err(|_| RejectReason::ArithmeticOverflow)
    };
    for account in accounts.holders(symbol) {
        let Some(state) = accounts.get(account).and_then(|a| a.symbols.get(&symbol)) else { continue };
        if state.isolated {
            for (leg, position) in state.positions.iter().enumerate().filter(|(_, p)| p.qty != 0) {
                payments.push((account, Some(leg), payment_of(position.qty)?));
            }
        } else {
            payments.push((account, None, payment_of(state.positions.iter().map(|p| p.qty).sum())?));
        }
    }
    let mut total = 0_i64;
    for (account, leg, payment) in payments {
        total += payment;
        if payment == 0 {
            continue;
        }
        let entry = accounts.get_mut(account);
        entry.wallet = entry.wallet.checked_add(Quote(payment)).map_err(|_| RejectReason::ArithmeticOverflow)?;
        events.push(Event::BalanceChanged { account, amount: Quote(payment), wallet: entry.wallet, kind: BalanceKind::FundingFee });
        if let Some(leg) = leg {
            let margin = &mut entry.symbol_mut(symbol).isolated_margin[leg];
            *margin = margin.checked_add(Quote(payment)).map_err(|_| RejectReason::ArithmeticOverflow)?;
            let isolated_margin = *margin;
            let position_side = PositionSide::ALL[leg];
            events.push(Event::IsolatedMarginChanged { account, symbol, position_side, amount: Quote(payment), isolated_margin });
        }
    }
    let dust = Quote(-total);
    if dust.raw() > 0 {
        let fund = accounts.get_mut(INSURANCE_FUND);
        fund.wallet = fund.wallet.checked_add(dust).map_err(|_| RejectReason::ArithmeticOverflow)?;
        events.push(Event::BalanceChanged { account: INSURANCE_FUND, amount: dust, wallet: fund.wallet, kind: BalanceKind::FundingFee });
    }
    events.push(Event::FundingApplied { symbol, rate, mark, dust });
    Ok(())
}
