//! Conditional orders waiting for their trigger: stop, take-profit and trailing stop.
//!
//! Trigger rules (Binance USD-M):
//! - `STOP`/`STOP_MARKET` buy and `TAKE_PROFIT`/`TAKE_PROFIT_MARKET` sell fire when the watched
//!   price rises to the stop price or above ("rising" index); the mirror cases fire when it falls
//!   to the stop price or below ("falling" index).
//! - `TRAILING_STOP_MARKET`: inactive until the watched price reaches the activation price (sell:
//!   at or above, buy: at or below; no activation price means active at once). Once active, a
//!   sell tracks the highest price `H` and fires when `price ≤ H × (1 − callback)`; a buy tracks
//!   the lowest price `L` and fires when `price ≥ L × (1 + callback)`. Compared exactly in i128.
//!
//! Complexity: a price update pops crossed stops from ordered indices, O(log n + fired), and
//! visits every trailing stop of that price source (their extremes move with each price), which
//! is the known cost of trailing stops.
//!
//! Invariants: every conditional order is in `orders`, in `by_account`, and in exactly one
//! trigger index for its price source; fired orders are returned in ascending order id
//! (placement order), which makes the firing sequence deterministic.

use std::collections::{BTreeMap, BTreeSet};

use crate::command::PlaceOrder;
use crate::ids::{AccountId, OrderId};
use crate::order::{OrderType, Side, TriggerSource};
use crate::units::{Price, SCALE};

/// Trailing-stop progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trail {
    /// True once the activation price has been reached.
    pub active: bool,
    /// Best price since activation: highest for a sell, lowest for a buy.
    pub extreme: Price,
}

/// A conditional order as placed, plus its trailing state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionalOrder {
    /// Engine id.
    pub id: OrderId,
    /// The placement request.
    pub place: PlaceOrder,
    /// Trailing state (trailing stops only).
    pub trail: Option<Trail>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Rising,
    Falling,
}

fn direction(order_type: OrderType, side: Side) -> Direction {
    let stop = matches!(order_type, OrderType::StopMarket | OrderType::StopLimit);
    match (stop, side) {
        (true, Side::Buy) | (false, Side::Sell) => Direction::Rising,
        (true, Side::Sell) | (false, Side::Buy) => Direction::Falling,
    }
}

fn source_index(source: TriggerSource) -> usize {
    usize::from(source.to_u8())
}

/// True when a stop/take-profit order with this trigger would fire at `price` right away.
#[must_use]
pub fn fires_at(place: &PlaceOrder, stop_price: Price, price: Price) -> bool {
    match direction(place.order_type, place.side) {
        Direction::Rising => price >= stop_price,
        Direction::Falling => price <= stop_price,
    }
}

/// Moves a trail with a new price; true when it fires.
fn advance_trail(trail: &mut Trail, side: Side, activation: Option<Price>, callback: i64, price: Price) -> bool {
    if !trail.active {
        let reached = activation.is_none_or(|a| match side {
            Side::Sell => price >= a,
            Side::Buy => price <= a,
        });
        if !reached {
            return false;
        }
        *trail = Trail { active: true, extreme: price };
        return false;
    }
    let p = i128::from(price.raw()) * i128::from(SCALE);
    match side {
        Side::Sell => {
            trail.extreme = trail.extreme.max(price);
            p <= i128::from(trail.extreme.raw()) * i128::from(SCALE - callback)
        }
        Side::Buy => {
            trail.extreme = trail.extreme.min(price);
            p >= i128::from(trail.extreme.raw()) * i128::from(SCALE + callback)
        }
    }
}

/// The conditional orders of one instrument.
#[derive(Debug, Default)]
pub struct TriggerBook {
    orders: BTreeMap<OrderId, ConditionalOrder>,
    by_account: BTreeSet<(AccountId, OrderId)>,
    rising: [BTreeSet<(Price, OrderId)>; 2],
    falling: [BTreeSet<(Price, OrderId)>; 2],
    trailing: [BTreeSet<OrderId>; 2],
}

