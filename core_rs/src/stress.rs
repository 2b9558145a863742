//! Stress test: "what if the mark of these symbols went to X (or moved by −Y %)", answered by the
//! engine itself on a copy of its state.
//!
//! - The copy is [`Engine::restore`] of [`Engine::snapshot`]: the same state, hash included. The
//!   live engine is never touched (the caller takes the snapshot between two batches and runs the
//!   test on its own thread).
//! - Each shocked symbol, ascending by id, gets one `SetMarkPrice` (index = the new mark, as the
//!   oracle would publish in a crash), stamped with the next sequence number and the last
//!   command's time, so the liquidation sequence (MECHANICS §6.2: cancel, tier reduction, book,
//!   takeover, ADL, bad debt) runs exactly as it would live, cascades included.
//! - A relative move `m` gives `mark · (1 + m)` rounded to the tick away from the current mark
//!   (at least the move asked for), never below one tick.
//! - The report is read from the events: accounts liquidated, the notional offered to the book
//!   (liquidation orders at their bankruptcy price) and what filled there, what the insurance
//!   fund took over, what was auto-deleveraged, the bad debt the fund covered, the fees it
//!   earned, and its margin balance before (current marks) and after (stressed marks).
//!
//! Deterministic: the same state and shocks give the same report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::accounts::margin::{self, health};
use crate::accounts::INSURANCE_FUND;
use crate::command::{Command, CommandEnvelope};
use crate::engine::Engine;
use crate::event::{BalanceKind, Event};
use crate::ids::{AccountId, OrderId, SymbolId};
use crate::units::{mul_div, Overflow, Price, Quote, Rate, Rounding, SCALE};

/// Where a shocked symbol's mark goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// This mark.
    Price(Price),
    /// The current mark moved by this signed fraction (`-0.1`: a 10 % fall).
    Move(Rate),
}

/// One symbol's shock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shock {
    /// Instrument.
    pub symbol: SymbolId,
    /// Its new mark.
    pub target: Target,
}

/// Why a stress test cannot run; nothing was computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StressError {
    /// No shock given.
    NoShock,
    /// The symbol is not listed.
    UnknownSymbol(SymbolId),
    /// The symbol is shocked twice.
    DuplicateSymbol(SymbolId),
    /// A relative move on a symbol without a mark yet.
    NoMark(SymbolId),
    /// The target mark is not positive (a move of −100 % or more, or a zero price).
    PriceNotPositive(SymbolId),
    /// Absurd sizes.
    Overflow,
}

impl fmt::Display for StressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoShock => f.write_str("no symbol to shock"),
            Self::UnknownSymbol(s) => write!(f, "symbol {s} is not listed"),
            Self::DuplicateSymbol(s) => write!(f, "symbol {s} is shocked twice"),
            Self::NoMark(s) => write!(f, "symbol {s} has no mark price to move"),
            Self::PriceNotPositive(s) => write!(f, "the stressed mark of symbol {s} is not positive"),
            Self::Overflow => f.write_str("stress figures overflow"),
        }
    }
}

impl std::error::Error for StressError {}

impl From<Overflow> for StressError {
    fn from(_: Overflow) -> Self {
        Self::Overflow
    }
}

/// One shocked symbol's mark and liquidation figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SymbolStress {
    /// Instrument.
    pub symbol: SymbolId,
    /// Mark before (zero when none was published).
    pub mark_before: Price,
    /// The stressed mark.
    pub mark_after: Price,
    /// Liquidation orders' notional at their bankruptcy prices.
    pub offered: Quote,
    /// Notional of liquidation orders filled in the book.
    pub filled: Quote,
    /// Notional the insurance fund took over at bankruptcy prices.
    pub taken_over: Quote,
    /// Notional auto-deleveraged at bankruptcy prices.
    pub deleveraged: Quote,
}

