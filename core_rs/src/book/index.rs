//! Direct-mapped storage for the book: order id → slot, and the slot arena of order nodes.
//!
//! - [`OrderIndex`]: order ids are dense and increasing (the engine hands them out one by one),
//!   so the id itself addresses a page of slots: `pages[id / PAGE][id % PAGE]`, two loads and no
//!   hashing. A page is allocated when the first order of its id range rests here and freed when
//!   its last one leaves, unless it is the newest page (which fills next, so freeing it would
//!   churn). Memory: one 16 KiB page per 4,096 consecutive ids that still have a resting order in
//!   this book, plus 8 bytes per 4,096 ids ever issued.
//! - [`Arena`]: nodes in fixed-size chunks, so growing never moves (copies) what is stored: the
//!   latency of an insert does not depend on how many orders rest.
//!
//! Neither is iterated in hash or address order: determinism does not depend on them.

use crate::ids::OrderId;

const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
const EMPTY: u32 = u32::MAX;

#[derive(Debug)]
struct Page {
    slots: Box<[u32]>,
    live: u32,
}

/// Order id → slot, for ids below 2^44.
#[derive(Debug, Default)]
pub struct OrderIndex {
    pages: Vec<Option<Page>>,
    len: usize,
}

const fn split(id: OrderId) -> (usize, usize) {
    ((id >> PAGE_BITS) as usize, (id as usize) & (PAGE - 1))
}

impl OrderIndex {
    /// Number of indexed orders.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is indexed.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot of `id`.
    #[must_use]
    #[inline]
    pub fn get(&self, id: OrderId) -> Option<u32> {
        let (page, at) = split(id);
        let slot = self.pages.get(page)?.as_ref()?.slots[at];
        (slot != EMPTY).then_some(slot)
    }

    /// Indexes `id` at `slot`; returns the slot it had before, if any.
    ///
    /// # Panics
    /// When `slot` is `u32::MAX` (the empty marker) or `id` is beyond 2^44.
    pub fn insert(&mut self, id: OrderId, slot: u32) -> Option<u32> {
        assert!(slot != EMPTY && id < 1 << 44, "Invariant: slots and ids in range");
        let (page, at) = split(id);
        if page >= self.pages.len() {
            self.pages.resize_with(page + 1, || None);
        }
        let page = self.pages[page].get_or_insert_with(|| Page { slots: vec![EMPTY; PAGE].into_boxed_slice(), live: 0 });
        let previous = std::mem::replace(&mut page.slots[at], slot);
        if previous == EMPTY {
            page.live += 1;
            self.len += 1;
            None
        } else {
            Some(previous)
        }
    }

    /// Removes `id`; returns its slot.
    pub fn remove(&mut self, id: OrderId) -> Option<u32> {
        let (number, at) = split(id);
        let newest = self.pages.len().saturating_sub(1);
        let entry = self.pages.get_mut(number)?;
        let page = entry.as_mut()?;
        let slot = std::mem::replace(&mut page.slots[at], EMPTY);
        if slot == EMPTY {
            return None;
        }
        page.live -= 1;
        self.len -= 1;
        if page.live == 0 && number != newest {
            *entry = None;
        }
        Some(slot)
    }
}

const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Nodes addressed by a `u32` slot, stored in chunks of 4,096 that never move.
#[derive(Debug)]
pub struct Arena<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Self { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Arena<T> {
    /// Appends `value`; returns its slot.
    ///
    /// # Panics
    /// Beyond 2^32 − 1 slots.
    pub fn push(&mut self, value: T) -> u32 {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("Invariant: a chunk with room exists").push(value);
        self.len += 1;
        u32::try_from(self.len - 1).ok().filter(|&slot| slot != u32::MAX).expect("Invariant: fewer than 2^32 − 1 slots")
    }
}

impl<T> std::ops::Index<u32> for Arena<T> {
    type Output = T;

    #[inline]
    fn index(&self, slot: u32) -> &T {
        &self.chunks[(slot >> CHUNK_BITS) as usize][slot as usize & (CHUNK - 1)]
    }
}

impl<T> std::ops::IndexMut<u32> for Arena<T> {
    #[inline]
    fn index_mut(&mut self, slot: u32) -> &mut T {
        &mut self.chunks[(slot >> CHUNK_BITS) as usize][slot as usize & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_index_pages_come_and_go() {
        let mut index = OrderIndex::default();
        assert_eq!(index.insert(5, 50), None);
        assert_eq!(index.insert(5_000, 7), None);
        assert_eq!(index.insert(5, 51), Some(50));
        assert_eq!((index.get(5), index.get(6), index.get(1 << 40), index.len()), (Some(51), None, None, 2));
        assert_eq!(index.remove(5), Some(51));
        assert!(index.pages[0].is_none(), "an emptied old page is freed");
        assert_eq!(index.remove(5), None);
        assert_eq!(index.remove(5_000), Some(7));
        assert!(index.pages[1].is_some(), "the newest page stays");
        assert!(index.is_empty());
    }

    #[test]
    fn test_arena_slots_stay_put_across_chunks() {
        let mut arena = Arena::default();
        for i in 0..10_000_u32 {
            assert_eq!(arena.push(i * 3), i);
        }
        arena[9_999] += 1;
        assert_eq!((arena[0], arena[4_096], arena[9_999]), (0, 12_288, 29_998));
    }
}
