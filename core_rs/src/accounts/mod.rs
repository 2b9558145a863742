//! Accounts: the USDT wallet, positions per (symbol, position side), leverage, and the open-order
//! exposure that initial margin is charged on. The fee account and the insurance fund are
//! ordinary accounts with reserved ids.
//!
//! Positions keep a signed quantity and a signed **cost** (the sum of signed trade notionals),
//! not a rounded entry price: the entry price is `cost / qty`, for display. Instruments require
//! `tick × step` to be a multiple of 1e-8, so every trade notional is exact, and realising part of
//! a position moves `cost × closed / qty` (rounded so the credited PnL rounds toward −∞) out of
//! the position: nothing is lost to rounding, the rest of the cost stays in the position.
//!
//! Invariant (conservation): for every account, `wallet − Σ cost` changes only by deposits,
//! withdrawals, transfers, fees and funding; summed over all accounts (fee account and insurance
//! fund included) it changes only by deposits and withdrawals. Equivalently, total equity at any
//! common mark price is conserved, because long and short quantities are equal.
//!
//! Margin model ([OURS], cross margin): per symbol, initial margin is charged on the worst case
//! of the position with all open buys filled or all open sells filled, valued at the reference
//! price, divided by the leverage (rounded up), plus the **open loss** of the orders' opening
//! parts. Open loss is per order (Binance): `max(0, price − reference) × qty` for a buy,
//! `max(0, reference − price) × qty` for a sell, so a sell above the reference never offsets the
//! loss of one below it. Only the part of the orders that opens is charged: in one-way mode the
//! most aggressive orders of a side (the ones that fill first: highest buys, lowest sells) close
//! the opposite position first and their closing quantity carries no loss; in hedge mode only the
//! opening direction of a leg (buy LONG, sell SHORT) adds exposure. The worst case itself grows
//! only with the opening part (a closing order moves the position toward zero).
//! `available = cross wallet + Σ cross uPnL − Σ IM`; an order that raises a symbol's IM needs
//! `available ≥ 0` afterwards; an order that does not raise it always passes.
//!
//! Invariant: each side's `qty` and `value` are the sums over its price `levels` (kept as
//! aggregates for the worst case; the levels give the per-order open loss).
//!
//! Isolated margin ([OURS], MECHANICS §4.2): a symbol is cross or isolated (per account, changed
//! only with no position and no open order there). Each leg of an isolated symbol is its own margin
//! unit with an **isolated margin** that is part of the wallet: `wallet` is the whole wallet
//! balance (Binance `walletBalance`), `cross wallet = wallet − Σ isolated margin`. So moving margin
//! between the cross part and a leg changes no wallet and no income, and conservation reads the
//! same. An isolated symbol's positions count neither in the cross uPnL nor in the cross IM or MM;
//! only the initial margin of its open orders beyond the positions' own is charged to the cross
//! part (that is what an order's fill will move into the leg).

pub mod margin;
mod price_levels;
mod symbol_map;

pub use price_levels::PriceLevels;
pub use symbol_map::SymbolMap;

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::ids::{AccountId, SymbolId};
use crate::order::{PositionSide, Side};
use crate::units::{mul_div, Overflow, Price, Qty, Quote, Rounding, SCALE};

/// The account that collects trading fees (and pays maker rebates).
pub const FEE_ACCOUNT: AccountId = u64::MAX - 1;
/// The insurance fund's account.
pub const INSURANCE_FUND: AccountId = u64::MAX;
/// User accounts opened by [`crate::command::Command::OpenAccount`] get ids above this one (below
/// it: accounts the operator funds directly, e.g. market makers).
pub const FIRST_USER_ACCOUNT: AccountId = 10_000;
/// Leverage of a symbol until the account sets one (Binance's default).
pub const DEFAULT_LEVERAGE: u32 = 20;

/// One position leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed base quantity at 1e-8 (negative: short).
    pub qty: i64,
    /// Signed entry value: the sum of signed trade notionals still open.
    pub cost: Quote,
}

