//! Appends frames to the last segment, and rolls to a new segment at a size limit.
//!
//! Invariants:
//! - a segment is synced before the next one is created, and the directory is synced right after
//!   a segment is created, so a crash can tear only the tail of the last segment;
//! - the frames of one batch never straddle two segments; a segment is rolled before a batch that
//!   would take it past the limit (a single larger batch gets a segment of its own);
//! - the writer holds the directory lock for as long as it lives.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::group_commit::JournalSink;
use super::segment;
use super::JournalError;
use crate::ids::Seq;

#[derive(Debug)]
struct Current {
    file: File,
    path: PathBuf,
    len: u64,
}

/// The journal's appender: the [`JournalSink`] of a journal directory.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: PathBuf,
    segment_bytes: u64,
    current: Option<Current>,
    _lock: File,
}

fn at(path: &Path, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl SegmentWriter {
    /// Resumes appending in `dir` (whose lock is `lock`) after recovery: to `last`, the last
    /// segment and its length (already repaired), or to a new segment at the first append.
    ///
    /// # Errors
    /// [`JournalError::Io`] when the last segment cannot be opened for appending.
    pub fn resume(dir: &Path, lock: File, last: Option<(&Path, u64)>, segment_bytes: u64) -> Result<Self, JournalError> {
        let current = match last {
            None => None,
            Some((path, len)) => {
                let file = OpenOptions::new().append(true).open(path).map_err(|e| JournalError::io(path, e))?;
                Some(Current { file, path: path.to_path_buf(), len })
            }
        };
        Ok(Self { dir: dir.to_path_buf(), segment_bytes, current, _lock: lock })
    }

    fn roll(&mut self, first_seq: Seq) -> io::Result<()> {
        if let Some(current) = &self.current {
            current.file.sync_data().map_err(|e| at(&current.path, &e))?;
        }
        let path = self.dir.join(segment::file_name(first_seq));
        let file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| at(&path, &e))?;
        segment::sync_dir(&self.dir).map_err(|e| at(&self.dir, &e))?;
        self.current = Some(Current { file, path, len: 0 });
        Ok(())
    }
}

impl JournalSink for SegmentWriter {
    fn append(&mut self, first_seq: Seq, frames: &[u8]) -> io::Result<()> {
        let size = frames.len() as u64;
        if self.current.as_ref().is_none_or(|c| c.len > 0 && c.len + size > self.segment_bytes) {
            self.roll(first_seq)?;
        }
        let current = self.current.as_mut().expect("a segment is open after rolling");
        current.file.write_all(frames).map_err(|e| at(&current.path, &e))?;
        current.len += size;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        match &self.current {
            Some(current) => current.file.sync_data().map_err(|e| at(&current.path, &e)),
            None => Ok(()),
        }
    }
}
