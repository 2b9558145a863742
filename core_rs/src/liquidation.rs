//! Liquidation (MECHANICS §6.2), run inside the command that moved the mark price, so it
//! happens before any later user command (liquidation first).
//!
//! A margin unit is an account's cross part, or one leg of an isolated symbol. Sequence for each
//! underwater unit (accounts ascending; the cross part, then isolated legs by symbol and leg):
//! 0. Trigger, on the mark price only: `MM > 0 && MB < MM` with `MB = cross wallet + Σ cross
//!    uPnL(mark)` and `MM = Σ (|q|·mark·MMR_bracket − cum)` over the cross legs; for an isolated
//!    leg `MB = isolated margin + uPnL(mark)` and `MM` its own.
//! 1. `LiquidationStarted`; the account is locked for the rest of the command (nothing else
//!    runs for it until the sequence ends).
//! 2. Every open order of the unit is cancelled (cross: in every cross symbol; isolated: in that
//!    symbol, both legs' orders); re-check: if `MB ≥ MM` now, `LiquidationFinished { closed: false }`.
//! 3. Tier reduction, leg by leg: the unit's open legs above the first bracket are tried in
//!    descending order of their maintenance margin (ties: symbol, then leg); for each, the
//!    smallest part of it that brings the unit back above its maintenance margin (the other legs
//!    held) is offered at its bankruptcy price as one IOC; as soon as the unit is safe,
//!    `LiquidationFinished { closed: false }`.
//!    A large position is so liquidated in steps, one per mark tick that finds it under water.
//!    Then each position leg (ascending symbol, then leg) is offered at its bankruptcy price as one
//!    IOC order: fills are at the bankruptcy price or better; the trader pays no taker fee, and
//!    the liquidation fee, capped at the fill's surplus over the bankruptcy price, goes to the
//!    insurance fund.
//! 4. What does not fill is taken over by the insurance fund at the bankruptcy price, if the
//!    fund stays above its own maintenance margin at the mark with it.
//! 5. Otherwise the rest is auto-deleveraged at the bankruptcy price against opposite positions
//!    (if the fund itself is the only holder left on the other side, it takes the rest at the
//!    mark, which costs it nothing beyond its own position's loss, and step 6 treats the account's
//!    remaining loss as bad debt):
//!    first in the order of the latest `SetAdlRanking` for that side, then (accounts it does not
//!    list, or no ranking yet) by the BitMEX score — PnL% × effective leverage when in profit,
//!    PnL% ÷ effective leverage at a loss, highest first, ties by account id. A queue is ranked
//!    once per pass (the first time the pass needs it) and consumed in order, so a cascade costs
//!    one ranking per symbol and side, not one per bankrupt position; an exhausted queue is
//!    ranked again before giving up, for positions opened by fills later in the pass. A counterparty
//!    gives up at most its own position (never flipped), pays no fee, and its open orders in the
//!    symbol are cancelled. Flat accounts are never touched.
//! 6. A loss beyond the unit's margin is covered from the insurance fund, as far as the fund's
//!    margin balance goes (`InsuranceClear`): a negative cross wallet is reset to zero; for an
//!    isolated leg, whatever the close took from the cross part.
//!
//! The insurance fund is an ordinary account that holds what it took over (and pays or receives
//! funding on it). It is checked like any account after each mark or funding step; when its
//! margin balance falls under its maintenance margin each of its positions is offered to the book
//! at its own bankruptcy price (one IOC, no fee) and what does not fill is auto-deleveraged at
//! that price, so its margin balance never goes negative (MECHANICS §9.6).
//!
//! Bankruptcy price of a leg: the price at which closing it leaves the margin balance at zero,
//! `p = (cost − MB_without_leg) / qty`, rounded to the tick toward safety (long up, short down:
//! Bybit and dYdX), never below one tick. Units, their health and these prices are
//! [`margin`]'s (this module decides and acts; it computes no margin figure itself).
//!
//! Candidates come from the [`LiquidationIndex`] (O(log n + crossed) per tick).

use std::collections::{BTreeMap, BTreeSet};

