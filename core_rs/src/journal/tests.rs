use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::frame::{self, Damage};
use super::segment;
use super::*;
use crate::command::{Command, CommandEnvelope};
use crate::engine::Engine;
use crate::event::Event;
use crate::ids::{Nanos, Seq};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::testkit::{trading_stream as command, Harness, TempDir, TRADING_CYCLE, TRADING_SETUP};

/// Everything sent to a journaled runtime, to check it against a direct replay.
#[derive(Default)]
struct Stream {
    batches: Vec<(Nanos, Vec<Command>)>,
    next: u64,
    /// Every event emitted, as the runtime returned them.
    events: Vec<u8>,
}

impl Stream {
    /// Executes `count` batches of `size` commands and checks that their seqs follow on.
    fn send(&mut self, rt: &Runtime, count: usize, size: u64) {
        for _ in 0..count {
            let commands: Vec<Command> = (self.next..self.next + size).map(command).collect();
            let ts = 1_000 + self.next;
            let outcome = rt.execute(commands.clone(), Some(ts)).expect("executed");
            assert_eq!((outcome.first_seq, outcome.last_seq), (self.next + 1, self.next + size), "contiguous seqs");
            self.next += size;
            self.batches.push((ts, commands));
            self.events.extend_from_slice(&outcome.events);
        }
    }

    /// The state hash of an engine that applied the same batches directly, with no journal (every
    /// command of the stream is accepted there, so each one shows in the hash).
    fn reference_hash(&self) -> [u8; 32] {
        let mut h = Harness::default();
        for (ts, commands) in &self.batches {
            h.now = *ts;
            for c in commands {
                let events = h.send(c.clone());
                assert!(!events.iter().any(|e| matches!(e, Event::OrderRejected { .. })), "{c:?} was rejected: {events:?}");
            }
        }
        h.engine.state_hash()
    }
}

/// The state hash after the first `count` commands of the stream, with `edit` applied to the list.
fn stream_hash(count: u64, edit: impl FnOnce(&mut Vec<Command>)) -> [u8; 32] {
    let mut commands: Vec<Command> = (0..count).map(command).collect();
    edit(&mut commands);
    let mut h = Harness::default();
    for c in commands {
        h.send(c);
    }
    h.engine.state_hash()
}

#[test]
fn test_the_stream_trades_pays_funding_and_liquidates_and_is_never_rejected() {
    let mut h = Harness::default();
    let mut events = Vec::new();
    for i in 0..TRADING_SETUP + 3 * TRADING_CYCLE {
        events.extend(h.send(command(i)));
    }
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::OrderRejected { .. })), 0);
    assert_eq!(count(|e| matches!(e, Event::FundingApplied { .. })), 3);
    assert_eq!(count(|e| matches!(e, Event::LiquidationStarted { account: 3, .. })), 3);
    // Per cycle: account 3's buy, the ETH trade and the liquidation's sale into account 2's bid.
    assert_eq!(count(|e| matches!(e, Event::Trade { .. })), 9);
    assert!(events.iter().any(|e| matches!(e, Event::Trade { maker_account: 2, taker_account: 3, .. })));
}

#[test]
fn test_the_state_hash_catches_a_dropped_or_reordered_command() {
    let count = TRADING_SETUP + 2 * TRADING_CYCLE;
    let reference = stream_hash(count, |_| {});
    // A command replaced by one the engine rejects (same sequence numbers, nothing else applied).
    let rejected = Command::SetLeverage { account: 1, symbol: 99, leverage: 5 };
    for i in 0..count {
        let dropped = stream_hash(count, |c| c[usize::try_from(i).expect("small")] = rejected.clone());
        assert_ne!(dropped, reference, "dropping command {i} went unnoticed");
    }
    let cycle = usize::try_from(TRADING_SETUP + TRADING_CYCLE).expect("small");
    // Pairs whose order matters: deposit and buy, buy and bid (order ids), funding and crash,
    // crash and recovery.
    for (a, b) in [(0, 2), (2, 3), (6, 7), (7, 8)] {
        let swapped = stream_hash(count, |c| c.swap(cycle + a, cycle + b));
        assert_ne!(swapped, reference, "swapping commands {} and {} went unnoticed", cycle + a, cycle + b);
    }
}

fn config(dir: &Path, segment_bytes: u64) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), segment_bytes }
}