impl Position {
    /// Average entry price (display only; rounded half-even), or zero when flat.
    #[must_use]
    pub fn entry_price(&self) -> Price {
        if self.qty == 0 {
            return Price::ZERO;
        }
        Price(mul_div(self.cost.raw(), SCALE, self.qty, Rounding::HalfEven).unwrap_or(0))
    }
}

/// Open orders of one position side: quantities and values by order side, and the open
/// quantity at each price (orders at one price add up: their open loss is linear in quantity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenOrders {
    /// Open buy quantity.
    pub buy_qty: i64,
    /// Open sell quantity.
    pub sell_qty: i64,
    /// Σ price × quantity of open buys.
    pub buy_value: Quote,
    /// Σ price × quantity of open sells.
    pub sell_value: Quote,
    /// Open buy quantity by price.
    pub buy_levels: PriceLevels,
    /// Open sell quantity by price.
    pub sell_levels: PriceLevels,
}

impl OpenOrders {
    /// Adds `qty` (negative: removes) of a `side` order at `price`.
    ///
    /// # Errors
    /// [`Overflow`] when the value does not fit (nothing is changed then).
    pub fn add(&mut self, side: Side, qty: i64, price: Price) -> Result<(), Overflow> {
        let value = Quote(mul_div(qty, price.raw(), SCALE, Rounding::Ceil)?);
        let (total, sum, levels) = match side {
            Side::Buy => (&mut self.buy_qty, &mut self.buy_value, &mut self.buy_levels),
            Side::Sell => (&mut self.sell_qty, &mut self.sell_value, &mut self.sell_levels),
        };
        *sum = sum.checked_add(value)?;
        *total += qty;
        levels.add(price, qty);
        Ok(())
    }
}

/// A change to one leg's open orders, evaluated without applying it (the pre-trade check): `add`
/// is (quantity, price) of a `side` order joining leg `leg`; `replaces`, for an amendment, the
/// (quantity, price) it takes the place of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenChange {
    /// Leg index (see [`leg_index`]).
    pub leg: usize,
    /// Order side.
    pub side: Side,
    /// Quantity and price added.
    pub add: (i64, Price),
    /// Quantity and price removed (an amendment's old order).
    pub replaces: Option<(i64, Price)>,
}

impl OpenChange {
    /// The signed quantity this change adds to `side` of `leg`.
    fn qty_delta(&self, leg: usize, side: Side) -> i64 {
        if self.leg != leg || self.side != side {
            return 0;
        }
        match self.replaces {
            Some((old, _)) => self.add.0 - old,
            None => self.add.0,
        }
    }

    /// The change's price levels on `side` of `leg`, in fill order, equal prices merged.
    fn levels(&self, leg: usize, side: Side) -> ([(Price, i64); 2], usize) {
        let mut out = [(Price(0), 0); 2];
        if self.leg != leg || self.side != side {
            return (out, 0);
        }
        out[0] = (self.add.1, self.add.0);
        let Some((old_qty, old_price)) = self.replaces else { return (out, 1) };
        if old_price == self.add.1 {
            out[0].1 -= old_qty;
            return (out, 1);
        }
        out[1] = (old_price, -old_qty);
        if fills_before(side, out[1].0, out[0].0) {
            out.swap(0, 1);
        }
        (out, 2)
    }
}

/// True when a `side` order at `a` fills before one at `b` (higher buys, lower sells first).
fn fills_before(side: Side, a: Price, b: Price) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// A side's price levels in fill order with `extra` (already in fill order) merged in.
fn in_fill_order<'a, I>(side: Side, levels: I, extra: &'a [(Price, i64)]) -> impl Iterator<Item = (Price, i64)> + 'a
where
    I: Iterator<Item = (Price, i64)> + 'a,
{
    let mut levels = levels.peekable();
    let mut extra = extra.iter().copied().peekable();
    std::iter::from_fn(move || match (levels.peek().copied(), extra.peek().copied()) {
        (None, None) => None,
        (Some(level), None) => levels.next().map(|_| level),
        (None, Some(more)) => extra.next().map(|_| more),
        (Some(level), Some(more)) if level.0 == more.0 => {
            levels.next();
            extra.next();
            Some((level.0, level.1 + more.1))
        }
        (Some(level), Some(more)) => {
            if fills_before(side, level.0, more.0) {
                levels.next().map(|_| level)
            } else {
                extra.next().map(|_| more)
            }
        }
    })
}

