//! Snapshots: the whole engine state in the canonical codec, and its exact restore.
//!
//! Layout: the magic `DRVSNAP2` (version 2 added isolated margin and payout keys; a version-1
//! file is refused as "not a snapshot" and recovery replays the journal instead), then the
//! counters (last seq, last time, last order id, last trade id), the insurance floor and the
//! payout keys already paid, the ADL rankings, every market (specification, prices, resting
//! orders in priority order with their client id and GTD time, waiting conditional orders with
//! their trailing state) and every account (wallet, mode, and per symbol the leverage, margin
//! type, positions with their isolated margin, and open-order totals), all in ascending id
//! order. Derived state (book internals, GTD index, holders, liquidation index, the accounts'
//! open quantity by price) is rebuilt on restore; the open orders rebuilt from the resting
//! orders must add up to the stored totals.
//!
//! `Engine::state_hash` is SHA-256 over exactly these bytes.
//!
//! Invariant: `Engine::restore(&engine.snapshot())` has the same `state_hash` as `engine` and
//! produces the same events for every later command (tested on random streams). A snapshot is
//! taken between two commands, so it is one consistent cut at `last_seq`.

use std::collections::BTreeMap;

use super::Engine;
use crate::accounts::{OpenOrders, Position};
use crate::book::RestingOrder;
use crate::codec::{DecodeError, Reader, Sink, Writer};
use crate::ids::{AccountId, ClientOrderId, SymbolId};
use crate::market::Market;
use crate::order::{PositionSide, Side, StpMode, TimeInForce};
use crate::triggers::{ConditionalOrder, Trail};
use crate::units::{Price, Qty, Quote};

const MAGIC: &[u8; 8] = b"DRVSNAP2";

fn len(n: usize) -> u64 {
    n as u64
}

