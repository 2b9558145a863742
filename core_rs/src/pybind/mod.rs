//! The Python module `derivatives._core`: type conversion only.
//!
//! Commands cross as one `bytes` batch in the canonical codec and events come back the same way,
//! so the boundary is crossed once per batch, not per order; the GIL is released while the
//! engine thread works. All logic stays in the engine and the runtime.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyLookupError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::account_view::{account_view, AccountView};
use crate::adl_quantiles::{adl_quantiles, adl_queue};
use crate::codec::{decode_batch, encode_command, DecodeError, Reader};
use crate::command::CommandEnvelope;
use crate::engine::Engine;
use crate::event::{BalanceKind, CancelReason, ExpireReason, PayoutReason};
use crate::journal::{self, JournalConfig, JournalSink, RecoveryReport};
use crate::liquidation_map::{liquidation_map, LiquidationMap};
use crate::order::{OrderType, PositionSide, Side, StpMode, TimeInForce, TriggerSource};
use crate::reject::RejectReason;
use crate::replication::{self, batch_body, Follower, Mode, Replica, ReplicaError, ReplicationHandle};
use crate::runtime::{system_clock, Runtime, RuntimeConfig, RuntimeError};
use crate::stress::{self, Shock, StressReport, Target};
use crate::units::{DECIMALS, SCALE};
use crate::workload::{generate, WorkloadConfig};

create_exception!(_core, CommandDecodeError, PyValueError, "A command batch is not valid canonical bytes.");
create_exception!(_core, EngineStopped, PyRuntimeError, "The engine thread has stopped.");
create_exception!(_core, EventsEvicted, PyLookupError, "The requested events are no longer in memory nor in the journal.");
create_exception!(_core, JournalError, PyRuntimeError, "The journal is corrupt (file and byte offset named), locked or unreadable.");
create_exception!(_core, StressRefused, PyValueError, "A stress test's shocks are not valid (nothing was computed).");
create_exception!(_core, BatchBodyError, PyValueError, "A batch-stream message body is damaged.");
create_exception!(_core, ReplicaGap, PyLookupError, "A batch starts after the replica's next seq: args are (message, expected, got).");

fn decode_error(e: &DecodeError) -> PyErr {
    CommandDecodeError::new_err(e.to_string())
}

fn runtime_error(e: &RuntimeError) -> PyErr {
    match e {
        RuntimeError::Evicted { .. } => EventsEvicted::new_err(e.to_string()),
        RuntimeError::Journal(_) => JournalError::new_err(e.to_string()),
        RuntimeError::Stopped | RuntimeError::Engine(_) => EngineStopped::new_err(e.to_string()),
    }
}

fn journal_error(e: &journal::JournalError) -> PyErr {
    JournalError::new_err(e.to_string())
}

/// What a replay found: (frames, last_seq, truncated_bytes, snapshot_seq).
type Recovery = (u64, u64, u64, Option<u64>);

fn recovery_tuple(report: &RecoveryReport) -> Recovery {
    (report.frames, report.last_seq, report.truncated_bytes, report.snapshot_seq)
}

/// Levels of one side: (price, quantity) raw pairs, best first.
type Levels = Vec<(i64, i64)>;

/// The engine running on its own thread.
#[pyclass(name = "Engine", module = "derivatives._core", frozen)]
struct PyEngine {
    runtime: Runtime,
    recovery: Option<RecoveryReport>,
    journal_dir: Option<PathBuf>,
    replication: Option<ReplicationHandle>,
}

impl PyEngine {
    /// A runtime over `engine` appending to `sink` (the journal in `dir`, at `recovery.last_seq`).
    fn journaled(engine: Engine, sink: Box<dyn JournalSink>, config: RuntimeConfig, recovery: RecoveryReport, dir: PathBuf) -> Self {
        let runtime = Runtime::start(engine, system_clock(), config, Some(sink)).with_history(&dir);
        Self { runtime, recovery: Some(recovery), journal_dir: Some(dir), replication: None }
    }
}

fn replication_mode(sync: bool) -> Mode {
    if sync {
        Mode::Sync
    } else {
        Mode::Async
    }
}