/// Open loss of a side's orders at `reference`, per order, skipping the first `closing`
/// quantity in fill order (best price first for the taker: highest buy, lowest sell), which
/// only closes. Each term rounds up (a requirement, MECHANICS §10). `extra` levels (in fill
/// order) are counted as if they rested too.
fn side_open_loss(side: Side, levels: &PriceLevels, closing: i64, reference: Price, extra: &[(Price, i64)]) -> Result<i64, Overflow> {
    // The walk stops at the first level not worse than the reference: when neither the first
    // resting level nor the first extra one is worse, there is no loss (the common case).
    let worse = |price: Price| fills_before(side, price, reference);
    let first = match side {
        Side::Buy => levels.last(),
        Side::Sell => levels.first(),
    };
    if !first.is_some_and(|(price, _)| worse(price)) && !extra.first().is_some_and(|&(price, _)| worse(price)) {
        return Ok(0);
    }
    match side {
        Side::Buy => walk_open_loss(side, in_fill_order(side, levels.iter().rev(), extra), closing, reference),
        Side::Sell => walk_open_loss(side, in_fill_order(side, levels.iter(), extra), closing, reference),
    }
}

fn walk_open_loss(side: Side, in_fill_order: impl Iterator<Item = (Price, i64)>, closing: i64, reference: Price) -> Result<i64, Overflow> {
    let mut skip = closing;
    let mut loss = 0_i64;
    for (price, qty) in in_fill_order {
        let worse_by = match side {
            Side::Buy => price.raw() - reference.raw(),
            Side::Sell => reference.raw() - price.raw(),
        };
        if worse_by <= 0 {
            break; // every later level is at or better than the reference
        }
        let opening = (qty - skip).max(0);
        skip = (skip - qty).max(0);
        if opening > 0 {
            loss = loss.checked_add(mul_div(worse_by, opening, SCALE, Rounding::Ceil)?).ok_or(Overflow)?;
        }
    }
    Ok(loss)
}

/// An account's state in one symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolAccount {
    /// Leverage (1 ..= the bracket maximum).
    pub leverage: u32,
    /// Positions, indexed by [`PositionSide`] wire value (BOTH, LONG, SHORT).
    pub positions: [Position; 3],
    /// Open orders, indexed the same way.
    pub open: [OpenOrders; 3],
    /// Isolated margin mode for this symbol (else cross).
    pub isolated: bool,
    /// Isolated margin of each leg (zero unless `isolated`), indexed the same way.
    pub isolated_margin: [Quote; 3],
}

impl Default for SymbolAccount {
    fn default() -> Self {
        Self {
            leverage: DEFAULT_LEVERAGE,
            positions: [Position::default(); 3],
            open: Default::default(),
            isolated: false,
            isolated_margin: [Quote::ZERO; 3],
        }
    }
}

