//! One instrument's trading state and the order commands that act on it.
//!
//! Every handler validates the whole command before it mutates anything: a handler that returns
//! `Err(reason)` has changed nothing (LMAX: no rollback, so validate first).
//!
//! Order life cycle:
//! - accepted → (conditional: waits in the trigger book until fired) → matched as a taker →
//!   the rest rests (GTC, GTX, GTD limit) or expires (IOC, FOK, market);
//! - a live order (resting or waiting) leaves by fill, cancel or expiry, and then its client
//!   order id is free again and its GTD entry is gone.
//!
//! Reference price for price bands: the mark price once the oracle has published one, else the
//! last trade price, else no band (a new market with no price yet).
//!
//! Triggers are evaluated against the last trade price after each order (triggered orders
//! included) has finished matching, and against the mark price on `SetMarkPrice`; orders fired
//! together run in placement order, and trades they cause may fire more, which run after them,
//! until nothing else fires.

use std::collections::{BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use crate::accounts::margin::Specs;
use crate::accounts::{Accounts, ReferencePrices, INSURANCE_FUND};
use crate::book::matching::{expected_fill, fok_fillable, match_taker, would_take, MakerFill, MatchSink, Taker};
use crate::book::{OrderBook, RestingOrder, Touch, NO_LEVEL};
use crate::clearing::margin_check::{self, Exposure, Intent};
use crate::clearing::settlement::{self, Fill};
use crate::clearing::OrderSide;
use crate::command::{OrderRef, PlaceOrder};
use crate::event::{BalanceKind, CancelReason, Event, ExpireReason};
use crate::ids::{AccountId, ClientOrderId, Nanos, OrderId, SymbolId, TradeId};
use crate::instrument::InstrumentSpec;
use crate::order::{OrderType, Side, StpMode, TimeInForce, TriggerSource};
use crate::reject::RejectReason;
use crate::triggers::{fires_at, ConditionalOrder, TriggerBook};
use crate::units::{mul_div, notional, Price, Qty, Quote, Rate, Rounding, SCALE};

/// Every market, by symbol.
pub type Markets = std::collections::BTreeMap<SymbolId, Market>;

impl Specs for Markets {
    fn spec(&self, symbol: SymbolId) -> Option<&InstrumentSpec> {
        self.get(&symbol).map(|m| &m.spec)
    }
}

/// No exposure: what a conditional order reserves until it triggers, and a market order that
/// nothing would fill.
const NOTHING: Exposure = Exposure { qty: Qty::ZERO, price: Price(1) };

/// Smallest and largest trailing-stop callback rate (0.1 % and 10 %, Binance's range).
const CALLBACK_RANGE: std::ops::RangeInclusive<i64> = 100_000..=10_000_000;

/// Engine-wide state a market command may touch besides its own market.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Command time.
    pub ts: Nanos,
    /// Output events of the command.
    pub events: &'a mut Vec<Event>,
    /// Last order id handed out.
    pub last_order_id: &'a mut OrderId,
    /// Last trade id handed out.
    pub last_trade_id: &'a mut TradeId,
    /// GTD expiries of every market: (time, symbol, order).
    pub expiries: &'a mut BTreeSet<(Nanos, SymbolId, OrderId)>,
    /// Every account.
    pub accounts: &'a mut Accounts,
    /// Reference price of every symbol (kept current by the markets).
    pub prices: &'a mut ReferencePrices,
}

/// One instrument: its specification, book, waiting conditional orders and prices.
#[derive(Debug)]
pub struct Market {
    /// Specification.
    pub spec: InstrumentSpec,
    /// Resting limit orders.
    pub book: OrderBook,
    /// Waiting conditional orders.
    pub triggers: TriggerBook,
    /// Last trade price.
    pub last_price: Option<Price>,
    /// Last published mark price.
    pub mark_price: Option<Price>,
    /// Last published index price.
    pub index_price: Option<Price>,
    client_ids: FxHashMap<(AccountId, ClientOrderId), OrderId>,
    order_clients: FxHashMap<OrderId, (AccountId, ClientOrderId)>,
    good_till: FxHashMap<OrderId, Nanos>,
    touched: Vec<Touch>,
    fills: Vec<MakerFill>,
    expired_makers: Vec<RestingOrder>,
    pending_last: Option<Price>,
    pending_mark: Option<Price>,
}