use crate::accounts::leg_index;
use crate::accounts::margin::{self, bankruptcy_price, health, is_underwater, unit_health, units, Unit};
use crate::accounts::{Account, Accounts, ReferencePrices, FEE_ACCOUNT, INSURANCE_FUND};
use crate::clearing::settlement::{self, Fill};
use crate::clearing::OrderSide;
use crate::event::{BalanceKind, CancelReason, Event};
use crate::ids::{AccountId, Nanos, OrderId, SymbolId, TradeId};
use crate::liquidation_index::LiquidationIndex;
use crate::market::{Ctx, Market};
use crate::order::{PositionSide, Side};
use crate::units::{mul_div, Price, Qty, Quote, Rounding, SCALE};

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
    /// The latest ADL ranking of each (symbol, ranked side).
    pub adl_rankings: &'a BTreeMap<(SymbolId, Side), Vec<AccountId>>,
    /// Which accounts a tick must check.
    pub index: &'a mut LiquidationIndex,
    /// The ADL queues ranked so far in this pass (start empty).
    pub adl_queues: AdlQueues,
}

/// Checks the accounts the index names for the mark of `symbol` and liquidates those under
/// maintenance margin; then, until
/// nothing changes, every account the previous pass touched through a fill (a liquidation order
/// can fill a resting order far from the new mark and put its owner under water at once).
pub fn run(parts: &mut Parts<'_>, symbol: SymbolId, events: &mut Vec<Event>) {
    parts.index.refresh(parts.accounts, parts.markets);
    let mut candidates = parts.prices.get(&symbol).map_or_else(Vec::new, |&mark| parts.index.candidates(symbol, mark));
    loop {
        let start = events.len();
        for account in candidates {
            if account == INSURANCE_FUND || account == FEE_ACCOUNT {
                continue;
            }
            let Some(state) = parts.accounts.get(account) else { continue };
            for unit in units(state) {
                let Some(state) = parts.accounts.get(account) else { break };
                let Ok((balance, maintenance)) = unit_health(state, unit, parts.markets, parts.prices) else { continue };
                if is_underwater(balance, maintenance) {
                    liquidate(parts, (account, unit), (balance, maintenance), events);
                }
            }
        }
        deleverage_fund_if_underwater(parts, events);
        let mut touched: Vec<AccountId> = events[start..]
            .iter()
            .filter_map(|e| match *e {
                Event::FillSettled { account, .. } => Some(account),
                _ => None,
            })
            .collect();
        if touched.is_empty() {
            return;
        }
        touched.sort_unstable();
        touched.dedup();
        candidates = touched;
    }
}

/// When the insurance fund is under its maintenance margin, offers each of its positions to the
/// book at its bankruptcy price (one IOC, no fee) and auto-deleverages what does not fill at
/// that price.
fn deleverage_fund_if_underwater(parts: &mut Parts<'_>, events: &mut Vec<Event>) {
    let Some(fund) = parts.accounts.get(INSURANCE_FUND) else { return };
    let Ok((balance, maintenance)) = health(fund, parts.markets, parts.prices) else { return };
    if !is_underwater(balance, maintenance) {
        return;
    }
    let symbols: Vec<SymbolId> = fund.symbols.keys().copied().collect();
    events.push(Event::LiquidationStarted { account: INSURANCE_FUND, margin_balance: balance, maintenance });
    for symbol in symbols {
        let Some((qty, bankruptcy, order)) = closing(parts, (INSURANCE_FUND, Unit::Cross), symbol, PositionSide::Both) else { continue };
        let size = Qty(qty.abs());
        let filled = with_market(parts, symbol, events, |market, ctx| market.liquidation_order(&order, size, bankruptcy, ctx));
        let rest = size.raw() - filled.map_or(0, Qty::raw);
        if rest > 0 {
            deleverage(parts, &order, rest, bankruptcy, events);
        }
    }
    events.push(Event::LiquidationFinished { account: INSURANCE_FUND, closed: true });
}