impl Engine {
    /// The canonical bytes of the whole state (see the module docs).
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_state(&mut out);
        out
    }

    /// Writes the canonical bytes of the whole state into `sink` (a buffer for a snapshot, a
    /// hasher for the state hash: one encoding serves both).
    pub(super) fn write_state<S: Sink>(&self, sink: &mut S) {
        sink.put(MAGIC);
        let mut w = Writer::new(sink);
        for v in [self.last_seq, self.last_ts, self.last_order_id, self.last_trade_id] {
            w.u64(v);
        }
        w.i64(self.insurance_floor.raw());
        w.u64(len(self.payout_keys.len()));
        for key in &self.payout_keys {
            w.u64(*key);
        }
        w.u64(len(self.adl_rankings.len()));
        for ((symbol, side), ranking) in &self.adl_rankings {
            w.u32(*symbol);
            w.u8(side.to_u8());
            w.u64(len(ranking.len()));
            for account in ranking {
                w.u64(*account);
            }
        }
        w.u64(len(self.markets.len()));
        for market in self.markets.values() {
            write_market(&mut w, market);
        }
        let ids = self.accounts.ids();
        w.u64(len(ids.len()));
        for id in ids {
            let Some(account) = self.accounts.get(id) else { continue };
            w.u64(id);
            w.i64(account.wallet.raw());
            w.bool(account.hedge_mode);
            w.fee_rates(account.fee_tier);
            w.u64(len(account.symbols.len()));
            for (symbol, state) in &account.symbols {
                w.u32(*symbol);
                w.u32(state.leverage);
                w.bool(state.isolated);
                for (p, margin) in state.positions.iter().zip(&state.isolated_margin) {
                    w.i64(p.qty);
                    w.i64(p.cost.raw());
                    w.i64(margin.raw());
                }
                for o in &state.open {
                    for v in [o.buy_qty, o.sell_qty, o.buy_value.raw(), o.sell_value.raw()] {
                        w.i64(v);
                    }
                }
            }
        }
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes.
    ///
    /// # Errors
    /// [`DecodeError`] naming the offset of the first malformed or inconsistent byte.
    pub fn restore(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(DecodeError { offset: 0, what: "not a snapshot" });
        }
        let mut r = Reader::new(&bytes[MAGIC.len()..]);
        let mut engine = Self::new();
        engine.last_seq = r.u64()?;
        engine.last_ts = r.u64()?;
        engine.last_order_id = r.u64()?;
        engine.last_trade_id = r.u64()?;
        engine.insurance_floor = Quote(r.i64()?);
        for _ in 0..r.u64()? {
            engine.payout_keys.insert(r.u64()?);
        }
        for _ in 0..r.u64()? {
            let symbol = r.u32()?;
            let side = side(&mut r)?;
            let accounts = (0..r.u64()?).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
            engine.adl_rankings.insert((symbol, side), accounts);
        }
        for _ in 0..r.u64()? {
            let market = read_market(&mut r, &mut engine)?;
            engine.markets.insert(market.spec.symbol, market);
        }
        let mut stored_open = BTreeMap::new();
        for _ in 0..r.u64()? {
            let id = r.u64()?;
            let wallet = Quote(r.i64()?);
            let hedge = r.bool()?;
            let fee_tier = r.fee_rates()?;
            let mut symbols = crate::accounts::SymbolMap::default();
            for _ in 0..r.u64()? {
                let symbol = r.u32()?;
                let leverage = r.u32()?;
                let mut state = crate::accounts::SymbolAccount { leverage, isolated: r.bool()?, ..Default::default() };
                for (p, margin) in state.positions.iter_mut().zip(&mut state.isolated_margin) {
                    *p = Position { qty: r.i64()?, cost: Quote(r.i64()?) };
                    *margin = Quote(r.i64()?);
                }
                let mut open = [(0, 0, Quote::ZERO, Quote::ZERO); 3];
                for o in &mut open {
                    *o = (r.i64()?, r.i64()?, Quote(r.i64()?), Quote(r.i64()?));
                }
                stored_open.insert((id, symbol), open);
                symbols.insert(symbol, state);
            }
            let account = engine.accounts.get_mut(id);
            account.wallet = wallet;
            account.hedge_mode = hedge;
            account.fee_tier = fee_tier;
            account.symbols = symbols;
            for symbol in account.symbols.keys().copied().collect::<Vec<_>>() {
                engine.accounts.note_position(id, symbol);
            }
        }
        if !r.is_done() {
            return Err(DecodeError { offset: MAGIC.len(), what: "trailing bytes after the snapshot" });
        }
        engine.restore_open_orders(&stored_open)?;
        engine.liquidation_index.refresh(&mut engine.accounts, &engine.markets);
        Ok(engine)
    }
}

/// An account leg's open-order totals as a snapshot stores them: buy and sell quantity, buy and
/// sell value.
type OpenTotals = (i64, i64, Quote, Quote);

const fn totals(o: &OpenOrders) -> OpenTotals {
    (o.buy_qty, o.sell_qty, o.buy_value, o.sell_value)
}

impl Engine {
    /// Rebuilds every account's open orders (totals and quantity by price) from the resting
    /// orders, and checks them against the totals the snapshot `stored`.
    fn restore_open_orders(&mut self, stored: &BTreeMap<(AccountId, SymbolId), [OpenTotals; 3]>) -> Result<(), DecodeError> {
        let bad = |what| DecodeError { offset: 0, what };
        for market in self.markets.values() {
            for o in market.book.iter_side(Side::Buy).chain(market.book.iter_side(Side::Sell)) {
                let state = self.accounts.get_mut(o.account).symbol_mut(market.spec.symbol);
                let leg = &mut state.open[o.position_side.to_u8() as usize];
                leg.add(o.side, o.leaves.raw(), o.price).map_err(|_| bad("resting orders overflow"))?;
            }
        }
        for id in self.accounts.ids() {
            let Some(account) = self.accounts.get(id) else { continue };
            for (symbol, state) in &account.symbols {
                let expected = stored.get(&(id, *symbol)).ok_or(bad("a resting order of an unknown account"))?;
                if state.open.iter().map(totals).ne(expected.iter().copied()) {
                    return Err(bad("open-order exposure does not match the resting orders"));
                }
            }
        }
        Ok(())
    }
}