impl Market {
    /// A new market with an empty book.
    #[must_use]
    pub fn new(spec: InstrumentSpec) -> Self {
        Self {
            spec,
            book: OrderBook::default(),
            triggers: TriggerBook::default(),
            last_price: None,
            mark_price: None,
            index_price: None,
            client_ids: FxHashMap::default(),
            order_clients: FxHashMap::default(),
            good_till: FxHashMap::default(),
            touched: Vec::new(),
            fills: Vec::new(),
            expired_makers: Vec::new(),
            pending_last: None,
            pending_mark: None,
        }
    }

    /// The client order id of a live order.
    #[must_use]
    pub fn client_order_id(&self, id: OrderId) -> Option<ClientOrderId> {
        self.order_clients.get(&id).map(|&(_, cid)| cid)
    }

    /// The GTD expiry of a live order.
    #[must_use]
    pub fn good_till(&self, id: OrderId) -> Option<Nanos> {
        self.good_till.get(&id).copied()
    }

    /// Registers the client order id and GTD time of a live order being restored from a snapshot.
    pub fn restore_order_meta(&mut self, id: OrderId, account: AccountId, client: Option<ClientOrderId>, good_till: Option<Nanos>) {
        if let Some(cid) = client {
            self.client_ids.insert((account, cid), id);
            self.order_clients.insert(id, (account, cid));
        }
        if let Some(until) = good_till {
            self.good_till.insert(id, until);
        }
    }

    /// The price limit orders are banded around, and market orders protected by.
    #[must_use]
    pub fn reference_price(&self) -> Option<Price> {
        self.mark_price.or(self.last_price)
    }

    fn source_price(&self, source: TriggerSource) -> Option<Price> {
        match source {
            TriggerSource::LastPrice => self.last_price,
            TriggerSource::MarkPrice => self.mark_price,
        }
    }

    fn check_qty(&self, qty: Qty) -> Result<(), RejectReason> {
        let spec = &self.spec;
        if qty.raw() <= 0 {
            Err(RejectReason::QuantityNotPositive)
        } else if !qty.is_multiple_of(spec.step_size) {
            Err(RejectReason::QuantityOffStep)
        } else if qty < spec.min_qty {
            Err(RejectReason::QuantityBelowMin)
        } else if qty > spec.max_qty {
            Err(RejectReason::QuantityAboveMax)
        } else {
            Ok(())
        }
    }

    fn check_price(&self, price: Option<Price>, missing: RejectReason) -> Result<Price, RejectReason> {
        let price = price.filter(|p| p.raw() > 0).ok_or(missing)?;
        if price.is_multiple_of(self.spec.tick_size) {
            Ok(price)
        } else if missing == RejectReason::PriceNotPositive {
            Err(RejectReason::PriceOffTick)
        } else {
            Err(missing)
        }
    }

    fn check_band(&self, price: Price) -> Result<(), RejectReason> {
        let Some(reference) = self.reference_price() else { return Ok(()) };
        let band = i128::from(self.spec.limit_price_band.raw());
        let scaled = i128::from(price.raw()) * i128::from(SCALE);
        let reference = i128::from(reference.raw());
        if scaled > reference * (i128::from(SCALE) + band) {
            Err(RejectReason::PriceAboveBand)
        } else if scaled < reference * (i128::from(SCALE) - band) {
            Err(RejectReason::PriceBelowBand)
        } else {
            Ok(())
        }
    }

    fn check_notional(&self, price: Option<Price>, qty: Qty) -> Result<(), RejectReason> {
        let Some(price) = price else { return Ok(()) };
        let value = notional(price, qty, Rounding::Floor).map_err(|_| RejectReason::ArithmeticOverflow)?;
        if value < self.spec.min_notional {
            Err(RejectReason::NotionalBelowMin)
        } else {
            Ok(())
        }
    }

