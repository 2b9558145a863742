//! Order validation of the reference model, written from the documented semantics
//! (docs/ARCHITECTURE.md "Order semantics", its "Validation order", and the docs of
//! `RejectReason`, `InstrumentSpec` and `PlaceOrder`), not from the engine's code. Each check is
//! the plainest form of its rule, on raw 1e-8 integers widened to `i128`, and the checks run in
//! the documented order, so the first failing one is the reason the engine must give.

use derivatives_core::ids::Nanos;
use derivatives_core::order::{OrderType, Side, TimeInForce};
use derivatives_core::reject::RejectReason as R;
use derivatives_core::units::{Price, Qty, SCALE};
use derivatives_core::PlaceOrder;

use super::RefMarket;

/// Smallest and largest trailing callback rate (0.1 % and 10 %), raw 1e-8.
const CALLBACK_MIN: i64 = SCALE / 1_000;
const CALLBACK_MAX: i64 = SCALE / 10;

fn wide(raw: i64) -> i128 {
    i128::from(raw)
}

/// Stop and take-profit types: they carry a stop (trigger) price.
fn has_stop_price(t: OrderType) -> bool {
    matches!(t, OrderType::StopMarket | OrderType::StopLimit | OrderType::TakeProfitMarket | OrderType::TakeProfitLimit)
}

/// A positive price on the tick grid.
fn on_tick(price: Price, tick: Price) -> bool {
    price.raw() > 0 && price.raw() % tick.raw() == 0
}

impl RefMarket {
    /// Quantity filters: positive, at least the minimum, at most the maximum, on the step grid.
    pub fn check_qty(&self, qty: Qty) -> Result<(), R> {
        if qty.raw() <= 0 {
            Err(R::QuantityNotPositive)
        } else if qty < self.spec.min_qty {
            Err(R::QuantityBelowMin)
        } else if qty > self.spec.max_qty {
            Err(R::QuantityAboveMax)
        } else if qty.raw() % self.spec.step_size.raw() != 0 {
            Err(R::QuantityOffStep)
        } else {
            Ok(())
        }
    }

    /// A limit price: present and positive, then on the tick grid.
    pub fn check_limit_price(&self, price: Option<Price>) -> Result<Price, R> {
        match price {
            Some(p) if p.raw() > 0 && p.raw() % self.spec.tick_size.raw() == 0 => Ok(p),
            Some(p) if p.raw() > 0 => Err(R::PriceOffTick),
            _ => Err(R::PriceNotPositive),
        }
    }

    /// The limit band: `reference × (1 − band) ≤ price ≤ reference × (1 + band)`, exactly; no
    /// band without a reference price (mark, else last trade).
    pub fn check_band(&self, price: Price) -> Result<(), R> {
        let Some(reference) = self.band_reference() else { return Ok(()) };
        let band = wide(self.spec.limit_price_band.raw());
        let scaled = wide(price.raw()) * wide(SCALE);
        if scaled > wide(reference.raw()) * (wide(SCALE) + band) {
            Err(R::PriceAboveBand)
        } else if scaled < wide(reference.raw()) * (wide(SCALE) - band) {
            Err(R::PriceBelowBand)
        } else {
            Ok(())
        }
    }

    /// The minimum notional: `price × qty ≥ min_notional`, exactly.
    pub fn check_notional(&self, price: Price, qty: Qty) -> Result<(), R> {
        if wide(price.raw()) * wide(qty.raw()) < wide(self.spec.min_notional.raw()) * wide(SCALE) {
            Err(R::NotionalBelowMin)
        } else {
            Ok(())
        }
    }

    /// Whether an order of `side` at `price` would trade on arrival: the best opposite price is
    /// at or better than it.
    pub fn would_take(&self, side: Side, price: Price) -> bool {
        match side {
            Side::Buy => self.asks.first().is_some_and(|a| a.order.price <= price),
            Side::Sell => self.bids.first().is_some_and(|b| b.order.price >= price),
        }
    }

