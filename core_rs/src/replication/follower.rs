//! The follower's side: listens for the primary, says where its own journal ends (HELLO), then
//! for each FRAMES message checks every frame (CRC, contiguous seq) and appends the very same bytes
//! to its own journal; once no further message is already waiting on the socket (group commit: the
//! waiting ones share one sync, up to 16 MiB), it `fdatasync`s, sends the ACK of the last seq, and
//! then applies the group to its engine. Acknowledging before applying (as Raft acknowledges a
//! log append) keeps the follower's engine work out of the primary's acknowledgement latency.
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
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::protocol::{self, Message};
use crate::engine::Engine;
use crate::ids::Seq;
use crate::journal::{frame, JournalSink, SegmentWriter};

const POLL: Duration = Duration::from_millis(50);
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

type Shared = Arc<(Mutex<FollowerStatus>, Condvar)>;

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
    engine: Engine,
    writer: SegmentWriter,
    /// Frames appended to the journal and not applied yet, and the last seq among them.
    pending: Vec<u8>,
    received: Seq,
    hash_each_batch: bool,
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
        let shared: Shared = Arc::new((Mutex::new(status), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let state = State {
            received: engine.last_seq(),
            pending: Vec::new(),
            engine,
            writer,
            hash_each_batch,
            shared: Arc::clone(&shared),
            stop: Arc::clone(&stop),
        };
        let worker = thread::Builder::new().name("follower".into()).spawn(move || state.run(&listener)).expect("spawn the follower thread");
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
        let mut status = self.shared.0.lock().unwrap_or_else(PoisonError::into_inner);
        while status.last_seq <= after && status.error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            status = self.shared.1.wait_timeout(status, left).unwrap_or_else(PoisonError::into_inner).0;
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
        let error = self.shared.0.lock().unwrap_or_else(PoisonError::into_inner).error.clone();
        error.map_or(Ok((engine, writer)), Err)
    }
}

impl State {
    fn run(mut self, listener: &TcpListener) -> (Engine, SegmentWriter) {
        while !self.stop.load(Ordering::SeqCst) && self.shared.0.lock().unwrap_or_else(PoisonError::into_inner).error.is_none() {
            match listener.accept() {
                Ok((stream, _)) => {
                    self.set(|s| s.connected = true);
                    if let Err(e) = self.follow(stream) {
                        if e.kind() != ErrorKind::UnexpectedEof {
                            eprintln!("FOLLOWER: connection to the primary ended: {e}");
                        }
                    }
                    self.make_durable();
                    self.apply_pending();
                    self.set(|s| s.connected = false);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                Err(e) => {
                    eprintln!("FOLLOWER: accept failed: {e}");
                    thread::sleep(POLL);
                }
            }
        }
        (self.engine, self.writer)
    }

    fn set(&self, change: impl FnOnce(&mut FollowerStatus)) {
        change(&mut self.shared.0.lock().unwrap_or_else(PoisonError::into_inner));
        self.shared.1.notify_all();
    }

    fn follow(&mut self, mut stream: TcpStream) -> io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        protocol::write(&mut stream, &Message::Hello(self.received))?;
        loop {
            let message = protocol::read(&mut Patient { stream: &stream, stop: &self.stop })?;
            let Message::Frames(frames) = message else { return Err(io::Error::other("expected FRAMES")) };
            if let Err(reason) = self.receive(&frames) {
                self.fail(&reason);
                return Err(io::Error::other(reason));
            }
            // Group commit: messages already waiting on the socket share the next fdatasync.
            if self.pending.len() < GROUP_BYTES && more_waiting(&stream)? {
                continue;
            }
            self.make_durable();
            protocol::write(&mut stream, &Message::Ack(self.received))?;
            if !self.apply_pending() {
                return Err(io::Error::other("the engine refused a frame"));
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
        self.set(|s| s.durable_seq = durable);
    }

    /// Applies the durable frames not applied yet, then publishes the position (and state hash);
    /// false, with the error recorded, if the engine refused one.
    fn apply_pending(&mut self) -> bool {
        let frames = std::mem::take(&mut self.pending);
        let mut pos = 0;
        let mut events = Vec::new();
        while pos < frames.len() {
            let (payload, end) = frame::check(&frames, pos).expect("checked on receipt");
            let applied = frame::decode(payload).map_err(|e| format!("undecodable frame: {e}")).and_then(|envelope| {
                self.engine.apply(&envelope, &mut events).map_err(|e| format!("the engine refused seq {}: {e}", envelope.seq))
            });
            if let Err(reason) = applied {
                self.fail(&reason);
                return false;
            }
            events.clear();
            pos = end;
        }
        let (last_seq, hash) = (self.engine.last_seq(), self.hash_each_batch.then(|| self.engine.state_hash()));
        self.set(|s| {
            s.last_seq = last_seq;
            s.state_hash = hash;
        });
        true
    }

    fn fail(&self, reason: &str) {
        eprintln!("FOLLOWER: stopped: {reason}");
        self.set(|s| s.error = Some(reason.to_owned()));
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