/// One liquidated account (or margin unit sequence of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiquidatedAccount {
    /// Account.
    pub account: AccountId,
    /// Margin balance when its first liquidation started.
    pub margin_balance: Quote,
    /// Maintenance margin then.
    pub maintenance: Quote,
    /// Positions were closed (false: cancelling its orders was enough).
    pub closed: bool,
    /// Notional of its liquidation orders at bankruptcy prices.
    pub offered: Quote,
}

/// What a stress test found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StressReport {
    /// Per shocked symbol, ascending.
    pub symbols: Vec<SymbolStress>,
    /// Liquidated accounts, ascending (the insurance fund excepted).
    pub accounts: Vec<LiquidatedAccount>,
    /// The insurance fund itself was deleveraged.
    pub fund_deleveraged: bool,
    /// Distinct counterparties auto-deleveraged.
    pub adl_accounts: u32,
    /// Bad debt the fund covered (`InsuranceClear`).
    pub bad_debt: Quote,
    /// Liquidation fees the fund earned.
    pub fees: Quote,
    /// Fund margin balance at the current marks.
    pub fund_before: Quote,
    /// Fund margin balance at the stressed marks, after the liquidations.
    pub fund_after: Quote,
}

impl StressReport {
    /// `fund_before − fund_after`: positive when the fund loses.
    ///
    /// # Errors
    /// [`Overflow`] on absurd balances.
    pub fn fund_drawdown(&self) -> Result<Quote, Overflow> {
        self.fund_before.checked_sub(self.fund_after)
    }
}

/// Runs the shocks on `copy` (consumed: a copy of the live state, see [`run_on`]).
///
/// # Errors
/// [`StressError`] for a bad shock (nothing computed).
pub fn run(mut copy: Engine, shocks: &[Shock]) -> Result<StressReport, StressError> {
    let targets = targets(&copy, shocks)?;
    let fund_before = fund_balance(&copy)?;
    let ts = copy.last_ts();
    let mut events = Vec::new();
    for (&symbol, &(_, mark)) in &targets {
        let envelope = CommandEnvelope { seq: copy.last_seq() + 1, ts, command: Command::SetMarkPrice { symbol, mark, index: mark } };
        copy.apply(&envelope, &mut events).expect("Invariant: the copy's own next seq and time");
    }
    let mut report = read_events(&events, &targets)?;
    report.fund_before = fund_before;
    report.fund_after = fund_balance(&copy)?;
    Ok(report)
}

/// Runs the shocks on a copy of `engine` (snapshot and restore); `engine` is unchanged.
///
/// # Errors
/// See [`run`].
///
/// # Panics
/// If the engine's own snapshot does not restore (an engine bug).
pub fn run_on(engine: &Engine, shocks: &[Shock]) -> Result<StressReport, StressError> {
    run(Engine::restore(&engine.snapshot()).expect("Invariant: a snapshot restores"), shocks)
}

/// `symbol -> (mark before, stressed mark)`, validated.
fn targets(engine: &Engine, shocks: &[Shock]) -> Result<BTreeMap<SymbolId, (Price, Price)>, StressError> {
    if shocks.is_empty() {
        return Err(StressError::NoShock);
    }
    let mut out = BTreeMap::new();
    for shock in shocks {
        let market = engine.market(shock.symbol).ok_or(StressError::UnknownSymbol(shock.symbol))?;
        let before = market.mark_price;
        let tick = market.spec.tick_size.raw();
        let after = match shock.target {
            Target::Price(p) => p.raw(),
            Target::Move(m) => {
                let mark = before.ok_or(StressError::NoMark(shock.symbol))?.raw();
                let factor = SCALE.checked_add(m.raw()).ok_or(Overflow)?;
                let away = if m.raw() < 0 { Rounding::Floor } else { Rounding::Ceil };
                let exact = mul_div(mark, factor, SCALE, away)?;
                mul_div(exact, 1, tick, away)? * tick
            }
        };
        if after <= 0 {
            return Err(StressError::PriceNotPositive(shock.symbol));
        }
        if out.insert(shock.symbol, (before.unwrap_or(Price::ZERO), Price(after))).is_some() {
            return Err(StressError::DuplicateSymbol(shock.symbol));
        }
    }
    Ok(out)
}

