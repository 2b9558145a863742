//! Fixtures shared by the tests, the benchmarks and the demo: a BTCUSDT-like instrument, order
//! builders, a [`Harness`] that stamps sequence numbers the way the sequencer does, and a
//! [`TempDir`] for journal tests.
//!
//! Nothing in the engine uses this module.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::command::{Command, CommandEnvelope, PlaceOrder};
use crate::engine::{Engine, EngineError};
use crate::event::Event;
use crate::ids::{AccountId, Nanos, SymbolId, SymbolName};
use crate::instrument::{InstrumentSpec, LeverageBracket};
use crate::order::{Side, TimeInForce};
use crate::reject::RejectReason;
use crate::units::{parse_decimal, Price, Qty, Quote, Rate};

/// Parses a decimal literal; panics on a typo in a fixture.
///
/// # Panics
/// When `text` is not an exact decimal.
#[must_use]
pub fn dec(text: &str) -> i64 {
    parse_decimal(text).unwrap_or_else(|e| panic!("bad fixture number {text:?}: {e}"))
}

/// A price literal.
#[must_use]
pub fn px(text: &str) -> Price {
    Price(dec(text))
}

/// A quantity literal.
#[must_use]
pub fn qty(text: &str) -> Qty {
    Qty(dec(text))
}

/// A USDT amount literal.
#[must_use]
pub fn usdt(text: &str) -> Quote {
    Quote(dec(text))
}

/// The reason of the first rejection among `events` (an order's or another command's), if any.
#[must_use]
pub fn rejection(events: &[Event]) -> Option<RejectReason> {
    events.iter().find_map(|e| match *e {
        Event::OrderRejected { reason, .. } | Event::CommandRejected { reason, .. } => Some(reason),
        _ => None,
    })
}

/// Binance's BTCUSDT brackets (first four tiers, as published for USD-M).
#[must_use]
pub fn btc_brackets() -> Vec<LeverageBracket> {
    let tier = |cap: &str, lev: u32, mmr: &str, cum: &str| LeverageBracket {
        notional_cap: Quote(dec(cap)),
        max_leverage: lev,
        maint_margin_rate: Rate(dec(mmr)),
        cum: Quote(dec(cum)),
    };
    vec![
        tier("50000", 125, "0.004", "0"),
        tier("250000", 100, "0.005", "50"),
        tier("3000000", 50, "0.01", "1300"),
        tier("15000000", 20, "0.025", "46300"),
    ]
}

/// An instrument shaped like Binance BTCUSDT: tick 0.1, step 0.001, min notional 5, 5 % bands.
///
/// # Panics
/// When `name` is not a valid symbol name.
#[must_use]
pub fn instrument(symbol: SymbolId, name: &str) -> InstrumentSpec {
    InstrumentSpec {
        symbol,
        name: SymbolName::new(name).expect("valid fixture symbol"),
        tick_size: px("0.1"),
        step_size: qty("0.001"),
        min_qty: qty("0.001"),
        max_qty: qty("1000"),
        min_notional: Quote(dec("5")),
        limit_price_band: Rate(dec("0.05")),
        market_price_band: Rate(dec("0.05")),
        maker_fee: Rate(dec("0.0002")),
        taker_fee: Rate(dec("0.0005")),
        liquidation_fee: Rate(dec("0.0125")),
        brackets: btc_brackets(),
        trading: true,
        funding_interval_ms: crate::instrument::DEFAULT_FUNDING_INTERVAL_MS,
    }
}

/// A GTC limit order with every optional field empty.
#[must_use]
pub const fn limit(account: AccountId, symbol: SymbolId, side: Side, price: Price, quantity: Qty) -> PlaceOrder {
    PlaceOrder::limit(account, symbol, side, price, quantity)
}

/// A market order.
#[must_use]
pub const fn market(account: AccountId, symbol: SymbolId, side: Side, quantity: Qty) -> PlaceOrder {
    PlaceOrder::market(account, symbol, side, quantity)
}

/// Accounts funded by [`Harness::with_btc`].
pub const FUNDED_ACCOUNTS: AccountId = 9;
/// What each of them holds.
pub const FUNDING: &str = "1000000";

/// Feeds commands to an engine with contiguous sequence numbers and a controllable clock.
#[derive(Debug, Default)]
pub struct Harness {
    /// The engine under test.
    pub engine: Engine,
    /// Time stamped on the next command.
    pub now: Nanos,
    /// Drop [`Event::FillSettled`] from what [`Harness::send`] returns (for tests about matching).
    pub hide_settlement: bool,
}

impl Harness {
    /// A harness whose engine already lists `instrument(1, "BTCUSDT")`, with accounts
    /// 1..=[`FUNDED_ACCOUNTS`] holding [`FUNDING`] USDT each.
    ///
    /// # Panics
    /// Never in practice (the fixture is valid).
    #[must_use]
    pub fn with_btc() -> Self {
        let mut h = Self { engine: Engine::new(), now: 1_000, hide_settlement: false };
        let events = h.send(Command::AddInstrument(instrument(1, "BTCUSDT")));
        assert_eq!(events, vec![Event::InstrumentUpdated { symbol: 1 }]);
        h.fund(1..=FUNDED_ACCOUNTS, Quote(dec(FUNDING)));
        h
    }