fn liquidate(parts: &mut Parts<'_>, (account, unit): (AccountId, Unit), (balance, maintenance): (Quote, Quote), events: &mut Vec<Event>) {
    events.push(Event::LiquidationStarted { account, margin_balance: balance, maintenance });
    let symbols: Vec<SymbolId> = match unit {
        Unit::Cross => {
            let isolated = |s: &SymbolId| parts.accounts.get(account).is_some_and(|a| a.symbols.get(s).is_some_and(|x| x.isolated));
            parts.markets.keys().copied().filter(|s| !isolated(s)).collect()
        }
        Unit::Isolated(symbol, _) => vec![symbol],
    };
    for symbol in &symbols {
        with_market(parts, *symbol, events, |market, ctx| market.cancel_all(account, CancelReason::Liquidation, ctx));
    }
    let state = parts.accounts.get(account).cloned().unwrap_or_default();
    if unit_health(&state, unit, parts.markets, parts.prices).is_ok_and(|(b, m)| !is_underwater(b, m)) {
        events.push(Event::LiquidationFinished { account, closed: false });
        return;
    }
    let legs: Vec<(SymbolId, PositionSide)> = match unit {
        Unit::Cross => state
            .symbols
            .iter()
            .filter(|(_, s)| !s.isolated)
            .flat_map(|(&symbol, _)| PositionSide::ALL.iter().map(move |&side| (symbol, side)))
            .collect(),
        Unit::Isolated(symbol, side) => vec![(symbol, side)],
    };
    let cross_before = state.cross_wallet();
    let open: Vec<(SymbolId, PositionSide)> = legs
        .iter()
        .copied()
        .filter(|&(symbol, side)| state.symbols.get(&symbol).is_some_and(|s| s.positions[leg_index(side)].qty != 0))
        .collect();
    if reduce_tiers(parts, (account, unit), &open, events) {
        events.push(Event::LiquidationFinished { account, closed: false });
        return;
    }
    for (symbol, position_side) in legs {
        close_leg(parts, (account, unit), symbol, position_side, events);
    }
    let cross_after = parts.accounts.get(account).map_or(Quote::ZERO, Account::cross_wallet);
    let deficit = match unit {
        Unit::Cross => -cross_after.raw(),
        Unit::Isolated(..) => cross_before.raw() - cross_after.raw(),
    };
    clear_bad_debt(parts, account, deficit, events);
    events.push(Event::LiquidationFinished { account, closed: true });
}

/// An open leg's size, its bankruptcy price within `unit`, and the order side that closes it.
fn closing(
    parts: &Parts<'_>,
    (account, unit): (AccountId, Unit),
    symbol: SymbolId,
    position_side: PositionSide,
) -> Option<(i64, Price, OrderSide)> {
    let current = parts.accounts.get(account)?;
    let position = current.symbols.get(&symbol)?.positions[leg_index(position_side)];
    let (&price, market) = (parts.prices.get(&symbol)?, parts.markets.get(&symbol)?);
    if position.qty == 0 {
        return None;
    }
    let (balance, _) = unit_health(current, unit, parts.markets, parts.prices).ok()?;
    let bankruptcy = bankruptcy_price(position.qty, position.cost, balance, price, market.spec.tick_size).ok()?;
    let side = if position.qty > 0 { Side::Sell } else { Side::Buy };
    Some((position.qty, bankruptcy, OrderSide { account, symbol, side, position_side }))
}

fn close_leg(parts: &mut Parts<'_>, owner: (AccountId, Unit), symbol: SymbolId, position_side: PositionSide, events: &mut Vec<Event>) {
    let Some((signed_qty, bankruptcy, order)) = closing(parts, owner, symbol, position_side) else { return };
    let qty = Qty(signed_qty.abs());
    let filled = with_market(parts, symbol, events, |market, ctx| market.liquidation_order(&order, qty, bankruptcy, ctx));
    let rest = qty.raw() - filled.map_or(0, Qty::raw);
    if rest == 0 {
        return;
    }
    let signed_rest = if signed_qty > 0 { rest } else { -rest };
    if fund_can_take(parts, symbol, signed_rest, bankruptcy) {
        settlement::take_over(parts.accounts, &order, signed_rest, bankruptcy, events);
        return;
    }
    let rest = deleverage(parts, &order, rest, bankruptcy, events);
    if rest > 0 {
        // Nobody but the fund holds the other side: it takes the rest at the mark, where it loses
        // nothing it has not already lost; the account's loss beyond that is bad debt (step 6).
        let signed_rest = if signed_qty > 0 { rest } else { -rest };
        let mark = parts.prices.get(&symbol).copied().unwrap_or(bankruptcy);
        settlement::take_over(parts.accounts, &order, signed_rest, mark, events);
    }
}

/// Tier reduction (MECHANICS §6.2 step 3), leg by leg in descending order of maintenance
/// margin; true as soon as the unit is safe (nothing else happens then).
fn reduce_tiers(parts: &mut Parts<'_>, owner: (AccountId, Unit), open: &[(SymbolId, PositionSide)], events: &mut Vec<Event>) -> bool {
    let mut legs: Vec<(Quote, SymbolId, PositionSide)> =
        open.iter().filter_map(|&(symbol, side)| Some((leg_maintenance(parts, owner.0, symbol, side)?, symbol, side))).collect();
    legs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.to_u8().cmp(&b.2.to_u8())));
    legs.into_iter().any(|(_, symbol, side)| reduce_tier(parts, owner, symbol, side, events))
}

