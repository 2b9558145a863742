//! The BTCUSDT market the margin benchmarks build on, and how they drive it: positions opened by
//! crossing pairs of accounts (the setup is not timed), and timed mark ticks.

use std::time::{Duration, Instant};

use derivatives_core::order::Side;
use derivatives_core::testkit::{instrument, limit, px, Harness};
use derivatives_core::units::{Price, Qty, Quote};
use derivatives_core::{Command, CommandEnvelope, Engine, Event};

/// The one symbol.
pub const BTC: u32 = 1;
/// Entry price of every position.
pub const ENTRY: &str = "50000";
/// 0.01 BTC: the size of every retail position.
pub const LOT: Qty = Qty(1_000_000);

/// `cents` hundredths of a USDT.
pub const fn cents(cents: i64) -> Quote {
    Quote(cents * 1_000_000)
}

/// An engine with BTCUSDT listed (`testkit::instrument`) and its mark at [`ENTRY`].
pub fn listed() -> Harness {
    let mut h = Harness { engine: Engine::new(), now: 1, hide_settlement: true };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px(ENTRY), index: px(ENTRY) });
    h
}

/// Deposits `amount` into `account`.
pub fn deposit(h: &mut Harness, account: u64, amount: Quote) {
    h.send(Command::Deposit { account, amount });
}

/// `short` rests a sell of `qty` at [`ENTRY`].
pub fn offer(h: &mut Harness, short: u64, qty: Qty) {
    h.place(limit(short, BTC, Side::Sell, px(ENTRY), qty));
}

/// `long` buys `qty` at [`ENTRY`] from the resting offers; panics if it does not fill at once.
pub fn take(h: &mut Harness, long: u64, qty: Qty) {
    let events = h.place(limit(long, BTC, Side::Buy, px(ENTRY), qty));
    assert!(
        events.iter().any(|e| matches!(e, Event::Trade { taker_leaves, .. } if taker_leaves.raw() == 0)),
        "setup: account {long} did not fill: {events:?}"
    );
}

/// Applies one `SetMarkPrice` and returns how long `Engine::apply` took; its events are in `out`.
pub fn tick(engine: &mut Engine, mark: Price, out: &mut Vec<Event>) -> Duration {
    let command = Command::SetMarkPrice { symbol: BTC, mark, index: mark };
    let envelope = CommandEnvelope { seq: engine.last_seq() + 1, ts: 1, command };
    out.clear();
    let start = Instant::now();
    engine.apply(&envelope, out).expect("in order");
    start.elapsed()
}

/// How many liquidations `events` started.
pub fn liquidations(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::LiquidationStarted { .. })).count()
}
