//! One instrument's limit order book: price levels with FIFO queues (price-time priority).
//!
//! Book layout:
//! - Orders live in a slab (an [`index::Arena`] of nodes plus a free list); `index` maps order
//!   id → slot directly by id ([`index::OrderIndex`]: ids are dense and increasing). Neither is
//!   iterated, so determinism does not depend on them.
//! - Each side maps price → level slot in a `BTreeMap`: the best price is its first (asks) or
//!   last (bids) key, O(log L) for L levels.
//! - A level's queue and an account's order list are append-only vectors of `(handle, slot)`,
//!   where the handle is unique to one placement of one order in one slot (an amendment that
//!   re-queues an order gets a new handle, so its old entry stays dead).
//!   Removing an order only marks its node dead (zero open quantity) and counts it out, so a
//!   cancel touches no neighbouring order: one random memory access fewer per list than an
//!   intrusive linked list. Dead entries are skipped when read, popped when they reach the front
//!   of a queue, and compacted away once they outnumber the live ones (amortised O(1)).
//!
//! Invariants (checked by [`OrderBook::check_integrity`] in tests):
//! - an entry is live iff its slot holds a node with the same handle and open quantity > 0; every
//!   indexed order has exactly one live entry in its level queue and one in its account list;
//! - the front entry of every level queue is live, and no level is empty;
//! - a level's total equals the sum of its live orders' open quantities;
//! - the book is not crossed: best bid < best ask.
//!
//! This module only stores; matching lives in [`matching`].

pub mod index;
pub mod matching;

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

use self::index::{Arena, OrderIndex};
use crate::ids::{AccountId, OrderId};
use crate::order::{PositionSide, Side, StpMode, TimeInForce};
use crate::units::{Price, Qty};

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
    handle: u64,
}

/// A `(handle, slot)` reference held by a level queue or an account list.
type Entry = (u64, u32);

/// A level a command changed, for its book delta: side, price, and the level's slot when known
/// ([`NO_LEVEL`] otherwise), so reading the level's total back needs no price lookup.
pub type Touch = (Side, Price, u32);

/// The slot of a [`Touch`] whose level slot is not known.
pub const NO_LEVEL: u32 = u32::MAX;

#[derive(Debug)]
struct Level {
    side: Side,
    price: Price,
    total: Qty,
    live: u32,
    queue: VecDeque<Entry>,
}

#[derive(Debug, Default)]
struct AccountOrders {
    live: u32,
    entries: Vec<Entry>,
}

fn entry_is_live(nodes: &Arena<Node>, (handle, slot): Entry) -> bool {
    let node = &nodes[slot];
    node.handle == handle && node.order.leaves.raw() > 0
}

/// True when a list of `len` entries with `live` live ones should be compacted.
const fn worth_compacting(len: usize, live: u32) -> bool {
    len > 2 * live as usize + 8
}

/// The order book of one instrument.
#[derive(Debug, Default)]
pub struct OrderBook {
    nodes: Arena<Node>,
    free_nodes: Vec<u32>,
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    bids: BTreeMap<Price, u32>,
    asks: BTreeMap<Price, u32>,
    index: OrderIndex,
    accounts: FxHashMap<AccountId, AccountOrders>,
    last_handle: u64,
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

    fn is_live(&self, entry: Entry) -> bool {
        entry_is_live(&self.nodes, entry)
    }

    /// The resting order with this id.
    #[must_use]
    pub fn get(&self, id: OrderId) -> Option<&RestingOrder> {
        self.index.get(id).map(|slot| &self.nodes[slot].order)
    }

    fn best_level(&self, side: Side) -> Option<&Level> {
        let entry = match side {
            Side::Buy => self.bids.last_key_value(),
            Side::Sell => self.asks.first_key_value(),
        };
        entry.map(|(_, &level)| &self.levels[level as usize])
    }

    /// Best price of a side: highest bid or lowest ask.
    #[must_use]
    pub fn best_price(&self, side: Side) -> Option<Price> {
        self.best_level(side).map(|level| level.price)
    }