    fn validate_place(&self, place: &PlaceOrder, ctx: &Ctx<'_>) -> Result<(), RejectReason> {
        let ts = ctx.ts;
        use OrderType as T;
        if !self.spec.trading {
            return Err(RejectReason::SymbolHalted);
        }
        let kind = place.order_type;
        if place.close_position {
            if !matches!(kind, T::StopMarket | T::TakeProfitMarket) || place.qty.raw() != 0 || place.reduce_only {
                return Err(RejectReason::InvalidClosePosition);
            }
        } else {
            self.check_qty(place.qty)?;
        }
        let price = if kind.has_limit_price() {
            let price = self.check_price(place.price, RejectReason::PriceNotPositive)?;
            if kind == T::Limit {
                self.check_band(price)?;
            }
            Some(price)
        } else if place.price.is_some() {
            return Err(RejectReason::PriceNotAllowed);
        } else {
            None
        };
        match kind {
            T::StopMarket | T::StopLimit | T::TakeProfitMarket | T::TakeProfitLimit => {
                let stop = self.check_price(place.stop_price, RejectReason::InvalidStopPrice)?;
                if place.activation_price.is_some() {
                    return Err(RejectReason::PriceNotAllowed);
                }
                if place.callback_rate.is_some() {
                    return Err(RejectReason::InvalidCallbackRate);
                }
                if self.source_price(place.trigger_source).is_some_and(|now| fires_at(place, stop, now)) {
                    return Err(RejectReason::WouldImmediatelyTrigger);
                }
            }
            T::TrailingStopMarket => {
                if place.stop_price.is_some() {
                    return Err(RejectReason::PriceNotAllowed);
                }
                let rate = place.callback_rate.map_or(0, Rate::raw);
                if !CALLBACK_RANGE.contains(&rate) {
                    return Err(RejectReason::InvalidCallbackRate);
                }
                if place.activation_price.is_some() {
                    self.check_price(place.activation_price, RejectReason::InvalidStopPrice)?;
                }
            }
            T::Limit | T::Market => {
                if place.stop_price.is_some() || place.activation_price.is_some() {
                    return Err(RejectReason::PriceNotAllowed);
                }
                if place.callback_rate.is_some() {
                    return Err(RejectReason::InvalidCallbackRate);
                }
            }
        }
        let tif = place.time_in_force;
        if !kind.has_limit_price() && !matches!(tif, TimeInForce::Gtc | TimeInForce::Ioc) {
            return Err(RejectReason::InvalidTimeInForce);
        }
        match (tif, place.good_till) {
            (TimeInForce::Gtd, Some(until)) if until > ts => {}
            (TimeInForce::Gtd, _) | (_, Some(_)) => return Err(RejectReason::InvalidGoodTill),
            _ => {}
        }
        // Binance: "no smaller than 5 (unless you choose reduce only)": dust must stay closable.
        if !place.close_position && !place.reduce_only {
            let valued_at = price.or(place.stop_price).or(place.activation_price).or(self.reference_price());
            self.check_notional(valued_at, place.qty)?;
        }
        if let Some(cid) = place.client_order_id {
            if self.client_ids.contains_key(&(place.account, cid)) {
                return Err(RejectReason::DuplicateClientOrderId);
            }
        }
        if kind == T::Limit && tif == TimeInForce::Gtx && price.is_some_and(|p| would_take(&self.book, place.side, p)) {
            return Err(RejectReason::PostOnlyWouldTake);
        }
        if kind.is_conditional() {
            // Conditional orders reserve no margin until they trigger (Binance); only the
            // position side (and a closing order's size) is checked now.
            return self.check_margin(place, Qty::ZERO, NOTHING, ctx);
        }
        let exposure = self.exposure(place)?;
        self.check_margin(place, place.qty, exposure, ctx)
    }

    /// What a live (limit or market) order is margined on: a limit order's quantity at its
    /// price, a market order's expected fill.
    fn exposure(&self, place: &PlaceOrder) -> Result<Exposure, RejectReason> {
        match place.price {
            Some(price) => Ok(Exposure { qty: place.qty, price }),
            None => self.market_exposure(place.side, place.qty),
        }
    }

    /// What a market order is margined on: what the book fills for its size within the market
    /// band (the rest expires unfilled and opens nothing), at the average fill price rounded
    /// against the trader (up for a buy, down for a sell); nothing when nothing would fill.
    fn market_exposure(&self, side: Side, qty: Qty) -> Result<Exposure, RejectReason> {
        let overflow = |_| RejectReason::ArithmeticOverflow;
        let (filled, value) = expected_fill(&self.book, side, self.market_limit(side), qty).map_err(overflow)?;
        if filled.raw() == 0 {
            return Ok(NOTHING);
        }
        let rounding = if side == Side::Buy { Rounding::Ceil } else { Rounding::Floor };
        let average = mul_div(value.raw(), SCALE, filled.raw(), rounding).map_err(overflow)?;
        Ok(Exposure { qty: filled, price: Price(average) })
    }

