//! Why a journal could not be read or opened. Every variant names the file, and corruption the
//! byte offset, so an operator can look at the exact spot.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A journal that cannot be read, repaired or opened for appending.
#[derive(Debug)]
pub enum JournalError {
    /// The operating system refused a file operation.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A frame is damaged where a torn write cannot explain it, or the frames are not a
    /// contiguous, replayable sequence. Nothing after it is read.
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad frame in that file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the journal directory open for writing.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl JournalError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "journal I/O error on {}: {source}", path.display()),
            Self::Corrupt { path, offset, reason } => {
                write!(f, "journal corrupt: {} at byte {offset}: {reason}", path.display())
            }
            Self::Locked { path } => write!(f, "journal in use by another process (lock {})", path.display()),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Corrupt { .. } | Self::Locked { .. } => None,
        }
    }
}
