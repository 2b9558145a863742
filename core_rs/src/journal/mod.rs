//! The command journal: the system of record. Every sequenced command is written here, in
//! sequence order, and made durable before anything it caused leaves the engine.
//!
//! - [`frame`]: one frame, `[len: u32][crc: u32][payload]`, payload = the canonical
//!   [`CommandEnvelope`](crate::command::CommandEnvelope).
//! - [`segment`]: segment files `journal-<first seq, 20 digits>.log`, the directory lock.
//! - [`reader`]: every frame of a directory in order; torn tails versus corruption.
//! - [`writer`]: appends frames to the last segment and rolls to a new one at a size limit.
//! - [`group_commit`]: the journal thread; one `fdatasync` per group of queued batches, then the
//!   batches are released in order. An I/O error aborts the process.
//! - [`recovery`]: rebuilds an [`Engine`](crate::engine::Engine) from a directory and opens the
//!   writer where the journal ends.
//!
//! Invariants: frames hold contiguous sequence numbers across segments, each segment's name is
//! the sequence number of its first frame, and only the tail of the last segment can be
//! incomplete (a segment is synced before the next one is created). A command is acknowledged
//! only after the `fdatasync` that covers its frame returned. See `docs/DURABILITY.md`.

mod error;
pub mod frame;
pub mod group_commit;
pub mod reader;
pub mod recovery;
pub mod segment;
pub mod snapshot;
pub mod writer;

pub use error::JournalError;
pub use group_commit::{GroupCommit, JournalCounters, JournalSink, JournalStats, Release};
pub use reader::{read, Tail, TornTail};
pub use recovery::{recover, replay, JournalConfig, Recovered, RecoveryReport, DEFAULT_SEGMENT_BYTES};
pub use writer::SegmentWriter;

#[cfg(test)]
mod tests;
