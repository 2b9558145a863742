//! An account's per-symbol states in a small vector sorted by symbol id.
//!
//! Accounts touch a handful of symbols, so a sorted vector beats a `BTreeMap` here: a lookup is a
//! binary search over a few entries in one allocation, where the map's first entry alone
//! allocates an eleven-slot node (about 1.7 KB per account holding one position). Iteration is
//! in ascending symbol id, as with the map it replaces, so everything built on it stays
//! deterministic.

use std::ops::Index;

use super::SymbolAccount;
use crate::ids::SymbolId;

/// Per-symbol states, ascending by symbol id, each symbol at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolMap(Vec<(SymbolId, SymbolAccount)>);

impl SymbolMap {
    fn position(&self, symbol: SymbolId) -> Result<usize, usize> {
        self.0.binary_search_by_key(&symbol, |(s, _)| *s)
    }

    /// The state of `symbol`, if the account has touched it.
    #[must_use]
    pub fn get(&self, symbol: &SymbolId) -> Option<&SymbolAccount> {
        self.position(*symbol).ok().map(|i| &self.0[i].1)
    }

    /// The state of `symbol`, created with defaults on first use.
    pub fn get_or_default(&mut self, symbol: SymbolId) -> &mut SymbolAccount {
        let i = match self.position(symbol) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (symbol, SymbolAccount::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Sets the state of `symbol` (used when restoring a snapshot).
    pub fn insert(&mut self, symbol: SymbolId, state: SymbolAccount) {
        *self.get_or_default(symbol) = state;
    }

    /// Every (symbol, state), ascending by symbol.
    pub fn iter(&self) -> impl Iterator<Item = (&SymbolId, &SymbolAccount)> + '_ {
        self.0.iter().map(|(symbol, state)| (symbol, state))
    }

    /// Every symbol, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &SymbolId> + '_ {
        self.0.iter().map(|(symbol, _)| symbol)
    }

    /// Every state, ascending by symbol.
    pub fn values(&self) -> impl Iterator<Item = &SymbolAccount> + '_ {
        self.0.iter().map(|(_, state)| state)
    }

    /// Number of symbols.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the account has touched no symbol.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Index<&SymbolId> for SymbolMap {
    type Output = SymbolAccount;

    /// # Panics
    /// When the account has not touched `symbol`.
    fn index(&self, symbol: &SymbolId) -> &SymbolAccount {
        self.get(symbol).expect("the account holds this symbol")
    }
}

impl<'a> IntoIterator for &'a SymbolMap {
    type Item = (&'a SymbolId, &'a SymbolAccount);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (SymbolId, SymbolAccount)>, fn(&'a (SymbolId, SymbolAccount)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(symbol, state)| (symbol, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_symbols_stay_sorted_and_unique() {
        let mut map = SymbolMap::default();
        for symbol in [7, 2, 9, 2, 7, 1] {
            map.get_or_default(symbol).leverage += 1;
        }
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), vec![1, 2, 7, 9]);
        assert_eq!(map[&2].leverage, super::super::DEFAULT_LEVERAGE + 2);
        assert!(map.get(&3).is_none());
        assert_eq!(map.len(), 4);
    }
}
