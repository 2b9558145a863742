//! The open quantity of one side of a leg's orders by price, in a vector sorted by price.
//!
//! An account rests orders at a handful of prices per side, so a sorted vector beats a B-tree
//! here: one allocation, a binary search, both directions of iteration without node hops, and
//! 16 bytes per price (a B-tree's first entry alone allocates an eleven-slot leaf of ~190 bytes).
//! The price band bounds how many prices one side can hold, so an insertion's shift stays small.
//!
//! Invariant: prices strictly ascending; no price with a zero quantity.

use crate::units::Price;

/// Open quantity by price, ascending by price.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceLevels(Vec<(Price, i64)>);

impl PriceLevels {
    /// Adds `qty` (negative: removes) at `price`; a price whose quantity reaches zero is dropped.
    pub fn add(&mut self, price: Price, qty: i64) {
        match self.0.binary_search_by_key(&price, |&(p, _)| p) {
            Ok(i) => {
                self.0[i].1 += qty;
                if self.0[i].1 == 0 {
                    self.0.remove(i);
                }
            }
            Err(i) if qty != 0 => self.0.insert(i, (price, qty)),
            Err(_) => {}
        }
    }

    /// The lowest price and its quantity.
    #[must_use]
    pub fn first(&self) -> Option<(Price, i64)> {
        self.0.first().copied()
    }

    /// The highest price and its quantity.
    #[must_use]
    pub fn last(&self) -> Option<(Price, i64)> {
        self.0.last().copied()
    }

    /// Every (price, quantity), ascending by price (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Price, i64)> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::PriceLevels;
    use crate::testkit::px;

    #[test]
    fn test_levels_stay_sorted_and_drop_emptied_prices() {
        let mut levels = PriceLevels::default();
        // Orders of 2 at 101, 1 at 99, 3 at 100, then another 1 at 101: 99 → 1, 100 → 3, 101 → 3.
        for (price, qty) in [("101", 2), ("99", 1), ("100", 3), ("101", 1)] {
            levels.add(px(price), qty);
        }
        assert_eq!(levels.iter().collect::<Vec<_>>(), vec![(px("99"), 1), (px("100"), 3), (px("101"), 3)]);
        assert_eq!(levels.iter().next_back(), Some((px("101"), 3)), "fill order of buys: highest first");
        assert_eq!((levels.first(), levels.last()), (Some((px("99"), 1)), Some((px("101"), 3))));
        // The order at 100 leaves the book: the price goes; removing nothing adds no price.
        levels.add(px("100"), -3);
        levels.add(px("98"), 0);
        assert_eq!(levels.iter().collect::<Vec<_>>(), vec![(px("99"), 1), (px("101"), 3)]);
    }
}
