//! One instrument's limit order book: price levels with FIFO queues (price-time priority).
//!
//! Book layout:
//! - Orders live in a slab (`Vec<Node>` plus a free list) and are linked twice, intrusively: into
//!   their price level's FIFO queue and into their account's list (for cancel-all). No per-order
//!   heap allocation; a slot is about 80 bytes.
//! - Each side maps price → level slot in a `BTreeMap`, so the best price is the first (asks) or
//!   last (bids) key: O(log L) for L levels.
//! - `index` maps order id → slot (FxHash: a fixed hash, used only for point lookups; nothing is
//!   ever iterated from it, so determinism does not depend on it).
//!
//! Invariants (checked by [`OrderBook::check_integrity`] in tests):
//! - every indexed order is in exactly one level queue and its account list, and vice versa;
//! - a level's total equals the sum of its orders' open quantities, and no level is empty;
//! - no resting order has zero open quantity;
//! - the book is not crossed: best bid < best ask.
//!
//! This module only stores; matching lives in [`matching`].

pub mod matching;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::ids::{AccountId, OrderId};
use crate::order::{PositionSide, Side, StpMode, TimeInForce};
use crate::units::{Price, Qty};

const NIL: u32 = u32::MAX;

/// A limit order resting in the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    /// Engine id.
    pub id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Total quantity (filled part included).
    pub qty: Qty,
    /// Open quantity, always > 0 while resting.
    pub leaves: Qty,
    /// Time in force (GTC, GTX or GTD; IOC and FOK never rest).
    pub time_in_force: TimeInForce,
    /// Self-trade prevention mode, used again when an amendment re-queues the order.
    pub stp: StpMode,
    /// Reduce-only flag, for the margin engine.
    pub reduce_only: bool,
    /// Position side, for the margin engine.
    pub position_side: PositionSide,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    order: RestingOrder,
    level: u32,
    prev: u32,
    next: u32,
    account_prev: u32,
    account_next: u32,
}

#[derive(Clone, Copy, Debug)]
struct Level {
    price: Price,
    total: Qty,
    head: u32,
    tail: u32,
}

/// The order book of one instrument.
#[derive(Debug, Default)]
pub struct OrderBook {
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    bids: BTreeMap<Price, u32>,
    asks: BTreeMap<Price, u32>,
    index: FxHashMap<OrderId, u32>,
    account_heads: FxHashMap<AccountId, u32>,
}

impl OrderBook {
    /// Number of resting orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no order rests.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The resting order with this id.
    #[must_use]
    pub fn get(&self, id: OrderId) -> Option<&RestingOrder> {
        self.index.get(&id).map(|&slot| &self.nodes[slot as usize].order)
    }

    /// Best price of a side: highest bid or lowest ask.
    #[must_use]
    pub fn best_price(&self, side: Side) -> Option<Price> {
        match side {
            Side::Buy => self.bids.last_key_value().map(|(p, _)| *p),
            Side::Sell => self.asks.first_key_value().map(|(p, _)| *p),
        }
    }

    /// The first order in the queue at the best price of `side`.
    #[must_use]
    pub fn best_order(&self, side: Side) -> Option<&RestingOrder> {
        let level = match side {
            Side::Buy => self.bids.last_key_value(),
            Side::Sell => self.asks.first_key_value(),
        }?;
        let head = self.levels[*level.1 as usize].head;
        Some(&self.nodes[head as usize].order)
    }

    /// Total open quantity at a price level (zero when there is none).
    #[must_use]
    pub fn level_qty(&self, side: Side, price: Price) -> Qty {
        self.side_map(side).get(&price).map_or(Qty::ZERO, |&l| self.levels[l as usize].total)
    }