fn open(dir: &Path, segment_bytes: u64) -> (Runtime, RecoveryReport) {
    let recovered = recover(&config(dir, segment_bytes)).expect("recovered");
    let rt = Runtime::start(recovered.engine, Box::new(|| 0), RuntimeConfig::default(), Some(Box::new(recovered.writer)));
    (rt, recovered.report)
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    segment::list(dir).expect("listed").into_iter().map(|s| s.path).collect()
}

/// Start offsets of the whole frames of a segment.
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut pos = 0;
    while let Ok((_, end)) = frame::check(bytes, pos) {
        offsets.push(pos);
        pos = end;
    }
    offsets
}

/// A one-segment journal of 20 commands; returns the segment, its bytes and the final hash.
fn small_journal(dir: &Path) -> (PathBuf, Vec<u8>, [u8; 32]) {
    let (rt, _) = open(dir, DEFAULT_SEGMENT_BYTES);
    let mut stream = Stream::default();
    stream.send(&rt, 4, 5);
    let hash = rt.stop().expect("stopped").state_hash();
    let path = segment_paths(dir).pop().expect("one segment");
    let bytes = fs::read(&path).expect("read");
    (path, bytes, hash)
}

#[test]
fn test_frame_round_trip_and_every_flipped_bit_is_detected() {
    for i in 0..6 {
        let envelope = CommandEnvelope { seq: i + 1, ts: 77, command: command(i) };
        let mut bytes = Vec::new();
        frame::encode(&mut bytes, &envelope);
        let (payload, end) = frame::check(&bytes, 0).expect("valid");
        assert_eq!(end, bytes.len());
        assert_eq!(frame::decode(payload), Ok(envelope));
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(frame::check(&flipped, 0).is_err(), "flipping bit {bit} of frame {i} went unnoticed");
        }
        assert_eq!(frame::check(&bytes[..bytes.len() - 1], 0), Err(Damage::Truncated));
        assert_eq!(frame::check(&bytes[..5], 0), Err(Damage::Truncated));
    }
    assert_eq!(frame::check(&[0; 64], 0), Err(Damage::BadLength(0)));
}

#[test]
fn test_torn_tail_is_truncated_and_reported() {
    let mut next_frame = Vec::new();
    frame::encode(&mut next_frame, &CommandEnvelope { seq: 21, ts: 5_000, command: command(21) });
    let mut bad_crc = next_frame.clone();
    *bad_crc.last_mut().expect("non-empty") ^= 0x40;
    let tails: [(&str, Vec<u8>); 4] = [
        ("a frame cut in its payload", next_frame[..30].to_vec()),
        ("a frame cut in its header", next_frame[..5].to_vec()),
        ("zeros the data never reached", vec![0; 4096]),
        ("a last frame whose end never reached the disk", bad_crc),
    ];
    for (what, tail) in tails {
        let dir = TempDir::new("torn");
        let (path, bytes, hash) = small_journal(dir.path());
        fs::write(&path, [bytes.as_slice(), &tail].concat()).expect("written");

        let (engine, report) = replay(dir.path(), |_, _| {}).expect(what);
        assert_eq!((report.frames, report.last_seq, report.truncated_bytes), (20, 20, tail.len() as u64), "{what}");
        assert_eq!(engine.state_hash(), hash, "{what}");
        assert_eq!(fs::metadata(&path).expect("stat").len(), (bytes.len() + tail.len()) as u64, "replay never writes");

        let recovered = recover(&config(dir.path(), DEFAULT_SEGMENT_BYTES)).expect(what);
        assert_eq!((recovered.report.last_seq, recovered.report.truncated_bytes), (20, tail.len() as u64), "{what}");
        assert_eq!(recovered.engine.state_hash(), hash, "{what}");
        assert_eq!(fs::read(&path).expect("read"), bytes, "{what}: truncated to the last whole frame");
        drop(recovered);
        let again = recover(&config(dir.path(), DEFAULT_SEGMENT_BYTES)).expect(what);
        assert_eq!((again.report.last_seq, again.report.truncated_bytes), (20, 0), "{what}");
    }
}

