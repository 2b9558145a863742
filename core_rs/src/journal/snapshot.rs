//! Snapshot files beside the journal segments: `snapshot-<last seq, 20 digits>.snap`.
//!
//! File layout: magic `DRVSNAPF`, `last_seq: u64`, `state_hash: [u8; 32]`, `len: u64`,
//! `crc32: u32` of the body, then the body ([`Engine::snapshot`] bytes).
//!
//! Invariants: a snapshot file is written to a temporary name, synced, renamed, and the directory
//! synced, so a crash leaves either the whole file or none; a snapshot is used for recovery only if
//! its checksum holds, it restores, and the restored engine's state hash equals the stored one —
//! otherwise the next older one is tried, and with none the journal is replayed from seq 1.
//! Segments wholly covered by the newest valid snapshot may be moved to `archive/` (never deleted).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{segment, JournalError};
use crate::engine::Engine;
use crate::ids::Seq;

const MAGIC: &[u8; 8] = b"DRVSNAPF";
const HEADER: usize = 8 + 8 + 32 + 8 + 4;

/// A snapshot written to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Its path.
    pub path: PathBuf,
    /// Sequence number of the last command it contains.
    pub last_seq: Seq,
    /// Size in bytes.
    pub bytes: u64,
}

fn name(last_seq: Seq) -> String {
    format!("snapshot-{last_seq:020}.snap")
}

/// Writes `body` (an [`Engine::snapshot`] taken at `last_seq` with `state_hash`) atomically.
///
/// # Errors
/// [`JournalError::Io`] when the file cannot be written, synced or renamed.
pub fn write(dir: &Path, last_seq: Seq, state_hash: [u8; 32], body: &[u8]) -> Result<SnapshotFile, JournalError> {
    let path = dir.join(name(last_seq));
    let temporary = dir.join(format!("{}.tmp", name(last_seq)));
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&last_seq.to_le_bytes());
    bytes.extend_from_slice(&state_hash);
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    bytes.extend_from_slice(body);
    let io = |e| JournalError::io(&path, e);
    let mut file = fs::File::create(&temporary).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&temporary, &path).map_err(io)?;
    segment::sync_dir(dir).map_err(io)?;
    Ok(SnapshotFile { path, last_seq, bytes: bytes.len() as u64 })
}

/// Snapshot files in `dir`, newest first.
///
/// # Errors
/// [`JournalError::Io`] when the directory cannot be listed.
pub fn list(dir: &Path) -> Result<Vec<SnapshotFile>, JournalError> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for entry in fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))? {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        let file_name = entry.file_name();
        let Some(seq) = file_name.to_str().and_then(|n| n.strip_prefix("snapshot-")).and_then(|n| n.strip_suffix(".snap")) else {
            continue;
        };
        let Ok(last_seq) = seq.parse::<Seq>() else { continue };
        let bytes = entry.metadata().map_err(|e| JournalError::io(entry.path(), e))?.len();
        out.push(SnapshotFile { path: entry.path(), last_seq, bytes });
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.last_seq));
    Ok(out)
}

/// Reads and verifies one snapshot file: the restored engine, or why it must not be used.
///
/// # Errors
/// The reason the file is refused (unreadable, checksum, restore, seq or state hash mismatch).
pub fn load(file: &SnapshotFile) -> Result<Engine, String> {
    let bytes = fs::read(&file.path).map_err(|e| e.to_string())?;
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err("not a snapshot file".into());
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let stored_seq = word(8);
    let mut hash = [0_u8; 32];
    hash.copy_from_slice(&bytes[16..48]);
    let len = usize::try_from(word(48)).map_err(|_| "length too large")?;
    let crc = u32::from_le_bytes(bytes[56..60].try_into().expect("four bytes"));
    let body = bytes.get(HEADER..).filter(|b| b.len() == len).ok_or("truncated body")?;
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let engine = Engine::restore(body).map_err(|e| e.to_string())?;
    if engine.last_seq() != stored_seq || stored_seq != file.last_seq {
        return Err("sequence number mismatch".into());
    }
    if engine.state_hash() != hash {
        return Err("state hash mismatch after restore".into());
    }
    Ok(engine)
}

/// Snapshot files refused for recovery, with the reason.
pub type Refused = Vec<(PathBuf, String)>;

/// The newest snapshot that verifies, as a restored engine, and the files skipped on the way with
/// the reason each was refused.
///
/// # Errors
/// [`JournalError::Io`] when the directory cannot be listed.
pub fn newest_valid(dir: &Path) -> Result<(Option<Engine>, Refused), JournalError> {
    let mut refused = Vec::new();
    for file in list(dir)? {
        match load(&file) {
            Ok(engine) => return Ok((Some(engine), refused)),
            Err(reason) => refused.push((file.path, reason)),
        }
    }
    Ok((None, refused))
}

/// Moves every segment wholly covered by the newest valid snapshot into `dir/archive/`; returns
/// the moved paths.
///
/// # Errors
/// [`JournalError::Io`] when a file cannot be moved.
pub fn archive_covered(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let (Some(engine), _) = newest_valid(dir)? else { return Ok(Vec::new()) };
    let covered = engine.last_seq();
    let segments = segment::list(dir)?;
    let archive = dir.join("archive");
    let mut moved = Vec::new();
    for pair in segments.windows(2) {
        // A segment ends just before the next one starts.
        if pair[1].first_seq <= covered + 1 {
            fs::create_dir_all(&archive).map_err(|e| JournalError::io(&archive, e))?;
            let target = archive.join(pair[0].path.file_name().unwrap_or_default());
            fs::rename(&pair[0].path, &target).map_err(|e| JournalError::io(&pair[0].path, e))?;
            moved.push(target);
        }
    }
    if !moved.is_empty() {
        segment::sync_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    }
    Ok(moved)
}