    /// The setting of the clearing and margin-check worked examples: `instrument(1, "BTCUSDT")`
    /// listed (maker 0.02 %, taker 0.05 %, default leverage 20), mark and index at 50,000, then
    /// `deposits` credited in order (amounts in USDT).
    #[must_use]
    pub fn btc_at_mark(deposits: &[(AccountId, &str)]) -> Self {
        let mut h = Self { now: 1_000, ..Self::default() };
        h.send(Command::AddInstrument(instrument(1, "BTCUSDT")));
        h.send(Command::SetMarkPrice { symbol: 1, mark: px("50000"), index: px("50000") });
        for &(account, amount) in deposits {
            h.send(Command::Deposit { account, amount: usdt(amount) });
        }
        h
    }

    /// The same harness, hiding settlement events.
    #[must_use]
    pub fn matching_only(self) -> Self {
        Self { hide_settlement: true, ..self }
    }

    /// Deposits `amount` into each account.
    pub fn fund(&mut self, accounts: impl IntoIterator<Item = AccountId>, amount: Quote) {
        for account in accounts {
            self.send(Command::Deposit { account, amount });
        }
    }

    /// Applies a command and returns its events.
    ///
    /// # Panics
    /// If the engine refuses the envelope (a harness bug).
    pub fn send(&mut self, command: Command) -> Vec<Event> {
        self.try_send(command).expect("harness keeps sequence and time in order")
    }

    /// Applies a command, passing engine errors through.
    ///
    /// # Errors
    /// See [`Engine::apply`].
    pub fn try_send(&mut self, command: Command) -> Result<Vec<Event>, EngineError> {
        let envelope = CommandEnvelope { seq: self.engine.last_seq() + 1, ts: self.now, command };
        let mut out = Vec::new();
        self.engine.apply(&envelope, &mut out)?;
        if self.hide_settlement {
            out.retain(|e| !matches!(e, Event::FillSettled { .. }));
        }
        Ok(out)
    }

    /// Places an order and returns its events.
    pub fn place(&mut self, order: PlaceOrder) -> Vec<Event> {
        self.send(Command::PlaceOrder(order))
    }
}

/// Commands before the first cycle of [`trading_stream`].
pub const TRADING_SETUP: u64 = 5;
/// Commands in each cycle of [`trading_stream`].
pub const TRADING_CYCLE: u64 = 9;

/// Command `i` of an endless deterministic stream in which funded accounts trade on two symbols,
/// pay funding and get liquidated, so that every command changes the state (none is rejected;
/// `journal` and `replication` tests rely on it to make a dropped or reordered command visible in
/// the state hash).
///
/// Set-up: BTCUSDT (1) and ETHUSDT (2) listed, accounts 1 and 2 funded with 1,000,000 USDT, the
/// ETH mark at 3,000 (BTC's first mark is the first cycle's crash: a mark nothing reads before it
/// is replaced would leave no trace in the state). Then cycles of [`TRADING_CYCLE`] commands at a base price `m` that rises by
/// 100 a cycle: account 3 deposits 60 USDT and buys 0.02 BTC at `m` from account 1's ask with an
/// IOC limit order (20x by default: 50 USDT of margin), account 2 bids 0.05 at `m − 2,400`, accounts 1 and 2 trade 0.1
/// ETH, funding of 0.01 % is paid at `m`, the mark drops to `m − 4,500` (account 3 loses 90 of
/// its 60: its liquidation sells into account 2's bid) and comes back to the next cycle's `m`.
#[must_use]
pub fn trading_stream(i: u64) -> Command {
    let mark = |symbol, price: i64| Command::SetMarkPrice { symbol, mark: Price(price), index: Price(price) };
    let usdt = |units: i64| Quote(units * 100_000_000);
    let setup = [
        Command::AddInstrument(instrument(1, "BTCUSDT")),
        Command::AddInstrument(instrument(2, "ETHUSDT")),
        Command::Deposit { account: 1, amount: usdt(1_000_000) },
        Command::Deposit { account: 2, amount: usdt(1_000_000) },
        mark(2, dec("3000")),
    ];
    let Some(cycle_index) = i.checked_sub(TRADING_SETUP) else {
        return setup[usize::try_from(i).expect("small")].clone();
    };
    let (cycle, step) = (cycle_index / TRADING_CYCLE, cycle_index % TRADING_CYCLE);
    let base = |cycle: u64| dec("50000") + dec("100") * i64::try_from(cycle % 50).expect("small");
    let m = base(cycle);
    match step {
        0 => Command::Deposit { account: 3, amount: usdt(60) },
        1 => Command::PlaceOrder(limit(1, 1, Side::Sell, Price(m), qty("0.02"))),
        2 => Command::PlaceOrder(PlaceOrder { time_in_force: TimeInForce::Ioc, ..limit(3, 1, Side::Buy, Price(m), qty("0.02")) }),
        3 => Command::PlaceOrder(limit(2, 1, Side::Buy, Price(m - dec("2400")), qty("0.05"))),
        4 => Command::PlaceOrder(limit(1, 2, Side::Sell, px("3000"), qty("0.1"))),
        5 => Command::PlaceOrder(market(2, 2, Side::Buy, qty("0.1"))),
        6 => Command::ApplyFunding { symbol: 1, rate: Rate(dec("0.0001")), mark: Price(m) },
        7 => mark(1, m - dec("4500")),
        _ => mark(1, base(cycle + 1)),
    }
}

/// A fresh, empty directory under the system temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/derivatives-<label>-<pid>-<n>`.
    ///
    /// # Panics
    /// If the directory cannot be created.
    #[must_use]
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("derivatives-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