    fn order_side(&self, place: &PlaceOrder) -> OrderSide {
        OrderSide { account: place.account, symbol: self.spec.symbol, side: place.side, position_side: place.position_side }
    }

    fn resting_side(&self, order: &RestingOrder) -> OrderSide {
        OrderSide { account: order.account, symbol: self.spec.symbol, side: order.side, position_side: order.position_side }
    }

    fn check_margin(&self, place: &PlaceOrder, qty: Qty, exposure: Exposure, ctx: &Ctx<'_>) -> Result<(), RejectReason> {
        let order = self.order_side(place);
        let reduce_only = place.reduce_only || place.close_position;
        let intent = Intent { reduce_only, qty, exposure, replaces: None };
        margin_check::check_order(ctx.accounts, ctx.prices, &self.spec, &order, intent)
    }

    /// Places an order with attached protective orders, all validated before any is placed.
    ///
    /// # Errors
    /// The first rejection reason; nothing changed.
    pub fn place_with_stops(&mut self, entry: &PlaceOrder, protections: &[PlaceOrder], ctx: &mut Ctx<'_>) -> Result<(), RejectReason> {
        self.validate_place(entry, ctx)?;
        for protection in protections {
            self.validate_place(protection, ctx)?;
        }
        self.place(entry, ctx)?;
        for protection in protections {
            // Triggered on the mark, which no trade of this command can move: still valid.
            self.place(protection, ctx)?;
        }
        Ok(())
    }

    /// Places an order.
    ///
    /// # Errors
    /// The rejection reason; nothing changed.
    pub fn place(&mut self, place: &PlaceOrder, ctx: &mut Ctx<'_>) -> Result<(), RejectReason> {
        self.validate_place(place, ctx)?;
        *ctx.last_order_id += 1;
        let id = *ctx.last_order_id;
        ctx.events.push(Event::OrderAccepted { order_id: id, order: *place });
        if let Some(cid) = place.client_order_id {
            self.client_ids.insert((place.account, cid), id);
            self.order_clients.insert(id, (place.account, cid));
        }
        if let Some(until) = place.good_till {
            self.good_till.insert(id, until);
            ctx.expiries.insert((until, self.spec.symbol, id));
        }
        if place.order_type.is_conditional() {
            let current = self.source_price(place.trigger_source);
            self.triggers.insert(id, *place, current);
        } else {
            self.execute(id, place, ctx);
        }
        self.run_triggers(ctx);
        Ok(())
    }

    /// Matches a live order as a taker; rests or expires the remainder. Closing orders are sized
    /// to what is still open to close (close-position: all of it).
    fn execute(&mut self, id: OrderId, place: &PlaceOrder, ctx: &mut Ctx<'_>) {
        let order = self.order_side(place);
        let qty = if margin_check::is_closing(&order, place.reduce_only || place.close_position) {
            let closable = margin_check::closable(ctx.accounts, &order);
            if place.close_position {
                closable
            } else {
                place.qty.min(closable)
            }
        } else {
            place.qty
        };
        if qty.raw() == 0 {
            self.expire(id, place.account, place.qty, ExpireReason::NothingToClose, ctx);
            return;
        }
        let is_limit = place.order_type.has_limit_price();
        let tif = if is_limit { place.time_in_force } else { TimeInForce::Ioc };
        let limit = if is_limit { place.price } else { self.market_limit(place.side) };
        let mut taker = Taker { id, account: place.account, side: place.side, limit, leaves: qty, stp: place.stp };
        if tif == TimeInForce::Gtx && limit.is_some_and(|p| would_take(&self.book, place.side, p)) {
            self.expire(id, place.account, qty, ExpireReason::PostOnlyWouldTake, ctx);
            return;
        }
        if tif == TimeInForce::Fok && !fok_fillable(&self.book, &taker) {
            self.expire(id, place.account, qty, ExpireReason::FokUnfillable, ctx);
            return;
        }
        let stopped = self.match_and_settle(&mut taker, &order, None, ctx);
        self.finish_taker(&taker, &PlaceOrder { qty, ..*place }, tif, stopped, ctx);
    }