impl SymbolAccount {
    /// True when the account has neither a position nor an open order here.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.positions.iter().all(|p| p.qty == 0) && self.open.iter().all(|o| o.buy_qty == 0 && o.sell_qty == 0)
    }

    /// True when any leg is open.
    #[must_use]
    pub fn holds_position(&self) -> bool {
        self.positions.iter().any(|p| p.qty != 0)
    }

    /// Worst-case absolute position quantity: all open buys filled or all open sells filled
    /// (one-way); each leg with its opening orders filled (hedge).
    #[must_use]
    pub fn worst_qty(&self, hedge: bool) -> i64 {
        self.worst_qty_with(hedge, None)
    }

    /// [`SymbolAccount::worst_qty`] as if `change` had been applied.
    #[must_use]
    pub fn worst_qty_with(&self, hedge: bool, change: Option<&OpenChange>) -> i64 {
        let open = |leg: usize, side: Side| {
            let o = &self.open[leg];
            let now = if side == Side::Buy { o.buy_qty } else { o.sell_qty };
            now + change.map_or(0, |c| c.qty_delta(leg, side))
        };
        if hedge {
            self.positions[1].qty + open(1, Side::Buy) + self.positions[2].qty.abs() + open(2, Side::Sell)
        } else {
            let q = self.positions[0].qty;
            (q + open(0, Side::Buy)).abs().max((q - open(0, Side::Sell)).abs())
        }
    }

    /// Open loss at `reference` of the opening part of every order (see the module docs), as
    /// if `change` had been applied.
    fn open_loss(&self, hedge: bool, reference: Price, change: Option<&OpenChange>) -> Result<Quote, Overflow> {
        let (buy_leg, sell_leg, long, short) = if hedge {
            (1, 2, 0, 0)
        } else {
            let q = self.positions[0].qty;
            (0, 0, q.max(0), (-q).max(0))
        };
        let extra = |leg, side| change.map_or(([(Price(0), 0); 2], 0), |c| c.levels(leg, side));
        let (buys, n) = extra(buy_leg, Side::Buy);
        let buy = side_open_loss(Side::Buy, &self.open[buy_leg].buy_levels, short, reference, &buys[..n])?;
        let (sells, n) = extra(sell_leg, Side::Sell);
        let sell = side_open_loss(Side::Sell, &self.open[sell_leg].sell_levels, long, reference, &sells[..n])?;
        buy.checked_add(sell).map(Quote).ok_or(Overflow)
    }

    /// Initial margin of this symbol at `reference`.
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    pub fn initial_margin(&self, hedge: bool, reference: Price) -> Result<Quote, Overflow> {
        self.worst_case_margin(self.worst_qty(hedge), reference)?.checked_add(self.open_loss(hedge, reference, None)?)
    }

    /// The initial margin before and after `change`, and the worst-case quantity after it: what
    /// the pre-trade check compares; `None` when the change raises neither the worst case nor
    /// the open loss, so it adds no initial margin (then neither margin is computed). A new
    /// order priced no worse than the reference leaves the open loss as it is (the walk, in fill
    /// order, stops before reaching it), so the levels are walked once for both.
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    pub fn margin_before_after(&self, hedge: bool, reference: Price, change: &OpenChange) -> Result<Option<(Quote, Quote, i64)>, Overflow> {
        let loss_unchanged = change.replaces.is_none() && !fills_before(change.side, change.add.1, reference);
        let (worst_before, worst_after) = (self.worst_qty(hedge), self.worst_qty_with(hedge, Some(change)));
        if loss_unchanged && worst_after <= worst_before {
            return Ok(None); // the worst-case margin is monotonic in the worst case
        }
        let loss_before = self.open_loss(hedge, reference, None)?;
        let loss_after = if loss_unchanged { loss_before } else { self.open_loss(hedge, reference, Some(change))? };
        let before = self.worst_case_margin(worst_before, reference)?.checked_add(loss_before)?;
        let after = self.worst_case_margin(worst_after, reference)?.checked_add(loss_after)?;
        Ok(Some((before, after, worst_after)))
    }

    /// `|worst| × reference / leverage`, rounded up.
    fn worst_case_margin(&self, worst: i64, reference: Price) -> Result<Quote, Overflow> {
        margin::initial_margin(margin::signed_notional(worst, reference, Rounding::Ceil)?, self.leverage)
    }

    /// Initial margin of the positions alone at `reference` (what an isolated symbol's legs hold).
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    pub fn position_margin(&self, reference: Price) -> Result<Quote, Overflow> {
        let gross: i64 = self.positions.iter().map(|p| p.qty.abs()).sum();
        margin::initial_margin(margin::signed_notional(gross, reference, Rounding::Ceil)?, self.leverage)
    }

    /// Σ isolated margin of the legs.
    #[must_use]
    pub fn isolated_total(&self) -> Quote {
        Quote(self.isolated_margin.iter().map(|m| m.raw()).sum())
    }

    /// Unrealised PnL of every leg at `reference`.
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    pub fn unrealised_pnl(&self, reference: Price) -> Result<Quote, Overflow> {
        self.positions
            .iter()
            .filter(|p| p.qty != 0)
            .try_fold(Quote::ZERO, |acc, p| acc.checked_add(margin::unrealised_pnl(p.qty, p.cost, reference)?))
    }
}

