//! Settlement: the open-order exposure resting orders leave on their account, each side of a
//! trade (position, realised PnL, fee), moves of funds between wallets, and takeovers by the
//! insurance fund.
//!
//! Rules:
//! - Fees: `notional × rate` rounded up (a negative maker rate is a rebate, rounded toward zero),
//!   paid to [`FEE_ACCOUNT`]; no other account is touched by a trade.
//! - A hedge-mode closing fill larger than its leg (possible only if the leg shrank after the
//!   order rested) closes the leg and opens the excess on the other leg; it never flips a leg.
//!   It is reported as two `FillSettled` events, one per leg, whose quantities add up to the fill.
//! - A fill on an isolated symbol also moves the leg's isolated margin (`isolated::on_fill`),
//!   reported as `IsolatedMarginChanged` after the fill's `FillSettled`.
//! - Invariant (conservation): a settlement changes `Σ (wallet − cost)` over all accounts by
//!   nothing (the fee moves to the fee account, realised PnL moves cost into the wallet).

use crate::accounts::{apply_fill, leg_index, signed, Accounts, FEE_ACCOUNT, INSURANCE_FUND};
use crate::clearing::OrderSide;
use crate::event::{BalanceKind, Event};
use crate::ids::{AccountId, OrderId, TradeId};
use crate::isolated;
use crate::order::{PositionSide, Side};
use crate::units::{mul_div, notional, Price, Qty, Quote, Rate, Rounding, SCALE};

/// Records a resting order's open quantity change (`qty` negative when it leaves the book).
///
/// # Panics
/// On overflow of an exposure that was accepted before (an engine bug).
pub fn adjust_open(accounts: &mut Accounts, order: &OrderSide, qty: i64, price: Price) {
    let state = accounts.get_mut(order.account).symbol_mut(order.symbol);
    state.open[leg_index(order.position_side)].add(order.side, qty, price).expect("Invariant: accepted exposure fits");
}

/// What a settled fill needs besides the order side.
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    /// The account's order.
    pub order_id: OrderId,
    /// The trade.
    pub trade_id: TradeId,
    /// Quantity.
    pub qty: Qty,
    /// Price.
    pub price: Price,
    /// Fee rate (maker or taker).
    pub fee_rate: Rate,
}

