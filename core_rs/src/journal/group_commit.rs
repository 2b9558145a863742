//! The journal thread: group commit.
//!
//! The engine thread submits each batch as its encoded frames plus a [`Release`] (append the
//! events to the event log, answer the caller). The journal thread takes every entry queued,
//! writes their frames in order, syncs once for the whole group, then runs their releases in
//! order. The engine applies the next batch while the previous group syncs; the more batches wait
//! during one sync, the more share the next.
//!
//! Invariants:
//! - entries are written and released in submission order (one FIFO queue, one thread);
//! - a release runs only after a `sync` that returned `Ok` and covered its frames; an entry
//!   without frames (a query answer) still waits for the entries before it;
//! - any write or sync error aborts the process. After a failed `fsync` the kernel may have
//!   dropped the dirty pages and a retry can report success for data that is gone ("fsyncgate"),
//!   so the only safe way on is a restart that recovers from the journal.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::ids::Seq;

/// What to do once an entry's frames are durable.
pub type Release = Box<dyn FnOnce() + Send>;

/// Durable storage for frames: the segment files, or a test double.
pub trait JournalSink: Send {
    /// Appends the frames of consecutive commands, the first being `first_seq`; not yet durable.
    ///
    /// # Errors
    /// The I/O error; the caller aborts the process.
    fn append(&mut self, first_seq: Seq, frames: &[u8]) -> io::Result<()>;

    /// Makes everything appended so far durable (`fdatasync`).
    ///
    /// # Errors
    /// The I/O error; the caller aborts the process.
    fn sync(&mut self) -> io::Result<()>;
}

struct Entry {
    first_seq: Seq,
    frames: Vec<u8>,
    release: Release,
}

/// Live totals of a journal thread, readable from any thread.
#[derive(Debug, Default)]
pub struct JournalCounters {
    syncs: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
    sync_nanos: AtomicU64,
}

/// Totals since a journal thread started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Syncs (one per group that had frames).
    pub syncs: u64,
    /// Entries with frames made durable.
    pub batches: u64,
    /// Frame bytes made durable.
    pub bytes: u64,
    /// Time spent in `sync`, in nanoseconds (the operators' fsync latency: per sync on average).
    pub sync_nanos: u64,
}

impl JournalCounters {
    /// The totals now.
    #[must_use]
    pub fn snapshot(&self) -> JournalStats {
        JournalStats {
            syncs: self.syncs.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            sync_nanos: self.sync_nanos.load(Ordering::Relaxed),
        }
    }
}

/// The running journal thread.
pub struct GroupCommit {
    entries: SyncSender<Entry>,
    worker: JoinHandle<()>,
    counters: Arc<JournalCounters>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("counters", &self.counters).finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the journal thread over `sink`; at most `queue_depth` entries wait for it, then
    /// [`GroupCommit::submit`] blocks (back-pressure on the engine thread).
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    #[must_use]
    pub fn start(sink: Box<dyn JournalSink>, queue_depth: usize) -> Self {
        let (entries, queue) = sync_channel(queue_depth);
        let counters = Arc::new(JournalCounters::default());
        let worker_counters = Arc::clone(&counters);
        let worker = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || run(sink, &queue, &worker_counters))
            .expect("spawn the journal thread");
        Self { entries, worker, counters }
    }

    /// Queues `frames` (commands from `first_seq` on; empty for none) and the `release` to run
    /// once they are durable. Blocks while the queue is full.
    ///
    /// Aborts the process if the journal thread has died (a release closure panicked): nothing
    /// could be made durable any more.
    pub fn submit(&self, first_seq: Seq, frames: Vec<u8>, release: Release) {
        if self.entries.send(Entry { first_seq, frames, release }).is_err() {
            fatal("thread", &io::Error::other("the journal thread has died"));
        }
    }

    /// The thread's live totals.
    #[must_use]
    pub fn counters(&self) -> Arc<JournalCounters> {
        Arc::clone(&self.counters)
    }

    /// Writes, syncs and releases everything queued, then stops the thread.
    ///
    /// # Panics
    /// Re-raises a panic of a release closure.
    pub fn finish(self) {
        drop(self.entries);
        if let Err(panic) = self.worker.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

fn run(mut sink: Box<dyn JournalSink>, queue: &Receiver<Entry>, counters: &JournalCounters) {
    let mut group = Vec::new();
    while let Ok(first) = queue.recv() {
        group.push(first);
        group.extend(queue.try_iter());
        let mut batches = 0;
        let mut bytes = 0;
        for entry in group.iter().filter(|e| !e.frames.is_empty()) {
            sink.append(entry.first_seq, &entry.frames).unwrap_or_else(|e| fatal("write", &e));
            batches += 1;
            bytes += entry.frames.len() as u64;
        }
        if batches > 0 {
            let started = Instant::now();
            sink.sync().unwrap_or_else(|e| fatal("fdatasync", &e));
            let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            counters.sync_nanos.fetch_add(took, Ordering::Relaxed);
            counters.syncs.fetch_add(1, Ordering::Relaxed);
            counters.batches.fetch_add(batches, Ordering::Relaxed);
            counters.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        for entry in group.drain(..) {
            (entry.release)();
        }
    }
}

fn fatal(what: &str, error: &io::Error) -> ! {
    eprintln!("FATAL: journal {what} failed: {error}. Aborting: carrying on could acknowledge commands that are not durable; restart to recover from the journal.");
    std::process::abort()
}
