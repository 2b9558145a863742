//! `cargo bench --bench journal`: what durability costs on this disk, and how fast recovery replays.
//!
//! 1. Acknowledged throughput through the [`Runtime`]: the workload mix of
//!    `derivatives_core::workload` (after a prefill), submitted by one client one command at a
//!    time (the latency floor, at most 5,000 commands), then as batches of 1 and of 100 commands
//!    with up to `JOURNAL_BENCH_WINDOW` batches in flight (many clients; latency then includes
//!    queueing), each once without a journal (the baseline) and once with one, in the same run.
//!    Latency is from submit to the acknowledgement, which with a journal means durable (after
//!    the `fdatasync` of its group).
//!    Then the same three scenarios with **replication** to a follower on the same machine over
//!    loopback (in-process [`Follower`] thread, its own journal beside the primary's, on the same
//!    disk): synchronous (an ack waits for the follower's `fdatasync` too) and asynchronous, next
//!    to the single node, in the same run.
//! 2. Recovery: a journal of `JOURNAL_BENCH_REPLAY` commands (default 2,000,000) is written,
//!    then replayed from scratch into a fresh engine.
//!
//! Environment: `JOURNAL_BENCH_COMMANDS` (timed commands per scenario, default 200,000),
//! `JOURNAL_BENCH_WINDOW` (default 64), `JOURNAL_BENCH_REPLAY`, `JOURNAL_BENCH_DIR` (default
//! `target/journal-bench`, on the disk being measured; removed afterwards). Figures are printed,
//! never asserted.

#![allow(clippy::float_arithmetic, reason = "rates and sizes for display, never money")]

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use derivatives_core::journal::{self, JournalConfig, JournalStats};
use derivatives_core::replication::{self, Follower, Mode};
use derivatives_core::runtime::{Clock, Pending, Runtime, RuntimeConfig};
use derivatives_core::workload::{generate, WorkloadConfig};
use derivatives_core::{Command, Engine};
use hdrhistogram::Histogram;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn clock() -> Clock {
    Box::new(|| 1)
}

fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1e3
}

/// Submits `commands` in batches of `batch`, at most `window` batches in flight (a batch is
/// submitted only once an earlier one was acknowledged), and records each batch's submit-to-ack
/// latency.
fn drive(rt: &Runtime, commands: &[Command], batch: usize, window: usize) -> (Duration, Histogram<u64>) {
    let (in_flight, acks) = sync_channel::<(Pending, Instant)>(window);
    let (free, slots) = sync_channel::<()>(window);
    for _ in 0..window {
        free.send(()).expect("room for every slot");
    }
    let collector = std::thread::spawn(move || {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
        for (pending, submitted) in acks {
            pending.wait().expect("acknowledged");
            latency.saturating_record(u64::try_from(submitted.elapsed().as_nanos()).unwrap_or(u64::MAX));
            let _ = free.send(());
        }
        latency
    });
    let start = Instant::now();
    for chunk in commands.chunks(batch) {
        slots.recv().expect("collector running");
        let submitted = Instant::now();
        in_flight.send((rt.submit(chunk.to_vec(), None).expect("running"), submitted)).expect("collector running");
    }
    drop(in_flight);
    let latency = collector.join().expect("collector");
    (start.elapsed(), latency)
}

/// How a scenario makes commands durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Durability {
    /// In memory only (the baseline).
    Memory,
    /// The local journal.
    Journal,
    /// The local journal plus a follower over loopback.
    Replicated(Mode),
}

impl Durability {
    fn label(self) -> &'static str {
        match self {
            Self::Memory => "no journal (baseline)",
            Self::Journal => "journal (single node)",
            Self::Replicated(Mode::Sync) => "journal + sync follower",
            Self::Replicated(Mode::Async) => "journal + async follower",
        }
    }
}

/// A primary runtime and, when replicating, its follower.
struct Node {
    rt: Runtime,
    follower: Option<Follower>,
}

impl Node {
    fn stop(self) {
        drop(self.rt);
        if let Some(follower) = self.follower {
            drop(follower.promote().expect("the follower stops cleanly"));
        }
    }
}

/// A runtime over the prefilled engine, journaled in a fresh `dir` (and replicated to a follower
/// journaling in a fresh sibling directory) as `durability` says.
fn start(setup: &[Command], durability: Durability, dir: &Path) -> Node {
    let (rt, follower) = if durability == Durability::Memory {
        (Runtime::start(Engine::new(), clock(), RuntimeConfig::default(), None), None)
    } else {
        let _ = std::fs::remove_dir_all(dir);
        let recovered = journal::recover(&JournalConfig::new(dir)).expect("journal opened");
        let mode = match durability {
            Durability::Replicated(mode) => Some(mode),
            Durability::Memory | Durability::Journal => None,
        };
        let follower = mode.map(|_| {
            let follower_dir = dir.with_extension("follower");
            let _ = std::fs::remove_dir_all(&follower_dir);
            let standby = journal::recover(&JournalConfig::new(&follower_dir)).expect("follower journal opened");
            Follower::start(standby.engine, standby.writer, "127.0.0.1:0", false).expect("follower listening")
        });
        let to = follower.as_ref().map(|f| f.address().to_string());
        let (sink, _) = replication::sink(recovered.writer, dir, recovered.report.last_seq, to.as_deref().zip(mode));
        (Runtime::start(recovered.engine, clock(), RuntimeConfig::default(), Some(sink)), follower)
    };
    drive(&rt, setup, 10_000, 8);
    Node { rt, follower }
}

