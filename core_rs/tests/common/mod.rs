//! Shared by `differential.rs` and `properties.rs`: a random command generator for two markets and
//! six accounts, driven by any source of 64-bit words.
//!
//! The words come either from [`SplitMix64`] (the seeded million-command run) or from a [`Tape`]
//! that proptest generates and shrinks (a shorter tape means fewer commands; a word of zero always
//! picks the first, simplest option). The generator aims at a realistic but stressful mix: prices
//! a few ticks around a drifting mid so orders cross all the time, few accounts so self-trades
//! happen, every order type, time in force and STP mode, amends and cancels of live, finished,
//! foreign and unknown orders, a few percent of each kind of invalid input, mark-price updates,
//! short GTD lifetimes with time advances, and rare trading halts.
//!
//! It never reads engine state: it learns order ids from the events it is shown ([`Generator::observe`]).

#![allow(dead_code, reason = "each test binary uses a different part of the shared module")]

use std::collections::VecDeque;

use derivatives_core::event::Event;
use derivatives_core::ids::{AccountId, ClientOrderId, Nanos, OrderId, SymbolId, SymbolName};
use derivatives_core::instrument::InstrumentSpec;
use derivatives_core::order::{OrderType, PositionSide, Side, StpMode, TimeInForce, TriggerSource};
use derivatives_core::testkit::{btc_brackets, instrument};
use derivatives_core::units::{Price, Qty, Quote, Rate};
use derivatives_core::{Command, OrderRef, PlaceOrder};

/// A symbol id that is never listed.
pub const UNKNOWN_SYMBOL: SymbolId = 9;
/// Accounts 1..=ACCOUNTS place orders; account ACCOUNTS + 1 only ever cancels.
pub const ACCOUNTS: u64 = 6;
/// One millisecond in engine time.
const MS: Nanos = 1_000_000;
/// How many probably-live orders the generator remembers as cancel and amend targets.
const REMEMBERED_LIVE: usize = 64;
/// How many finished orders it remembers, to cancel or amend them by mistake.
const REMEMBERED_FINISHED: usize = 16;

/// A source of random 64-bit words.
pub trait Entropy {
    /// The next word.
    fn next_u64(&mut self) -> u64;
}

pub use derivatives_core::workload::SplitMix64;

/// The seeded generator the benchmarks use also drives the seeded test runs.
impl Entropy for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        SplitMix64::next_u64(self)
    }
}

/// A finite list of words (from proptest); zero once it is used up.
#[derive(Clone, Debug)]
pub struct Tape<'a> {
    words: &'a [u64],
    pos: usize,
}

impl<'a> Tape<'a> {
    /// A tape over `words`.
    pub fn new(words: &'a [u64]) -> Self {
        Self { words, pos: 0 }
    }

    /// True once every word has been read.
    pub fn exhausted(&self) -> bool {
        self.pos >= self.words.len()
    }
}

impl Entropy for Tape<'_> {
    fn next_u64(&mut self) -> u64 {
        let word = self.words.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        word
    }
}

/// Convenience draws over an [`Entropy`]; every draw maps the word 0 to the first option.
pub struct Dice<'a>(pub &'a mut dyn Entropy);

impl Dice<'_> {
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).expect("lo <= hi");
        lo + i64::try_from(self.below(span)).expect("span fits")
    }

    /// True with probability `percent` / 100 (never for the word 0).
    pub fn chance(&mut self, percent: u64) -> bool {
        99 - self.below(100) < percent
    }

    /// One of `items`, uniformly.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::try_from(self.below(items.len() as u64)).expect("index fits")]
    }

    /// One of `items`, with the given weights.
    pub fn weighted<T: Copy>(&mut self, items: &[(u64, T)]) -> T {
        let total: u64 = items.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for &(weight, item) in items {
            if roll < weight {
                return item;
            }
            roll -= weight;
        }
        unreachable!("roll < total")
    }
}

/// How the generator sees one listed market.
#[derive(Clone, Debug)]
struct MarketModel {
    spec: InstrumentSpec,
    /// Mid price in ticks; drifts within `anchor ± max_drift`.
    mid: i64,
    anchor: i64,
    /// Limit prices are drawn within `mid ± spread` ticks.
    spread: i64,
    /// Usual quantities are drawn within these step counts.
    qty_steps: (i64, i64),
    /// Half-width of the limit price band, in ticks at the anchor.
    band_ticks: i64,
}

