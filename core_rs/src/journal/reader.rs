//! Reads every frame of a journal directory in sequence order, and tells a torn tail (a crash in
//! the middle of a write, expected) from corruption (never expected, never skipped).
//!
//! The first invalid frame at offset `X` of a segment (truncated, impossible length or CRC
//! mismatch) is a **torn tail** only when all of these hold:
//! - it is in the last segment (earlier segments were synced whole before the next was created);
//! - its length is plausible or zero (a partial write leaves the header it wrote, or zeros);
//! - no valid frame starts anywhere after `X` (a torn write leaves nothing valid behind it).
//!
//! The bytes from `X` on were never acknowledged: [`Tail::Repair`] truncates the file to `X` and
//! syncs it, [`Tail::Keep`] only reports them. Anything else is [`JournalError::Corrupt`] naming the
//! file and `X`, and reading stops there. Limitations, both on the safe side of "never drop an
//! acknowledged frame silently": damage to the very last frame alone looks exactly like a torn
//! write and is truncated (the report names the bytes); and after a power loss, a last group whose
//! pages reached the disk out of order (a hole, then valid frames) is reported as corruption, so
//! recovery stops for an operator instead of guessing.
//!
//! Frames must carry contiguous sequence numbers across segments, and each segment's name must be
//! the sequence number of its first frame.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::frame::{self, Damage};
use super::segment::{self, Segment};
use super::JournalError;
use crate::command::CommandEnvelope;
use crate::ids::Seq;

const PROGRESS_STEP: u64 = 4 << 20;

/// What to do with a torn tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Truncate the last segment to its last whole frame and sync it (before appending).
    Repair,
    /// Leave the files untouched (read-only replay); the tail is only reported.
    Keep,
}

/// The incomplete end of the last segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Offset of the first byte that is not part of a whole frame.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
}

/// What a read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Whole frames read.
    pub frames: u64,
    /// Segment files read.
    pub segments: usize,
    /// The sequence number the next frame must carry (none for an empty directory).
    pub next_seq: Option<Seq>,
    /// The last segment and its length up to the last whole frame: where appending resumes.
    pub last_segment: Option<(Segment, u64)>,
    /// The torn tail, when there was one.
    pub torn: Option<TornTail>,
}

/// Reads every frame of `dir` in order, handing each envelope to `visit`, and reports progress as
/// (bytes read, bytes in all segments).
///
/// # Errors
/// [`JournalError::Io`] for a file that cannot be read (or repaired); [`JournalError::Corrupt`]
/// for a damaged frame that is not a torn tail, a sequence gap, a segment name that does not match
/// its first frame, or a `visit` refusal (its message becomes the reason).
pub fn read<E: fmt::Display>(
    dir: &Path,
    tail: Tail,
    mut visit: impl FnMut(CommandEnvelope) -> Result<(), E>,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReadReport, JournalError> {
    let segments = segment::list(dir)?;
    let mut sizes = Vec::with_capacity(segments.len());
    for s in &segments {
        sizes.push(fs::metadata(&s.path).map_err(|e| JournalError::io(&s.path, e))?.len());
    }
    let total: u64 = sizes.iter().sum();
    let mut report = ReadReport { segments: segments.len(), ..ReadReport::default() };
    let mut done = 0;
    let mut next_report = 0;
    for (index, seg) in segments.iter().enumerate() {
        let first = report.next_seq.unwrap_or(seg.first_seq);
        if seg.first_seq != first {
            return Err(corrupt(seg, 0, format!("segment named after seq {} but the journal continues at {first}", seg.first_seq)));
        }
        let bytes = fs::read(&seg.path).map_err(|e| JournalError::io(&seg.path, e))?;
        let mut next = first;
        let valid = read_frames(seg, &bytes, index + 1 == segments.len(), &mut next, &mut visit, |pos| {
            if done + pos >= next_report {
                progress(done + pos, total);
                next_report = done + pos + PROGRESS_STEP;
            }
        })?;
        report.frames += next - first;
        report.next_seq = Some(next);
        let torn = bytes.len() as u64 - valid;
        if torn > 0 {
            report.torn = Some(TornTail { path: seg.path.clone(), offset: valid, bytes: torn });
            if tail == Tail::Repair {
                truncate(&seg.path, valid)?;
            }
        }
        done += sizes[index];
        progress(done, total);
        report.last_segment = Some((seg.clone(), valid));
    }
    Ok(report)
}

/// Visits the whole frames of one segment from seq `next` on (advancing it) and returns the
/// length they cover; in the last segment, stops at a torn tail.
fn read_frames<E: fmt::Display>(
    seg: &Segment,
    bytes: &[u8],
    is_last: bool,
    next: &mut Seq,
    visit: &mut impl FnMut(CommandEnvelope) -> Result<(), E>,
    mut at: impl FnMut(u64),
) -> Result<u64, JournalError> {
    let mut pos = 0;
    while pos < bytes.len() {
        let (payload, end) = match frame::check(bytes, pos) {
            Ok(frame) => frame,
            Err(damage) if is_last => match refute_tear(bytes, pos, damage) {
                Some(reason) => return Err(corrupt(seg, pos, reason)),
                None => break,
            },
            Err(damage) => return Err(corrupt(seg, pos, damage.to_string())),
        };
        let envelope = frame::decode(payload).map_err(|e| corrupt(seg, pos, format!("undecodable frame: {e}")))?;
        if envelope.seq != *next {
            return Err(corrupt(seg, pos, format!("frame has seq {}, expected {next}", envelope.seq)));
        }
        visit(envelope).map_err(|e| corrupt(seg, pos, e.to_string()))?;
        *next += 1;
        pos = end;
        at(pos as u64);
    }
    Ok(pos as u64)
}

fn corrupt(seg: &Segment, offset: usize, reason: String) -> JournalError {
    JournalError::Corrupt { path: seg.path.clone(), offset: offset as u64, reason }
}

/// Why the damaged frame at `pos` of the last segment cannot be a torn write, if it cannot.
fn refute_tear(bytes: &[u8], pos: usize, damage: Damage) -> Option<String> {
    if matches!(damage, Damage::BadLength(len) if len != 0) {
        return Some(damage.to_string());
    }
    (pos + 1..bytes.len())
        .find(|&p| frame::check(bytes, p).is_ok())
        .map(|next| format!("{damage} followed by a valid frame at byte {next}"))
}

fn truncate(path: &Path, len: u64) -> Result<(), JournalError> {
    let file = OpenOptions::new().write(true).open(path).map_err(|e| JournalError::io(path, e))?;
    file.set_len(len).and_then(|()| file.sync_all()).map_err(|e| JournalError::io(path, e))
}