#[pymethods]
impl PyEngine {
    /// Starts an engine; with `journal_dir`, recovered from that journal and journaling to it, and
    /// with `replicate_to` (`host:port`) shipping it to a follower (`sync`: acknowledged only once
    /// the follower made it durable too).
    #[new]
    #[pyo3(signature = (event_log_bytes = 256 << 20, journal_dir = None, segment_bytes = journal::DEFAULT_SEGMENT_BYTES, replicate_to = None, sync = false))]
    fn py_new(
        py: Python<'_>,
        event_log_bytes: usize,
        journal_dir: Option<PathBuf>,
        segment_bytes: u64,
        replicate_to: Option<String>,
        sync: bool,
    ) -> PyResult<Self> {
        let config = RuntimeConfig { event_log_bytes, ..RuntimeConfig::default() };
        let Some(dir) = journal_dir else {
            if replicate_to.is_some() {
                return Err(PyValueError::new_err("replication needs a journal directory"));
            }
            let runtime = Runtime::start(Engine::new(), system_clock(), config, None);
            return Ok(Self { runtime, recovery: None, journal_dir: None, replication: None });
        };
        let journal = JournalConfig { dir: dir.clone(), segment_bytes };
        let recovered = py.detach(|| journal::recover(&journal)).map_err(|e| journal_error(&e))?;
        let replicate = replicate_to.as_deref().map(|to| (to, replication_mode(sync)));
        let (sink, replication) = replication::sink(recovered.writer, &dir, recovered.report.last_seq, replicate);
        Ok(Self { replication, ..Self::journaled(recovered.engine, sink, config, recovered.report, dir) })
    }

    /// Replication to the follower: (last seq written locally, last seq the follower made durable,
    /// connected); None without a follower.
    fn replication(&self) -> Option<(u64, u64, bool)> {
        self.replication.as_ref().map(|h| {
            let status = h.status();
            (status.appended, status.acked, status.connected)
        })
    }

    /// Operator totals: engine (batches, commands, apply_ns) and journal (syncs, batches, bytes,
    /// sync_ns; None without a journal).
    #[allow(clippy::type_complexity, reason = "a plain tuple is the Python shape")]
    fn stats(&self) -> ((u64, u64, u64), Option<(u64, u64, u64, u64)>) {
        let engine = self.runtime.stats();
        let journal = self.runtime.journal_stats().map(|j| (j.syncs, j.batches, j.bytes, j.sync_nanos));
        ((engine.batches, engine.commands, engine.apply_nanos), journal)
    }

    /// What recovery found: (frames, last_seq, truncated_bytes, snapshot_seq); None without a
    /// journal.
    fn recovery(&self) -> Option<Recovery> {
        self.recovery.as_ref().map(recovery_tuple)
    }

    /// Takes a snapshot between two batches (a consistent cut at the last durable sequence number)
    /// and writes it into the journal directory from this thread; returns (last_seq, path, bytes).
    fn snapshot(&self, py: Python<'_>) -> PyResult<(u64, String, u64)> {
        let dir = self.journal_dir.clone().ok_or_else(|| JournalError::new_err("this engine has no journal directory"))?;
        py.detach(|| {
            let (body, seq, hash) = self.runtime.query(|e| (e.snapshot(), e.last_seq(), e.state_hash())).map_err(|e| runtime_error(&e))?;
            let file = journal::snapshot::write(&dir, seq, hash, &body).map_err(|e| journal_error(&e))?;
            Ok((file.last_seq, file.path.display().to_string(), file.bytes))
        })
    }

