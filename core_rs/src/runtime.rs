//! The engine on its own thread, behind the sequencer.
//!
//! - Callers send batches of commands over a bounded channel. The engine thread (the only writer)
//!   stamps each command with the next sequence number and the batch's timestamp (the injected
//!   clock, never earlier than the previous batch), applies it, and encodes the events.
//! - The caller gets its own batch's events back; the same encoded events are appended to the
//!   [`EventLog`], which downstream readers pull from any retained sequence number. With a
//!   journal ([`Runtime::with_history`]), older events are regenerated from it ([`History`]) on the
//!   reader's thread, so a reader can start from any seq the journal still reaches back to.
//! - Queries run on the engine thread between batches, so they see a consistent state.
//! - With a journal, the engine thread hands each applied batch's frames to the journal thread
//!   ([`GroupCommit`]) and goes on with the next batch; the batch's events reach the event log and
//!   its caller only once its frames are durable. Query answers wait behind the batches before
//!   them, so nothing leaves the runtime before the commands it reflects are durable.
//!
//! Invariants: sequence numbers are contiguous and timestamps never decrease, so the engine never
//! sees an out-of-order envelope; the event log holds whole batches in sequence order; replies
//! and events are released in sequence order. See `docs/DURABILITY.md`.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::command::{Command, CommandEnvelope};
use crate::engine::{Engine, EngineError};
use crate::event::Event;
use crate::event_stream::apply_and_encode;
use crate::ids::{Nanos, Seq};
use crate::journal::{frame, GroupCommit, History, HistoryError, JournalCounters, JournalSink, JournalStats, Release};

/// Where the sequencer gets time from.
pub type Clock = Box<dyn FnMut() -> Nanos + Send>;

/// The system clock, in Unix nanoseconds.
#[must_use]
pub fn system_clock() -> Clock {
    Box::new(|| {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
    })
}

/// Why the runtime could not serve a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    /// The engine thread has stopped.
    Stopped,
    /// The engine refused an envelope (a sequencer bug; the thread stops).
    Engine(EngineError),
    /// The requested events are older than memory retains and the journal (if any) reaches.
    Evicted {
        /// Oldest sequence number still available.
        oldest: Seq,
    },
    /// The journal could not be read back for old events (corrupt or unreadable; named).
    Journal(String),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stopped => f.write_str("engine thread stopped"),
            Self::Engine(e) => write!(f, "engine refused a command: {e}"),
            Self::Evicted { oldest } => write!(f, "events before seq {oldest} are no longer available (memory or journal)"),
            Self::Journal(e) => write!(f, "reading old events: {e}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// What one batch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Sequence number of the batch's first command.
    pub first_seq: Seq,
    /// Sequence number of its last command (`first_seq - 1` for an empty batch).
    pub last_seq: Seq,
    /// Timestamp stamped on every command of the batch.
    pub ts: Nanos,
    /// The events, encoded as length-prefixed event envelopes (see [`crate::codec`]).
    pub events: Arc<Vec<u8>>,
}

#[derive(Debug)]
struct Chunk {
    last_seq: Seq,
    bytes: Arc<Vec<u8>>,
}

/// Recent encoded events, in sequence order, bounded by bytes.
#[derive(Debug)]
pub struct EventLog {
    chunks: VecDeque<Chunk>,
    retained_bytes: usize,
    max_bytes: usize,
    oldest_seq: Seq,
    last_seq: Seq,
}

impl EventLog {
    fn push(&mut self, first_seq: Seq, last_seq: Seq, bytes: Arc<Vec<u8>>) {
        if last_seq < first_seq {
            return;
        }
        self.retained_bytes += bytes.len();
        self.chunks.push_back(Chunk { last_seq, bytes });
        self.last_seq = last_seq;
        while self.retained_bytes > self.max_bytes && self.chunks.len() > 1 {
            let dropped = self.chunks.pop_front().expect("more than one chunk");
            self.retained_bytes -= dropped.bytes.len();
            self.oldest_seq = dropped.last_seq + 1;
        }
    }