impl MarketModel {
    fn tick(&self) -> i64 {
        self.spec.tick_size.raw()
    }

    fn step(&self) -> i64 {
        self.spec.step_size.raw()
    }
}

/// The two listed instruments: BTC-like (tick 0.1 around 100, wide bands) and ETH-like (tick 0.01
/// around 20, narrow bands so that the market-order protection and band rejections matter).
pub fn instruments() -> Vec<InstrumentSpec> {
    market_models().into_iter().map(|m| m.spec).collect()
}

fn market_models() -> Vec<MarketModel> {
    let btc = InstrumentSpec {
        min_qty: Qty(1_000_000),   // 0.01
        max_qty: Qty(100_000_000), // 1
        limit_price_band: Rate(5_000_000),
        market_price_band: Rate(2_000_000),
        ..instrument(1, "BTCUSDT")
    };
    let eth = InstrumentSpec {
        symbol: 2,
        name: SymbolName::new("ETHUSDT").expect("valid name"),
        tick_size: Price(1_000_000), // 0.01
        step_size: Qty(1_000_000),   // 0.01
        min_qty: Qty(1_000_000),
        max_qty: Qty(5_000_000_000), // 50
        min_notional: Quote(500_000_000),
        limit_price_band: Rate(1_000_000),
        market_price_band: Rate(500_000),
        brackets: btc_brackets(),
        ..instrument(2, "ETHUSDT")
    };
    vec![
        MarketModel { spec: btc, mid: 1_000, anchor: 1_000, spread: 10, qty_steps: (40, 600), band_ticks: 50 },
        MarketModel { spec: eth, mid: 2_000, anchor: 2_000, spread: 6, qty_steps: (20, 300), band_ticks: 20 },
    ]
}

/// An order the generator has seen accepted.
#[derive(Clone, Copy, Debug)]
struct KnownOrder {
    id: OrderId,
    account: AccountId,
    symbol: SymbolId,
    price: Option<Price>,
    qty: Qty,
    filled: Qty,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Place,
    Cancel,
    CancelAll,
    Amend,
    Mark,
    Halt,
}

/// The command generator; see the module docs.
#[derive(Debug)]
pub struct Generator {
    now: Nanos,
    markets: Vec<MarketModel>,
    /// Orders with no terminal event seen yet, oldest first.
    live: VecDeque<KnownOrder>,
    finished: VecDeque<KnownOrder>,
    last_order_id: OrderId,
    /// A phase of mostly passive GTC limit orders and few cancels, so that books get deep and
    /// queues long; toggled now and then.
    building: bool,
    client_ids: Vec<ClientOrderId>,
}

impl Default for Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl Generator {
    /// A generator at time 1 s with both markets at their anchor.
    pub fn new() -> Self {
        let client_ids = ["a", "b", "c", "d", "e", "f"].iter().map(|c| ClientOrderId::new(c).expect("valid")).collect();
        Self {
            now: 1_000 * MS,
            markets: market_models(),
            live: VecDeque::new(),
            finished: VecDeque::new(),
            last_order_id: 0,
            building: false,
            client_ids,
        }
    }

    /// The commands that list the markets.
    pub fn setup(&self) -> Vec<(Nanos, Command)> {
        let listings = self.markets.iter().map(|m| (self.now, Command::AddInstrument(m.spec.clone())));
        // Every account is funded far beyond what its orders can need, so the margin check never
        // binds here: these runs are about matching (clearing has its own tests).
        let deposits = (1..=ACCOUNTS + 1).map(|account| (self.now, Command::Deposit { account, amount: Quote(1 << 60) }));
        listings.chain(deposits).collect()
    }