    /// Decodes, sequences and applies a batch; returns (first_seq, last_seq, ts, events).
    #[pyo3(signature = (batch, ts = None))]
    fn execute<'py>(&self, py: Python<'py>, batch: &[u8], ts: Option<u64>) -> PyResult<(u64, u64, u64, Bound<'py, PyBytes>)> {
        let outcome = py.detach(|| {
            let commands = decode_batch(batch, |r: &mut Reader<'_>| r.command()).map_err(|e| decode_error(&e))?;
            self.runtime.execute(commands, ts).map_err(|e| runtime_error(&e))
        })?;
        Ok((outcome.first_seq, outcome.last_seq, outcome.ts, PyBytes::new(py, &outcome.events)))
    }

    /// Encoded events of commands after `after_seq`, waiting up to `timeout_ms` for one; with a
    /// journal, events older than memory holds are regenerated from it.
    #[pyo3(signature = (after_seq, max_bytes = 1 << 20, timeout_ms = 0))]
    fn read_events<'py>(&self, py: Python<'py>, after_seq: u64, max_bytes: usize, timeout_ms: u64) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| self.runtime.read_events(after_seq, max_bytes, Duration::from_millis(timeout_ms)))
            .map_err(|e| runtime_error(&e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// SHA-256 of the whole engine state.
    fn state_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let hash = py.detach(|| self.runtime.query(|e| e.state_hash())).map_err(|e| runtime_error(&e))?;
        Ok(PyBytes::new(py, &hash))
    }

    /// Sequence number of the last applied command.
    fn last_seq(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.runtime.query(Engine::last_seq)).map_err(|e| runtime_error(&e))
    }

    /// L2 depth of a symbol, raw (price, qty) pairs best first: (bids, asks); None if unknown.
    #[pyo3(signature = (symbol, limit = 1000))]
    fn depth(&self, py: Python<'_>, symbol: u32, limit: usize) -> PyResult<Option<(Levels, Levels)>> {
        py.detach(|| self.runtime.query(move |e| depth(e, symbol, limit))).map_err(|e| runtime_error(&e))
    }

    /// Risk view of an account as a dict of raw integers (see `account_view.rs`); None if unknown.
    fn account<'py>(&self, py: Python<'py>, account: u64) -> PyResult<Option<Bound<'py, PyDict>>> {
        let view = py.detach(|| self.runtime.query(move |e| account_view(e, account))).map_err(|e| runtime_error(&e))?;
        view.map(|v| account_dict(py, &v)).transpose()
    }

    /// Accounts holding a position in `symbol`, ascending.
    fn holders(&self, py: Python<'_>, symbol: u32) -> PyResult<Vec<u64>> {
        py.detach(|| self.runtime.query(move |e| e.accounts().holders(symbol))).map_err(|e| runtime_error(&e))
    }

    /// Open interest of a symbol (raw base quantity: the sum of long positions).
    fn open_interest(&self, py: Python<'_>, symbol: u32) -> PyResult<i64> {
        py.detach(|| self.runtime.query(move |e| e.accounts().open_interest(symbol))).map_err(|e| runtime_error(&e))
    }

    /// (last, mark, index) raw prices of a symbol; None if unknown.
    fn prices(&self, py: Python<'_>, symbol: u32) -> PyResult<Option<Prices>> {
        py.detach(|| self.runtime.query(move |e| prices(e, symbol))).map_err(|e| runtime_error(&e))
    }

    /// ADL queue of one side of a symbol (`side` 0 = BUY ranks the longs), first out first:
    /// (account, raw qty, quantile 0..4); None for an unknown symbol (see `adl_quantiles.rs`).
    fn adl_queue(&self, py: Python<'_>, symbol: u32, side: u8) -> PyResult<Option<Queue>> {
        let side = side_of(side)?;
        py.detach(|| self.runtime.query(move |e| queue(e, symbol, side))).map_err(|e| runtime_error(&e))
    }

    /// ADL quantiles of an account per symbol it holds: (symbol, long, short, both, cross_hedge).
    fn adl_quantiles(&self, py: Python<'_>, account: u64) -> PyResult<Vec<Quantiles>> {
        py.detach(|| self.runtime.query(move |e| quantiles(e, account))).map_err(|e| runtime_error(&e))
    }

    /// Liquidation map of a symbol in buckets of `step` (raw price; see `liquidation_map.rs`):
    /// a dict of raw integers, buckets as (price, long_notional, short_notional, long_legs,
    /// short_legs) ascending; None for an unknown symbol.
    fn liquidation_map<'py>(&self, py: Python<'py>, symbol: u32, step: i64) -> PyResult<Option<Bound<'py, PyDict>>> {
        if step <= 0 {
            return Err(PyValueError::new_err("the bucket step must be positive"));
        }
        let map = py
            .detach(|| self.runtime.query(move |e| liquidation_map(e, symbol, crate::units::Price(step))))
            .map_err(|e| runtime_error(&e))?
            .map_err(|_| PyValueError::new_err("liquidation map overflows"))?;
        map.map(|m| map_dict(py, &m)).transpose()
    }

    /// Stress test on a copy of the state taken between two batches (see `stress.rs`); the live
    /// engine is untouched. `shocks`: (symbol, raw value, is_move): a raw mark price, or with
    /// `is_move` a signed raw rate (-10 % is -10_000_000). Returns a dict of raw integers.
    fn stress<'py>(&self, py: Python<'py>, shocks: Vec<(u32, i64, bool)>) -> PyResult<Bound<'py, PyDict>> {
        let shocks = stress_shocks(shocks);
        let report = py.detach(|| {
            let bytes = self.runtime.query(|e| e.snapshot()).map_err(|e| runtime_error(&e))?;
            let copy = Engine::restore(&bytes).map_err(|e| decode_error(&e))?;
            stress::run(copy, &shocks).map_err(|e| StressRefused::new_err(e.to_string()))
        })?;
        stress_dict(py, &report)
    }
}