    /// Encoded events of commands after `after`, whole commands only (like the journal history),
    /// stopping after the command that takes the output to `max_bytes` or beyond.
    fn read(&self, after: Seq, max_bytes: usize) -> Result<Vec<u8>, RuntimeError> {
        if after + 1 < self.oldest_seq {
            return Err(RuntimeError::Evicted { oldest: self.oldest_seq });
        }
        let mut out = Vec::new();
        let mut command = after;
        for chunk in self.chunks.iter().filter(|c| c.last_seq > after) {
            let mut pos = 0;
            while pos < chunk.bytes.len() {
                let len = u32::from_le_bytes(chunk.bytes[pos..pos + 4].try_into().expect("four bytes")) as usize;
                let seq = u64::from_le_bytes(chunk.bytes[pos + 4..pos + 12].try_into().expect("eight bytes"));
                let end = pos + 4 + len;
                if seq > after {
                    if seq != command && out.len() >= max_bytes.max(1) {
                        return Ok(out);
                    }
                    command = seq;
                    out.extend_from_slice(&chunk.bytes[pos..end]);
                }
                pos = end;
            }
        }
        Ok(out)
    }
}

/// Runs on the engine thread and returns what sends the answer.
type Query = Box<dyn FnOnce(&Engine) -> Release + Send>;
type Reply = SyncSender<Result<BatchOutcome, RuntimeError>>;
type SharedLog = Arc<(Mutex<EventLog>, Condvar)>;

enum Request {
    Batch { commands: Vec<Command>, ts: Option<Nanos>, reply: Reply },
    Query(Query),
}

/// A submitted batch whose outcome has not been collected yet.
#[derive(Debug)]
#[must_use = "a batch is acknowledged only through `wait`"]
pub struct Pending(Receiver<Result<BatchOutcome, RuntimeError>>);

impl Pending {
    /// Waits until the batch is applied (and durable, with a journal) and returns its outcome.
    ///
    /// # Errors
    /// [`RuntimeError::Stopped`] when the engine thread is gone, or the engine's refusal.
    pub fn wait(self) -> Result<BatchOutcome, RuntimeError> {
        self.0.recv().map_err(|_| RuntimeError::Stopped)?
    }
}

/// A running engine.
pub struct Runtime {
    requests: SyncSender<Request>,
    log: SharedLog,
    journal: Option<Arc<JournalCounters>>,
    history: Option<Mutex<History>>,
    worker: Option<JoinHandle<Engine>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// Configuration of a [`Runtime`].
#[derive(Clone, Copy, Debug)]
pub struct RuntimeConfig {
    /// How many requests may wait for the engine thread.
    pub queue_depth: usize,
    /// How many bytes of encoded events stay readable in memory.
    pub event_log_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { queue_depth: 1024, event_log_bytes: 256 << 20 }
    }
}