/// Maintenance margin of one leg at the mark.
fn leg_maintenance(parts: &Parts<'_>, account: AccountId, symbol: SymbolId, side: PositionSide) -> Option<Quote> {
    let qty = parts.accounts.get(account)?.symbols.get(&symbol)?.positions[leg_index(side)].qty;
    let (market, &mark) = (parts.markets.get(&symbol)?, parts.prices.get(&symbol)?);
    margin::signed_notional(qty.abs(), mark, Rounding::Ceil).and_then(|n| margin::maintenance_margin(&market.spec, n)).ok()
}

/// Offers the tier reduction of one leg as an IOC at its bankruptcy price; true when the unit
/// is safe afterwards.
fn reduce_tier(
    parts: &mut Parts<'_>,
    owner: (AccountId, Unit),
    symbol: SymbolId,
    position_side: PositionSide,
    events: &mut Vec<Event>,
) -> bool {
    let Some((signed_qty, bankruptcy, order)) = closing(parts, owner, symbol, position_side) else { return false };
    let Some(qty) = tier_reduction(parts, owner, (symbol, position_side), signed_qty.abs()) else { return false };
    let filled = with_market(parts, symbol, events, |market, ctx| market.liquidation_order(&order, Qty(qty), bankruptcy, ctx));
    filled.is_some_and(|f| f.raw() > 0)
        && parts
            .accounts
            .get(owner.0)
            .is_some_and(|a| unit_health(a, owner.1, parts.markets, parts.prices).is_ok_and(|(b, m)| !is_underwater(b, m)))
}