/// Settles one side of a trade and emits its [`Event::FillSettled`].
///
/// # Panics
/// On arithmetic overflow of an accepted position (an engine bug).
pub fn settle(accounts: &mut Accounts, order: &OrderSide, fill: &Fill, events: &mut Vec<Event>) {
    let trade_value = notional(fill.price, fill.qty, Rounding::Ceil).expect("Invariant: accepted notional fits");
    let fee = Quote(mul_div(trade_value.raw(), fill.fee_rate.raw(), SCALE, Rounding::Ceil).expect("fee fits"));
    let account = accounts.get_mut(order.account);
    let hedge = account.hedge_mode;
    let state = account.symbol_mut(order.symbol);
    let delta = signed(order.side, fill.qty);
    let leg = leg_index(order.position_side);
    let held = state.holds_position();
    let position = state.positions[leg];
    let new_qty = position.qty + delta;
    let crosses_zero = (leg == 1 && new_qty < 0) || (leg == 2 && new_qty > 0);
    // A hedge closing fill larger than its leg closes the leg and opens the excess on the other.
    let (effect, spill) = if hedge && crosses_zero {
        let closing = apply_fill(position, -position.qty, fill.price).expect("Invariant: closing fits");
        let other = 3 - leg;
        let before_other = state.positions[other];
        let opened = apply_fill(before_other, new_qty, fill.price).expect("Invariant: opening fits");
        state.positions[other] = opened.position;
        (closing, Some((other, new_qty, before_other, opened.position)))
    } else {
        (apply_fill(position, delta, fill.price).expect("Invariant: accepted position fits"), None)
    };
    let delta = if spill.is_some() { -position.qty } else { delta };
    state.positions[leg] = effect.position;
    let mut isolated_moves = [None, None];
    if state.isolated {
        let moved = isolated::on_fill(state, leg, (position, effect.position), effect.realised_pnl, fill.price);
        isolated_moves[0] = Some((leg, moved.expect("Invariant: isolated margin fits")));
        if let Some((other, _, before_other, opened)) = spill {
            let moved = isolated::on_fill(state, other, (before_other, opened), Quote::ZERO, fill.price);
            isolated_moves[1] = Some((other, moved.expect("Invariant: isolated margin fits")));
        }
    }
    let isolated_after = state.isolated_margin;
    let holder_changed = held != state.holds_position();
    account.wallet = account.wallet.checked_add(effect.realised_pnl).and_then(|w| w.checked_sub(fee)).expect("wallet fits");
    let wallet = account.wallet;
    let fees = accounts.get_mut(FEE_ACCOUNT);
    fees.wallet = fees.wallet.checked_add(fee).expect("fee account fits");
    if holder_changed {
        // Only opening the first leg or closing the last changes who holds the symbol.
        accounts.note_position(order.account, order.symbol);
    }
    events.push(Event::FillSettled {
        account: order.account,
        symbol: order.symbol,
        order_id: fill.order_id,
        trade_id: fill.trade_id,
        position_side: order.position_side,
        qty: delta,
        price: fill.price,
        fee,
        realised_pnl: effect.realised_pnl,
        wallet,
        position_qty: effect.position.qty,
        position_cost: effect.position.cost,
    });
    if let Some((other, qty, _, opened)) = spill {
        let position_side = PositionSide::ALL[other];
        events.push(Event::FillSettled {
            account: order.account,
            symbol: order.symbol,
            order_id: fill.order_id,
            trade_id: fill.trade_id,
            position_side,
            qty,
            price: fill.price,
            fee: Quote::ZERO,
            realised_pnl: Quote::ZERO,
            wallet,
            position_qty: opened.qty,
            position_cost: opened.cost,
        });
    }
    for (leg, amount) in isolated_moves.into_iter().flatten().filter(|(_, amount)| amount.raw() != 0) {
        events.push(Event::IsolatedMarginChanged {
            account: order.account,
            symbol: order.symbol,
            position_side: PositionSide::ALL[leg],
            amount,
            isolated_margin: isolated_after[leg],
        });
    }
}

/// Moves `amount` (> 0) from one wallet to another with a [`Event::BalanceChanged`] each.
///
/// # Panics
/// On wallet overflow (an engine bug).
pub fn move_funds(accounts: &mut Accounts, (from, to): (AccountId, AccountId), amount: Quote, kind: BalanceKind, events: &mut Vec<Event>) {
    for (account, delta) in [(from, -amount.raw()), (to, amount.raw())] {
        let entry = accounts.get_mut(account);
        entry.wallet = entry.wallet.checked_add(Quote(delta)).expect("Invariant: wallets fit");
        events.push(Event::BalanceChanged { account, amount: Quote(delta), wallet: entry.wallet, kind });
    }
}

/// Moves a signed `qty` of a position leg from `account` to the insurance fund at `price`:
/// the account closes it there (realising PnL), the fund opens it there. No fee.
///
/// # Panics
/// On overflow of accepted positions (an engine bug).
pub fn take_over(accounts: &mut Accounts, order: &OrderSide, qty: i64, price: Price, events: &mut Vec<Event>) {
    events.push(Event::PositionTakenOver { account: order.account, symbol: order.symbol, position_side: order.position_side, qty, price });
    let closing = OrderSide { side: if qty > 0 { Side::Sell } else { Side::Buy }, ..*order };
    let fund = OrderSide { account: INSURANCE_FUND, position_side: PositionSide::Both, side: closing.side.opposite(), ..*order };
    let fill = Fill { order_id: 0, trade_id: 0, qty: Qty(qty.abs()), price, fee_rate: Rate(0) };
    settle(accounts, &closing, &fill, events);
    settle(accounts, &fund, &fill, events);
}
