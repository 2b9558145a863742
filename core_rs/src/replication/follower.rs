//! The follower's side: listens for the primary, says where its own journal ends (HELLO), then
//! for each FRAMES message checks every frame (CRC, contiguous seq), applies it to its engine,
//! appends the very same bytes to its own journal, `fdatasync`s, and only then sends the ACK.
//!
//! It reports its position and, when asked to, its state hash after each message
//! ([`Follower::wait`]). [`Follower::promote`] stops following (the listener and any connection are
//! closed, so the old primary can never reach it again) and hands back the engine and the journal
//! writer, positioned at the last durable seq, to run as the new primary.
//!
//! Invariants: nothing is acknowledged before it is durable here; the engine has applied exactly
//! the frames of the local journal, in order (a frame it refuses, or a gap, stops the follower with
//! the error and is never acknowledged); an fsync error aborts the process like on the primary.

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

/// Where a follower is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowerStatus {
    /// Last seq applied and durable.
    pub last_seq: Seq,
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
        let state = State { engine, writer, hash_each_batch, shared: Arc::clone(&shared), stop: Arc::clone(&stop) };
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
        protocol::write(&mut stream, &Message::Hello(self.engine.last_seq()))?;
        loop {
            let message = protocol::read(&mut Patient { stream: &stream, stop: &self.stop })?;
            let Message::Frames(frames) = message else { return Err(io::Error::other("expected FRAMES")) };
            if let Err(reason) = self.apply(&frames) {
                eprintln!("FOLLOWER: stopped: {reason}");
                self.set(|s| s.error = Some(reason.clone()));
                return Err(io::Error::other(reason));
            }
            protocol::write(&mut stream, &Message::Ack(self.engine.last_seq()))?;
        }
    }

    /// Checks and applies `frames`, then appends them to the local journal and syncs it.
    fn apply(&mut self, frames: &[u8]) -> Result<(), String> {
        let first_seq = self.engine.last_seq() + 1;
        let mut pos = 0;
        let mut events = Vec::new();
        while pos < frames.len() {
            let (payload, end) = frame::check(frames, pos).map_err(|d| format!("frame at byte {pos} of a message: {d}"))?;
            let envelope = frame::decode(payload).map_err(|e| format!("undecodable frame: {e}"))?;
            if envelope.seq != self.engine.last_seq() + 1 {
                return Err(format!("frame has seq {}, expected {}", envelope.seq, self.engine.last_seq() + 1));
            }
            events.clear();
            self.engine.apply(&envelope, &mut events).map_err(|e| format!("the engine refused seq {}: {e}", envelope.seq))?;
            pos = end;
        }
        if !frames.is_empty() {
            self.writer.append(first_seq, frames).and_then(|()| self.writer.sync()).unwrap_or_else(|e| fatal(&e));
        }
        let (last_seq, hash) = (self.engine.last_seq(), self.hash_each_batch.then(|| self.engine.state_hash()));
        self.set(|s| {
            s.last_seq = last_seq;
            s.state_hash = hash;
        });
        Ok(())
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
