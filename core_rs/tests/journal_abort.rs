//! An fsync error stops the process (fsyncgate): the journal thread aborts instead of carrying on
//! as if the data were safe. The test runs itself again as a child process, because the abort
//! kills it; it lives in its own test binary so that no other test's files are open when it forks.

#![cfg(unix)]

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use derivatives_core::ids::Seq;
use derivatives_core::journal::{GroupCommit, JournalSink};

const CHILD: &str = "DERIVATIVES_JOURNAL_ABORT_CHILD";
const SIGABRT: i32 = 6;

/// A sink whose sync fails like a disk returning EIO.
struct FailingSink;

impl JournalSink for FailingSink {
    fn append(&mut self, _first_seq: Seq, _frames: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Err(io::Error::other("injected EIO"))
    }
}

#[test]
fn test_a_sync_error_aborts_the_process_before_anything_is_released() {
    if std::env::var_os(CHILD).is_some() {
        let journal = GroupCommit::start(Box::new(FailingSink), 4);
        let released = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&released);
        journal.submit(1, vec![0; 32], Box::new(move || flag.store(true, Ordering::SeqCst)));
        journal.finish();
        println!("survived the sync error; released: {}", released.load(Ordering::SeqCst));
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let output = Command::new(exe)
        .args(["--exact", "test_a_sync_error_aborts_the_process_before_anything_is_released", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .expect("child ran");
    assert_eq!(output.status.signal(), Some(SIGABRT), "abort expected: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("journal fdatasync failed: injected EIO"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("survived"));
}