#[test]
fn test_damage_in_the_middle_is_an_error_naming_file_and_offset() {
    // (what, frame index from the start (negative: from the end), byte in the frame, bit)
    let cases: [(&str, isize, usize, u8); 4] = [
        ("a payload bit", 7, 8 + 10, 3),
        ("a length bit making it impossible", 7, 3, 6),
        ("a length bit making the frame swallow the next ones", 7, 1, 1),
        ("a length bit making the second-to-last frame run past the end", -2, 1, 1),
    ];
    for (what, index, byte, bit) in cases {
        let dir = TempDir::new("flip");
        let (path, mut bytes, _) = small_journal(dir.path());
        let offsets = frame_offsets(&bytes);
        let target = if index < 0 { offsets[offsets.len() - index.unsigned_abs()] } else { offsets[index.unsigned_abs()] };
        bytes[target + byte] ^= 1 << bit;
        fs::write(&path, &bytes).expect("written");

        for result in [replay(dir.path(), |_, _| {}).map(|_| ()), recover(&config(dir.path(), DEFAULT_SEGMENT_BYTES)).map(|_| ())] {
            let error = result.expect_err(what);
            match &error {
                JournalError::Corrupt { path: at, offset, .. } => assert_eq!((at, *offset), (&path, target as u64), "{what}"),
                other => panic!("{what}: {other}"),
            }
            let message = error.to_string();
            assert!(message.contains(&segment::file_name(1)) && message.contains(&format!("byte {target}")), "{message}");
        }
        assert_eq!(fs::read(&path).expect("read"), bytes, "{what}: a corrupt journal is never truncated");
    }
}