/// Stress shocks from (symbol, raw value, is_move): a raw mark price, or a signed raw rate.
fn stress_shocks(shocks: Vec<(u32, i64, bool)>) -> Vec<Shock> {
    shocks
        .into_iter()
        .map(|(symbol, raw, is_move)| Shock {
            symbol,
            target: if is_move { Target::Move(crate::units::Rate(raw)) } else { Target::Price(crate::units::Price(raw)) },
        })
        .collect()
}

fn map_dict<'py>(py: Python<'py>, map: &LiquidationMap) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("symbol", map.symbol)?;
    dict.set_item("mark", map.mark.map(crate::units::Price::raw))?;
    dict.set_item("step", map.step.raw())?;
    dict.set_item("unpriced", map.unpriced)?;
    let buckets: Vec<(i64, i64, i64, u32, u32)> =
        map.buckets.iter().map(|b| (b.price.raw(), b.long_notional.raw(), b.short_notional.raw(), b.long_legs, b.short_legs)).collect();
    dict.set_item("buckets", buckets)?;
    Ok(dict)
}

fn stress_dict<'py>(py: Python<'py>, report: &StressReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let symbols = PyList::empty(py);
    for s in &report.symbols {
        let item = PyDict::new(py);
        item.set_item("symbol", s.symbol)?;
        let raw = [
            ("mark_before", s.mark_before.raw()),
            ("mark_after", s.mark_after.raw()),
            ("offered", s.offered.raw()),
            ("filled", s.filled.raw()),
            ("taken_over", s.taken_over.raw()),
            ("deleveraged", s.deleveraged.raw()),
        ];
        for (key, value) in raw {
            item.set_item(key, value)?;
        }
        symbols.append(item)?;
    }
    dict.set_item("symbols", symbols)?;
    let accounts: Vec<(u64, i64, i64, bool, i64)> =
        report.accounts.iter().map(|a| (a.account, a.margin_balance.raw(), a.maintenance.raw(), a.closed, a.offered.raw())).collect();
    dict.set_item("accounts", accounts)?;
    dict.set_item("fund_deleveraged", report.fund_deleveraged)?;
    dict.set_item("adl_accounts", report.adl_accounts)?;
    for (key, value) in
        [("bad_debt", report.bad_debt), ("fees", report.fees), ("fund_before", report.fund_before), ("fund_after", report.fund_after)]
    {
        dict.set_item(key, value.raw())?;
    }
    Ok(dict)
}

/// (last, mark, index) raw prices.
type Prices = (Option<i64>, Option<i64>, Option<i64>);

fn depth(e: &Engine, symbol: u32, limit: usize) -> Option<(Levels, Levels)> {
    e.market(symbol).map(|m| {
        let side = |s| m.book.depth(s).take(limit).map(|(p, q)| (p.raw(), q.raw())).collect();
        (side(Side::Buy), side(Side::Sell))
    })
}

fn prices(e: &Engine, symbol: u32) -> Option<Prices> {
    e.market(symbol).map(|m| {
        let raw = |p: Option<crate::units::Price>| p.map(crate::units::Price::raw);
        (raw(m.last_price), raw(m.mark_price), raw(m.index_price))
    })
}

/// An ADL queue: (account, raw qty, quantile), first out first.
type Queue = Vec<(u64, i64, u8)>;

/// An account's ADL quantiles in one symbol: (symbol, long, short, both, cross_hedge).
type Quantiles = (u32, u8, u8, u8, bool);