    /// Whether a conditional order's stop price is already reached by the price it watches.
    fn would_trigger(&self, p: &PlaceOrder, stop: Price) -> bool {
        let Some(now) = self.watched(p.trigger_source) else { return false };
        let is_stop = matches!(p.order_type, OrderType::StopMarket | OrderType::StopLimit);
        // A stop buys on a rise and sells on a fall; a take-profit the other way round.
        if is_stop == (p.side == Side::Buy) {
            now >= stop
        } else {
            now <= stop
        }
    }

    /// The checks of a new order, in the documented order (docs/ARCHITECTURE.md "Validation
    /// order"): the market; close-position or the quantity; the limit price and, for a plain
    /// limit order, its band; the trigger fields of the type (for stops and take-profits the
    /// immediate trigger too); time in force and GTD; the minimum notional; the client id; post-only.
    pub fn validate_place(&self, p: &PlaceOrder, now: Nanos) -> Result<(), R> {
        let t = p.order_type;
        if !self.spec.trading {
            return Err(R::SymbolHalted);
        }
        if p.close_position {
            if !matches!(t, OrderType::StopMarket | OrderType::TakeProfitMarket) || p.qty.raw() != 0 || p.reduce_only {
                return Err(R::InvalidClosePosition);
            }
        } else {
            self.check_qty(p.qty)?;
        }
        let limit = if t.has_limit_price() {
            let price = self.check_limit_price(p.price)?;
            if t == OrderType::Limit {
                self.check_band(price)?;
            }
            Some(price)
        } else if p.price.is_some() {
            return Err(R::PriceNotAllowed);
        } else {
            None
        };
        // The trigger fields: a stop price for stops and take-profits, a callback rate (and an
        // optional activation price) for trailing stops, none of them for the others.
        if has_stop_price(t) {
            let stop = match p.stop_price {
                Some(s) if on_tick(s, self.spec.tick_size) => s,
                _ => return Err(R::InvalidStopPrice),
            };
            if p.activation_price.is_some() {
                return Err(R::PriceNotAllowed);
            }
            if p.callback_rate.is_some() {
                return Err(R::InvalidCallbackRate);
            }
            if self.would_trigger(p, stop) {
                return Err(R::WouldImmediatelyTrigger);
            }
        } else if t == OrderType::TrailingStopMarket {
            if p.stop_price.is_some() {
                return Err(R::PriceNotAllowed);
            }
            if !p.callback_rate.is_some_and(|r| (CALLBACK_MIN..=CALLBACK_MAX).contains(&r.raw())) {
                return Err(R::InvalidCallbackRate);
            }
            if p.activation_price.is_some_and(|a| !on_tick(a, self.spec.tick_size)) {
                return Err(R::InvalidStopPrice);
            }
        } else if p.stop_price.is_some() || p.activation_price.is_some() {
            return Err(R::PriceNotAllowed);
        } else if p.callback_rate.is_some() {
            return Err(R::InvalidCallbackRate);
        }
        if !t.has_limit_price() && !matches!(p.time_in_force, TimeInForce::Gtc | TimeInForce::Ioc) {
            return Err(R::InvalidTimeInForce);
        }
        let gtd = p.time_in_force == TimeInForce::Gtd;
        if gtd != p.good_till.is_some() || p.good_till.is_some_and(|until| until <= now) {
            return Err(R::InvalidGoodTill);
        }
        // Reduce-only and close-position orders are exempt (dust must stay closable). A
        // conditional order is valued at the price it fires at: its stop (a trailing stop: its
        // activation price), else the reference price; none: no check.
        if !p.reduce_only && !p.close_position {
            if let Some(price) = limit.or(p.stop_price).or(p.activation_price).or_else(|| self.band_reference()) {
                self.check_notional(price, p.qty)?;
            }
        }
        if p.client_order_id.is_some()
            && self.live().any(|(_, account, client_id, _)| account == p.account && client_id == p.client_order_id)
        {
            return Err(R::DuplicateClientOrderId);
        }
        if t == OrderType::Limit && p.time_in_force == TimeInForce::Gtx && limit.is_some_and(|price| self.would_take(p.side, price)) {
            return Err(R::PostOnlyWouldTake);
        }
        Ok(())
    }
}
