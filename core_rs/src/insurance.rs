//! Insurance-fund payouts (`InsurancePayout`): the fund pays an account only while what it could
//! withdraw (wallet, minus unrealised losses and the margin of positions it has taken over) stays
//! at or above its floor, and at most once per idempotency key (the keys paid are part of the
//! state and the snapshot).

use std::collections::BTreeSet;

use crate::accounts::{Accounts, ReferencePrices, INSURANCE_FUND};
use crate::clearing::settlement;
use crate::event::{BalanceKind, Event, PayoutReason};
use crate::ids::AccountId;
use crate::reject::RejectReason;
use crate::units::Quote;

/// A payout as the command names it.
#[derive(Clone, Copy, Debug)]
pub struct Payout {
    /// Receiving account.
    pub account: AccountId,
    /// Amount.
    pub amount: Quote,
    /// Why.
    pub reason: PayoutReason,
    /// Idempotency key (0: none).
    pub key: u64,
}

/// Pays `amount` from the insurance fund to `account`, once per non-zero key (`paid` holds the
/// keys paid so far).
///
/// # Errors
/// A key already paid, a non-positive amount, a payout to the fund itself, or one that breaches
/// the floor.
pub fn payout(
    accounts: &mut Accounts,
    prices: &ReferencePrices,
    (floor, paid): (Quote, &mut BTreeSet<u64>),
    Payout { account, amount, reason, key }: Payout,
    events: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if key != 0 && paid.contains(&key) {
        return Err(RejectReason::DuplicatePayout);
    }
    if amount.raw() <= 0 {
        return Err(RejectReason::AmountNotPositive);
    }
    if account == INSURANCE_FUND {
        return Err(RejectReason::SameAccount);
    }
    let fund =
        accounts.get(INSURANCE_FUND).map_or(Ok(Quote::ZERO), |a| a.withdrawable(prices)).map_err(|_| RejectReason::ArithmeticOverflow)?;
    if fund.raw() - amount.raw() < floor.raw() {
        return Err(RejectReason::InsuranceFloorBreached);
    }
    if key != 0 {
        paid.insert(key);
    }
    events.push(Event::InsurancePaid { account, amount, reason, key });
    settlement::move_funds(accounts, (INSURANCE_FUND, account), amount, BalanceKind::InsurancePayout, events);
    Ok(())
}