fn side_of(side: u8) -> PyResult<Side> {
    Side::from_u8(side).ok_or_else(|| PyValueError::new_err(format!("unknown side {side}")))
}

fn queue(e: &Engine, symbol: u32, side: Side) -> Option<Queue> {
    adl_queue(e, symbol, side).map(|q| q.into_iter().map(|x| (x.account, x.qty, x.quantile)).collect())
}

fn quantiles(e: &Engine, account: u64) -> Vec<Quantiles> {
    adl_quantiles(e, account).into_iter().map(|q| (q.symbol, q.long, q.short, q.both, q.cross_hedge)).collect()
}

fn account_dict<'py>(py: Python<'py>, view: &AccountView) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("account", view.account)?;
    dict.set_item("hedge_mode", view.hedge_mode)?;
    for (key, value) in [
        ("wallet", view.wallet),
        ("cross_wallet", view.cross_wallet),
        ("margin_balance", view.margin_balance),
        ("maintenance", view.maintenance),
        ("initial_margin", view.initial_margin),
        ("available", view.available),
        ("withdrawable", view.withdrawable),
    ] {
        dict.set_item(key, value.raw())?;
    }
    dict.set_item("leverage", view.leverage.clone())?;
    dict.set_item("isolated_symbols", view.isolated_symbols.clone())?;
    let legs = PyList::empty(py);
    for leg in &view.legs {
        let item = PyDict::new(py);
        item.set_item("symbol", leg.symbol)?;
        item.set_item("position_side", leg.position_side.to_u8())?;
        item.set_item("qty", leg.qty)?;
        item.set_item("isolated", leg.isolated)?;
        let money = [
            ("cost", leg.cost),
            ("unrealised_pnl", leg.unrealised_pnl),
            ("maintenance", leg.maintenance),
            ("isolated_margin", leg.isolated_margin),
        ];
        for (key, value) in money {
            item.set_item(key, value.raw())?;
        }
        for (key, value) in
            [("entry_price", leg.entry_price), ("liquidation_price", leg.liquidation_price), ("bankruptcy_price", leg.bankruptcy_price)]
        {
            item.set_item(key, value.raw())?;
        }
        legs.append(item)?;
    }
    dict.set_item("legs", legs)?;
    Ok(dict)
}

/// A hot standby: follows a primary's journal over TCP into its own journal until promoted.
#[pyclass(name = "Follower", module = "derivatives._core", frozen)]
struct PyFollower {
    follower: Mutex<Option<Follower>>,
    recovery: RecoveryReport,
    journal_dir: PathBuf,
}

/// Where a follower is: (last_seq, state_hash or None, connected, error or None).
type FollowerState<'py> = (u64, Option<Bound<'py, PyBytes>>, bool, Option<String>);

impl PyFollower {
    fn with<T>(&self, f: impl FnOnce(&Follower) -> T) -> PyResult<T> {
        let guard = self.follower.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.as_ref().map(f).ok_or_else(|| EngineStopped::new_err("the follower was promoted"))
    }
}

#[pymethods]
impl PyFollower {
    /// Recovers the follower's own journal in `journal_dir` and listens on `listen` (`host:port`,
    /// port 0 for any); with `hash_each_batch` the state hash is reported after every batch.
    #[new]
    #[pyo3(signature = (journal_dir, listen, segment_bytes = journal::DEFAULT_SEGMENT_BYTES, hash_each_batch = true))]
    fn py_new(py: Python<'_>, journal_dir: PathBuf, listen: &str, segment_bytes: u64, hash_each_batch: bool) -> PyResult<Self> {
        let journal = JournalConfig { dir: journal_dir.clone(), segment_bytes };
        let recovered = py.detach(|| journal::recover(&journal)).map_err(|e| journal_error(&e))?;
        let follower = Follower::start(recovered.engine, recovered.writer, listen, hash_each_batch)
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
        Ok(Self { follower: Mutex::new(Some(follower)), recovery: recovered.report, journal_dir })
    }

    /// The (host, port) it listens on.
    fn address(&self) -> PyResult<(String, u16)> {
        self.with(|f| (f.address().ip().to_string(), f.address().port()))
    }

    /// What recovery of its own journal found: (frames, last_seq, truncated_bytes, snapshot_seq).
    fn recovery(&self) -> Recovery {
        recovery_tuple(&self.recovery)
    }

