use std::net::TcpListener;
use std::time::Duration;

use super::*;
use crate::command::Command;
use crate::engine::Engine;
use crate::ids::Seq;
use crate::journal::{recover, replay, JournalConfig};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::testkit::{trading_stream, TempDir};

/// Batch `i`: the first command of the trading stream, then two at a time (every command is
/// accepted and changes the state, so a follower that lost or reordered one would differ).
fn batch(i: u64) -> Vec<Command> {
    if i == 0 {
        return vec![trading_stream(0)];
    }
    vec![trading_stream(2 * i - 1), trading_stream(2 * i)]
}

fn primary(dir: &TempDir, follower: &str, mode: Mode) -> Runtime {
    let recovered = recover(&JournalConfig::new(dir.path())).expect("recovered");
    let (sink, _) = sink(recovered.writer, dir.path(), recovered.report.last_seq, Some((follower, mode)));
    Runtime::start(recovered.engine, Box::new(|| 1), RuntimeConfig::default(), Some(sink))
}

fn follower(dir: &TempDir, listen: &str) -> Follower {
    let recovered = recover(&JournalConfig::new(dir.path())).expect("recovered");
    Follower::start(recovered.engine, recovered.writer, listen, true).expect("listening")
}

fn wait_for(follower: &Follower, seq: Seq) -> FollowerStatus {
    for _ in 0..200 {
        let status = follower.wait(seq - 1, Duration::from_millis(50));
        if status.last_seq >= seq {
            return status;
        }
    }
    panic!("the follower never reached seq {seq}");
}

#[test]
fn test_sync_mode_acknowledges_only_what_the_follower_made_durable_and_promotion_continues() {
    let (primary_dir, follower_dir) = (TempDir::new("primary"), TempDir::new("follower"));
    let standby = follower(&follower_dir, "127.0.0.1:0");
    let rt = primary(&primary_dir, &standby.address().to_string(), Mode::Sync);
    for i in 0..30 {
        let outcome = rt.execute(batch(i), None).expect("acknowledged");
        let status = standby.wait(0, Duration::ZERO);
        assert!(
            status.durable_seq >= outcome.last_seq,
            "seq {} acknowledged but the follower has {}",
            outcome.last_seq,
            status.durable_seq
        );
    }
    let hash = rt.query(Engine::state_hash).expect("hash");
    let status = wait_for(&standby, 59);
    assert_eq!(status.state_hash, Some(hash), "the follower reports the primary's state hash");
    let (engine, writer) = standby.promote().expect("promoted while the primary is still connected");
    drop(rt);
    assert_eq!(engine.state_hash(), hash);
    let promoted = Runtime::start(engine, Box::new(|| 2), RuntimeConfig::default(), Some(Box::new(writer)));
    let next = promoted.execute(batch(30), None).expect("the promoted follower takes commands");
    assert_eq!(next.first_seq, 60, "the sequence continues");
    let hash = promoted.query(Engine::state_hash).expect("hash");
    drop(promoted);
    assert_eq!(replay(follower_dir.path(), |_, _| {}).expect("replayed").0.state_hash(), hash);
}

#[test]
fn test_a_follower_that_starts_late_catches_up_from_the_primary_journal() {
    let (primary_dir, follower_dir) = (TempDir::new("primary-late"), TempDir::new("follower-late"));
    let address = TcpListener::bind("127.0.0.1:0").expect("bound").local_addr().expect("address").to_string();
    let rt = primary(&primary_dir, &address, Mode::Async);
    for i in 0..20 {
        rt.execute(batch(i), None).expect("acknowledged without a follower in async mode");
    }
    let standby = follower(&follower_dir, &address);
    let status = wait_for(&standby, 39);
    assert_eq!(status.state_hash, Some(rt.query(Engine::state_hash).expect("hash")));
    // It stops and comes back later with its journal: it says where it is and gets the rest.
    drop(standby.promote().expect("stopped"));
    for i in 20..25 {
        rt.execute(batch(i), None).expect("acknowledged");
    }
    let standby = follower(&follower_dir, &address);
    let status = wait_for(&standby, 49);
    assert_eq!(status.state_hash, Some(rt.query(Engine::state_hash).expect("hash")));
}

#[test]
fn test_promotion_while_the_primary_streams_hands_back_exactly_the_journal() {
    let (primary_dir, follower_dir) = (TempDir::new("primary-busy"), TempDir::new("follower-busy"));
    let standby = follower(&follower_dir, "127.0.0.1:0");
    let rt = std::sync::Arc::new(primary(&primary_dir, &standby.address().to_string(), Mode::Async));
    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (writer_rt, running) = (std::sync::Arc::clone(&rt), std::sync::Arc::clone(&streaming));
    let writer = std::thread::spawn(move || {
        let mut i = 0;
        while running.load(std::sync::atomic::Ordering::SeqCst) {
            writer_rt.execute(batch(i), None).expect("acknowledged");
            i += 1;
        }
    });
    wait_for(&standby, 100);
    let (engine, journal) = standby.promote().expect("promoted mid-stream");
    streaming.store(false, std::sync::atomic::Ordering::SeqCst);
    writer.join().expect("writer");
    drop(journal);
    let (replayed, _) = replay(follower_dir.path(), |_, _| {}).expect("replayed");
    assert_eq!((replayed.last_seq(), replayed.state_hash()), (engine.last_seq(), engine.state_hash()));
}