    /// Matches `taker`, settles every fill for both sides, and releases what left the book.
    /// A liquidation taker (`bankruptcy` given) pays no taker fee; instead each fill's surplus
    /// over the bankruptcy price pays the liquidation fee, capped at that surplus, to the
    /// insurance fund (MECHANICS §6.2 step 5).
    fn match_and_settle(&mut self, taker: &mut Taker, taker_side: &OrderSide, bankruptcy: Option<Price>, ctx: &mut Ctx<'_>) -> bool {
        let mut sink = MatchSink {
            symbol: self.spec.symbol,
            events: ctx.events,
            touched: &mut self.touched,
            fills: &mut self.fills,
            expired_makers: &mut self.expired_makers,
            last_trade_id: ctx.last_trade_id,
        };
        let outcome = match_taker(&mut self.book, taker, &mut sink);
        let fills = std::mem::take(&mut self.fills);
        for fill in &fills {
            let maker = &fill.maker;
            let maker_side = self.resting_side(maker);
            let settle = |order_id, fee_rate| Fill { order_id, trade_id: fill.trade_id, qty: fill.qty, price: maker.price, fee_rate };
            let defaults = (self.spec.maker_fee, self.spec.taker_fee);
            let fees_of = |accounts: &Accounts, account| accounts.get(account).map_or(defaults, |a| a.fees(defaults));
            let maker_fee = fees_of(ctx.accounts, maker.account).0;
            settlement::settle(ctx.accounts, &maker_side, &settle(maker.id, maker_fee), ctx.events);
            let taker_fee = if bankruptcy.is_some() { Rate(0) } else { fees_of(ctx.accounts, taker_side.account).1 };
            settlement::settle(ctx.accounts, taker_side, &settle(taker.id, taker_fee), ctx.events);
            // The fund's own liquidation orders pay no fee (it would be paid to itself).
            if let Some(bankruptcy) = bankruptcy.filter(|_| taker_side.account != INSURANCE_FUND) {
                let fee = self.liquidation_fee(taker_side.side, maker.price, fill.qty, bankruptcy);
                if fee.raw() > 0 {
                    settlement::move_funds(
                        ctx.accounts,
                        (taker_side.account, INSURANCE_FUND),
                        fee,
                        BalanceKind::LiquidationFee,
                        ctx.events,
                    );
                }
            }
            settlement::adjust_open(ctx.accounts, &maker_side, -fill.qty.raw(), maker.price);
            if fill.qty == maker.leaves {
                self.forget(maker.id, ctx);
            }
        }
        self.fills = fills;
        self.fills.clear();
        while let Some(maker) = self.expired_makers.pop() {
            let maker_side = self.resting_side(&maker);
            settlement::adjust_open(ctx.accounts, &maker_side, -maker.leaves.raw(), maker.price);
            self.forget(maker.id, ctx);
        }
        if let Some(price) = outcome.last_price {
            self.last_price = Some(price);
            self.pending_last = Some(price);
            self.publish_reference(ctx);
        }
        outcome.taker_stopped_by_stp
    }

    /// `min(liquidation fee rate × notional, surplus over the bankruptcy price)`, never negative.
    fn liquidation_fee(&self, side: Side, price: Price, qty: Qty, bankruptcy: Price) -> Quote {
        let better = match side {
            Side::Sell => price.raw() - bankruptcy.raw(),
            Side::Buy => bankruptcy.raw() - price.raw(),
        };
        let surplus = mul_div(better, qty.raw(), SCALE, Rounding::Floor).unwrap_or(0);
        let value = notional(price, qty, Rounding::Ceil).map_or(0, Quote::raw);
        let fee = mul_div(value, self.spec.liquidation_fee.raw(), SCALE, Rounding::Ceil).unwrap_or(0);
        Quote(fee.min(surplus).max(0))
    }

