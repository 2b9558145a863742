//! The follower's side: listens for the primary, says where its own journal ends (HELLO), then
//! for each FRAMES message checks every frame (CRC, contiguous seq) and appends the very same bytes
//! to its own journal; once no further message is already waiting on the socket (group commit: the
//! waiting ones share one sync, up to 16 MiB), it `fdatasync`s, sends the ACK of the last seq, and
//! hands the group to the [`Applier`] thread, which applies it to the engine. Acknowledging before
//! applying, on another thread (as Raft acknowledges a log append), keeps the follower's engine
//! work out of the primary's acknowledgement latency.
//!
//! It reports its durable and applied positions and, when asked to, its state hash after each
//! group ([`Follower::wait`]). [`Follower::promote`] stops following (the listener and any connection are
//! closed, so the old primary can never reach it again) and hands back the engine and the journal
//! writer, positioned at the last durable seq, to run as the new primary.
//!
//! Invariants: nothing is acknowledged before it is durable here; whenever the connection ends
//! (promotion included) the frames appended are synced and applied first, so the engine handed
//! back has applied exactly the frames of the local journal, in order; a damaged frame or a gap
//! stops the follower with the error and is never appended nor acknowledged (an engine refusal,
//! which determinism rules out, stops it too); an fsync error aborts the process like on the
//! primary.

use std::io::{self, ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::applier::Applier;
use super::protocol::{self, Message};
use crate::engine::Engine;
use crate::ids::Seq;
use crate::journal::{frame, JournalSink, SegmentWriter};

const POLL: Duration = Duration::from_millis(50);
/// Synced groups waiting for the applier at most (then the receiver waits: back-pressure).
const APPLY_QUEUE: usize = 64;
/// Bytes appended at most before a sync, however many messages wait.
const GROUP_BYTES: usize = 16 << 20;

/// Where a follower is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowerStatus {
    /// Last seq applied (and durable).
    pub last_seq: Seq,
    /// Last seq durable in the follower's journal (and acknowledged).
    pub durable_seq: Seq,
    /// State hash at `last_seq`, when hashing is on.
    pub state_hash: Option<[u8; 32]>,
    /// Whether a primary is connected.
    pub connected: bool,
    /// Why following stopped, if it did.
    pub error: Option<String>,
}

/// The status shared by the receiving thread, the applier and [`Follower`] callers.
#[derive(Clone, Debug, Default)]
pub(super) struct Shared(Arc<(Mutex<FollowerStatus>, Condvar)>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, FollowerStatus> {
        self.0 .0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the status and wakes the waiters.
    pub(super) fn set(&self, change: impl FnOnce(&mut FollowerStatus)) {
        change(&mut self.lock());
        self.0 .1.notify_all();
    }

    /// Records why following stopped.
    pub(super) fn fail(&self, reason: &str) {
        eprintln!("FOLLOWER: stopped: {reason}");
        self.set(|s| s.error = Some(reason.to_owned()));
    }
}

/// A running follower.
pub struct Follower {
    address: SocketAddr,
    shared: Shared,
    stop: Arc<AtomicBool>,
    worker: JoinHandle<(Engine, SegmentWriter)>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower").field("address", &self.address).finish_non_exhaustive()
    }
}

struct State {
    writer: SegmentWriter,
    /// Frames appended to the journal and not yet synced, and the last seq appended.
    pending: Vec<u8>,
    received: Seq,
    applier: SyncSender<Vec<u8>>,
    shared: Shared,
    stop: Arc<AtomicBool>,
}

impl Follower {
    /// Listens on `listen` (`host:port`, port 0 for any) with `engine` and `writer` recovered from
    /// the follower's own journal; with `hash_each_batch`, the state hash is computed after every
    /// FRAMES message (costs a snapshot serialisation each).
    ///
    /// # Errors
    /// The listener's error.
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub fn start(engine: Engine, writer: SegmentWriter, listen: &str, hash_each_batch: bool) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let status = FollowerStatus {
            last_seq: engine.last_seq(),
            state_hash: hash_each_batch.then(|| engine.state_hash()),
            ..FollowerStatus::default()
        };
        let shared = Shared(Arc::new((Mutex::new(status), Condvar::new())));
        let stop = Arc::new(AtomicBool::new(false));
        let (applier, groups) = sync_channel(APPLY_QUEUE);
        let state =
            State { received: engine.last_seq(), pending: Vec::new(), writer, applier, shared: shared.clone(), stop: Arc::clone(&stop) };
        let applying = Applier { engine, hash_each_batch, shared: shared.clone() };
        let worker = thread::Builder::new()
            .name("follower".into())
            .spawn(move || {
                let applying =
                    thread::Builder::new().name("follower-apply".into()).spawn(move || applying.run(&groups)).expect("spawn the applier");
                let writer = state.run(&listener);
                (applying.join().expect("the applier does not panic"), writer)
            })
            .expect("spawn the follower thread");
        Ok(Self { address, shared, stop, worker })
    }

    /// The address it listens on.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The status once `last_seq` is past `after` (or following stopped), or after `timeout`.
    #[must_use]
    pub fn wait(&self, after: Seq, timeout: Duration) -> FollowerStatus {
        let deadline = Instant::now() + timeout;
        let mut status = self.shared.lock();
        while status.last_seq <= after && status.error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            status = self.shared.0 .1.wait_timeout(status, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        status.clone()
    }

    /// Stops following for good and returns the engine and its journal writer.
    ///
    /// # Errors
    /// Why following had stopped, if a frame was refused (the engine is then not usable).
    pub fn promote(self) -> Result<(Engine, SegmentWriter), String> {
        self.stop.store(true, Ordering::SeqCst);
        let (engine, writer) = self.worker.join().map_err(|_| "the follower thread panicked".to_owned())?;
        let error = self.shared.lock().error.clone();
        error.map_or(Ok((engine, writer)), Err)
    }
}

