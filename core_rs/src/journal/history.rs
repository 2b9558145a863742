//! Events of old sequence numbers, regenerated from the journal for readers behind the in-memory
//! event log (a database projection catching up after a restart, say).
//!
//! The engine is deterministic, so replaying the journal's frames into a separate, read-only
//! engine produces exactly the events emitted live (same bytes: both go through
//! [`crate::event_stream::apply_and_encode`]). A read after seq `A` starts that engine from the
//! newest valid snapshot at or before `A` (or from an empty engine when the journal starts at
//! seq 1), replays silently up to `A`, then encodes the events of the commands after it. The
//! engine and its position in the files are kept between calls, so a reader paging forward costs
//! one pass over the journal; they are dropped once the reader reaches the end of the range asked
//! for (the caller goes on from memory).
//!
//! Invariants: only frames up to `upto`, which the caller knows to be durable, are read, so a
//! partial or damaged frame there is corruption, never a torn tail; nothing is written; the live
//! engine is never touched. Segments moved to `archive/` are no longer read: a point older than the
//! oldest snapshot or segment left in the directory is [`HistoryError::Unavailable`].

use std::fmt;
use std::path::{Path, PathBuf};

use super::frame_stream::FrameStream;
use super::{segment, snapshot, JournalError};
use crate::engine::Engine;
use crate::event_stream::apply_and_encode;
use crate::ids::Seq;

/// Why old events cannot be served.
#[derive(Debug)]
pub enum HistoryError {
    /// No snapshot or segment left in the directory reaches back that far.
    Unavailable {
        /// The oldest `after` that can still be read, plus one (`Seq::MAX` when none can).
        oldest: Seq,
    },
    /// The journal could not be read, or its frames do not replay.
    Journal(JournalError),
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { oldest } => write!(f, "events before seq {oldest} are no longer in the journal (archived)"),
            Self::Journal(e) => e.fmt(f),
        }
    }
}

impl From<JournalError> for HistoryError {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

/// The history reader of one journal directory.
#[derive(Debug)]
pub struct History {
    dir: PathBuf,
    cursor: Option<Cursor>,
}

#[derive(Debug)]
struct Cursor {
    engine: Engine,
    frames: FrameStream,
}

impl History {
    /// A reader of the journal in `dir` (nothing is opened until the first read).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), cursor: None }
    }

    /// Encoded events of the commands `after + 1 ..= upto` (all durable in the journal), whole
    /// commands, stopping after the command that takes the output to `max_bytes` or beyond. Empty
    /// when those commands emitted no event.
    ///
    /// # Errors
    /// [`HistoryError::Unavailable`] when the directory no longer reaches back to `after`;
    /// [`HistoryError::Journal`] for a file that cannot be read or a frame that does not replay.
    pub fn read(&mut self, after: Seq, upto: Seq, max_bytes: usize) -> Result<Vec<u8>, HistoryError> {
        if self.cursor.as_ref().is_none_or(|c| c.engine.last_seq() > after) {
            self.cursor = None;
            self.cursor = Some(Cursor::open(&self.dir, after)?);
        }
        let cursor = self.cursor.as_mut().expect("opened above");
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        while cursor.engine.last_seq() < upto && out.len() < max_bytes {
            let envelope =
                cursor.frames.next_envelope()?.ok_or_else(|| cursor.frames.corrupt(format!("the journal ends before seq {upto}")))?;
            let mut discard = Vec::new();
            let sink = if envelope.seq <= after { &mut discard } else { &mut out };
            apply_and_encode(&mut cursor.engine, &envelope, &mut scratch, sink).map_err(|e| cursor.frames.corrupt(e.to_string()))?;
        }
        if cursor.engine.last_seq() >= upto {
            self.cursor = None;
        }
        Ok(out)
    }
}

impl Cursor {
    fn open(dir: &Path, after: Seq) -> Result<Self, HistoryError> {
        let (engine, frames) = open_at(dir, after)?;
        Ok(Self { engine, frames })
    }
}

/// An engine at or before `after` (the newest valid snapshot whose next frame is still in the
/// directory, or an empty engine when the journal starts at seq 1) and the frames after it.
///
/// # Errors
/// As [`History::read`].
pub fn open_at(dir: &Path, after: Seq) -> Result<(Engine, FrameStream), HistoryError> {
    let segments = segment::list(dir)?;
    let Some(first_seq) = segments.first().map(|s| s.first_seq) else {
        return Err(HistoryError::Unavailable { oldest: Seq::MAX });
    };
    let usable: Vec<_> = snapshot::list(dir)?.into_iter().filter(|s| s.last_seq + 1 >= first_seq).collect();
    let restored = usable.iter().filter(|s| s.last_seq <= after).find_map(|s| snapshot::load(s).ok());
    let engine = match restored {
        Some(engine) => engine,
        None if first_seq == 1 => Engine::new(),
        None => {
            let oldest = usable.iter().map(|s| s.last_seq + 1).min().unwrap_or(Seq::MAX);
            return Err(HistoryError::Unavailable { oldest });
        }
    };
    let frames = FrameStream::at(dir, engine.last_seq() + 1)?;
    Ok((engine, frames))
}