/// One account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Cross wallet balance (realised: deposits, PnL, fees, funding).
    pub wallet: Quote,
    /// Hedge mode (LONG and SHORT legs) instead of one-way (BOTH).
    pub hedge_mode: bool,
    /// Per-symbol state, for symbols the account has touched.
    pub symbols: SymbolMap,
    /// The account's fee tier, (maker, taker) rates replacing every instrument's own; `None`:
    /// the instruments' rates.
    pub fee_tier: Option<(crate::units::Rate, crate::units::Rate)>,
}

impl Account {
    /// The (maker, taker) fee rates this account pays on an instrument with `defaults`.
    #[must_use]
    pub fn fees(&self, defaults: (crate::units::Rate, crate::units::Rate)) -> (crate::units::Rate, crate::units::Rate) {
        self.fee_tier.unwrap_or(defaults)
    }
}

/// The reference price of every symbol that has one (mark, else last trade).
pub type ReferencePrices = BTreeMap<SymbolId, Price>;

impl Account {
    /// The cross part's `Σ uPnL` and `Σ IM` over every symbol, at the reference prices; a symbol without a
    /// reference price is valued at its positions' cost and orders' own prices.
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    /// Isolated symbols add only their open orders' extra IM (see [`Account::available`]).
    pub fn margin_totals(&self, prices: &ReferencePrices) -> Result<(Quote, Quote), Overflow> {
        self.margin_totals_knowing(prices, None)
    }

    /// [`Account::margin_totals`], with the initial margin of one symbol already computed by the
    /// caller at that symbol's reference price (`known`: the symbol and its
    /// [`SymbolAccount::initial_margin`]), so it is not computed twice.
    fn margin_totals_knowing(&self, prices: &ReferencePrices, known: Option<(SymbolId, Quote)>) -> Result<(Quote, Quote), Overflow> {
        let mut pnl = Quote::ZERO;
        let mut im = Quote::ZERO;
        for (symbol, state) in &self.symbols {
            let known = known.filter(|&(s, _)| s == *symbol).map(|(_, im)| im);
            let (p, m) = self.symbol_margin(*symbol, state, prices, known)?;
            pnl = pnl.checked_add(p)?;
            im = im.checked_add(m)?;
        }
        Ok((pnl, im))
    }

    /// The cross part's uPnL and IM from one symbol: everything for a cross symbol; for an
    /// isolated one no PnL and only its open orders' initial margin beyond the positions' own.
    /// `known`: the symbol's initial margin at its reference price, when already computed.
    fn symbol_margin(
        &self,
        symbol: SymbolId,
        state: &SymbolAccount,
        prices: &ReferencePrices,
        known: Option<Quote>,
    ) -> Result<(Quote, Quote), Overflow> {
        if let Some(&reference) = prices.get(&symbol) {
            let im = match known {
                Some(im) => im,
                None => state.initial_margin(self.hedge_mode, reference)?,
            };
            if state.isolated {
                return Ok((Quote::ZERO, Quote(im.checked_sub(state.position_margin(reference)?)?.raw().max(0))));
            }
            return Ok((state.unrealised_pnl(reference)?, im));
        }
        // No price yet: positions at cost (no PnL), orders at their own prices.
        let cost: i64 = if state.isolated { 0 } else { state.positions.iter().map(|p| p.cost.raw().abs()).sum() };
        let orders: i64 = state.open.iter().map(|o| o.buy_value.raw().max(o.sell_value.raw())).sum();
        Ok((Quote::ZERO, margin::initial_margin(Quote(cost + orders), state.leverage)?))
    }