fn write_market<S: Sink>(w: &mut Writer<'_, S>, market: &Market) {
    w.instrument(&market.spec);
    for price in [market.last_price, market.mark_price, market.index_price] {
        w.opt_i64(price.map(Price::raw));
    }
    let resting: Vec<&RestingOrder> = market.book.iter_side(Side::Buy).chain(market.book.iter_side(Side::Sell)).collect();
    w.u64(len(resting.len()));
    for o in resting {
        w.u64(o.id);
        w.u64(o.account);
        w.u8(o.side.to_u8());
        for v in [o.price.raw(), o.qty.raw(), o.leaves.raw()] {
            w.i64(v);
        }
        w.u8(o.time_in_force.to_u8());
        w.u8(o.stp.to_u8());
        w.bool(o.reduce_only);
        w.u8(o.position_side.to_u8());
        w.str(market.client_order_id(o.id).as_ref().map_or("", ClientOrderId::as_str));
        w.opt_u64(market.good_till(o.id));
    }
    w.u64(len(market.triggers.len()));
    for c in market.triggers.iter() {
        w.u64(c.id);
        w.place(&c.place);
        w.bool(c.trail.is_some());
        if let Some(trail) = c.trail {
            w.bool(trail.active);
            w.i64(trail.extreme.raw());
        }
    }
}

fn side(r: &mut Reader<'_>) -> Result<Side, DecodeError> {
    Side::from_u8(r.u8()?).ok_or(DecodeError { offset: 0, what: "unknown side" })
}

fn read_market(r: &mut Reader<'_>, engine: &mut Engine) -> Result<Market, DecodeError> {
    let bad = |what| DecodeError { offset: 0, what };
    let mut market = Market::new(r.instrument()?);
    market.last_price = r.opt_i64()?.map(Price);
    market.mark_price = r.opt_i64()?.map(Price);
    market.index_price = r.opt_i64()?.map(Price);
    if let Some(reference) = market.reference_price() {
        engine.prices.insert(market.spec.symbol, reference);
    }
    let symbol = market.spec.symbol;
    for _ in 0..r.u64()? {
        let order = RestingOrder {
            id: r.u64()?,
            account: r.u64()?,
            side: side(r)?,
            price: Price(r.i64()?),
            qty: Qty(r.i64()?),
            leaves: Qty(r.i64()?),
            time_in_force: TimeInForce::from_u8(r.u8()?).ok_or(bad("unknown time in force"))?,
            stp: StpMode::from_u8(r.u8()?).ok_or(bad("unknown STP mode"))?,
            reduce_only: r.bool()?,
            position_side: PositionSide::from_u8(r.u8()?).ok_or(bad("unknown position side"))?,
        };
        let client = match r.str()? {
            "" => None,
            text => Some(ClientOrderId::new(text).map_err(|_| bad("invalid client order id"))?),
        };
        let good_till = r.opt_u64()?;
        if order.leaves.raw() <= 0 || market.book.get(order.id).is_some() {
            return Err(bad("inconsistent resting order"));
        }
        market.book.insert(order);
        market.restore_order_meta(order.id, order.account, client, good_till);
        if let Some(until) = good_till {
            engine.expiries.insert((until, symbol, order.id));
        }
    }
    for _ in 0..r.u64()? {
        let id = r.u64()?;
        let place = r.place()?;
        let trail = if r.bool()? { Some(Trail { active: r.bool()?, extreme: Price(r.i64()?) }) } else { None };
        if !place.order_type.is_conditional() || trail.is_some() != place.callback_rate.is_some() {
            return Err(bad("inconsistent conditional order"));
        }
        market.triggers.restore(ConditionalOrder { id, place, trail });
        market.restore_order_meta(id, place.account, place.client_order_id, place.good_till);
        if let Some(until) = place.good_till {
            engine.expiries.insert((until, symbol, id));
        }
    }
    Ok(market)
}