    /// The next command and its timestamp (never earlier than the previous one).
    pub fn next(&mut self, dice: &mut Dice<'_>) -> (Nanos, Command) {
        self.now += dice.weighted(&[(40, 0), (40, MS), (15, 5 * MS), (5, 50 * MS)]);
        for m in &mut self.markets {
            if dice.chance(3) {
                m.mid = (m.mid + dice.pick(&[-1, 1])).clamp(m.anchor - 20, m.anchor + 20);
            }
        }
        if let Some(i) = self.markets.iter().position(|m| !m.spec.trading) {
            if dice.chance(10) {
                return (self.now, self.toggle_halt(i));
            }
        }
        if dice.chance(1) && dice.chance(20) {
            self.building = !self.building;
        }
        let quiet = if self.building { 0 } else { 1 };
        let kind = dice.weighted(&[
            (550, Kind::Place),
            (60, Kind::Cancel),
            (8 * quiet, Kind::CancelAll),
            (160, Kind::Amend),
            (105, Kind::Mark),
            (5 * quiet, Kind::Halt),
        ]);
        let command = match kind {
            Kind::Place => Command::PlaceOrder(self.place(dice)),
            Kind::Cancel => {
                let (account, symbol, order, _) = self.target(dice);
                Command::CancelOrder { account, symbol, order }
            }
            Kind::CancelAll => Command::CancelAll { account: 1 + dice.below(ACCOUNTS + 1), symbol: self.symbol(dice) },
            Kind::Amend => self.amend(dice),
            Kind::Mark => self.mark(dice),
            Kind::Halt => {
                let i = usize::try_from(dice.below(self.markets.len() as u64)).expect("fits");
                self.toggle_halt(i)
            }
        };
        (self.now, command)
    }

    /// Learns order ids, prices, quantities and which orders ended from the last command's events.
    pub fn observe(&mut self, events: &[Event]) {
        for event in events {
            match *event {
                Event::OrderAccepted { order_id, order } => {
                    self.last_order_id = order_id;
                    if self.live.len() == REMEMBERED_LIVE {
                        self.live.pop_front();
                    }
                    self.live.push_back(KnownOrder {
                        id: order_id,
                        account: order.account,
                        symbol: order.symbol,
                        price: order.price,
                        qty: order.qty,
                        filled: Qty::ZERO,
                    });
                }
                Event::OrderAmended { order_id, price, qty, .. } => {
                    if let Some(known) = self.live.iter_mut().find(|k| k.id == order_id) {
                        known.price = Some(price);
                        known.qty = qty;
                    }
                }
                Event::Trade { qty, maker_order_id, maker_leaves, taker_order_id, taker_leaves, .. } => {
                    for (id, leaves) in [(maker_order_id, maker_leaves), (taker_order_id, taker_leaves)] {
                        if let Some(known) = self.live.iter_mut().find(|k| k.id == id) {
                            known.filled.0 += qty.raw();
                        }
                        if leaves.raw() == 0 {
                            self.finish(id);
                        }
                    }
                }
                Event::OrderCancelled { order_id, .. } | Event::OrderExpired { order_id, .. } => self.finish(order_id),
                _ => {}
            }
        }
    }

    fn finish(&mut self, id: OrderId) {
        if let Some(at) = self.live.iter().position(|k| k.id == id) {
            let known = self.live.remove(at).expect("found");
            if self.finished.len() == REMEMBERED_FINISHED {
                self.finished.pop_front();
            }
            self.finished.push_back(known);
        }
    }

    fn toggle_halt(&mut self, i: usize) -> Command {
        let spec = &mut self.markets[i].spec;
        spec.trading = !spec.trading;
        Command::UpdateInstrument(spec.clone())
    }

    fn symbol(&self, dice: &mut Dice<'_>) -> SymbolId {
        dice.weighted(&[(48, 1), (48, 2), (4, UNKNOWN_SYMBOL)])
    }

    /// The model for `symbol`; an unknown symbol borrows the first market's prices.
    fn model(&self, symbol: SymbolId) -> &MarketModel {
        self.markets.iter().find(|m| m.spec.symbol == symbol).unwrap_or(&self.markets[0])
    }

    /// A price near the mid: mostly within the spread (for a limit order of `side`, mostly on
    /// its own side of the mid so that books build up), sometimes off tick, far outside the
    /// band, or zero.
    fn price(&self, symbol: SymbolId, side: Option<Side>, dice: &mut Dice<'_>) -> Price {
        let m = self.model(symbol);
        let ticks = match dice.weighted(&[(97, 0), (2, 1), (1, 2)]) {
            0 => {
                // Distance from the mid towards the order's own side; negative crosses it.
                let aggressive = if self.building { 3 } else { 20 };
                let passive = if dice.chance(aggressive) { -dice.between(1, m.spread) } else { dice.between(0, m.spread) };
                match side {
                    None => m.mid + dice.between(-m.spread, m.spread),
                    Some(Side::Buy) => m.mid - passive,
                    Some(Side::Sell) => m.mid + passive,
                }
            }
            1 => m.mid + dice.pick(&[-1, 1]) * (m.band_ticks + dice.between(1, 30)),
            2 => m.mid + dice.pick(&[-1, 1]) * (m.band_ticks + dice.between(1, 30)),
            _ => 0,
        };
        let off_tick = if dice.chance(3) { m.tick() / 2 } else { 0 };
        Price(ticks * m.tick() + off_tick)
    }