    /// Offers `qty` of a liquidated position at its bankruptcy price as an IOC order processed
    /// now, ahead of any user command (liquidation first). Returns the quantity filled.
    pub fn liquidation_order(&mut self, order: &OrderSide, qty: Qty, bankruptcy: Price, ctx: &mut Ctx<'_>) -> Qty {
        *ctx.last_order_id += 1;
        let id = *ctx.last_order_id;
        ctx.events.push(Event::LiquidationOrder {
            account: order.account,
            symbol: self.spec.symbol,
            order_id: id,
            side: order.side,
            qty,
            bankruptcy_price: bankruptcy,
            position_side: order.position_side,
        });
        let mut taker = Taker { id, account: order.account, side: order.side, limit: Some(bankruptcy), leaves: qty, stp: StpMode::None };
        self.match_and_settle(&mut taker, order, Some(bankruptcy), ctx);
        if taker.leaves.raw() > 0 {
            ctx.events.push(Event::OrderExpired {
                account: order.account,
                symbol: self.spec.symbol,
                order_id: id,
                leaves: taker.leaves,
                reason: ExpireReason::Unfilled,
            });
        }
        self.run_triggers(ctx);
        Qty(qty.raw() - taker.leaves.raw())
    }

    /// Keeps the engine-wide reference price of this symbol current.
    fn publish_reference(&self, ctx: &mut Ctx<'_>) {
        if let Some(reference) = self.reference_price() {
            match ctx.prices.get_mut(&self.spec.symbol) {
                Some(price) => *price = reference,
                None => {
                    ctx.prices.insert(self.spec.symbol, reference);
                }
            }
        }
    }

    fn finish_taker(&mut self, taker: &Taker, place: &PlaceOrder, tif: TimeInForce, stopped: bool, ctx: &mut Ctx<'_>) {
        if taker.leaves.raw() == 0 {
            self.forget(taker.id, ctx);
        } else if stopped {
            self.expire(taker.id, place.account, taker.leaves, ExpireReason::SelfTrade, ctx);
        } else if matches!(tif, TimeInForce::Gtc | TimeInForce::Gtx | TimeInForce::Gtd) {
            let price = taker.limit.expect("Invariant: resting orders are limit orders");
            let level = self.book.insert(RestingOrder {
                id: taker.id,
                account: place.account,
                side: place.side,
                price,
                qty: place.qty,
                leaves: taker.leaves,
                time_in_force: tif,
                stp: place.stp,
                reduce_only: place.reduce_only,
                position_side: place.position_side,
            });
            self.touched.push((place.side, price, level));
            settlement::adjust_open(ctx.accounts, &self.order_side(place), taker.leaves.raw(), price);
        } else {
            self.expire(taker.id, place.account, taker.leaves, ExpireReason::Unfilled, ctx);
        }
    }

    /// Protection limit of a market order: reference × (1 ± market band), or none without a
    /// reference price.
    fn market_limit(&self, side: Side) -> Option<Price> {
        let reference = self.reference_price()?;
        let band = self.spec.market_price_band.raw();
        let (factor, rounding) = match side {
            Side::Buy => (SCALE + band, Rounding::Floor),
            Side::Sell => (SCALE - band, Rounding::Ceil),
        };
        mul_div(reference.raw(), factor, SCALE, rounding).ok().map(Price)
    }

    fn expire(&mut self, id: OrderId, account: AccountId, leaves: Qty, reason: ExpireReason, ctx: &mut Ctx<'_>) {
        ctx.events.push(Event::OrderExpired { account, symbol: self.spec.symbol, order_id: id, leaves, reason });
        self.forget(id, ctx);
    }

    /// Drops the bookkeeping of an order that is no longer live.
    fn forget(&mut self, id: OrderId, ctx: &mut Ctx<'_>) {
        if let Some(key) = self.order_clients.remove(&id) {
            self.client_ids.remove(&key);
        }
        if let Some(until) = self.good_till.remove(&id) {
            ctx.expiries.remove(&(until, self.spec.symbol, id));
        }
    }