fn fund_balance(engine: &Engine) -> Result<Quote, Overflow> {
    engine
        .accounts()
        .get(INSURANCE_FUND)
        .map_or(Ok(Quote::ZERO), |fund| health(fund, engine.market_map(), engine.reference_prices()).map(|h| h.0))
}

fn add(total: &mut Quote, qty: i64, price: Price) -> Result<(), Overflow> {
    *total = total.checked_add(margin::signed_notional(qty.abs(), price, Rounding::Ceil)?)?;
    Ok(())
}

fn read_events(events: &[Event], targets: &BTreeMap<SymbolId, (Price, Price)>) -> Result<StressReport, StressError> {
    let mut symbols: BTreeMap<SymbolId, SymbolStress> = targets
        .iter()
        .map(|(&symbol, &(mark_before, mark_after))| (symbol, SymbolStress { symbol, mark_before, mark_after, ..SymbolStress::default() }))
        .collect();
    let mut accounts: BTreeMap<AccountId, LiquidatedAccount> = BTreeMap::new();
    let mut liquidation_orders: BTreeSet<OrderId> = BTreeSet::new();
    let mut counterparties: BTreeSet<AccountId> = BTreeSet::new();
    let mut report = StressReport::default();
    for event in events {
        match *event {
            Event::LiquidationStarted { account: INSURANCE_FUND, .. } => report.fund_deleveraged = true,
            Event::LiquidationStarted { account, margin_balance, maintenance } => {
                accounts.entry(account).or_insert(LiquidatedAccount {
                    account,
                    margin_balance,
                    maintenance,
                    ..LiquidatedAccount::default()
                });
            }
            Event::LiquidationFinished { account, closed } => {
                if let Some(entry) = accounts.get_mut(&account) {
                    entry.closed |= closed;
                }
            }
            Event::LiquidationOrder { account, symbol, order_id, qty, bankruptcy_price, .. } => {
                liquidation_orders.insert(order_id);
                let stats = symbols.entry(symbol).or_insert(SymbolStress { symbol, ..SymbolStress::default() });
                add(&mut stats.offered, qty.raw(), bankruptcy_price)?;
                if let Some(entry) = accounts.get_mut(&account) {
                    add(&mut entry.offered, qty.raw(), bankruptcy_price)?;
                }
            }
            Event::FillSettled { symbol, order_id, qty, price, .. } if liquidation_orders.contains(&order_id) => {
                let stats = symbols.entry(symbol).or_insert(SymbolStress { symbol, ..SymbolStress::default() });
                add(&mut stats.filled, qty, price)?;
            }
            Event::PositionTakenOver { symbol, qty, price, .. } => {
                let stats = symbols.entry(symbol).or_insert(SymbolStress { symbol, ..SymbolStress::default() });
                add(&mut stats.taken_over, qty, price)?;
            }
            Event::AutoDeleveraged { account, symbol, qty, price, .. } => {
                counterparties.insert(account);
                let stats = symbols.entry(symbol).or_insert(SymbolStress { symbol, ..SymbolStress::default() });
                add(&mut stats.deleveraged, qty, price)?;
            }
            Event::BalanceChanged { account: INSURANCE_FUND, amount, kind, .. } => match kind {
                BalanceKind::InsuranceClear => report.bad_debt = report.bad_debt.checked_sub(amount)?,
                BalanceKind::LiquidationFee => report.fees = report.fees.checked_add(amount)?,
                _ => {}
            },
            _ => {}
        }
    }
    report.symbols = symbols.into_values().collect();
    report.accounts = accounts.into_values().collect();
    report.adl_accounts = u32::try_from(counterparties.len()).unwrap_or(u32::MAX);
    Ok(report)
}
