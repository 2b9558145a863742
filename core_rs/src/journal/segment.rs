//! Segment files and the directory around them.
//!
//! A journal directory holds `journal-<first_seq>.log` files, `first_seq` in 20 decimal digits so
//! that names sort like numbers, plus `journal.lock`, locked (`flock`) by the one process that
//! appends. Other files are ignored; a file that looks like a segment but has a malformed name is
//! an error, not something to skip.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use super::JournalError;
use crate::ids::Seq;

const PREFIX: &str = "journal-";
const SUFFIX: &str = ".log";
const DIGITS: usize = 20;
const LOCK_FILE: &str = "journal.lock";

/// One segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its path.
    pub path: PathBuf,
    /// Sequence number of its first frame, from its name.
    pub first_seq: Seq,
}

/// The file name of the segment whose first frame is `first_seq`.
#[must_use]
pub fn file_name(first_seq: Seq) -> String {
    format!("{PREFIX}{first_seq:0DIGITS$}{SUFFIX}")
}

fn parse(name: &str) -> Option<Seq> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments of `dir`, ascending by first sequence number.
///
/// # Errors
/// [`JournalError::Io`] when the directory cannot be listed; [`JournalError::Corrupt`] for a
/// `journal-*.log` file whose name is not a 20-digit sequence number.
pub fn list(dir: &Path) -> Result<Vec<Segment>, JournalError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))? {
        let path = entry.map_err(|e| JournalError::io(dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) {
            continue;
        }
        let Some(first_seq) = parse(name) else {
            return Err(JournalError::Corrupt { path, offset: 0, reason: "malformed segment file name".into() });
        };
        segments.push(Segment { path, first_seq });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// Makes the directory's entries (created or removed files) durable.
///
/// # Errors
/// The I/O error of opening or syncing the directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Takes the exclusive writer lock of `dir`; it is held while the returned file is open (the
/// operating system releases it when the process dies, even by SIGKILL).
///
/// # Errors
/// [`JournalError::Locked`] when another open file description holds it, or the I/O error.
pub fn lock(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| JournalError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(JournalError::Locked { path }),
        Err(TryLockError::Error(e)) => Err(JournalError::io(&path, e)),
    }
}