impl TriggerBook {
    /// Number of waiting orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// True when nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// The waiting order with this id.
    #[must_use]
    pub fn get(&self, id: OrderId) -> Option<&ConditionalOrder> {
        self.orders.get(&id)
    }

    /// Every waiting order, ascending by id.
    pub fn iter(&self) -> impl Iterator<Item = &ConditionalOrder> + '_ {
        self.orders.values()
    }

    /// Ids of the account's waiting orders, ascending.
    #[must_use]
    pub fn account_order_ids(&self, account: AccountId) -> Vec<OrderId> {
        self.by_account.range((account, 0)..=(account, OrderId::MAX)).map(|&(_, id)| id).collect()
    }

    /// Adds an order. `current` is the watched price now, used to start a trail without an
    /// activation price.
    ///
    /// # Panics
    /// If a stop/take-profit order has no stop price (validated before; an engine bug).
    pub fn insert(&mut self, id: OrderId, place: PlaceOrder, current: Option<Price>) {
        let source = source_index(place.trigger_source);
        let trail = if place.order_type == OrderType::TrailingStopMarket {
            self.trailing[source].insert(id);
            let mut trail = Trail { active: false, extreme: Price::ZERO };
            if let Some(price) = current {
                let callback = place.callback_rate.map_or(0, |r| r.raw());
                advance_trail(&mut trail, place.side, place.activation_price, callback, price);
            }
            Some(trail)
        } else {
            let stop = place.stop_price.expect("Invariant: stop orders carry a stop price");
            match direction(place.order_type, place.side) {
                Direction::Rising => self.rising[source].insert((stop, id)),
                Direction::Falling => self.falling[source].insert((stop, id)),
            };
            None
        };
        self.by_account.insert((place.account, id));
        self.orders.insert(id, ConditionalOrder { id, place, trail });
    }

    /// Puts back a waiting order exactly as a snapshot recorded it (trailing state included).
    ///
    /// # Panics
    /// If a stop/take-profit order has no stop price (a corrupt snapshot is refused before).
    pub fn restore(&mut self, order: ConditionalOrder) {
        self.insert(order.id, order.place, None);
        if let Some(stored) = self.orders.get_mut(&order.id) {
            stored.trail = order.trail;
        }
    }

    /// Removes a waiting order.
    pub fn remove(&mut self, id: OrderId) -> Option<ConditionalOrder> {
        let order = self.orders.remove(&id)?;
        let source = source_index(order.place.trigger_source);
        self.by_account.remove(&(order.place.account, id));
        if order.trail.is_some() {
            self.trailing[source].remove(&id);
        } else if let Some(stop) = order.place.stop_price {
            self.rising[source].remove(&(stop, id));
            self.falling[source].remove(&(stop, id));
        }
        Some(order)
    }

    /// Applies a new watched price and removes and returns the orders it fires, ascending by id.
    pub fn fire(&mut self, source: TriggerSource, price: Price) -> Vec<ConditionalOrder> {
        let s = source_index(source);
        let mut fired: Vec<OrderId> = Vec::new();
        while let Some(&(stop, id)) = self.rising[s].first() {
            if stop > price {
                break;
            }
            fired.push(id);
            self.rising[s].pop_first();
        }
        while let Some(&(stop, id)) = self.falling[s].last() {
            if stop < price {
                break;
            }
            fired.push(id);
            self.falling[s].pop_last();
        }
        for &id in &self.trailing[s] {
            let order = self.orders.get_mut(&id).expect("Invariant: trailing ids are live orders");
            let callback = order.place.callback_rate.map_or(0, |r| r.raw());
            let trail = order.trail.as_mut().expect("Invariant: trailing orders carry a trail");
            if advance_trail(trail, order.place.side, order.place.activation_price, callback, price) {
                fired.push(id);
            }
        }
        fired.sort_unstable();
        fired.iter().filter_map(|&id| self.remove(id)).collect()
    }
}