    /// Orders of `side` in priority order: best price first, FIFO within a price.
    pub fn iter_side(&self, side: Side) -> impl Iterator<Item = &RestingOrder> + '_ {
        let levels: Box<dyn Iterator<Item = &u32>> = match side {
            Side::Buy => Box::new(self.bids.values().rev()),
            Side::Sell => Box::new(self.asks.values()),
        };
        levels.flat_map(move |&level| {
            let mut slot = self.levels[level as usize].head;
            std::iter::from_fn(move || {
                (slot != NIL).then(|| {
                    let node = &self.nodes[slot as usize];
                    slot = node.next;
                    &node.order
                })
            })
        })
    }

    /// Levels of `side` as (price, total), best first.
    pub fn depth(&self, side: Side) -> impl Iterator<Item = (Price, Qty)> + '_ {
        let levels: Box<dyn Iterator<Item = (&Price, &u32)>> = match side {
            Side::Buy => Box::new(self.bids.iter().rev()),
            Side::Sell => Box::new(self.asks.iter()),
        };
        levels.map(|(p, &l)| (*p, self.levels[l as usize].total))
    }

    /// Ids of the account's resting orders, ascending.
    #[must_use]
    pub fn account_order_ids(&self, account: AccountId) -> Vec<OrderId> {
        let mut ids = Vec::new();
        let mut slot = self.account_heads.get(&account).copied().unwrap_or(NIL);
        while slot != NIL {
            let node = &self.nodes[slot as usize];
            ids.push(node.order.id);
            slot = node.account_next;
        }
        ids.sort_unstable();
        ids
    }

    /// Adds an order at the back of its price level's queue.
    ///
    /// # Panics
    /// If an order with the same id already rests or the order has no open quantity (both are
    /// engine bugs, never user input).
    pub fn insert(&mut self, order: RestingOrder) {
        assert!(order.leaves.raw() > 0, "Invariant: a resting order has open quantity");
        let slot = self.alloc_node(order);
        let previous = self.index.insert(order.id, slot);
        assert!(previous.is_none(), "Invariant: order ids are unique");
        let level = self.level_for(order.side, order.price);
        let lv = &mut self.levels[level as usize];
        lv.total.0 += order.leaves.0;
        let tail = lv.tail;
        lv.tail = slot;
        if tail == NIL {
            lv.head = slot;
        } else {
            self.nodes[tail as usize].next = slot;
        }
        let node = &mut self.nodes[slot as usize];
        node.level = level;
        node.prev = tail;
        let head = self.account_heads.insert(order.account, slot).unwrap_or(NIL);
        self.nodes[slot as usize].account_next = head;
        if head != NIL {
            self.nodes[head as usize].account_prev = slot;
        }
    }

    /// Removes an order and returns it.
    pub fn remove(&mut self, id: OrderId) -> Option<RestingOrder> {
        let slot = self.index.remove(&id)?;
        let node = self.nodes[slot as usize];
        self.unlink_from_level(&node);
        self.unlink_from_account(slot, &node);
        self.free_nodes.push(slot);
        Some(node.order)
    }

    /// Sets a resting order's open quantity in place, keeping its queue position; removes the
    /// order when the new open quantity is zero. Returns the order as it now is.
    ///
    /// # Panics
    /// If `leaves` is larger than the current open quantity (that would need a re-queue).
    pub fn reduce(&mut self, id: OrderId, leaves: Qty, qty: Qty) -> Option<RestingOrder> {
        let slot = *self.index.get(&id)?;
        let node = &mut self.nodes[slot as usize];
        assert!(leaves <= node.order.leaves, "Invariant: reduce never grows an order");
        let delta = node.order.leaves.0 - leaves.0;
        node.order.leaves = leaves;
        node.order.qty = qty;
        let order = node.order;
        let level = node.level;
        self.levels[level as usize].total.0 -= delta;
        if leaves.raw() == 0 {
            self.remove(id);
        }
        Some(order)
    }

    fn side_map(&self, side: Side) -> &BTreeMap<Price, u32> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn alloc_node(&mut self, order: RestingOrder) -> u32 {
        let node = Node { order, level: NIL, prev: NIL, next: NIL, account_prev: NIL, account_next: NIL };
        if let Some(slot) = self.free_nodes.pop() {
            self.nodes[slot as usize] = node;
            slot
        } else {
            self.nodes.push(node);
            u32::try_from(self.nodes.len() - 1).expect("Invariant: fewer than 2^32 resting orders")
        }
    }

    fn level_for(&mut self, side: Side, price: Price) -> u32 {
        let map = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if let Some(&level) = map.get(&price) {
            return level;
        }
        let level = Level { price, total: Qty::ZERO, head: NIL, tail: NIL };
        let slot = if let Some(slot) = self.free_levels.pop() {
            self.levels[slot as usize] = level;
            slot
        } else {
            self.levels.push(level);
            u32::try_from(self.levels.len() - 1).expect("Invariant: fewer than 2^32 levels")
        };
        map.insert(price, slot);
        slot
    }

    fn unlink_from_level(&mut self, node: &Node) {
        let lv = &mut self.levels[node.level as usize];
        lv.total.0 -= node.order.leaves.0;
        if node.prev == NIL {
            lv.head = node.next;
        } else {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next == NIL {
            lv.tail = node.prev;
        } else {
            self.nodes[node.next as usize].prev = node.prev;
        }
        let lv = self.levels[node.level as usize];
        if lv.head == NIL {
            match node.order.side {
                Side::Buy => self.bids.remove(&lv.price),
                Side::Sell => self.asks.remove(&lv.price),
            };
            self.free_levels.push(node.level);
        }
    }

    fn unlink_from_account(&mut self, slot: u32, node: &Node) {
        if node.account_prev == NIL {
            if node.account_next == NIL {
                self.account_heads.remove(&node.order.account);
            } else {
                self.account_heads.insert(node.order.account, node.account_next);
            }
        } else {
            self.nodes[node.account_prev as usize].account_next = node.account_next;
        }
        if node.account_next != NIL {
            self.nodes[node.account_next as usize].account_prev = node.account_prev;
        }
        debug_assert!(slot != NIL);
    }

    /// Verifies every invariant in the module docs.
    ///
    /// # Errors
    /// A description of the first broken invariant.
    pub fn check_integrity(&self) -> Result<(), String> {
        let mut seen = 0_usize;
        for side in [Side::Buy, Side::Sell] {
            for (&price, &level) in self.side_map(side) {
                let lv = &self.levels[level as usize];
                if lv.price != price || lv.head == NIL {
                    return Err(format!("level {price} is empty or mislabelled"));
                }
                let mut total = 0_i64;
                let mut slot = lv.head;
                let mut prev = NIL;
                while slot != NIL {
                    let node = &self.nodes[slot as usize];
                    let o = &node.order;
                    if o.leaves.raw() <= 0 || o.price != price || o.side != side || node.prev != prev {
                        return Err(format!("order {} is inconsistent with level {price}", o.id));
                    }
                    if self.index.get(&o.id) != Some(&slot) {
                        return Err(format!("order {} is not indexed", o.id));
                    }
                    total += o.leaves.raw();
                    seen += 1;
                    prev = slot;
                    slot = node.next;
                }
                if lv.tail != prev || lv.total.raw() != total {
                    return Err(format!("level {price} total or tail is wrong"));
                }
            }
        }
        if seen != self.index.len() {
            return Err(format!("{} indexed orders but {seen} in levels", self.index.len()));
        }
        let in_accounts: usize = self.account_heads.keys().map(|&a| self.account_order_ids(a).len()).sum();
        if in_accounts != seen {
            return Err(format!("{in_accounts} orders in account lists but {seen} in levels"));
        }
        if let (Some(bid), Some(ask)) = (self.best_price(Side::Buy), self.best_price(Side::Sell)) {
            if bid >= ask {
                return Err(format!("book crossed: bid {bid} >= ask {ask}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