/// The smallest reduction, in steps, of a leg of `size` that leaves its unit at or above its
/// maintenance margin with the other legs held, if one short of the whole leg does. Closing `q`
/// at the leg's bankruptcy price leaves `MB' = MB × (size − q) / size` (that price is where
/// closing all of it takes the whole MB; the liquidation fee is capped at the surplus over it, so
/// better fills only help), against `MM' = MM_others + MM(size − q)` at the mark, in its own
/// (lower) bracket. `f(r) = MB × r / size − MM(r)` is concave (MM is convex: continuous with
/// rising rates), so the kept sizes that comply, `f(r) ≥ MM_others`, form one interval: the peak
/// of `f` is found by a binary search on its slope, then the top of the interval above it.
fn tier_reduction(
    parts: &Parts<'_>,
    (account, unit): (AccountId, Unit),
    (symbol, side): (SymbolId, PositionSide),
    size: i64,
) -> Option<i64> {
    let (market, &mark) = (parts.markets.get(&symbol)?, parts.prices.get(&symbol)?);
    let spec = &market.spec;
    let notional = margin::signed_notional(size, mark, Rounding::Ceil).ok()?;
    if notional <= spec.brackets.first()?.notional_cap {
        return None;
    }
    let (balance, maintenance) = unit_health(parts.accounts.get(account)?, unit, parts.markets, parts.prices).ok()?;
    let others = maintenance.raw() - leg_maintenance(parts, account, symbol, side)?.raw();
    let step = spec.step_size.raw();
    let surplus = |steps: i64| -> Option<i64> {
        let kept = steps * step;
        let scaled = mul_div(balance.raw(), kept, size, Rounding::Floor).ok()?;
        let maintenance = margin::signed_notional(kept, mark, Rounding::Ceil).and_then(|n| margin::maintenance_margin(spec, n)).ok()?;
        Some(scaled - maintenance.raw())
    };
    let complies = |steps: i64| surplus(steps).is_some_and(|s| s >= others);
    let whole = size / step;
    if balance.raw() <= 0 || complies(whole) {
        return None;
    }
    let (mut low, mut high) = (0, whole); // the peak of `surplus` lies in [low, high]
    while low < high {
        let middle = low + (high - low) / 2;
        if surplus(middle + 1)? >= surplus(middle)? {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    if !complies(low) {
        return None;
    }
    let mut high = whole; // `low` complies, `high` does not
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if complies(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    (low > 0).then(|| size - low * step)
}

/// True when the insurance fund's margin balance would still be positive and at or above its
/// maintenance margin at the mark after taking `qty` at `price` (otherwise it would be
/// deleveraged at once, or be left in debt when the take closes a position it held).
fn fund_can_take(parts: &Parts<'_>, symbol: SymbolId, qty: i64, price: Price) -> bool {
    let mut fund = parts.accounts.get(INSURANCE_FUND).cloned().unwrap_or_default();
    let leg = &mut fund.symbol_mut(symbol).positions[0];
    let Ok(effect) = crate::accounts::apply_fill(*leg, qty, price) else { return false };
    *leg = effect.position;
    fund.wallet = Quote(fund.wallet.raw().saturating_add(effect.realised_pnl.raw()));
    health(&fund, parts.markets, parts.prices)
        .is_ok_and(|(balance, maintenance)| balance.raw() >= 0 && !is_underwater(balance, maintenance))
}

/// The leg of `account` that holds positions of the ranked side (shorts for `Sell`).
fn counter_leg(account: &Account, ranked: Side) -> PositionSide {
    match (account.hedge_mode, ranked) {
        (false, _) => PositionSide::Both,
        (true, Side::Buy) => PositionSide::Long,
        (true, Side::Sell) => PositionSide::Short,
    }
}

/// Open quantity of the ranked side (`Buy`: longs) held by `account` in `symbol` (positive), if any.
#[must_use]
pub fn opposite_qty(account: &Account, symbol: SymbolId, ranked: Side) -> i64 {
    let leg = leg_index(counter_leg(account, ranked));
    let q = account.symbols.get(&symbol).map_or(0, |s| s.positions[leg].qty);
    match ranked {
        Side::Buy => q.max(0),
        Side::Sell => (-q).max(0),
    }
}

/// The BitMEX ADL score (MECHANICS §8.1) in 1e-8 fixed point.
fn bitmex_score(state: RankingState<'_>, account: &Account, symbol: SymbolId, ranked: Side, mark: Price) -> i128 {
    let leg = leg_index(counter_leg(account, ranked));
    let position = account.symbols.get(&symbol).map(|s| s.positions[leg]).unwrap_or_default();
    let pnl = i128::from(margin::unrealised_pnl(position.qty, position.cost, mark).map_or(0, Quote::raw));
    let cost = i128::from(position.cost.raw().abs()).max(1);
    let unit = Unit::of(account, symbol, counter_leg(account, ranked));
    let balance = i128::from(unit_health(account, unit, state.markets, state.prices).map_or(1, |(b, _)| b.raw())).max(1);
    let value = i128::from(margin::signed_notional(position.qty.abs(), mark, Rounding::Floor).map_or(0, Quote::raw));
    let scale = i128::from(SCALE);
    let pnl_pct = pnl * scale / cost;
    let leverage = (value * scale / balance).max(1);
    if pnl >= 0 {
        pnl_pct * leverage / scale
    } else {
        pnl_pct * scale / leverage
    }
}

/// An ADL queue, ranked once per liquidation pass (one mark or funding command) and consumed
/// from the front: `next` skips the counterparties found with nothing left to give.
#[derive(Debug, Default)]
pub struct AdlQueue {
    order: Vec<AccountId>,
    next: usize,
}

/// The ADL queues of one pass, by (symbol, ranked side).
pub type AdlQueues = BTreeMap<(SymbolId, Side), AdlQueue>;

/// What ranking an ADL queue reads: the engine state, shared (the liquidation pass and the
/// read-only queue query, `adl_quantiles`, rank from the same function).
#[derive(Clone, Copy, Debug)]
pub struct RankingState<'a> {
    /// Every account.
    pub accounts: &'a Accounts,
    /// Every market.
    pub markets: &'a BTreeMap<SymbolId, Market>,
    /// Reference prices.
    pub prices: &'a ReferencePrices,
    /// The latest ADL ranking of each (symbol, ranked side).
    pub rankings: &'a BTreeMap<(SymbolId, Side), Vec<AccountId>>,
}

/// The deleveraging queue of the `ranked` side of `symbol` (`Buy` ranks longs): the installed
/// ranking's accounts first, then every other holder of that side by BitMEX score (highest
/// first, ties by id); the insurance fund, the fee account and accounts holding nothing on that
/// side are left out.
#[must_use]
pub fn adl_queue(state: RankingState<'_>, symbol: SymbolId, ranked: Side) -> Vec<AccountId> {
    let eligible = |id: AccountId| {
        id != INSURANCE_FUND && id != FEE_ACCOUNT && state.accounts.get(id).is_some_and(|a| opposite_qty(a, symbol, ranked) > 0)
    };
    let mut queue: Vec<AccountId> =
        state.rankings.get(&(symbol, ranked)).map_or_else(Vec::new, |r| r.iter().copied().filter(|&id| eligible(id)).collect());
    let installed: BTreeSet<AccountId> = queue.iter().copied().collect();
    let Some(&mark) = state.prices.get(&symbol) else { return queue };
    let mut rest: Vec<(i128, AccountId)> = state
        .accounts
        .holders(symbol)
        .into_iter()
        .filter(|&id| eligible(id) && !installed.contains(&id))
        .filter_map(|id| state.accounts.get(id).map(|a| (bitmex_score(state, a, symbol, ranked, mark), id)))
        .collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    queue.extend(rest.into_iter().map(|(_, id)| id));
    queue
}

/// The next counterparty of the queue from `from` that can give something to `bankrupt`, and
/// how much; advances the queue past the exhausted ones at its front.
fn next_counterparty(
    parts: &mut Parts<'_>,
    (symbol, ranked): (SymbolId, Side),
    bankrupt: AccountId,
    from: usize,
) -> Option<(usize, AccountId, i64)> {
    let key = (symbol, ranked);
    if !parts.adl_queues.contains_key(&key) {
        let state = RankingState { accounts: parts.accounts, markets: parts.markets, prices: parts.prices, rankings: parts.adl_rankings };
        let order = adl_queue(state, symbol, ranked);
        parts.adl_queues.insert(key, AdlQueue { order, next: 0 });
    }
    let queue = parts.adl_queues.get_mut(&key)?;
    let mut i = from.max(queue.next);
    while let Some(&id) = queue.order.get(i) {
        let available = parts.accounts.get(id).map_or(0, |a| opposite_qty(a, symbol, ranked));
        if available > 0 && id != bankrupt {
            return Some((i, id, available));
        }
        if available == 0 && i == queue.next {
            queue.next += 1;
        }
        i += 1;
    }
    None
}

/// Closes up to `rest` of the bankrupt position against the ADL queue at `bankruptcy`; returns
/// what is left (zero unless the opposite side ran out, which balanced open interest prevents).
fn deleverage(parts: &mut Parts<'_>, order: &OrderSide, mut rest: i64, bankruptcy: Price, events: &mut Vec<Event>) -> i64 {
    let ranked = order.side;
    let mut from = 0;
    let mut reranked = false;
    while rest > 0 {
        let Some((position, counterparty, available)) = next_counterparty(parts, (order.symbol, ranked), order.account, from) else {
            // Exhausted: fills earlier in this pass may have opened positions the ranking never
            // saw (a liquidation order filling a resting order). Rank the side again, once.
            if reranked {
                break;
            }
            parts.adl_queues.remove(&(order.symbol, ranked));
            (reranked, from) = (true, 0);
            continue;
        };
        from = position + 1;
        let Some(account) = parts.accounts.get(counterparty) else { continue };
        let leg = counter_leg(account, ranked);
        let qty = rest.min(available);
        with_market(parts, order.symbol, events, |market, ctx| market.cancel_all(counterparty, CancelReason::AutoDeleverage, ctx));
        let signed = if ranked == Side::Sell { qty } else { -qty };
        events.push(Event::AutoDeleveraged {
            account: counterparty,
            bankrupt: order.account,
            symbol: order.symbol,
            qty: signed,
            price: bankruptcy,
        });
        let fill = Fill { order_id: 0, trade_id: 0, qty: Qty(qty), price: bankruptcy, fee_rate: crate::units::Rate(0) };
        settlement::settle(parts.accounts, order, &fill, events);
        let counter_order = OrderSide { account: counterparty, symbol: order.symbol, side: ranked.opposite(), position_side: leg };
        settlement::settle(parts.accounts, &counter_order, &fill, events);
        rest -= qty;
    }
    rest
}

/// Covers `deficit` (if positive) of `account` from the insurance fund, as far as the fund's
/// margin balance goes.
fn clear_bad_debt(parts: &mut Parts<'_>, account: AccountId, deficit: i64, events: &mut Vec<Event>) {
    let fund = parts.accounts.get(INSURANCE_FUND).map_or(Ok(Quote::ZERO), |a| health(a, parts.markets, parts.prices).map(|(b, _)| b));
    let covered = deficit.min(fund.map_or(0, Quote::raw));
    if covered > 0 {
        settlement::move_funds(parts.accounts, (INSURANCE_FUND, account), Quote(covered), BalanceKind::InsuranceClear, events);
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