    /// A quantity: mostly a usual size, sometimes tiny (below minimum or notional), huge, off
    /// step, zero or negative.
    fn qty(&self, symbol: SymbolId, dice: &mut Dice<'_>) -> Qty {
        let m = self.model(symbol);
        let (lo, hi) = m.qty_steps;
        let steps = match dice.weighted(&[(85, 0), (8, 1), (2, 2), (2, 3), (2, 4), (1, 5)]) {
            0 => dice.between(lo, hi),
            1 => dice.between(1, lo),
            2 => m.spec.max_qty.raw() / m.step() + dice.between(1, 100),
            3 => return Qty(dice.between(lo, hi) * m.step() + m.step() / 2),
            4 => 0,
            _ => -dice.between(1, lo),
        };
        Qty(steps * m.step())
    }

    fn good_till(&self, dice: &mut Dice<'_>) -> Option<Nanos> {
        let later = self.now + dice.between(1, 400).unsigned_abs() * MS;
        dice.weighted(&[(90, Some(later)), (5, Some(self.now)), (5, None)])
    }

    fn place(&self, dice: &mut Dice<'_>) -> PlaceOrder {
        use OrderType as T;
        let symbol = self.symbol(dice);
        let order_type = dice.weighted(&[
            (if self.building { 300 } else { 60 }, T::Limit),
            (8, T::Market),
            (7, T::StopMarket),
            (7, T::StopLimit),
            (6, T::TakeProfitMarket),
            (6, T::TakeProfitLimit),
            (8, T::TrailingStopMarket),
        ]);
        let time_in_force = if order_type.has_limit_price() {
            use TimeInForce as F;
            let gtc = if self.building { 200 } else { 40 };
            dice.weighted(&[(gtc, F::Gtc), (15, F::Ioc), (15, F::Fok), (15, F::Gtx), (15, F::Gtd)])
        } else {
            use TimeInForce as F;
            dice.weighted(&[(70, F::Gtc), (25, F::Ioc), (2, F::Fok), (2, F::Gtx), (1, F::Gtd)])
        };
        let side = dice.pick(&[Side::Buy, Side::Sell]);
        let price = if order_type.has_limit_price() {
            (!dice.chance(1)).then(|| self.price(symbol, Some(side), dice))
        } else {
            dice.chance(2).then(|| self.price(symbol, None, dice))
        };
        let is_stop = matches!(order_type, T::StopMarket | T::StopLimit | T::TakeProfitMarket | T::TakeProfitLimit);
        let is_trailing = order_type == T::TrailingStopMarket;
        let stop_price = if is_stop { !dice.chance(2) } else { dice.chance(2) };
        let stop_price = stop_price.then(|| self.price(symbol, None, dice));
        // A stop-limit's limit price usually sits a few ticks from its stop price.
        let price = match (order_type, price, stop_price) {
            (T::StopLimit | T::TakeProfitLimit, Some(_), Some(stop)) if dice.chance(80) => {
                Some(Price(stop.raw() + dice.between(-3, 3) * self.model(symbol).tick()))
            }
            _ => price,
        };
        let callback_rate = if is_trailing {
            let valid = [100_000, 500_000, 1_000_000, 2_000_000, 10_000_000];
            Some(Rate(if dice.chance(4) { dice.pick(&[0, 99_999, 10_000_001, -100_000]) } else { dice.pick(&valid) }))
        } else {
            dice.chance(1).then_some(Rate(1_000_000))
        };
        let activation_price = if is_trailing { dice.chance(50) } else { dice.chance(1) };
        let activation_price = activation_price.then(|| self.price(symbol, None, dice));
        let good_till = if time_in_force == TimeInForce::Gtd { self.good_till(dice) } else { dice.chance(1).then_some(self.now + 10 * MS) };
        // Reduce-only and close-position orders depend on positions, which the reference does not
        // model; only malformed close-position requests (rejected on shape) are generated.
        let close_position = dice.chance(1) && !matches!(order_type, T::StopMarket | T::TakeProfitMarket);
        let qty = if close_position && dice.chance(80) { Qty::ZERO } else { self.qty(symbol, dice) };
        PlaceOrder {
            account: 1 + dice.below(ACCOUNTS),
            symbol,
            client_order_id: dice.chance(30).then(|| dice.pick(&self.client_ids)),
            side,
            order_type,
            time_in_force,
            price,
            qty,
            stop_price,
            trigger_source: dice.pick(&[TriggerSource::LastPrice, TriggerSource::MarkPrice]),
            callback_rate,
            activation_price,
            good_till,
            reduce_only: false,
            close_position,
            position_side: PositionSide::Both, // one-way mode; hedge legs need positions, which clearing tests cover
            stp: dice.pick(&[StpMode::None, StpMode::ExpireTaker, StpMode::ExpireMaker, StpMode::ExpireBoth]),
        }
    }

