//! Periodic snapshots: every `every_commands` commands or `every_seconds` seconds, whichever comes
//! first, and only when commands came since the last one; the newest [`KEEP`] files are kept.
//!
//! Invariants: the engine thread only serialises the state between two batches (a consistent cut
//! at the last durable seq); the file is written, synced and renamed on a blocking thread; journal
//! segments are never touched, so events stay regenerable from seq 1 (docs/DURABILITY.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use derivatives_core::journal::snapshot;
use derivatives_core::runtime::Runtime;
use derivatives_core::Engine;
use serde_json::json;
use tokio::sync::watch;

use crate::log;

/// Snapshot files kept.
pub const KEEP: usize = 2;

/// When to snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// After this many commands (0: never by count).
    pub every_commands: u64,
    /// After this long with new commands (zero: never by time).
    pub every: Duration,
}

impl Schedule {
    /// Whether a snapshot is due at `seq`, the previous one being at `taken_seq`, `elapsed` ago.
    #[must_use]
    pub fn due(&self, seq: u64, taken_seq: u64, elapsed: Duration) -> bool {
        seq > taken_seq
            && ((self.every_commands > 0 && seq - taken_seq >= self.every_commands) || (!self.every.is_zero() && elapsed >= self.every))
    }
}

/// Looks once a second until `stop`; `progress` is the last acknowledged seq.
pub async fn run(runtime: Arc<Runtime>, dir: PathBuf, schedule: Schedule, progress: Arc<AtomicU64>, mut stop: watch::Receiver<bool>) {
    let (mut taken_seq, mut taken_at) = (progress.load(Ordering::Relaxed), Instant::now());
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        if !schedule.due(progress.load(Ordering::Relaxed), taken_seq, taken_at.elapsed()) {
            continue;
        }
        let (runtime, dir) = (Arc::clone(&runtime), dir.clone());
        match tokio::task::spawn_blocking(move || take(&runtime, &dir)).await {
            Ok(Ok(seq)) => (taken_seq, taken_at) = (seq, Instant::now()),
            Ok(Err(e)) => log::warn("snapshot failed; the journal alone still recovers everything", json!({"error": e})),
            Err(e) => log::warn("snapshot failed", json!({"error": e.to_string()})),
        }
    }
}

/// Takes one snapshot and prunes the old files; returns its seq.
fn take(runtime: &Runtime, dir: &Path) -> Result<u64, String> {
    let started = Instant::now();
    let (body, seq, hash) = runtime.query(|e: &Engine| (e.snapshot(), e.last_seq(), e.state_hash())).map_err(|e| e.to_string())?;
    let file = snapshot::write(dir, seq, hash, &body).map_err(|e| e.to_string())?;
    for old in snapshot::list(dir).map_err(|e| e.to_string())?.into_iter().skip(KEEP) {
        std::fs::remove_file(&old.path).map_err(|e| format!("{}: {e}", old.path.display()))?;
    }
    log::info(
        "snapshot",
        json!({"seq": seq, "path": file.path.display().to_string(), "bytes": file.bytes, "ms": started.elapsed().as_millis() as u64}),
    );
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_due_by_count_or_time_only_with_new_commands() {
        let schedule = Schedule { every_commands: 100, every: Duration::from_secs(10) };
        assert!(!schedule.due(50, 50, Duration::from_secs(99)), "nothing new");
        assert!(!schedule.due(149, 50, Duration::from_secs(9)));
        assert!(schedule.due(150, 50, Duration::ZERO), "by count");
        assert!(schedule.due(51, 50, Duration::from_secs(10)), "by time");
        let never = Schedule { every_commands: 0, every: Duration::ZERO };
        assert!(!never.due(1_000_000, 0, Duration::from_secs(1_000_000)));
    }
}