    /// The wallet without the isolated margins: what backs the cross positions.
    #[must_use]
    pub fn cross_wallet(&self) -> Quote {
        Quote(self.wallet.raw() - self.symbols.values().map(|s| s.isolated_total().raw()).sum::<i64>())
    }

    /// Margin left for new orders: `cross wallet + Σ cross uPnL − Σ IM`.
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    pub fn available(&self, prices: &ReferencePrices) -> Result<Quote, Overflow> {
        self.available_knowing(prices, None)
    }

    /// [`Account::available`] with one symbol's initial margin already known (see
    /// [`Account::margin_totals`]).
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    pub fn available_knowing(&self, prices: &ReferencePrices, known: Option<(SymbolId, Quote)>) -> Result<Quote, Overflow> {
        let (pnl, im) = self.margin_totals_knowing(prices, known)?;
        self.cross_wallet().checked_add(pnl)?.checked_sub(im)
    }

    /// What may leave the account: `cross wallet + Σ min(0, cross uPnL) − Σ IM` (unrealised
    /// profit and isolated margin stay).
    ///
    /// # Errors
    /// [`Overflow`] on absurd sizes.
    pub fn withdrawable(&self, prices: &ReferencePrices) -> Result<Quote, Overflow> {
        let (pnl, im) = self.margin_totals(prices)?;
        self.cross_wallet().checked_add(Quote(pnl.raw().min(0)))?.checked_sub(im)
    }

    /// True when the cross part's margin balance (`cross wallet + Σ cross uPnL`) or an isolated
    /// leg's (`isolated margin + uPnL`) is negative at the reference prices (an overflow counts as
    /// negative: it cannot be shown to be covered).
    #[must_use]
    pub fn has_negative_equity(&self, prices: &ReferencePrices) -> bool {
        let cross = self.margin_totals(prices).and_then(|(pnl, _)| self.cross_wallet().checked_add(pnl));
        if cross.map_or(true, |b| b.raw() < 0) {
            return true;
        }
        self.symbols.iter().filter(|(_, s)| s.isolated).any(|(symbol, s)| {
            let Some(&price) = prices.get(symbol) else { return s.isolated_total().raw() < 0 };
            s.positions
                .iter()
                .zip(&s.isolated_margin)
                .any(|(p, m)| margin::unrealised_pnl(p.qty, p.cost, price).and_then(|pnl| m.checked_add(pnl)).map_or(true, |b| b.raw() < 0))
        })
    }

    /// The state in `symbol`, created with defaults on first use.
    pub fn symbol_mut(&mut self, symbol: SymbolId) -> &mut SymbolAccount {
        self.symbols.get_or_default(symbol)
    }
}

/// Which position leg a fill of `side` with `position_side` acts on, and the index of it.
#[must_use]
pub const fn leg_index(position_side: PositionSide) -> usize {
    position_side.to_u8() as usize
}

/// Signed quantity of a fill: positive for a buy.
#[must_use]
pub const fn signed(side: Side, qty: Qty) -> i64 {
    match side {
        Side::Buy => qty.raw(),
        Side::Sell => -qty.raw(),
    }
}

/// The result of applying one fill to a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillEffect {
    /// Realised PnL credited to the wallet (before fees).
    pub realised_pnl: Quote,
    /// The position after the fill.
    pub position: Position,
}

