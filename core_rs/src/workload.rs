//! A seeded, realistic command workload for benchmarks: several symbols, books with thousands of
//! price levels prefilled with resting orders, then a mix of about 50 % limit places (some
//! crossing), 35 % cancels of live orders, 10 % market or IOC orders and 5 % amends.
//!
//! The generator runs its own engine while it generates, so cancels and amends name orders that
//! are really live. The same config always gives the same commands, and applying them to a fresh
//! engine gives the same order ids the generator saw.

pub mod liquibook;

use rustc_hash::FxHashMap;

use crate::command::{Command, OrderRef, PlaceOrder};
use crate::engine::Engine;
use crate::event::Event;
use crate::ids::{AccountId, OrderId, SymbolId};
use crate::order::{OrderType, Side, TimeInForce};
use crate::testkit::{instrument, limit, market, Harness};
use crate::units::{Price, Qty, Quote};

/// SplitMix64: a tiny deterministic generator (no dependency, same numbers everywhere).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Shape of the workload.
#[derive(Clone, Copy, Debug)]
pub struct WorkloadConfig {
    /// Number of symbols (ids 1..=symbols).
    pub symbols: u32,
    /// Number of trading accounts.
    pub accounts: u64,
    /// Resting orders placed before the timed mix.
    pub prefill_orders: usize,
    /// Price levels used on each side of each book.
    pub levels_per_side: i64,
    /// Commands in the timed mix.
    pub commands: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self { symbols: 4, accounts: 10_000, prefill_orders: 1_000_000, levels_per_side: 2_500, commands: 2_000_000, seed: 42 }
    }
}

/// The generated commands: `setup` (instruments and prefill) then the timed `mix`.
#[derive(Debug)]
pub struct Workload {
    /// Instruments and resting orders.
    pub setup: Vec<Command>,
    /// The timed mix.
    pub mix: Vec<Command>,
}

const MID_TICKS: i64 = 500_000; // mid price 50,000.0 at tick 0.1

struct Generator {
    cfg: WorkloadConfig,
    rng: SplitMix64,
    harness: Harness,
    live: Vec<(SymbolId, AccountId, OrderId)>,
    live_index: FxHashMap<OrderId, usize>,
    pending: Option<(SymbolId, AccountId)>,
}

impl Generator {
    fn tick_price(ticks: i64) -> Price {
        Price(ticks * 10_000_000)
    }

    fn lots(&mut self) -> Qty {
        Qty(100_000 * (1 + i64::try_from(self.rng.below(20)).unwrap_or(0)))
    }

    fn pick(&mut self) -> (SymbolId, AccountId, Side) {
        let symbol = 1 + u32::try_from(self.rng.below(u64::from(self.cfg.symbols))).unwrap_or(0);
        let account = 1 + self.rng.below(self.cfg.accounts);
        let side = if self.rng.percent(50) { Side::Buy } else { Side::Sell };
        (symbol, account, side)
    }

    /// A passive distance from the mid, skewed toward the top of the book.
    fn passive_ticks(&mut self) -> i64 {
        let n = u64::try_from(self.cfg.levels_per_side).unwrap_or(1);
        let a = self.rng.below(n);
        let b = self.rng.below(n);
        1 + i64::try_from(a.min(b)).unwrap_or(0)
    }

    fn passive_limit(&mut self) -> PlaceOrder {
        let (symbol, account, side) = self.pick();
        let ticks = self.passive_ticks();
        let price = match side {
            Side::Buy => MID_TICKS - ticks,
            Side::Sell => MID_TICKS + ticks,
        };
        let qty = self.lots();
        limit(account, symbol, side, Self::tick_price(price), qty)
    }

    fn aggressive(&mut self) -> PlaceOrder {
        let (symbol, account, side) = self.pick();
        let qty = self.lots();
        if self.rng.percent(50) {
            return market(account, symbol, side, qty);
        }
        let through = 1 + i64::try_from(self.rng.below(5)).unwrap_or(0);
        let price = match side {
            Side::Buy => MID_TICKS + through,
            Side::Sell => MID_TICKS - through,
        };
        PlaceOrder { time_in_force: TimeInForce::Ioc, ..limit(account, symbol, side, Self::tick_price(price), qty) }
    }

    fn random_live(&mut self) -> Option<(SymbolId, AccountId, OrderId)> {
        (!self.live.is_empty()).then(|| self.live[usize::try_from(self.rng.below(self.live.len() as u64)).unwrap_or(0)])
    }

