//! Recovery: the newest valid snapshot (if any, see [`super::snapshot`]) is restored and checked
//! against its stored state hash, then every later whole frame of the journal is replayed, then
//! appending resumes at `last_seq + 1`.
//!
//! Invariants: the recovered engine has applied exactly the frames in the directory, in order,
//! on top of the snapshot (frames it already covers are skipped, never applied twice: the
//! snapshot/log-roll double-apply bug); [`recover`] repairs a torn tail before the writer
//! opens, and holds the directory lock from before reading until the writer is dropped; recovering
//! again without new commands finds the same frames and changes nothing. [`replay`] never writes.

use std::fs;
use std::path::{Path, PathBuf};

use super::reader::{self, ReadReport, Tail};
use super::writer::SegmentWriter;
use super::JournalError;
use super::{segment, snapshot};
use crate::engine::Engine;
use crate::ids::Seq;

/// Segment size at which the writer rolls to a new file, by default.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Where the journal lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// The directory of segment files (created if missing).
    pub dir: PathBuf,
    /// Size at which a segment is rolled.
    pub segment_bytes: u64,
}

impl JournalConfig {
    /// A journal in `dir` with the default segment size.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), segment_bytes: DEFAULT_SEGMENT_BYTES }
    }
}

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Frames replayed.
    pub frames: u64,
    /// Sequence number of the last command replayed (0 for an empty journal).
    pub last_seq: Seq,
    /// Bytes of torn tail after the last whole frame (truncated by [`recover`], left in place by
    /// [`replay`]).
    pub truncated_bytes: u64,
    /// Segment files read.
    pub segments: usize,
    /// Sequence number of the snapshot the replay started from, if one was used.
    pub snapshot_seq: Option<Seq>,
    /// Snapshot files refused (newer than the one used), with the reason.
    pub refused_snapshots: Vec<(PathBuf, String)>,
}

/// An engine rebuilt from its journal, and the writer that continues it.
#[derive(Debug)]
pub struct Recovered {
    /// The engine, at `report.last_seq`.
    pub engine: Engine,
    /// What the replay found.
    pub report: RecoveryReport,
    /// Appends from `report.last_seq + 1`; holds the directory lock.
    pub writer: SegmentWriter,
}

/// Rebuilds the state from `dir` without writing anything (a torn tail is reported, not
/// truncated). `progress` gets (bytes read, bytes in all segments).
///
/// # Errors
/// See [`reader::read`]; also [`JournalError::Corrupt`] when the frames do not start at seq 1.
pub fn replay(dir: &Path, progress: impl FnMut(u64, u64)) -> Result<(Engine, RecoveryReport), JournalError> {
    let (engine, read, start) = rebuild(dir, Tail::Keep, progress)?;
    let report = report(&engine, &read, start);
    Ok((engine, report))
}

/// Opens the journal for appending: creates the directory if needed, takes its lock, replays it
/// into a fresh engine, truncates a torn tail, and opens the writer at the next sequence number.
///
/// # Errors
/// [`JournalError::Locked`] when another process appends to it; otherwise as [`replay`].
pub fn recover(config: &JournalConfig) -> Result<Recovered, JournalError> {
    let dir = config.dir.as_path();
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        segment::sync_dir(parent).map_err(|e| JournalError::io(parent, e))?;
    }
    let lock = segment::lock(dir)?;
    let (engine, read, start) = rebuild(dir, Tail::Repair, |_, _| {})?;
    let last = read.last_segment.as_ref().map(|(s, len)| (s.path.as_path(), *len));
    let writer = SegmentWriter::resume(dir, lock, last, config.segment_bytes)?;
    Ok(Recovered { report: report(&engine, &read, start), engine, writer })
}

/// What a rebuild started from.
struct Start {
    snapshot_seq: Option<Seq>,
    refused: Vec<(PathBuf, String)>,
}

fn rebuild(dir: &Path, tail: Tail, progress: impl FnMut(u64, u64)) -> Result<(Engine, ReadReport, Start), JournalError> {
    let (snapshot, refused) = snapshot::newest_valid(dir)?;
    let snapshot_seq = snapshot.as_ref().map(Engine::last_seq);
    let mut engine = snapshot.unwrap_or_default();
    let mut events = Vec::new();
    let apply = |envelope: crate::command::CommandEnvelope| {
        if snapshot_seq.is_some_and(|covered| envelope.seq <= covered) {
            return Ok(());
        }
        events.clear();
        engine.apply(&envelope, &mut events)
    };
    let read = reader::read(dir, tail, apply, progress)?;
    if let (Some(next), Some((last, _))) = (read.next_seq, &read.last_segment) {
        if next != engine.last_seq() + 1 {
            let reason = format!("the journal continues at seq {next} but the state is at seq {}", engine.last_seq());
            return Err(JournalError::Corrupt { path: last.path.clone(), offset: 0, reason });
        }
    }
    Ok((engine, read, Start { snapshot_seq, refused }))
}

fn report(engine: &Engine, read: &ReadReport, start: Start) -> RecoveryReport {
    RecoveryReport {
        frames: read.frames,
        last_seq: engine.last_seq(),
        truncated_bytes: read.torn.as_ref().map_or(0, |t| t.bytes),
        segments: read.segments,
        snapshot_seq: start.snapshot_seq,
        refused_snapshots: start.refused,
    }
}