/// Applies a signed fill of `delta` at `price` to `position`: opening adds to the cost; closing
/// realises PnL on the closed part; a fill larger than the position closes it and opens the rest
/// the other way (one-way mode flips).
///
/// # Errors
/// [`Overflow`] on absurd sizes.
pub fn apply_fill(position: Position, delta: i64, price: Price) -> Result<FillEffect, Overflow> {
    let q = position.qty;
    if q == 0 || (q > 0) == (delta > 0) {
        let cost = position.cost.checked_add(margin::signed_notional(delta, price, Rounding::Floor)?)?;
        return Ok(FillEffect { realised_pnl: Quote::ZERO, position: Position { qty: q + delta, cost } });
    }
    // `closed` has the sign of the position; |closed| ≤ |q|.
    let closed = if delta.abs() >= q.abs() { q } else { -delta };
    let closed_cost = if closed == q { position.cost } else { Quote(mul_div(position.cost.raw(), closed, q, Rounding::Ceil)?) };
    let proceeds = margin::signed_notional(closed, price, Rounding::Floor)?;
    let realised_pnl = proceeds.checked_sub(closed_cost)?;
    let rest = Position { qty: q - closed, cost: position.cost.checked_sub(closed_cost)? };
    let opened = delta + closed;
    if opened == 0 {
        return Ok(FillEffect { realised_pnl, position: rest });
    }
    let cost = margin::signed_notional(opened, price, Rounding::Floor)?;
    Ok(FillEffect { realised_pnl, position: Position { qty: opened, cost } })
}

/// Every account, by id, and which accounts hold a position in each symbol.
#[derive(Debug, Default)]
pub struct Accounts {
    accounts: FxHashMap<AccountId, Account>,
    holders: BTreeMap<SymbolId, BTreeSet<AccountId>>,
    touched: rustc_hash::FxHashSet<AccountId>,
}

impl Accounts {
    /// One account.
    #[must_use]
    pub fn get(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// One account, created empty on first use; remembered as touched (see [`Accounts::take_touched`]).
    pub fn get_mut(&mut self, id: AccountId) -> &mut Account {
        if id < FEE_ACCOUNT {
            self.touched.insert(id); // the reserved accounts (every fill pays the fee account) are never indexed
        }
        self.accounts.entry(id).or_default()
    }

    /// Every account changed since the last call, ascending, once each; the fee account and the
    /// insurance fund are not reported (no liquidation index entry describes them).
    pub fn take_touched(&mut self) -> Vec<AccountId> {
        if self.touched.is_empty() {
            return Vec::new(); // a drain would still sweep the whole table of the largest burst
        }
        let mut touched: Vec<AccountId> = std::mem::take(&mut self.touched).into_iter().collect();
        touched.sort_unstable();
        touched
    }

    /// Every account id, ascending (for deterministic iteration).
    #[must_use]
    pub fn ids(&self) -> Vec<AccountId> {
        let mut ids: Vec<AccountId> = self.accounts.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Accounts holding a position in `symbol`, ascending.
    #[must_use]
    pub fn holders(&self, symbol: SymbolId) -> Vec<AccountId> {
        self.holders.get(&symbol).map_or_else(Vec::new, |set| set.iter().copied().collect())
    }

    /// Open interest of `symbol`: the sum of every long quantity (equal to the sum of shorts).
    #[must_use]
    pub fn open_interest(&self, symbol: SymbolId) -> i64 {
        let longs = |id: &AccountId| {
            self.accounts.get(id).and_then(|a| a.symbols.get(&symbol)).map_or(0, |s| s.positions.iter().map(|p| p.qty.max(0)).sum::<i64>())
        };
        self.holders.get(&symbol).map_or(0, |set| set.iter().map(longs).sum())
    }

    /// Records whether `account` now holds a position in `symbol` (after any position change).
    pub fn note_position(&mut self, account: AccountId, symbol: SymbolId) {
        let holds = self.accounts.get(&account).and_then(|a| a.symbols.get(&symbol)).is_some_and(SymbolAccount::holds_position);
        let set = self.holders.entry(symbol).or_default();
        if holds {
            set.insert(account);
        } else {
            set.remove(&account);
        }
    }

    /// True when some account's margin balance (its cross part, or an isolated leg) is negative
    /// at the reference prices: a loss the insurance fund or ADL has not covered yet. The answer
    /// does not depend on the iteration order.
    #[must_use]
    pub fn any_negative_equity(&self, prices: &ReferencePrices) -> bool {
        self.accounts.values().any(|a| a.has_negative_equity(prices))
    }

    /// Number of accounts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when there is no account.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

#[cfg(test)]
mod tests;