#[test]
fn test_segments_roll_at_the_size_limit_and_damage_before_the_last_is_never_a_torn_tail() {
    let dir = TempDir::new("roll");
    let limit = 1_000;
    let (rt, _) = open(dir.path(), limit);
    let mut stream = Stream::default();
    stream.send(&rt, 12, 3);
    drop(rt);
    let paths = segment_paths(dir.path());
    assert!(paths.len() >= 3, "{paths:?}");
    let batch_starts: Vec<String> = (0..12).map(|b| segment::file_name(b * 3 + 1)).collect();
    for path in &paths {
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        assert!(batch_starts.iter().any(|s| s == name), "{name} starts at a batch boundary");
        assert!(fs::metadata(path).expect("stat").len() <= limit);
    }
    let (engine, report) = replay(dir.path(), |_, _| {}).expect("replayed");
    assert_eq!((report.frames, report.segments), (36, paths.len()));
    assert_eq!(engine.state_hash(), stream.reference_hash());

    let first = fs::read(&paths[0]).expect("read");
    fs::write(&paths[0], &first[..first.len() - 3]).expect("written");
    let last_frame = *frame_offsets(&first).last().expect("frames");
    match recover(&config(dir.path(), limit)) {
        Err(JournalError::Corrupt { path, offset, .. }) => assert_eq!((path, offset), (paths[0].clone(), last_frame as u64)),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn test_recovery_then_append_then_recovery_again_twice_in_a_row() {
    let dir = TempDir::new("restart");
    let mut stream = Stream::default();
    for round in 0..3 {
        let (rt, report) = open(dir.path(), 1_000);
        assert_eq!((report.frames, report.last_seq, report.truncated_bytes), (stream.next, stream.next, 0), "round {round}");
        stream.send(&rt, 4, 3);
        assert_eq!(rt.query(Engine::state_hash).expect("hash"), stream.reference_hash(), "round {round}");
        drop(rt);
        let idle = recover(&config(dir.path(), 1_000)).expect("recovered without writing");
        assert_eq!(idle.report.last_seq, stream.next, "round {round}");
    }
    let (engine, report) = replay(dir.path(), |_, _| {}).expect("replayed");
    assert_eq!(report.last_seq, 36);
    assert_eq!(engine.state_hash(), stream.reference_hash());
}

#[test]
fn test_a_second_writer_is_locked_out() {
    let dir = TempDir::new("lock");
    let first = recover(&config(dir.path(), DEFAULT_SEGMENT_BYTES)).expect("first writer");
    assert!(matches!(recover(&config(dir.path(), DEFAULT_SEGMENT_BYTES)), Err(JournalError::Locked { .. })));
    assert!(replay(dir.path(), |_, _| {}).is_ok(), "readers need no lock");
    drop(first);
    recover(&config(dir.path(), DEFAULT_SEGMENT_BYTES)).expect("the lock is free again");
}

/// A sink whose every sync waits until the test drops the gate.
struct GatedSink {
    appended: Arc<Mutex<Vec<Seq>>>,
    gate: Receiver<()>,
}

impl JournalSink for GatedSink {
    fn append(&mut self, first_seq: Seq, _frames: &[u8]) -> io::Result<()> {
        self.appended.lock().expect("not poisoned").push(first_seq);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let _ = self.gate.recv();
        Ok(())
    }
}

#[test]
fn test_runtime_releases_nothing_before_the_batch_is_durable_and_groups_syncs() {
    let (open_gate, gate) = channel::<()>();
    let appended = Arc::new(Mutex::new(Vec::new()));
    let sink = GatedSink { appended: Arc::clone(&appended), gate };
    let rt = Arc::new(Runtime::start(Engine::new(), Box::new(|| 1_000), RuntimeConfig::default(), Some(Box::new(sink))));
    // Declared after the runtime so that a failing assertion drops it first: the runtime's drop
    // waits for the journal thread, which would otherwise wait for the gate forever.
    let open_gate = open_gate;
    let pending: Vec<_> = (0..5).map(|i| rt.submit(vec![command(i)], None).expect("submitted")).collect();

    let (computed, applied) = channel();
    let answered = Arc::new(AtomicBool::new(false));
    let query = {
        let (rt, answered) = (Arc::clone(&rt), Arc::clone(&answered));
        std::thread::spawn(move || {
            let seq = rt.query(move |e| {
                computed.send(e.last_seq()).expect("test listening");
                e.last_seq()
            });
            answered.store(true, Ordering::SeqCst);
            seq
        })
    };
    assert_eq!(applied.recv_timeout(Duration::from_secs(10)), Ok(5), "the engine applies on while batch 1 syncs");
    assert!(rt.read_events(0, usize::MAX, Duration::from_millis(50)).expect("read").is_empty(), "no event before durable");
    assert!(!answered.load(Ordering::SeqCst), "no query answer before durable");

    drop(open_gate);
    assert_eq!(query.join().expect("query thread"), Ok(5));
    let seqs: Vec<Seq> = pending.into_iter().map(|p| p.wait().expect("durable").first_seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let appended = appended.lock().expect("not poisoned").clone();
    assert!(appended.first() == Some(&1) && appended.is_sorted(), "appended in order: {appended:?}");
    assert!(!rt.read_events(4, usize::MAX, Duration::ZERO).expect("read").is_empty());
    let stats = rt.journal_stats().expect("journaled");
    assert_eq!(stats.batches, 5);
    assert!(stats.syncs <= 2, "batches queued during a sync share the next one: {stats:?}");
}

/// Writes a snapshot of the running engine into the journal directory.
fn take_snapshot(rt: &Runtime, dir: &Path) -> super::snapshot::SnapshotFile {
    let (body, seq, hash) = rt.query(|e| (e.snapshot(), e.last_seq(), e.state_hash())).expect("queried");
    super::snapshot::write(dir, seq, hash, &body).expect("written")
}

#[test]
fn test_recovery_starts_from_the_newest_valid_snapshot_and_skips_what_it_covers() {
    let dir = TempDir::new("snapshot");
    let mut stream = Stream::default();
    let (rt, _) = open(dir.path(), 600);
    stream.send(&rt, 5, 4);
    let older = take_snapshot(&rt, dir.path());
    stream.send(&rt, 5, 4);
    let newer = take_snapshot(&rt, dir.path());
    stream.send(&rt, 3, 4);
    drop(rt);
    let (rt, report) = open(dir.path(), 600);
    assert_eq!((report.snapshot_seq, report.last_seq), (Some(newer.last_seq), 52));
    assert_eq!(rt.query(Engine::state_hash).expect("hash"), stream.reference_hash());
    drop(rt);
    // A damaged newest snapshot is refused with its reason; the older one is used instead.
    let mut bytes = fs::read(&newer.path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    fs::write(&newer.path, &bytes).expect("written");
    let (engine, report) = replay(dir.path(), |_, _| {}).expect("replayed");
    assert_eq!(report.snapshot_seq, Some(older.last_seq));
    assert_eq!(report.refused_snapshots.len(), 1);
    assert!(report.refused_snapshots[0].1.contains("checksum"), "{:?}", report.refused_snapshots);
    assert_eq!(engine.state_hash(), stream.reference_hash());
}

#[test]
fn test_segments_covered_by_a_snapshot_can_be_archived_and_old_events_read_from_it() {
    let dir = TempDir::new("archive");
    let mut stream = Stream::default();
    let (rt, _) = open(dir.path(), 400);
    stream.send(&rt, 8, 4);
    let snapshot = take_snapshot(&rt, dir.path());
    stream.send(&rt, 2, 4);
    drop(rt);
    let before = segment_paths(dir.path()).len();
    let moved = super::snapshot::archive_covered(dir.path()).expect("archived");
    assert!(!moved.is_empty() && segment_paths(dir.path()).len() == before - moved.len());
    let (engine, report) = replay(dir.path(), |_, _| {}).expect("replayed from the snapshot and the rest");
    assert_eq!((report.snapshot_seq, report.last_seq), (Some(snapshot.last_seq), 40));
    assert_eq!(engine.state_hash(), stream.reference_hash());
    // Old events are served from the snapshot on; before it they are gone, and the error says so.
    let (rt, _) = open(dir.path(), 400);
    let rt = rt.with_history(dir.path());
    let error = rt.read_events(snapshot.last_seq - 1, usize::MAX, Duration::ZERO).expect_err("archived");
    assert_eq!(error, crate::runtime::RuntimeError::Evicted { oldest: snapshot.last_seq + 1 });
    let read = read_all(&rt, snapshot.last_seq, 200).expect("read from the snapshot on");
    assert!(read == events_after(&stream.events, snapshot.last_seq));
    drop(rt);
    // Without the snapshot the archived prefix is missing: recovery refuses, naming the gap.
    fs::remove_file(&snapshot.path).expect("removed");
    let error = replay(dir.path(), |_, _| {}).expect_err("a gap");
    assert!(error.to_string().contains("seq"), "{error}");
}

/// (seq, index, bytes) of each encoded event record.
fn records(bytes: &[u8]) -> Vec<(Seq, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("four bytes")) as usize;
        let seq = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().expect("eight bytes"));
        let index = u32::from_le_bytes(bytes[pos + 12..pos + 16].try_into().expect("four bytes"));
        out.push((seq, index, bytes[pos..pos + 4 + len].to_vec()));
        pos += 4 + len;
    }
    out
}

/// Every event after `after`, read `page` bytes at a time as a consumer would: a page may end
/// inside a command, whose events are then read again from its start and not kept twice.
fn read_all(rt: &Runtime, after: Seq, page: usize) -> Result<Vec<u8>, crate::runtime::RuntimeError> {
    let mut out = Vec::new();
    let mut seen = (after, u32::MAX);
    let mut position = after;
    loop {
        let chunk = records(&rt.read_events(position, page, Duration::ZERO)?);
        let Some(&(last, _, _)) = chunk.last() else { return Ok(out) };
        for (seq, index, bytes) in &chunk {
            if (*seq, *index) > seen {
                out.extend_from_slice(bytes);
                seen = (*seq, *index);
            }
        }
        position = if chunk[0].0 == last { last } else { last - 1 };
    }
}

fn events_after(all: &[u8], after: Seq) -> Vec<u8> {
    records(all).into_iter().filter(|r| r.0 > after).flat_map(|r| r.2).collect()
}

#[test]
fn test_history_serves_the_events_emitted_live_from_any_seq_after_a_restart() {
    let dir = TempDir::new("history");
    let mut stream = Stream::default();
    let (rt, _) = open(dir.path(), 600);
    stream.send(&rt, 6, 4);
    take_snapshot(&rt, dir.path());
    stream.send(&rt, 6, 4);
    drop(rt);
    let (rt, _) = open(dir.path(), 600);
    let rt = rt.with_history(dir.path());
    stream.send(&rt, 2, 4);
    assert!(segment_paths(dir.path()).len() > 2, "the history crosses segment files");
    for after in [0, 1, 17, 24, 25, 47, 48, 55, 56] {
        // A page smaller than one command still holds that command whole, from the journal as
        // from memory.
        let one = rt.read_events(after, 1, Duration::ZERO).expect("read");
        let whole: Vec<u8> = records(&stream.events).into_iter().filter(|r| r.0 == after + 1).flat_map(|r| r.2).collect();
        assert!(one == whole, "after {after}: a one-byte page is not command {} whole", after + 1);
        for page in [1, 300, usize::MAX] {
            let read = read_all(&rt, after, page).expect("read");
            assert!(read == events_after(&stream.events, after), "after {after}, page {page}: not the events emitted live");
        }
    }
    let tail = rt.read_events(56, usize::MAX, Duration::ZERO).expect("read");
    assert!(tail.is_empty(), "nothing after the last command");
}