    fn mixed(&mut self) -> Command {
        let roll = self.rng.below(100);
        if roll < 50 {
            let mut order = self.passive_limit();
            if self.rng.percent(10) {
                // Cross the spread by a few ticks: a limit order that takes, then rests.
                let through = 1 + i64::try_from(self.rng.below(3)).unwrap_or(0);
                let ticks = match order.side {
                    Side::Buy => MID_TICKS + through,
                    Side::Sell => MID_TICKS - through,
                };
                order.price = Some(Self::tick_price(ticks));
            }
            return Command::PlaceOrder(order);
        }
        if roll < 85 {
            if let Some((symbol, account, id)) = self.random_live() {
                return Command::CancelOrder { account, symbol, order: OrderRef::Id(id) };
            }
        }
        if roll >= 95 {
            if let Some((symbol, account, id)) = self.random_live() {
                if let Some(order) = self.harness.engine.market(symbol).and_then(|m| m.book.get(id)).copied() {
                    let (price, qty) = if self.rng.percent(50) && order.leaves.raw() > 100_000 {
                        (order.price, Qty(order.qty.raw() - 100_000))
                    } else {
                        let step = 1 + i64::try_from(self.rng.below(5)).unwrap_or(0);
                        let ticks = order.price.raw() / 10_000_000;
                        let moved = match order.side {
                            Side::Buy => (ticks + step).min(MID_TICKS - 1),
                            Side::Sell => (ticks - step).max(MID_TICKS + 1),
                        };
                        (Self::tick_price(moved), order.qty)
                    };
                    return Command::AmendOrder { account, symbol, order: OrderRef::Id(id), price, qty };
                }
            }
        }
        Command::PlaceOrder(self.aggressive())
    }

    fn apply(&mut self, command: &Command) {
        if let Command::PlaceOrder(place) = command {
            let resting = place.order_type == OrderType::Limit && place.time_in_force == TimeInForce::Gtc;
            self.pending = resting.then_some((place.symbol, place.account));
        }
        let events = self.harness.send(command.clone());
        for event in &events {
            match *event {
                Event::OrderAccepted { order_id, .. } => {
                    if let Some((symbol, account)) = self.pending.take() {
                        self.live_index.insert(order_id, self.live.len());
                        self.live.push((symbol, account, order_id));
                    }
                }
                Event::Trade { maker_order_id, maker_leaves, taker_order_id, taker_leaves, .. } => {
                    if maker_leaves.raw() == 0 {
                        self.forget(maker_order_id);
                    }
                    if taker_leaves.raw() == 0 {
                        self.forget(taker_order_id);
                    }
                }
                Event::OrderCancelled { order_id, .. } | Event::OrderExpired { order_id, .. } => self.forget(order_id),
                _ => {}
            }
        }
    }

    fn forget(&mut self, id: OrderId) {
        if let Some(index) = self.live_index.remove(&id) {
            self.live.swap_remove(index);
            if let Some(&(_, _, moved)) = self.live.get(index) {
                self.live_index.insert(moved, index);
            }
        }
    }
}

/// Generates the workload described by `cfg`; `progress` is called with (done, total) now and then.
#[must_use]
pub fn generate(cfg: WorkloadConfig, mut progress: impl FnMut(usize, usize)) -> Workload {
    let mut g = Generator {
        cfg,
        rng: SplitMix64::new(cfg.seed),
        harness: Harness { engine: Engine::new(), now: 1, hide_settlement: true },
        live: Vec::new(),
        live_index: FxHashMap::default(),
        pending: None,
    };
    let names = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "AVAXUSDT"];
    let mut setup = Vec::with_capacity(cfg.prefill_orders + 8);
    for symbol in 1..=cfg.symbols {
        let name = names.get(symbol as usize - 1).map_or_else(|| format!("SYM{symbol}USDT"), |n| (*n).to_string());
        setup.push(Command::AddInstrument(instrument(symbol, &name)));
    }
    let total = cfg.prefill_orders + cfg.commands;
    for account in 1..=cfg.accounts {
        setup.push(Command::Deposit { account, amount: Quote(100_000_000 * 100_000_000) });
    }
    for i in 0..cfg.prefill_orders {
        setup.push(Command::PlaceOrder(g.passive_limit()));
        if i % 65_536 == 0 {
            progress(i, total);
        }
    }
    for command in &setup {
        g.apply(command);
    }
    let mut mix = Vec::with_capacity(cfg.commands);
    for i in 0..cfg.commands {
        let command = g.mixed();
        g.apply(&command);
        mix.push(command);
        if i % 65_536 == 0 {
            progress(cfg.prefill_orders + i, total);
        }
    }
    progress(total, total);
    Workload { setup, mix }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_workload_is_deterministic_and_has_the_documented_mix() {
        let cfg = WorkloadConfig { prefill_orders: 2_000, commands: 20_000, accounts: 50, ..WorkloadConfig::default() };
        let a = generate(cfg, |_, _| {});
        let b = generate(cfg, |_, _| {});
        assert_eq!(a.mix, b.mix);
        let count = |f: fn(&Command) -> bool| a.mix.iter().filter(|c| f(c)).count() * 100 / a.mix.len();
        let cancels = count(|c| matches!(c, Command::CancelOrder { .. }));
        let amends = count(|c| matches!(c, Command::AmendOrder { .. }));
        assert!((33..=37).contains(&cancels), "cancels {cancels}%");
        assert!((3..=6).contains(&amends), "amends {amends}%");
        // Replaying on a fresh engine hits live orders: few cancels are rejected.
        let mut h = Harness { engine: Engine::new(), now: 1, hide_settlement: false };
        let mut rejected = 0;
        for c in a.setup.iter().chain(&a.mix) {
            rejected += h.send(c.clone()).iter().filter(|e| matches!(e, Event::OrderRejected { .. })).count();
        }
        assert!(rejected * 100 < a.mix.len(), "{rejected} rejections");
    }
}