impl State {
    /// Accepts primaries one at a time until promoted or failed; returns the journal writer once
    /// everything received is synced and handed to the applier.
    fn run(mut self, listener: &TcpListener) -> SegmentWriter {
        while !self.stop.load(Ordering::SeqCst) && self.shared.lock().error.is_none() {
            match listener.accept() {
                Ok((stream, _)) => {
                    self.shared.set(|s| s.connected = true);
                    if let Err(e) = self.follow(stream) {
                        if e.kind() != ErrorKind::UnexpectedEof {
                            eprintln!("FOLLOWER: connection to the primary ended: {e}");
                        }
                    }
                    self.settle();
                    self.shared.set(|s| s.connected = false);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                Err(e) => {
                    eprintln!("FOLLOWER: accept failed: {e}");
                    thread::sleep(POLL);
                }
            }
        }
        self.writer
    }

    fn follow(&mut self, mut stream: TcpStream) -> io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        protocol::write(&mut stream, &Message::Hello(self.received))?;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                // Promoted while the primary still streams: stop between two messages.
                return Err(io::Error::new(ErrorKind::UnexpectedEof, "promoted"));
            }
            let message = protocol::read(&mut Patient { stream: &stream, stop: &self.stop })?;
            let Message::Frames(frames) = message else { return Err(io::Error::other("expected FRAMES")) };
            if let Err(reason) = self.receive(&frames) {
                self.shared.fail(&reason);
                return Err(io::Error::other(reason));
            }
            // Group commit: messages already waiting on the socket share the next fdatasync.
            if self.pending.len() < GROUP_BYTES && more_waiting(&stream)? {
                continue;
            }
            self.make_durable();
            protocol::write(&mut stream, &Message::Ack(self.received))?;
            if !self.hand_over() {
                return Err(io::Error::other("the applier stopped"));
            }
        }
    }

    /// Checks `frames` (CRC, contiguous seqs) and appends them to the local journal, unsynced.
    fn receive(&mut self, frames: &[u8]) -> Result<(), String> {
        let first_seq = self.received + 1;
        let mut pos = 0;
        let mut next = first_seq;
        while pos < frames.len() {
            let (payload, end) = frame::check(frames, pos).map_err(|d| format!("frame at byte {pos} of a message: {d}"))?;
            let seq = Seq::from_le_bytes(payload[..8].try_into().expect("a payload holds a seq"));
            if seq != next {
                return Err(format!("frame has seq {seq}, expected {next}"));
            }
            next += 1;
            pos = end;
        }
        if !frames.is_empty() {
            self.writer.append(first_seq, frames).unwrap_or_else(|e| fatal(&e));
            self.pending.extend_from_slice(frames);
            self.received = next - 1;
        }
        Ok(())
    }

    /// Syncs the local journal and publishes the durable position.
    fn make_durable(&mut self) {
        self.writer.sync().unwrap_or_else(|e| fatal(&e));
        let durable = self.received;
        self.shared.set(|s| s.durable_seq = durable);
    }

    /// Hands the synced frames to the applier; false if it has stopped (an engine refusal).
    fn hand_over(&mut self) -> bool {
        let frames = std::mem::take(&mut self.pending);
        frames.is_empty() || self.applier.send(frames).is_ok()
    }

    /// After a connection ends: whatever was appended is synced and handed over.
    fn settle(&mut self) {
        self.make_durable();
        self.hand_over();
    }
}

/// Whether more bytes already wait on the socket (without blocking).
fn more_waiting(stream: &TcpStream) -> io::Result<bool> {
    stream.set_nonblocking(true)?;
    let peeked = stream.peek(&mut [0_u8; 1]);
    stream.set_nonblocking(false)?;
    match peeked {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads from the socket, retrying read timeouts until asked to stop (then `UnexpectedEof`).
struct Patient<'a> {
    stream: &'a TcpStream,
    stop: &'a AtomicBool,
}

impl Read for Patient<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&mut &*self.stream).read(buf) {
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    if self.stop.load(Ordering::SeqCst) {
                        return Err(io::Error::new(ErrorKind::UnexpectedEof, "promoted"));
                    }
                }
                other => return other,
            }
        }
    }
}

fn fatal(error: &io::Error) -> ! {
    eprintln!("FATAL: follower journal write or fdatasync failed: {error}. Aborting: restart to recover from the journal.");
    std::process::abort()
}