fn scenario(setup: &[Command], mix: &[Command], batch: usize, window: usize, durability: Durability, dir: &Path) {
    let node = start(setup, durability, dir);
    let before = node.rt.journal_stats().unwrap_or_default();
    let (elapsed, latency) = drive(&node.rt, mix, batch, window);
    let after = node.rt.journal_stats().unwrap_or_default();
    let secs = elapsed.as_secs_f64();
    print!(
        "  batch {batch:>3}, {window:>2} in flight, {:<25} {:>9.0} commands/s   ack p50 {:>8.1} us  p99 {:>8.1} us",
        durability.label(),
        mix.len() as f64 / secs,
        micros(latency.value_at_quantile(0.5)),
        micros(latency.value_at_quantile(0.99)),
    );
    if durability != Durability::Memory {
        let JournalStats { syncs, batches, bytes, sync_nanos } = JournalStats {
            syncs: after.syncs - before.syncs,
            batches: after.batches - before.batches,
            bytes: after.bytes - before.bytes,
            sync_nanos: after.sync_nanos - before.sync_nanos,
        };
        print!(
            "   {:>6.0} fsyncs/s, {:.1} batches/fsync, {:.1} MB/s, {:.0} us/fsync",
            syncs as f64 / secs,
            batches as f64 / syncs.max(1) as f64,
            bytes as f64 / secs / 1e6,
            sync_nanos as f64 / syncs.max(1) as f64 / 1e3
        );
    }
    if let Some(follower) = &node.follower {
        let primary = node.rt.query(Engine::last_seq).expect("running");
        let caught_up = Instant::now();
        while follower.wait(primary - 1, Duration::from_secs(1)).last_seq < primary {}
        print!("   follower caught up {:.1} ms after the last ack", caught_up.elapsed().as_secs_f64() * 1e3);
    }
    println!();
    node.stop();
}

fn replay_speed(setup: &[Command], mix: &[Command], dir: &Path) {
    let node = start(setup, Durability::Journal, dir);
    let (elapsed, _) = drive(&node.rt, mix, 10_000, 8);
    let stats = node.rt.journal_stats().unwrap_or_default();
    node.stop();
    let total = setup.len() + mix.len();
    println!(
        "  wrote {total} commands durably in batches of 10,000: {:.0} commands/s ({:.0} MB journal, {} fsyncs)",
        mix.len() as f64 / elapsed.as_secs_f64(),
        stats.bytes as f64 / 1e6,
        stats.syncs
    );
    let start = Instant::now();
    let (engine, report) = journal::replay(dir, |done, all| eprint!("\r  replay {:>3}%", done * 100 / all.max(1))).expect("replayed");
    let secs = start.elapsed().as_secs_f64();
    eprintln!();
    assert_eq!(report.last_seq, total as u64, "Invariant: the whole journal replays");
    println!(
        "  replayed {} frames from {} segments in {secs:.2} s: {:.0} commands/s ({:.0} MB/s); state hash {:02x?}",
        report.frames,
        report.segments,
        report.frames as f64 / secs,
        stats.bytes as f64 / secs / 1e6,
        &engine.state_hash()[..6]
    );
}

fn main() {
    let timed = env_or("JOURNAL_BENCH_COMMANDS", 200_000);
    let window = env_or("JOURNAL_BENCH_WINDOW", 64);
    let replayed = env_or("JOURNAL_BENCH_REPLAY", 2_000_000);
    let dir = std::env::var_os("JOURNAL_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("target/journal-bench"),
        PathBuf::from,
    );
    let config = WorkloadConfig { prefill_orders: 100_000, commands: timed.max(replayed), ..WorkloadConfig::default() };
    let generated = Instant::now();
    let workload = generate(config, |done, total| eprint!("\rgenerating workload {:>3}%", done * 100 / total.max(1)));
    eprintln!("\rgenerated {} + {} commands in {:.1} s", workload.setup.len(), workload.mix.len(), generated.elapsed().as_secs_f64());
    println!(
        "journal bench: {} prefill commands, then {timed} timed mixed commands per scenario, ~{window} batches in flight; journal in {}",
        workload.setup.len(),
        dir.display()
    );
    for (batch, in_flight, count) in [(1, 1, timed.min(5_000)), (1, window, timed), (100, window, timed)] {
        for durability in [Durability::Memory, Durability::Journal, Durability::Replicated(Mode::Sync), Durability::Replicated(Mode::Async)]
        {
            scenario(&workload.setup, &workload.mix[..count], batch, in_flight, durability, &dir);
        }
    }
    println!("recovery: a journal of {} commands", workload.setup.len() + replayed);
    replay_speed(&workload.setup, &workload.mix[..replayed], &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(dir.with_extension("follower"));
}
