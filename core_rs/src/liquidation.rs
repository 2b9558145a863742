//! Liquidation (MECHANICS §6.2), run inside the command that moved the mark price, so it
//! happens before any later user command (liquidation first).
//!
//! Sequence for each underwater cross account (ascending id):
//! 0. Trigger, on the mark price only: `MM > 0 && MB < MM` with `MB = wallet + Σ uPnL(mark)` and
//!    `MM = Σ (|q|·mark·MMR_bracket − cum)` per position leg.
//! 1. `LiquidationStarted`; the account is locked for the rest of the command (nothing else
//!    runs for it until the sequence ends).
//! 2. Every open order of the account, in every market, is cancelled; re-check: if `MB ≥ MM`
//!    now, `LiquidationFinished { closed: false }`.
//! 3. Each position leg (ascending symbol, then leg) is offered at its bankruptcy price as one
//!    IOC order: fills are at the bankruptcy price or better; the trader pays no taker fee, and
//!    the liquidation fee, capped at the fill's surplus over the bankruptcy price, goes to the
//!    insurance fund.
//! 4. What does not fill is taken over by the insurance fund at the bankruptcy price.
//! 5. A negative wallet left over is reset to zero from the insurance fund, as far as the fund
//!    goes (`InsuranceClear`); the fund never goes negative.
//!
//! Bankruptcy price of a leg: the price at which closing it leaves the margin balance at zero,
//! `p = (cost − MB_without_leg) / qty`, rounded to the tick toward safety (long up, short down:
//! Bybit and dYdX), never below one tick.
//!
//! Known limits of this increment (see docs/ARCHITECTURE.md): candidates are the holders of the
//! symbol whose mark moved (a scan of that symbol's holders, not yet a trigger-price index);
//! there is no partial tier reduction and no auto-deleveraging yet, so when the fund cannot cover
//! a bad debt the remainder stays on the account as a negative wallet (withdrawals are then
//! impossible for it); isolated margin does not exist yet.

use std::collections::{BTreeMap, BTreeSet};

use crate::accounts::margin;
use crate::accounts::{Account, Accounts, ReferencePrices, FEE_ACCOUNT, INSURANCE_FUND};
use crate::clearing::{self, OrderSide};
use crate::event::{BalanceKind, CancelReason, Event};
use crate::ids::{AccountId, Nanos, OrderId, SymbolId, TradeId};
use crate::market::{Ctx, Market};
use crate::order::{PositionSide, Side};
use crate::units::{mul_div, Overflow, Price, Qty, Quote, Rounding, SCALE};

/// The engine state a liquidation works on.
#[derive(Debug)]
pub struct Parts<'a> {
    /// Every market.
    pub markets: &'a mut BTreeMap<SymbolId, Market>,
    /// Every account.
    pub accounts: &'a mut Accounts,
    /// Reference prices.
    pub prices: &'a mut ReferencePrices,
    /// Last order id handed out.
    pub last_order_id: &'a mut OrderId,
    /// Last trade id handed out.
    pub last_trade_id: &'a mut TradeId,
    /// GTD expiries.
    pub expiries: &'a mut BTreeSet<(Nanos, SymbolId, OrderId)>,
    /// Command time.
    pub ts: Nanos,
}

const POSITION_SIDES: [PositionSide; 3] = [PositionSide::Both, PositionSide::Long, PositionSide::Short];

/// Margin balance and maintenance margin of an account at the reference prices.
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn health(account: &Account, markets: &BTreeMap<SymbolId, Market>, prices: &ReferencePrices) -> Result<(Quote, Quote), Overflow> {
    let mut balance = account.wallet;
    let mut maintenance = Quote::ZERO;
    for (symbol, state) in &account.symbols {
        let (Some(&price), Some(market)) = (prices.get(symbol), markets.get(symbol)) else { continue };
        balance = balance.checked_add(state.unrealised_pnl(price)?)?;
        for position in state.positions.iter().filter(|p| p.qty != 0) {
            let notional = margin::signed_notional(position.qty.abs(), price, Rounding::Ceil)?;
            maintenance = maintenance.checked_add(margin::maintenance_margin(&market.spec, notional)?)?;
        }
    }
    Ok((balance, maintenance))
}

fn is_underwater(balance: Quote, maintenance: Quote) -> bool {
    maintenance.raw() > 0 && balance < maintenance
}