    /// Fires and executes conditional orders until nothing else fires. The pending prices are
    /// evaluated again after each triggered order has finished matching, so every trade it
    /// causes is seen; orders fired later queue behind those already fired.
    fn run_triggers(&mut self, ctx: &mut Ctx<'_>) {
        if self.triggers.is_empty() {
            // Nothing can fire; a new conditional order starts its trail from the current price.
            self.pending_last = None;
            self.pending_mark = None;
            return;
        }
        let mut queue: VecDeque<(ConditionalOrder, Price)> = VecDeque::new();
        loop {
            self.fire_pending(&mut queue);
            let Some((order, trigger_price)) = queue.pop_front() else { return };
            let place = order.place;
            ctx.events.push(Event::OrderTriggered { account: place.account, symbol: self.spec.symbol, order_id: order.id, trigger_price });
            let order_type = if place.order_type.has_limit_price() { OrderType::Limit } else { OrderType::Market };
            let triggered = PlaceOrder { order_type, ..place };
            let checked = self.exposure(&triggered).and_then(|exposure| self.check_margin(&triggered, triggered.qty, exposure, ctx));
            match checked {
                Ok(()) | Err(RejectReason::ReduceOnlyRejected) => self.execute(order.id, &triggered, ctx),
                Err(_) => self.expire(order.id, place.account, place.qty, ExpireReason::InsufficientMargin, ctx),
            }
        }
    }

    /// Evaluates the pending mark and last price; what they fire joins the queue, ascending by id.
    fn fire_pending(&mut self, queue: &mut VecDeque<(ConditionalOrder, Price)>) {
        let mut fired: Vec<(ConditionalOrder, Price)> = Vec::new();
        if let Some(mark) = self.pending_mark.take() {
            fired.extend(self.triggers.fire(TriggerSource::MarkPrice, mark).into_iter().map(|o| (o, mark)));
        }
        if let Some(last) = self.pending_last.take() {
            fired.extend(self.triggers.fire(TriggerSource::LastPrice, last).into_iter().map(|o| (o, last)));
        }
        fired.sort_unstable_by_key(|(o, _)| o.id);
        queue.extend(fired);
    }

    fn resolve(&self, account: AccountId, order: OrderRef) -> Result<OrderId, (Option<OrderId>, RejectReason)> {
        let id = match order {
            OrderRef::Id(id) => id,
            OrderRef::Client(cid) => *self.client_ids.get(&(account, cid)).ok_or((None, RejectReason::UnknownOrder))?,
        };
        let owner = self.book.get(id).map(|o| o.account).or_else(|| self.triggers.get(id).map(|o| o.place.account));
        if owner == Some(account) {
            Ok(id)
        } else {
            Err((Some(id), RejectReason::UnknownOrder))
        }
    }

    /// Cancels one live order.
    ///
    /// # Errors
    /// The order id (when known) and the reason; nothing changed.
    pub fn cancel(&mut self, account: AccountId, order: OrderRef, ctx: &mut Ctx<'_>) -> Result<(), (Option<OrderId>, RejectReason)> {
        let id = self.resolve(account, order)?;
        self.cancel_live(id, CancelReason::User, ctx);
        Ok(())
    }

    /// Cancels every live order of the account, ascending by id.
    pub fn cancel_all(&mut self, account: AccountId, reason: CancelReason, ctx: &mut Ctx<'_>) {
        let mut ids = self.book.account_order_ids(account);
        ids.extend(self.triggers.account_order_ids(account));
        ids.sort_unstable();
        for id in ids {
            self.cancel_live(id, reason, ctx);
        }
    }

    fn cancel_live(&mut self, id: OrderId, reason: CancelReason, ctx: &mut Ctx<'_>) {
        let (account, leaves) = if let Some(order) = self.remove_resting(id, ctx) {
            (order.account, order.leaves)
        } else {
            let order = self.triggers.remove(id).expect("Invariant: resolved orders are live");
            (order.place.account, order.place.qty)
        };
        ctx.events.push(Event::OrderCancelled { account, symbol: self.spec.symbol, order_id: id, leaves, reason });
        self.forget(id, ctx);
    }

    /// Takes a resting order out of the book, releasing its margin exposure.
    fn remove_resting(&mut self, id: OrderId, ctx: &mut Ctx<'_>) -> Option<RestingOrder> {
        let (order, level) = self.book.remove_entry(id)?;
        self.touched.push((order.side, order.price, level));
        let side = self.resting_side(&order);
        settlement::adjust_open(ctx.accounts, &side, -order.leaves.raw(), order.price);
        Some(order)
    }

    /// Expires a live order whose GTD time has come.
    pub fn expire_good_till(&mut self, id: OrderId, ctx: &mut Ctx<'_>) {
        let (account, leaves) = if let Some(order) = self.remove_resting(id, ctx) {
            (order.account, order.leaves)
        } else if let Some(order) = self.triggers.remove(id) {
            (order.place.account, order.place.qty)
        } else {
            return;
        };
        self.expire(id, account, leaves, ExpireReason::GoodTillReached, ctx);
    }

