//! The primary's side: a [`JournalSink`] that writes the local journal and ships every frame to a
//! follower, and in synchronous mode makes a group's `sync` return only once the follower has
//! made it durable too.
//!
//! A link thread connects to the follower (retrying), reads its HELLO (its last durable seq) and
//! sends the frames after it **out of the local journal files** ([`FrameStream`]), then keeps
//! following them as they are appended: catch-up from any point and live streaming are one path.
//! A second thread reads the follower's ACKs.
//!
//! Order inside one group commit (the journal thread): `append` writes the frames locally (page
//! cache) and wakes the link thread, which ships them while `sync` runs the local `fdatasync`;
//! then, in [`Mode::Sync`], `sync` waits until the follower acknowledged the group's last seq. The
//! group commit releases replies and events only after `sync` returns, so an acknowledged command
//! is durable on both machines.
//!
//! Follower lost in sync mode: **acknowledgements block** (nothing is acknowledged that only one
//! machine holds) while the link reconnects every 100 ms, logging on stderr every 5 s; the
//! follower catches up from its last durable seq when it is back and the blocked batches are
//! released. A promoted follower never takes the connection back, so an old primary that lost its
//! follower can no longer acknowledge anything (fencing by construction). [`Mode::Async`] never
//! waits: a lagging or absent follower only loses what it had not received yet.
//!
//! Invariants: frames are shipped in seq order with no gap (the follower's HELLO positions the
//! stream; a follower ahead of the primary is refused); `acked` only grows while connected and is
//! reset to the follower's HELLO on each connection; a local write or sync error is returned (the
//! group commit aborts the process).

use std::io;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::protocol::{self, Message, FRAMES_CHUNK};
use crate::ids::Seq;
use crate::journal::frame_stream::FrameStream;
use crate::journal::{frame, JournalSink};

/// Whether a group waits for the follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A group is durable (and acknowledged) only once the follower has synced it too.
    Sync,
    /// The follower is fed as fast as it goes; nothing waits for it.
    Async,
}

const RETRY: Duration = Duration::from_millis(100);
const WARN_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Link {
    /// Last seq written to the local journal.
    appended: Seq,
    /// Last seq the follower reported durable (on the current connection).
    acked: Seq,
    connected: bool,
    stopping: bool,
}

type Shared = Arc<(Mutex<Link>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Link> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Replication state, readable from any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// Last seq written locally.
    pub appended: Seq,
    /// Last seq the follower made durable.
    pub acked: Seq,
    /// Whether a follower is connected.
    pub connected: bool,
}

/// The journal thread's sink: `local` alone, or with `replicate_to = Some((follower, mode))` a
/// [`ReplicatedSink`] around it (and its status handle). `local` is the journal in `dir`, ending
/// at `last_seq`.
pub fn sink<S: JournalSink + 'static>(
    local: S,
    dir: &Path,
    last_seq: Seq,
    replicate_to: Option<(&str, Mode)>,
) -> (Box<dyn JournalSink>, Option<ReplicationHandle>) {
    match replicate_to {
        None => (Box::new(local), None),
        Some((follower, mode)) => {
            let replicated = ReplicatedSink::start(local, dir, last_seq, follower, mode);
            let handle = replicated.handle();
            (Box::new(replicated), Some(handle))
        }
    }
}

/// The local journal plus a follower.
pub struct ReplicatedSink<S: JournalSink> {
    local: S,
    mode: Mode,
    follower: String,
    shared: Shared,
}

impl<S: JournalSink> std::fmt::Debug for ReplicatedSink<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedSink").field("mode", &self.mode).field("follower", &self.follower).finish_non_exhaustive()
    }
}

/// A handle on a running link, for status.
#[derive(Clone, Debug)]
pub struct ReplicationHandle(Shared);

impl ReplicationHandle {
    /// The state now.
    #[must_use]
    pub fn status(&self) -> ReplicationStatus {
        let link = lock(&self.0);
        ReplicationStatus { appended: link.appended, acked: link.acked, connected: link.connected }
    }
}

impl<S: JournalSink> ReplicatedSink<S> {
    /// Wraps `local` (the journal in `dir`, ending at `last_seq`) and starts the link to
    /// `follower` (`host:port`).
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub fn start(local: S, dir: &Path, last_seq: Seq, follower: &str, mode: Mode) -> Self {
        let shared: Shared = Arc::new((Mutex::new(Link { appended: last_seq, ..Link::default() }), Condvar::new()));
        let (link, dir, address) = (Arc::clone(&shared), dir.to_path_buf(), follower.to_owned());
        thread::Builder::new().name("replication".into()).spawn(move || run(&link, &dir, &address)).expect("spawn the replication thread");
        Self { local, mode, follower: follower.to_owned(), shared }
    }