    /// Which order a cancel or amend names: usually a live order by its owner, sometimes by
    /// another account or on the wrong symbol, a finished order, an unknown id, or a client id.
    fn target(&self, dice: &mut Dice<'_>) -> (AccountId, SymbolId, OrderRef, Option<KnownOrder>) {
        let choice = dice.weighted(&[(70, 0), (8, 1), (7, 2), (15, 3)]);
        let remembered = match choice {
            0 => &self.live,
            1 => &self.finished,
            _ => &VecDeque::new(),
        };
        if remembered.is_empty() {
            return if choice == 3 {
                (1 + dice.below(ACCOUNTS), self.symbol(dice), OrderRef::Client(dice.pick(&self.client_ids)), None)
            } else {
                let beyond = self.last_order_id + 1 + dice.below(5);
                let id = dice.pick(&[0, self.last_order_id + 1, beyond]);
                (1 + dice.below(ACCOUNTS), self.symbol(dice), OrderRef::Id(id), None)
            };
        }
        let known = remembered[usize::try_from(dice.below(remembered.len() as u64)).expect("fits")];
        let account = if dice.chance(10) { 1 + dice.below(ACCOUNTS + 1) } else { known.account };
        let symbol = if dice.chance(5) { self.symbol(dice) } else { known.symbol };
        (account, symbol, OrderRef::Id(known.id), Some(known))
    }

    fn amend(&self, dice: &mut Dice<'_>) -> Command {
        let (account, symbol, order, known) = self.target(dice);
        let m = self.model(symbol);
        let (price, qty) = match known {
            Some(KnownOrder { price: Some(price), qty, filled, .. }) if dice.chance(95) => {
                let price = match dice.weighted(&[(40, 0), (55, 1), (5, 2)]) {
                    0 => price,
                    1 => Price(price.raw() + dice.between(-5, 5) * m.tick()),
                    _ => self.price(symbol, None, dice),
                };
                let steps = qty.raw() / m.step();
                let qty = match dice.weighted(&[(25, 0), (30, 1), (30, 2), (5, 3), (10, 4)]) {
                    0 => qty,
                    1 => Qty((steps - dice.between(1, (steps / 2).max(1))) * m.step()),
                    2 => Qty((steps + dice.between(1, 100)) * m.step()),
                    3 => filled,
                    _ => self.qty(symbol, dice),
                };
                (price, qty)
            }
            _ => (self.price(symbol, None, dice), self.qty(symbol, dice)),
        };
        Command::AmendOrder { account, symbol, order, price, qty }
    }

    fn mark(&self, dice: &mut Dice<'_>) -> Command {
        let symbol = self.symbol(dice);
        let m = self.model(symbol);
        let mark = match dice.weighted(&[(94, 0), (5, 1), (1, 2)]) {
            0 => (m.mid + dice.between(-10, 10)) * m.tick(),
            1 => (m.mid + dice.between(-10, 10)) * m.tick() + m.tick() / 3,
            _ => 0,
        };
        let index = if dice.chance(1) { 0 } else { mark + dice.between(-2, 2) * m.tick() };
        Command::SetMarkPrice { symbol, mark: Price(mark), index: Price(index.max(0)) }
    }
}