impl Runtime {
    /// Starts the engine thread, and with `journal` (positioned at `engine.last_seq() + 1`, see
    /// [`crate::journal::recover`]) the journal thread.
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    #[must_use]
    pub fn start(engine: Engine, clock: Clock, config: RuntimeConfig, journal: Option<Box<dyn JournalSink>>) -> Self {
        let (requests, inbox) = sync_channel(config.queue_depth);
        let oldest_seq = engine.last_seq() + 1;
        let log = Arc::new((
            Mutex::new(EventLog {
                chunks: VecDeque::new(),
                retained_bytes: 0,
                max_bytes: config.event_log_bytes,
                oldest_seq,
                last_seq: engine.last_seq(),
            }),
            Condvar::new(),
        ));
        let journal = journal.map(|sink| GroupCommit::start(sink, config.queue_depth));
        let counters = journal.as_ref().map(GroupCommit::counters);
        let worker_log = Arc::clone(&log);
        let worker = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || run(engine, clock, &inbox, &worker_log, journal))
            .expect("spawn the engine thread");
        Self { requests, log, journal: counters, history: None, worker: Some(worker) }
    }

    /// Serves reads older than the in-memory event log by replaying the journal in `dir` (the one
    /// this runtime appends to).
    #[must_use]
    pub fn with_history(mut self, dir: impl Into<PathBuf>) -> Self {
        self.history = Some(Mutex::new(History::new(dir)));
        self
    }

    /// Queues a batch for sequencing without waiting; [`Pending::wait`] collects the outcome.
    /// Outcomes arrive in submission order. `ts`, when given, replaces the clock for this batch
    /// (still never earlier than the previous batch).
    ///
    /// # Errors
    /// [`RuntimeError::Stopped`] when the engine thread is gone.
    pub fn submit(&self, commands: Vec<Command>, ts: Option<Nanos>) -> Result<Pending, RuntimeError> {
        let (reply, outcome) = sync_channel(1);
        self.requests.send(Request::Batch { commands, ts, reply }).map_err(|_| RuntimeError::Stopped)?;
        Ok(Pending(outcome))
    }

    /// Sequences and applies a batch, waiting for its events (and, with a journal, for its
    /// commands to be durable). See [`Runtime::submit`].
    ///
    /// # Errors
    /// [`RuntimeError::Stopped`] when the engine thread is gone, or the engine's refusal.
    pub fn execute(&self, commands: Vec<Command>, ts: Option<Nanos>) -> Result<BatchOutcome, RuntimeError> {
        self.submit(commands, ts)?.wait()
    }

    /// Totals of the journal thread; `None` without a journal.
    #[must_use]
    pub fn journal_stats(&self) -> Option<JournalStats> {
        self.journal.as_ref().map(|c| c.snapshot())
    }

    /// Runs `f` on the engine thread between batches and returns its result.
    ///
    /// # Errors
    /// [`RuntimeError::Stopped`] when the engine thread is gone.
    pub fn query<T: Send + 'static>(&self, f: impl FnOnce(&Engine) -> T + Send + 'static) -> Result<T, RuntimeError> {
        let (reply, answer) = sync_channel(1);
        let job: Query = Box::new(move |engine| {
            let answer = f(engine);
            Box::new(move || {
                let _ = reply.send(answer);
            })
        });
        self.requests.send(Request::Query(job)).map_err(|_| RuntimeError::Stopped)?;
        answer.recv().map_err(|_| RuntimeError::Stopped)
    }

    /// Encoded events of commands after `after`, waiting up to `timeout` for at least one: whole
    /// commands (a reader never sees part of a command's events), stopping after the command that
    /// takes the output to `max_bytes` or beyond. With a history ([`Runtime::with_history`]),
    /// events older than memory holds come from the journal.
    ///
    /// # Errors
    /// [`RuntimeError::Evicted`] when `after` is older than memory and the journal reach;
    /// [`RuntimeError::Journal`] when the journal cannot be read back.
    pub fn read_events(&self, mut after: Seq, max_bytes: usize, timeout: Duration) -> Result<Vec<u8>, RuntimeError> {
        loop {
            let oldest = self.log.0.lock().unwrap_or_else(PoisonError::into_inner).oldest_seq;
            if let Some(history) = self.history.as_ref().filter(|_| after + 1 < oldest) {
                let mut history = history.lock().unwrap_or_else(PoisonError::into_inner);
                match history.read(after, oldest - 1, max_bytes) {
                    Ok(bytes) if bytes.is_empty() => after = oldest - 1,
                    Ok(bytes) => return Ok(bytes),
                    Err(HistoryError::Unavailable { oldest: reach }) => return Err(RuntimeError::Evicted { oldest: reach.min(oldest) }),
                    Err(HistoryError::Journal(e)) => return Err(RuntimeError::Journal(e.to_string())),
                }
            }
            match self.read_memory(after, max_bytes, timeout) {
                // Evicted between the two looks: the journal has those events now.
                Err(RuntimeError::Evicted { .. }) if self.history.is_some() => {}
                other => return other,
            }
        }
    }

    fn read_memory(&self, after: Seq, max_bytes: usize, timeout: Duration) -> Result<Vec<u8>, RuntimeError> {
        let (lock, ready) = &*self.log;
        let deadline = Instant::now() + timeout;
        let mut log = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while log.last_seq <= after {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            log = ready.wait_timeout(log, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        log.read(after, max_bytes)
    }

    /// Stops the engine thread after the queued requests and returns the engine.
    ///
    /// # Errors
    /// [`RuntimeError::Stopped`] when the thread had already died.
    pub fn stop(mut self) -> Result<Engine, RuntimeError> {
        let worker = self.worker.take().ok_or(RuntimeError::Stopped)?;
        drop(self);
        worker.join().map_err(|_| RuntimeError::Stopped)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Closing the channel ends the engine thread's loop; a dropped runtime lets it finish.
        if let Some(worker) = self.worker.take() {
            let (closed, _) = sync_channel(1);
            drop(std::mem::replace(&mut self.requests, closed));
            let _ = worker.join();
        }
    }
}

fn run(mut engine: Engine, mut clock: Clock, inbox: &Receiver<Request>, log: &SharedLog, journal: Option<GroupCommit>) -> Engine {
    let mut events: Vec<Event> = Vec::new();
    let release = |first_seq: Seq, frames: Vec<u8>, then: Release| match &journal {
        Some(journal) => journal.submit(first_seq, frames, then),
        None => then(),
    };
    while let Ok(request) = inbox.recv() {
        match request {
            Request::Query(job) => release(engine.last_seq() + 1, Vec::new(), job(&engine)),
            Request::Batch { commands, ts, reply } => {
                let mut frames = journal.as_ref().map(|_| Vec::new());
                let first_seq = engine.last_seq() + 1;
                let result = apply_batch(&mut engine, commands, ts, &mut clock, &mut events, frames.as_mut());
                let failed = result.is_err();
                let log = Arc::clone(log);
                release(first_seq, frames.unwrap_or_default(), Box::new(move || publish(&log, result, &reply)));
                if failed {
                    break;
                }
            }
        }
    }
    if let Some(journal) = journal {
        journal.finish();
    }
    engine
}

/// Appends a batch's events to the log, then answers its caller.
fn publish(log: &SharedLog, result: Result<BatchOutcome, RuntimeError>, reply: &Reply) {
    if let Ok(outcome) = &result {
        let (lock, ready) = &**log;
        let mut log = lock.lock().unwrap_or_else(PoisonError::into_inner);
        log.push(outcome.first_seq, outcome.last_seq, Arc::clone(&outcome.events));
        ready.notify_all();
    }
    let _ = reply.send(result);
}

fn apply_batch(
    engine: &mut Engine,
    commands: Vec<Command>,
    ts: Option<Nanos>,
    clock: &mut Clock,
    events: &mut Vec<Event>,
    mut frames: Option<&mut Vec<u8>>,
) -> Result<BatchOutcome, RuntimeError> {
    let ts = ts.unwrap_or_else(clock).max(engine.last_ts());
    let first_seq = engine.last_seq() + 1;
    let mut bytes = Vec::with_capacity(commands.len() * 96);
    for command in commands {
        let envelope = CommandEnvelope { seq: engine.last_seq() + 1, ts, command };
        apply_and_encode(engine, &envelope, events, &mut bytes).map_err(RuntimeError::Engine)?;
        if let Some(frames) = frames.as_deref_mut() {
            frame::encode(frames, &envelope);
        }
    }
    Ok(BatchOutcome { first_seq, last_seq: engine.last_seq(), ts, events: Arc::new(bytes) })
}

#[cfg(test)]
mod tests;