    /// Its state once past `after_seq` (or stopped), or after `timeout_ms`:
    /// (last_seq, state_hash or None, connected, error or None).
    fn wait<'py>(&self, py: Python<'py>, after_seq: u64, timeout_ms: u64) -> PyResult<FollowerState<'py>> {
        let status = py.detach(|| self.with(|f| f.wait(after_seq, Duration::from_millis(timeout_ms))))?;
        Ok((status.last_seq, status.state_hash.map(|h| PyBytes::new(py, &h)), status.connected, status.error))
    }

    /// Stops following for good and returns the engine, now a primary journaling to the same
    /// directory and continuing the sequence.
    fn promote(&self, py: Python<'_>) -> PyResult<PyEngine> {
        let follower = self.follower.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let follower = follower.ok_or_else(|| EngineStopped::new_err("the follower was promoted"))?;
        let (engine, writer) = py.detach(|| follower.promote()).map_err(EngineStopped::new_err)?;
        let report = RecoveryReport { last_seq: engine.last_seq(), ..self.recovery.clone() };
        Ok(PyEngine::journaled(engine, Box::new(writer), RuntimeConfig::default(), report, self.journal_dir.clone()))
    }
}

/// A read replica: an engine fed the batch stream's message bodies in seq order.
#[pyclass(name = "Replica", module = "derivatives._core", frozen)]
struct PyReplica {
    replica: Mutex<Replica>,
}

impl PyReplica {
    fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(self.replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner).engine())
    }
}

fn replica_error(e: &ReplicaError) -> PyErr {
    match e {
        ReplicaError::Malformed(_) => BatchBodyError::new_err(e.to_string()),
        ReplicaError::Gap { expected, got } => ReplicaGap::new_err((e.to_string(), *expected, *got)),
        ReplicaError::Refused(_) => EngineStopped::new_err(e.to_string()),
    }
}

#[pymethods]
impl PyReplica {
    /// An empty replica, or one restored from a snapshot file (`snapshot-<seq>.snap`).
    #[new]
    #[pyo3(signature = (snapshot = None))]
    fn py_new(py: Python<'_>, snapshot: Option<PathBuf>) -> PyResult<Self> {
        let engine = match snapshot {
            None => Engine::new(),
            Some(path) => py.detach(|| load_snapshot(&path)).map_err(JournalError::new_err)?,
        };
        Ok(Self { replica: Mutex::new(Replica::new(engine)) })
    }

    /// Applies one batch-stream message body; returns the last seq applied. A body at or below it
    /// is skipped; one that starts after the next seq raises `ReplicaGap`; a damaged one raises
    /// `BatchBodyError`; neither changes anything.
    fn apply(&self, py: Python<'_>, body: &[u8]) -> PyResult<u64> {
        py.detach(|| self.replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner).apply(body)).map_err(|e| replica_error(&e))
    }

    /// Sequence number of the last applied command.
    fn last_seq(&self) -> u64 {
        self.read(Engine::last_seq)
    }

    /// SHA-256 of the whole engine state.
    fn state_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let hash = py.detach(|| self.read(Engine::state_hash));
        PyBytes::new(py, &hash)
    }

    /// L2 depth of a symbol, raw (price, qty) pairs best first: (bids, asks); None if unknown.
    #[pyo3(signature = (symbol, limit = 1000))]
    fn depth(&self, symbol: u32, limit: usize) -> Option<(Levels, Levels)> {
        self.read(|e| depth(e, symbol, limit))
    }

    /// Risk view of an account as a dict of raw integers; None if unknown.
    fn account<'py>(&self, py: Python<'py>, account: u64) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.read(|e| account_view(e, account)).map(|v| account_dict(py, &v)).transpose()
    }

    /// Accounts holding a position in `symbol`, ascending.
    fn holders(&self, symbol: u32) -> Vec<u64> {
        self.read(|e| e.accounts().holders(symbol))
    }

    /// Open interest of a symbol (raw base quantity: the sum of long positions).
    fn open_interest(&self, symbol: u32) -> i64 {
        self.read(|e| e.accounts().open_interest(symbol))
    }

    /// (last, mark, index) raw prices of a symbol; None if unknown.
    fn prices(&self, symbol: u32) -> Option<Prices> {
        self.read(|e| prices(e, symbol))
    }

    /// As `Engine.liquidation_map`, on the replica's state.
    fn liquidation_map<'py>(&self, py: Python<'py>, symbol: u32, step: i64) -> PyResult<Option<Bound<'py, PyDict>>> {
        if step <= 0 {
            return Err(PyValueError::new_err("the bucket step must be positive"));
        }
        let map = py
            .detach(|| self.read(|e| liquidation_map(e, symbol, crate::units::Price(step))))
            .map_err(|_| PyValueError::new_err("liquidation map overflows"))?;
        map.map(|m| map_dict(py, &m)).transpose()
    }

    /// As `Engine.stress`, on a copy of the replica's state (the replica is untouched).
    fn stress<'py>(&self, py: Python<'py>, shocks: Vec<(u32, i64, bool)>) -> PyResult<Bound<'py, PyDict>> {
        let shocks = stress_shocks(shocks);
        let report = py.detach(|| {
            let copy = Engine::restore(&self.read(Engine::snapshot)).map_err(|e| decode_error(&e))?;
            stress::run(copy, &shocks).map_err(|e| StressRefused::new_err(e.to_string()))
        })?;
        stress_dict(py, &report)
    }

    /// ADL queue of one side of a symbol (`side` 0 = BUY ranks the longs), first out first:
    /// (account, raw qty, quantile 0..4); None for an unknown symbol.
    fn adl_queue(&self, symbol: u32, side: u8) -> PyResult<Option<Queue>> {
        let side = side_of(side)?;
        Ok(self.read(|e| queue(e, symbol, side)))
    }

    /// ADL quantiles of an account per symbol it holds: (symbol, long, short, both, cross_hedge).
    fn adl_quantiles(&self, account: u64) -> Vec<Quantiles> {
        self.read(|e| quantiles(e, account))
    }
}

