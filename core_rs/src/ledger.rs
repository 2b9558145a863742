//! The money commands: deposit, withdraw, transfer. Each validates fully before it changes
//! anything, and each change of a wallet is a `BalanceChanged` event.
//!
//! Rules: amounts are positive; a withdrawal or an outgoing transfer may take at most
//! `wallet + Σ min(0, uPnL) − Σ IM` (unrealised profit stays in the account); while any account
//! has a negative margin balance (a loss the insurance fund or ADL has not covered yet),
//! withdrawals are refused platform-wide (MECHANICS §6.2 step 8, `WithdrawalsSuspended`);
//! transfers between accounts stay open (no money leaves the exchange).
//!
//! Invariant: `Σ wallet` over all accounts changes only by deposits and withdrawals here.

use crate::accounts::{Accounts, ReferencePrices};
use crate::event::{BalanceKind, Event};
use crate::ids::AccountId;
use crate::reject::RejectReason;
use crate::units::Quote;

fn credit(
    accounts: &mut Accounts,
    account: AccountId,
    amount: Quote,
    kind: BalanceKind,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let entry = accounts.get_mut(account);
    entry.wallet = entry.wallet.checked_add(amount)?;
    events.push(Event::BalanceChanged { account, amount, wallet: entry.wallet, kind });
    Ok(())
}

fn check_payable(accounts: &Accounts, prices: &ReferencePrices, account: AccountId, amount: Quote) -> Result<(), RejectReason> {
    if amount.raw() <= 0 {
        return Err(RejectReason::AmountNotPositive);
    }
    let withdrawable = accounts.get(account).map_or(Ok(Quote::ZERO), |a| a.withdrawable(prices))?;
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
    accounts.get(account).map_or(Ok(amount), |a| a.wallet.checked_add(amount))?;
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
    accounts.get(to).map_or(Ok(amount), |a| a.wallet.checked_add(amount))?;
    credit(accounts, from, Quote(-amount.raw()), BalanceKind::TransferOut, events)?;
    credit(accounts, to, amount, BalanceKind::TransferIn, events)
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