/// Bankruptcy price of one leg given the account's margin balance `balance` (which includes
/// this leg's unrealised PnL at `price`).
fn bankruptcy_price(qty: i64, cost: Quote, balance: Quote, price: Price, tick: Price) -> Result<Price, Overflow> {
    let without_leg = balance.checked_sub(margin::unrealised_pnl(qty, cost, price)?)?;
    let numerator = cost.checked_sub(without_leg)?;
    let (exact, to_tick) = if qty > 0 { (Rounding::Ceil, Rounding::Ceil) } else { (Rounding::Floor, Rounding::Floor) };
    let raw = mul_div(numerator.raw(), SCALE, qty, exact)?;
    let ticks = mul_div(raw, 1, tick.raw(), to_tick)?;
    Ok(Price(ticks.max(1) * tick.raw()))
}

/// Checks every holder of `symbol` and liquidates those under maintenance margin.
pub fn run(parts: &mut Parts<'_>, symbol: SymbolId, events: &mut Vec<Event>) {
    for account in parts.accounts.holders(symbol) {
        if account == INSURANCE_FUND || account == FEE_ACCOUNT {
            continue;
        }
        let Some(state) = parts.accounts.get(account) else { continue };
        let Ok((balance, maintenance)) = health(state, parts.markets, parts.prices) else { continue };
        if is_underwater(balance, maintenance) {
            liquidate(parts, account, (balance, maintenance), events);
        }
    }
}

fn liquidate(parts: &mut Parts<'_>, account: AccountId, (balance, maintenance): (Quote, Quote), events: &mut Vec<Event>) {
    events.push(Event::LiquidationStarted { account, margin_balance: balance, maintenance });
    let symbols: Vec<SymbolId> = parts.markets.keys().copied().collect();
    for symbol in &symbols {
        with_market(parts, *symbol, events, |market, ctx| market.cancel_all(account, CancelReason::Liquidation, ctx));
    }
    let state = parts.accounts.get(account).cloned().unwrap_or_default();
    if health(&state, parts.markets, parts.prices).is_ok_and(|(b, m)| !is_underwater(b, m)) {
        events.push(Event::LiquidationFinished { account, closed: false });
        return;
    }
    for symbol in state.symbols.keys().copied().collect::<Vec<_>>() {
        for position_side in POSITION_SIDES {
            close_leg(parts, account, symbol, position_side, events);
        }
    }
    clear_bad_debt(parts.accounts, account, events);
    events.push(Event::LiquidationFinished { account, closed: true });
}

fn close_leg(parts: &mut Parts<'_>, account: AccountId, symbol: SymbolId, position_side: PositionSide, events: &mut Vec<Event>) {
    let Some(current) = parts.accounts.get(account) else { return };
    let position = current.symbols.get(&symbol).map(|s| s.positions[crate::accounts::leg_index(position_side)]).unwrap_or_default();
    let (Some(&price), Some(market)) = (parts.prices.get(&symbol), parts.markets.get(&symbol)) else { return };
    if position.qty == 0 {
        return;
    }
    let Ok((balance, _)) = health(current, parts.markets, parts.prices) else { return };
    let Ok(bankruptcy) = bankruptcy_price(position.qty, position.cost, balance, price, market.spec.tick_size) else { return };
    let side = if position.qty > 0 { Side::Sell } else { Side::Buy };
    let order = OrderSide { account, symbol, side, position_side };
    let qty = Qty(position.qty.abs());
    let filled = with_market(parts, symbol, events, |market, ctx| market.liquidation_order(&order, qty, bankruptcy, ctx));
    let rest = qty.raw() - filled.map_or(0, Qty::raw);
    if rest > 0 {
        let signed_rest = if position.qty > 0 { rest } else { -rest };
        clearing::take_over(parts.accounts, &order, signed_rest, bankruptcy, events);
    }
}

fn clear_bad_debt(accounts: &mut Accounts, account: AccountId, events: &mut Vec<Event>) {
    let deficit = accounts.get(account).map_or(0, |a| -a.wallet.raw());
    let fund = accounts.get(INSURANCE_FUND).map_or(0, |a| a.wallet.raw());
    let covered = deficit.min(fund);
    if covered > 0 {
        clearing::move_funds(accounts, (INSURANCE_FUND, account), Quote(covered), BalanceKind::InsuranceClear, events);
    }
}

fn with_market<T>(
    parts: &mut Parts<'_>,
    symbol: SymbolId,
    events: &mut Vec<Event>,
    f: impl FnOnce(&mut Market, &mut Ctx<'_>) -> T,
) -> Option<T> {
    let market = parts.markets.get_mut(&symbol)?;
    let mut ctx = Ctx {
        ts: parts.ts,
        events,
        last_order_id: parts.last_order_id,
        last_trade_id: parts.last_trade_id,
        expiries: parts.expiries,
        accounts: parts.accounts,
        prices: parts.prices,
    };
    Some(f(market, &mut ctx))
}