/// The engine restored from one snapshot file, verified.
fn load_snapshot(path: &std::path::Path) -> Result<Engine, String> {
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let files = journal::snapshot::list(dir).map_err(|e| e.to_string())?;
    let file =
        files.iter().find(|f| f.path.file_name() == path.file_name()).ok_or_else(|| format!("{}: not a snapshot file", path.display()))?;
    journal::snapshot::load(file).map_err(|e| format!("{}: {e}", path.display()))
}

/// The batch-stream message body of a batch executed by `Engine.execute`: `batch` as passed to it,
/// `first_seq` and `ts` as it returned, and the events it returned.
#[pyfunction]
fn encode_batch_body<'py>(py: Python<'py>, batch: &[u8], first_seq: u64, ts: u64, events: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let commands = decode_batch(batch, |r: &mut Reader<'_>| r.command()).map_err(|e| decode_error(&e))?;
    let envelopes: Vec<_> = (first_seq..).zip(commands).map(|(seq, command)| CommandEnvelope { seq, ts, command }).collect();
    Ok(PyBytes::new(py, &batch_body::from_envelopes(&envelopes, events)))
}

/// A batch-stream message body checked and split: (first_seq, last_seq, events); (0, 0, b"") for
/// an empty batch. Raises `BatchBodyError` when it is damaged.
#[pyfunction]
fn split_batch_body<'py>(py: Python<'py>, body: &[u8]) -> PyResult<(u64, u64, Bound<'py, PyBytes>)> {
    let body = batch_body::split(body).map_err(|e| BatchBodyError::new_err(e.to_string()))?;
    Ok((body.first_seq, body.last_seq, PyBytes::new(py, body.events)))
}

macro_rules! enum_tables {
    ($($ty:ty),+) => {
        vec![$((stringify!($ty), <$ty>::ALL.iter().map(|v| (v.name(), v.to_u8())).collect::<Vec<_>>())),+]
    };
}

/// Every wire enum as (enum name, [(variant name, wire value)]).
#[pyfunction]
fn enum_tables() -> Vec<(&'static str, Vec<(&'static str, u8)>)> {
    enum_tables!(
        Side,
        OrderType,
        TimeInForce,
        TriggerSource,
        StpMode,
        PositionSide,
        RejectReason,
        CancelReason,
        ExpireReason,
        BalanceKind,
        PayoutReason
    )
}

/// Every rejection reason as (name, wire value, Binance error code).
#[pyfunction]
fn reject_reasons() -> Vec<(&'static str, u8, i32)> {
    RejectReason::ALL.iter().map(|r| (r.name(), r.to_u8(), r.binance_code())).collect()
}