    /// Amends a resting limit order.
    ///
    /// # Errors
    /// The order id (when known) and the reason; nothing changed.
    pub fn amend(
        &mut self,
        account: AccountId,
        order: OrderRef,
        price: Price,
        qty: Qty,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), (Option<OrderId>, RejectReason)> {
        let id = self.resolve(account, order)?;
        let with_id = |reason| (Some(id), reason);
        let Some(&resting) = self.book.get(id) else { return Err(with_id(RejectReason::NotAmendable)) };
        if !self.spec.trading {
            return Err(with_id(RejectReason::SymbolHalted));
        }
        self.check_qty(qty).map_err(with_id)?;
        let price = self.check_price(Some(price), RejectReason::PriceNotPositive).map_err(with_id)?;
        self.check_band(price).map_err(with_id)?;
        self.check_notional(Some(price), qty).map_err(with_id)?;
        let filled = resting.qty.raw() - resting.leaves.raw();
        if qty.raw() <= filled {
            return Err(with_id(RejectReason::AmendBelowFilled));
        }
        if price == resting.price && qty == resting.qty {
            return Err(with_id(RejectReason::AmendNoChange));
        }
        let leaves = Qty(qty.raw() - filled);
        let keeps_priority = price == resting.price && qty < resting.qty;
        if !keeps_priority && resting.time_in_force == TimeInForce::Gtx && would_take(&self.book, resting.side, price) {
            return Err(with_id(RejectReason::PostOnlyWouldTake));
        }
        let order_side = self.resting_side(&resting);
        let replaces = Some(Exposure { qty: resting.leaves, price: resting.price });
        let intent = Intent { reduce_only: resting.reduce_only, qty: leaves, exposure: Exposure { qty: leaves, price }, replaces };
        margin_check::check_order(ctx.accounts, ctx.prices, &self.spec, &order_side, intent).map_err(with_id)?;
        ctx.events.push(Event::OrderAmended {
            account,
            symbol: self.spec.symbol,
            order_id: id,
            price,
            qty,
            leaves,
            priority_kept: keeps_priority,
        });
        if keeps_priority {
            self.touched.push((resting.side, resting.price, NO_LEVEL));
            self.book.reduce(id, leaves, qty);
            settlement::adjust_open(ctx.accounts, &order_side, leaves.raw() - resting.leaves.raw(), price);
            return Ok(());
        }
        self.remove_resting(id, ctx);
        let mut taker = Taker { id, account, side: resting.side, limit: Some(price), leaves, stp: resting.stp };
        let stopped = self.match_and_settle(&mut taker, &order_side, None, ctx);
        let place = PlaceOrder {
            time_in_force: resting.time_in_force,
            reduce_only: resting.reduce_only,
            position_side: resting.position_side,
            stp: resting.stp,
            ..PlaceOrder::limit(account, self.spec.symbol, resting.side, price, qty)
        };
        self.finish_taker(&taker, &place, resting.time_in_force, stopped, ctx);
        self.run_triggers(ctx);
        Ok(())
    }

    /// Applies a published mark and index price and fires mark-price triggers.
    pub fn set_mark_price(&mut self, mark: Price, index: Price, ctx: &mut Ctx<'_>) {
        self.mark_price = Some(mark);
        self.index_price = Some(index);
        self.pending_mark = Some(mark);
        self.publish_reference(ctx);
        ctx.events.push(Event::MarkPriceSet { symbol: self.spec.symbol, mark, index });
        self.run_triggers(ctx);
    }

    /// Emits the L2 deltas of every level touched since the last flush, sorted by (side, price).
    pub fn flush_book_deltas(&mut self, events: &mut Vec<Event>) {
        if self.touched.is_empty() {
            return;
        }
        self.touched.sort_unstable();
        self.touched.dedup_by_key(|&mut (side, price, _)| (side, price));
        for &touch in &self.touched {
            let (side, price, _) = touch;
            let qty = self.book.touched_qty(touch);
            events.push(Event::BookDelta { symbol: self.spec.symbol, side, price, qty });
        }
        self.touched.clear();
    }
}
