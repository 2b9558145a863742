//! Which accounts a mark tick must check, without scanning every position: a mark update costs
//! O(log n + accounts whose trigger it crossed + complex accounts of that symbol).
//!
//! - A one-way account whose only cross position is in one symbol has one liquidation price
//!   there (MECHANICS §5.1; `margin::liquidation_price`, backed by the cross wallet); so
//!   has each one-way isolated position (backed by its isolated margin). It is indexed by a trigger slightly on
//!   the safe side of it (0.1 % and one unit beyond): a long is checked when the mark is at or
//!   below its trigger, a short at or above. The exact `MB < MM` check still decides.
//! - Every other holder (hedge mode, cross positions in several symbols, a degenerate formula)
//!   is "complex": checked on every tick of each symbol it holds.
//! - The fee account and the insurance fund are never indexed (the fund is checked after every
//!   pass by its own rule, `liquidation`).
//! - Entries are rebuilt, right before each liquidation scan, for every account touched since the
//!   last scan (any `Accounts::get_mut`), so they describe the state the scan sees; between scans
//!   nothing is recomputed (an order or a fill costs no index work).
//!
//! Invariant: an account under maintenance margin at the mark of a symbol it holds is always a
//! candidate of that symbol's tick (property-tested: no account is left under water after a mark
//! or funding step).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::accounts::margin::liquidation_price;
use crate::accounts::{Account, Accounts};
use crate::ids::{AccountId, SymbolId};
use crate::market::Markets;
use crate::units::{mul_div, Price, Quote, Rounding, SCALE};

/// How an account is indexed in one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// Checked when the mark is at or below the price.
    Long(Price),
    /// Checked when the mark is at or above the price.
    Short(Price),
    /// Checked on every tick.
    Complex,
}

/// Safety margin of a trigger beyond the liquidation price: 0.1 %.
const SLACK: i64 = SCALE / 1_000;

/// The per-symbol trigger index.
#[derive(Debug, Default)]
pub struct LiquidationIndex {
    longs: BTreeMap<SymbolId, BTreeSet<(Price, AccountId)>>,
    shorts: BTreeMap<SymbolId, BTreeSet<(Price, AccountId)>>,
    complex: BTreeMap<SymbolId, BTreeSet<AccountId>>,
    entries: FxHashMap<AccountId, Vec<(SymbolId, Entry)>>,
}

impl LiquidationIndex {
    /// Accounts to check at `mark` in `symbol`, ascending.
    #[must_use]
    pub fn candidates(&self, symbol: SymbolId, mark: Price) -> Vec<AccountId> {
        let mut out: Vec<AccountId> = Vec::new();
        if let Some(longs) = self.longs.get(&symbol) {
            out.extend(longs.range((mark, 0)..).map(|&(_, a)| a));
        }
        if let Some(shorts) = self.shorts.get(&symbol) {
            out.extend(shorts.range(..=(mark, AccountId::MAX)).map(|&(_, a)| a));
        }
        if let Some(complex) = self.complex.get(&symbol) {
            out.extend(complex.iter().copied());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Rebuilds the entries of every account touched since the last call.
    pub fn refresh(&mut self, accounts: &mut Accounts, markets: &Markets) {
        for account in accounts.take_touched() {
            self.remove(account);
            self.insert(account, accounts, markets);
        }
    }

    fn remove(&mut self, account: AccountId) {
        for (symbol, entry) in self.entries.remove(&account).unwrap_or_default() {
            match entry {
                Entry::Long(p) => self.longs.get_mut(&symbol).map(|s| s.remove(&(p, account))),
                Entry::Short(p) => self.shorts.get_mut(&symbol).map(|s| s.remove(&(p, account))),
                Entry::Complex => self.complex.get_mut(&symbol).map(|s| s.remove(&account)),
            };
        }
    }

    fn insert(&mut self, account: AccountId, accounts: &Accounts, markets: &Markets) {
        let Some(state) = accounts.get(account) else { return };
        let held = |isolated: bool| -> Vec<SymbolId> {
            state
                .symbols
                .iter()
                .filter(|(_, s)| s.isolated == isolated && s.positions.iter().any(|p| p.qty != 0))
                .map(|(&s, _)| s)
                .collect()
        };
        let cross = held(false);
        let simple_cross = !state.hedge_mode && cross.len() == 1;
        let mut entries = Vec::new();
        for symbol in cross {
            let entry = if simple_cross { trigger(state.cross_wallet(), state, symbol, markets) } else { None };
            entries.push((symbol, entry.unwrap_or(Entry::Complex)));
        }
        for symbol in held(true) {
            let backing = state.symbols.get(&symbol).map_or(Quote::ZERO, |s| s.isolated_margin[0]);
            let entry = if state.hedge_mode { None } else { trigger(backing, state, symbol, markets) };
            entries.push((symbol, entry.unwrap_or(Entry::Complex)));
        }
        for &(symbol, entry) in &entries {
            match entry {
                Entry::Long(p) => self.longs.entry(symbol).or_default().insert((p, account)),
                Entry::Short(p) => self.shorts.entry(symbol).or_default().insert((p, account)),
                Entry::Complex => self.complex.entry(symbol).or_default().insert(account),
            };
        }
        if !entries.is_empty() {
            self.entries.insert(account, entries);
        }
    }
}

/// The trigger of a one-way position in `symbol` backed by `backing` alone (the cross wallet of
/// a single-symbol cross account, or the leg's isolated margin), or `None` to treat it as complex.
fn trigger(backing: Quote, state: &Account, symbol: SymbolId, markets: &Markets) -> Option<Entry> {
    let market = markets.get(&symbol)?;
    let position = state.symbols.get(&symbol)?.positions[0];
    let price = liquidation_price(backing, position, &market.spec)?;
    if position.qty > 0 {
        let up = mul_div(price.raw(), SCALE + SLACK, SCALE, Rounding::Ceil).ok()?.checked_add(1)?;
        Some(Entry::Long(Price(up)))
    } else {
        let down = mul_div(price.raw(), SCALE - SLACK, SCALE, Rounding::Floor).ok()?.saturating_sub(1).max(0);
        Some(Entry::Short(Price(down)))
    }
}