    /// A status handle.
    #[must_use]
    pub fn handle(&self) -> ReplicationHandle {
        ReplicationHandle(Arc::clone(&self.shared))
    }
}

impl<S: JournalSink> JournalSink for ReplicatedSink<S> {
    fn append(&mut self, first_seq: Seq, frames: &[u8]) -> io::Result<()> {
        self.local.append(first_seq, frames)?;
        let mut link = lock(&self.shared);
        link.appended = first_seq + frame::count(frames) - 1;
        self.shared.1.notify_all();
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.local.sync()?;
        if self.mode == Mode::Async {
            return Ok(());
        }
        let mut link = lock(&self.shared);
        let target = link.appended;
        let mut warned = Instant::now();
        while link.acked < target {
            link = self.shared.1.wait_timeout(link, RETRY).unwrap_or_else(PoisonError::into_inner).0;
            if warned.elapsed() >= WARN_EVERY {
                eprintln!(
                    "REPLICATION: waiting for sync follower {} to make seq {target} durable (it has {}, {}); acknowledgements are blocked",
                    self.follower,
                    link.acked,
                    if link.connected { "connected" } else { "unreachable" }
                );
                warned = Instant::now();
            }
        }
        Ok(())
    }
}

impl<S: JournalSink> Drop for ReplicatedSink<S> {
    fn drop(&mut self) {
        lock(&self.shared).stopping = true;
        self.shared.1.notify_all();
    }
}

/// The link thread: connect, catch up, stream, and again after any failure.
fn run(shared: &Shared, dir: &Path, address: &str) {
    let mut warned: Option<Instant> = None;
    while !lock(shared).stopping {
        match serve_connection(shared, dir, address) {
            Ok(()) => return,
            Err(e) => {
                if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    eprintln!("REPLICATION: follower {address}: {e}; retrying");
                    warned = Some(Instant::now());
                }
                thread::sleep(RETRY);
            }
        }
    }
}

/// One connection's life; `Ok` only when stopping.
fn serve_connection(shared: &Shared, dir: &Path, address: &str) -> io::Result<()> {
    let target = address.to_socket_addrs()?.next().ok_or_else(|| io::Error::other("address resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(1))?;
    stream.set_nodelay(true)?;
    let Message::Hello(start) = protocol::read(&mut stream)? else { return Err(io::Error::other("expected HELLO")) };
    {
        let mut link = lock(shared);
        if start > link.appended {
            return Err(io::Error::other(format!("follower is at seq {start}, ahead of this journal ({}): refused", link.appended)));
        }
        link.acked = start;
        link.connected = true;
    }
    eprintln!("REPLICATION: follower {address} connected at seq {start}");
    let acks = stream.try_clone()?;
    let ack_link = Arc::clone(shared);
    let reader = thread::Builder::new().name("replication-acks".into()).spawn(move || read_acks(&ack_link, acks))?;
    let result = ship(shared, dir, &mut stream, start);
    let _ = stream.shutdown(Shutdown::Both);
    let _ = reader.join();
    lock(shared).connected = false;
    shared.1.notify_all();
    result
}

/// Sends the frames after `start`, out of the journal files, as they are appended.
fn ship(shared: &Shared, dir: &Path, stream: &mut TcpStream, start: Seq) -> io::Result<()> {
    let mut frames: Option<FrameStream> = None;
    let mut sent = start;
    loop {
        let upto = {
            let mut link = lock(shared);
            while link.appended <= sent && link.connected && !link.stopping {
                link = shared.1.wait(link).unwrap_or_else(PoisonError::into_inner);
            }
            if link.stopping {
                return Ok(());
            }
            if !link.connected {
                return Err(io::Error::other("the follower closed the connection"));
            }
            link.appended
        };
        if frames.is_none() {
            frames = Some(FrameStream::at(dir, sent + 1).map_err(io::Error::other)?);
        }
        let reader = frames.as_mut().expect("opened above");
        while sent < upto {
            let mut chunk = Vec::new();
            while sent < upto && chunk.len() < FRAMES_CHUNK {
                let frame = reader.next_frame().map_err(io::Error::other)?;
                chunk.extend_from_slice(&frame.ok_or_else(|| io::Error::other(format!("journal ends before seq {upto}")))?);
                sent += 1;
            }
            protocol::write(stream, &Message::Frames(chunk))?;
        }
    }
}

fn read_acks(shared: &Shared, mut stream: TcpStream) {
    while let Ok(Message::Ack(seq)) = protocol::read(&mut stream) {
        let mut link = lock(shared);
        link.acked = link.acked.max(seq);
        shared.1.notify_all();
    }
    lock(shared).connected = false;
    shared.1.notify_all();
}