    /// The first order in the queue at the best price of `side`.
    #[must_use]
    pub fn best_order(&self, side: Side) -> Option<&RestingOrder> {
        self.best_entry(side).map(|(order, _)| order)
    }

    /// The first order at the best price of `side`, with its level's slot.
    #[must_use]
    pub fn best_entry(&self, side: Side) -> Option<(&RestingOrder, u32)> {
        let &(_, slot) = self.best_level(side)?.queue.front()?;
        let node = &self.nodes[slot];
        Some((&node.order, node.level))
    }

    /// Total open quantity at a price level (zero when there is none).
    #[must_use]
    pub fn level_qty(&self, side: Side, price: Price) -> Qty {
        self.side_map(side).get(&price).map_or(Qty::ZERO, |&l| self.levels[l as usize].total)
    }

    /// Total open quantity of a touched level: read from its slot when that slot still holds the
    /// level (a live level of that side and price is the only one), else looked up by price.
    #[must_use]
    pub fn touched_qty(&self, (side, price, slot): Touch) -> Qty {
        match self.levels.get(slot as usize) {
            Some(level) if level.live > 0 && level.side == side && level.price == price => level.total,
            _ => self.level_qty(side, price),
        }
    }

    /// Orders of `side` in priority order: best price first, FIFO within a price.
    pub fn iter_side(&self, side: Side) -> impl Iterator<Item = &RestingOrder> + '_ {
        let levels: Box<dyn Iterator<Item = &u32>> = match side {
            Side::Buy => Box::new(self.bids.values().rev()),
            Side::Sell => Box::new(self.asks.values()),
        };
        levels.flat_map(move |&level| {
            self.levels[level as usize]
                .queue
                .iter()
                .filter(move |&&entry| self.is_live(entry))
                .map(move |&(_, slot)| &self.nodes[slot].order)
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
        let mut ids: Vec<OrderId> = self.accounts.get(&account).map_or_else(Vec::new, |list| {
            list.entries.iter().filter(|&&entry| self.is_live(entry)).map(|&(_, slot)| self.nodes[slot].order.id).collect()
        });
        ids.sort_unstable();
        ids
    }

    /// Adds an order at the back of its price level's queue; returns the level's slot.
    ///
    /// # Panics
    /// If an order with the same id already rests or the order has no open quantity (both are
    /// engine bugs, never user input).
    pub fn insert(&mut self, order: RestingOrder) -> u32 {
        assert!(order.leaves.raw() > 0, "Invariant: a resting order has open quantity");
        let level = self.level_for(order.side, order.price);
        self.last_handle += 1;
        let handle = self.last_handle;
        let slot = self.alloc_node(Node { order, level, handle });
        let previous = self.index.insert(order.id, slot);
        assert!(previous.is_none(), "Invariant: order ids are unique");
        let lv = &mut self.levels[level as usize];
        lv.total.0 += order.leaves.0;
        lv.live += 1;
        lv.queue.push_back((handle, slot));
        let list = self.accounts.entry(order.account).or_default();
        list.live += 1;
        list.entries.push((handle, slot));
        if worth_compacting(list.entries.len(), list.live) {
            let nodes = &self.nodes;
            list.entries.retain(|&entry| entry_is_live(nodes, entry));
        }
        level
    }

    /// Removes an order and returns it.
    pub fn remove(&mut self, id: OrderId) -> Option<RestingOrder> {
        self.remove_entry(id).map(|(order, _)| order)
    }

    /// Removes an order and returns it with the slot of the level it left.
    pub fn remove_entry(&mut self, id: OrderId) -> Option<(RestingOrder, u32)> {
        let slot = self.index.remove(id)?;
        let node = &mut self.nodes[slot];
        let order = node.order;
        let level = node.level;
        node.order.leaves = Qty::ZERO;
        self.free_nodes.push(slot);
        self.unlink_from_level(level, order.leaves);
        self.unlink_from_account(order.account);
        Some((order, level))
    }

    /// Sets a resting order's open quantity in place, keeping its queue position; removes the
    /// order when the new open quantity is zero. Returns the order as it now is.
    ///
    /// # Panics
    /// If `leaves` is larger than the current open quantity (that would need a re-queue).
    pub fn reduce(&mut self, id: OrderId, leaves: Qty, qty: Qty) -> Option<RestingOrder> {
        if leaves.raw() == 0 {
            return self.remove(id).map(|order| RestingOrder { leaves, qty, ..order });
        }
        let slot = self.index.get(id)?;
        let node = &mut self.nodes[slot];
        assert!(leaves <= node.order.leaves, "Invariant: reduce never grows an order");
        let delta = node.order.leaves.0 - leaves.0;
        node.order.leaves = leaves;
        node.order.qty = qty;
        let order = node.order;
        self.levels[node.level as usize].total.0 -= delta;
        Some(order)
    }

    fn side_map(&self, side: Side) -> &BTreeMap<Price, u32> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn alloc_node(&mut self, node: Node) -> u32 {
        if let Some(slot) = self.free_nodes.pop() {
            self.nodes[slot] = node;
            slot
        } else {
            self.nodes.push(node)
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
        let slot = if let Some(slot) = self.free_levels.pop() {
            let level = &mut self.levels[slot as usize];
            level.side = side;
            level.price = price;
            slot
        } else {
            self.levels.push(Level { side, price, total: Qty::ZERO, live: 0, queue: VecDeque::new() });
            u32::try_from(self.levels.len() - 1).expect("Invariant: fewer than 2^32 levels")
        };
        map.insert(price, slot);
        slot
    }

    /// Counts a removed (already dead) order out of its level, restoring the live-front invariant.
    fn unlink_from_level(&mut self, level: u32, leaves: Qty) {
        let nodes = &self.nodes;
        let is_live = |&entry: &Entry| entry_is_live(nodes, entry);
        let lv = &mut self.levels[level as usize];
        lv.total.0 -= leaves.0;
        lv.live -= 1;
        if lv.live == 0 {
            lv.queue.clear();
            match lv.side {
                Side::Buy => self.bids.remove(&lv.price),
                Side::Sell => self.asks.remove(&lv.price),
            };
            self.free_levels.push(level);
            return;
        }
        while lv.queue.front().is_some_and(|e| !is_live(e)) {
            lv.queue.pop_front();
        }
        if worth_compacting(lv.queue.len(), lv.live) {
            lv.queue.retain(is_live);
        }
    }

    fn unlink_from_account(&mut self, account: AccountId) {
        if let Some(list) = self.accounts.get_mut(&account) {
            list.live -= 1;
            if list.live == 0 {
                self.accounts.remove(&account);
            }
        }
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
                if lv.price != price || lv.live == 0 || !lv.queue.front().is_some_and(|&e| self.is_live(e)) {
                    return Err(format!("level {price} is empty, mislabelled or has a dead front"));
                }
                let mut total = 0_i64;
                let mut live = 0_u32;
                for &(_, slot) in lv.queue.iter().filter(|&&e| self.is_live(e)) {
                    let node = &self.nodes[slot];
                    let o = &node.order;
                    let id = o.id;
                    if o.price != price || o.side != side || node.level != level {
                        return Err(format!("order {id} is inconsistent with level {price}"));
                    }
                    if self.index.get(id) != Some(slot) {
                        return Err(format!("order {id} is not indexed"));
                    }
                    total += o.leaves.raw();
                    live += 1;
                }
                if lv.total.raw() != total || lv.live != live {
                    return Err(format!("level {price} total or live count is wrong"));
                }
                seen += live as usize;
            }
        }
        if seen != self.index.len() {
            return Err(format!("{} indexed orders but {seen} in levels", self.index.len()));
        }
        let mut in_accounts = 0_usize;
        for (account, list) in &self.accounts {
            let live: Vec<_> = list.entries.iter().filter(|&&e| self.is_live(e)).collect();
            let foreign = live.iter().any(|&&(_, slot)| self.nodes[slot].order.account != *account);
            if live.len() != list.live as usize || foreign {
                return Err(format!("account {account} list is wrong"));
            }
            in_accounts += live.len();
        }
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