/// The benchmark workload (see `workload.rs`) as encoded command batches: (setup, mix).
#[pyfunction]
#[pyo3(signature = (prefill = 1_000_000, commands = 2_000_000, batch = 10_000, seed = 42))]
#[allow(clippy::type_complexity, reason = "a plain tuple is the Python shape")]
fn workload_batches(
    py: Python<'_>,
    prefill: usize,
    commands: usize,
    batch: usize,
    seed: u64,
) -> (Vec<Bound<'_, PyBytes>>, Vec<Bound<'_, PyBytes>>) {
    let config = WorkloadConfig { prefill_orders: prefill, commands, seed, ..WorkloadConfig::default() };
    let workload = py.detach(|| generate(config, |_, _| {}));
    let encode = |commands: &[crate::command::Command]| {
        commands
            .chunks(batch.max(1))
            .map(|chunk| {
                let mut bytes = Vec::new();
                for command in chunk {
                    encode_command(&mut bytes, command);
                }
                PyBytes::new(py, &bytes)
            })
            .collect()
    };
    (encode(&workload.setup), encode(&workload.mix))
}

/// Rebuilds the state from a journal directory without writing to it: (frames, last_seq,
/// truncated_bytes, state_hash). `progress(done_bytes, total_bytes)` is called as it reads; an
/// exception it raises is re-raised when the replay ends.
#[pyfunction]
#[pyo3(signature = (journal_dir, progress = None))]
fn replay_journal<'py>(
    py: Python<'py>,
    journal_dir: PathBuf,
    progress: Option<Py<PyAny>>,
) -> PyResult<(u64, u64, u64, Bound<'py, PyBytes>)> {
    let failure: Mutex<Option<PyErr>> = Mutex::new(None);
    let report_progress = |done: u64, total: u64| {
        let Some(callback) = &progress else { return };
        let mut failure = failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failure.is_none() {
            *failure = Python::attach(|py| callback.call1(py, (done, total)).err());
        }
    };
    let replayed = py.detach(|| journal::replay(&journal_dir, report_progress));
    if let Some(e) = failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return Err(e);
    }
    let (engine, report) = replayed.map_err(|e| journal_error(&e))?;
    let (frames, last_seq, truncated, _) = recovery_tuple(&report);
    Ok((frames, last_seq, truncated, PyBytes::new(py, &engine.state_hash())))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEngine>()?;
    m.add_class::<PyFollower>()?;
    m.add_class::<PyReplica>()?;
    m.add_function(wrap_pyfunction!(encode_batch_body, m)?)?;
    m.add_function(wrap_pyfunction!(split_batch_body, m)?)?;
    m.add_function(wrap_pyfunction!(enum_tables, m)?)?;
    m.add_function(wrap_pyfunction!(reject_reasons, m)?)?;
    m.add_function(wrap_pyfunction!(workload_batches, m)?)?;
    m.add_function(wrap_pyfunction!(replay_journal, m)?)?;
    m.add("SCALE", SCALE)?;
    m.add("DECIMALS", DECIMALS)?;
    m.add("FEE_ACCOUNT", crate::accounts::FEE_ACCOUNT)?;
    m.add("INSURANCE_FUND", crate::accounts::INSURANCE_FUND)?;
    m.add("FIRST_USER_ACCOUNT", crate::accounts::FIRST_USER_ACCOUNT)?;
    m.add("DEFAULT_LEVERAGE", crate::accounts::DEFAULT_LEVERAGE)?;
    m.add("DEFAULT_SEGMENT_BYTES", journal::DEFAULT_SEGMENT_BYTES)?;
    let py = m.py();
    m.add("CommandDecodeError", py.get_type::<CommandDecodeError>())?;
    m.add("EngineStopped", py.get_type::<EngineStopped>())?;
    m.add("EventsEvicted", py.get_type::<EventsEvicted>())?;
    m.add("JournalError", py.get_type::<JournalError>())?;
    m.add("StressRefused", py.get_type::<StressRefused>())?;
    m.add("BatchBodyError", py.get_type::<BatchBodyError>())?;
    m.add("ReplicaGap", py.get_type::<ReplicaGap>())?;
    Ok(())
}
