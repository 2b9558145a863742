//! Account commands that move money or change settings: deposit, withdraw, transfer, leverage,
//! position mode. Each validates fully before it changes anything.
//!
//! Rules: amounts are positive; a withdrawal or an outgoing transfer may take at most
//! `wallet + Σ min(0, uPnL) − Σ IM` (unrealised profit stays in the account); while any account
//! has a negative margin balance (a loss the insurance fund or ADL has not covered yet),
//! withdrawals are refused platform-wide (MECHANICS §6.2 step 8, `WithdrawalsSuspended`);
//! transfers between accounts stay open (no money leaves the exchange); leverage is
//! `1 ..=` the maximum of the bracket the account's worst-case position falls in, and lowering it
//! must leave `available ≥ 0` (and, on an isolated symbol, every leg covering its new initial
//! margin); the position mode changes only with no position and no open order
//! anywhere (Binance -4068).

use crate::accounts::{Accounts, ReferencePrices};
use crate::event::{BalanceKind, Event};
use crate::ids::{AccountId, SymbolId};
use crate::instrument::InstrumentSpec;
use crate::reject::RejectReason;
use crate::units::{Overflow, Quote, Rounding};

use crate::accounts::margin;

const fn overflow(_: Overflow) -> RejectReason {
    RejectReason::ArithmeticOverflow
}

fn credit(
    accounts: &mut Accounts,
    account: AccountId,
    amount: Quote,
    kind: BalanceKind,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let entry = accounts.get_mut(account);
    entry.wallet = entry.wallet.checked_add(amount).map_err(overflow)?;
    events.push(Event::BalanceChanged { account, amount, wallet: entry.wallet, kind });
    Ok(())
}

fn check_payable(accounts: &Accounts, prices: &ReferencePrices, account: AccountId, amount: Quote) -> Result<(), RejectReason> {
    if amount.raw() <= 0 {
        return Err(RejectReason::AmountNotPositive);
    }
    let withdrawable = accounts.get(account).map_or(Ok(Quote::ZERO), |a| a.withdrawable(prices)).map_err(overflow)?;
    if withdrawable < amount {
        return Err(RejectReason::InsufficientBalance);
    }
    Ok(())
}

/// Credits a deposit.
///
/// # Errors
/// A non-positive amount, or a wallet overflow.
pub fn deposit(accounts: &mut Accounts, account: AccountId, amount: Quote, events: &mut Vec<Event>) -> Result<(), RejectReason> {
    if amount.raw() <= 0 {
        return Err(RejectReason::AmountNotPositive);
    }
    accounts.get(account).map_or(Ok(amount), |a| a.wallet.checked_add(amount)).map_err(overflow)?;
    credit(accounts, account, amount, BalanceKind::Deposit, events)
}

/// Pays out a withdrawal.
///
/// # Errors
/// A non-positive amount, more than is withdrawable, or any account with negative equity.
pub fn withdraw(
    accounts: &mut Accounts,
    prices: &ReferencePrices,
    account: AccountId,
    amount: Quote,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    check_payable(accounts, prices, account, amount)?;
    if accounts.any_negative_equity(prices) {
        return Err(RejectReason::WithdrawalsSuspended);
    }
    credit(accounts, account, Quote(-amount.raw()), BalanceKind::Withdrawal, events)
}

/// Moves funds between two accounts.
///
/// # Errors
/// The same account twice, a non-positive amount, or more than the payer can pay.
pub fn transfer(
    accounts: &mut Accounts,
    prices: &ReferencePrices,
    (from, to): (AccountId, AccountId),
    amount: Quote,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if from == to {
        return Err(RejectReason::SameAccount);
    }
    check_payable(accounts, prices, from, amount)?;
    accounts.get(to).map_or(Ok(amount), |a| a.wallet.checked_add(amount)).map_err(overflow)?;
    credit(accounts, from, Quote(-amount.raw()), BalanceKind::TransferOut, events)?;
    credit(accounts, to, amount, BalanceKind::TransferIn, events)
}

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
    let worst = worst.map_err(overflow)?;
    if leverage == 0 || leverage > margin::max_leverage(spec, worst) {
        return Err(RejectReason::InvalidLeverage);
    }
    let mut changed = current;
    changed.symbol_mut(symbol).leverage = leverage;
    if leverage < state.leverage {
        let lowered = &changed.symbols[&symbol];
        let legs_ok = !lowered.isolated
            || reference.map_or(Ok(true), |p| crate::isolated::legs_cover_initial_margin(lowered, p)).map_err(overflow)?;
        if !legs_ok || changed.available(prices).map_err(overflow)?.raw() < 0 {
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
    rates: Option<(crate::units::Rate, crate::units::Rate)>,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if let Some((maker, taker)) = rates {
        let bound = crate::units::SCALE / 100;
        let in_range = |r: crate::units::Rate| (-bound..=bound).contains(&r.raw());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Position;
    use crate::testkit::{dec, px};

    #[test]
    fn test_withdrawals_wait_while_any_account_has_negative_equity() {
        // Account 1 was closed out with a loss of 5 beyond its margin that the fund could not
        // cover yet (wallet −5); account 2 holds 100 with nothing open.
        let mut accounts = Accounts::default();
        let prices: ReferencePrices = [(1, px("100"))].into_iter().collect();
        accounts.get_mut(1).wallet = Quote(-dec("5"));
        accounts.get_mut(2).wallet = Quote(dec("100"));
        let mut events = Vec::new();
        let amount = Quote(dec("10"));
        assert_eq!(withdraw(&mut accounts, &prices, 2, amount, &mut events), Err(RejectReason::WithdrawalsSuspended));
        assert!(events.is_empty(), "nothing changed");
        // Moving money inside the exchange stays possible (it can even cover the loss).
        assert_eq!(transfer(&mut accounts, &prices, (2, 1), Quote(dec("5")), &mut events), Ok(()));
        assert_eq!(withdraw(&mut accounts, &prices, 2, amount, &mut events), Ok(()));
        // An isolated leg under water counts too: margin 10, long 1 bought at 120, mark 100:
        // 10 + (100 − 120) = −10.
        let leg = accounts.get_mut(3).symbol_mut(1);
        leg.isolated = true;
        leg.positions[0] = Position { qty: dec("1"), cost: Quote(dec("120")) };
        leg.isolated_margin[0] = Quote(dec("10"));
        accounts.get_mut(3).wallet = Quote(dec("10"));
        assert_eq!(withdraw(&mut accounts, &prices, 2, amount, &mut events), Err(RejectReason::WithdrawalsSuspended));
        let recovered: ReferencePrices = [(1, px("110"))].into_iter().collect();
        assert_eq!(withdraw(&mut accounts, &recovered, 2, amount, &mut events), Ok(()), "10 − 10 = 0 is not negative");
    }
}
