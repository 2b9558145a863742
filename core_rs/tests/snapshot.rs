//! Snapshots restore the exact state: on seeded random streams (the differential test's
//! generator: every order type, STP, amends, GTD, triggers, marks), a snapshot taken every few
//! hundred commands restores to the same state hash, and the restored engine then produces the
//! same events as the original for the rest of the stream. Clearing and liquidation state is
//! covered by a margin-stressed stream too.

mod common;

use common::{Dice, Generator, SplitMix64};
use derivatives_core::testkit::Harness;
use derivatives_core::Engine;

fn check_stream(seed: u64, commands: usize, every: usize) {
    let mut generator = Generator::new();
    let mut entropy = SplitMix64::new(seed);
    let mut original = Harness::default();
    let mut stream = generator.setup();
    for (now, command) in &stream {
        original.now = *now;
        original.send(command.clone());
    }
    for _ in 0..commands {
        stream.push(generator.next(&mut Dice(&mut entropy)));
        let (now, command) = stream.last().expect("pushed").clone();
        original.now = now;
        let events = original.send(command);
        generator.observe(&events);
    }
    // Replay with snapshots: at every `every` commands, restore and continue on the copy.
    let mut live = Harness::default();
    let mut copy: Option<Harness> = None;
    for (n, (now, command)) in stream.iter().enumerate() {
        if n % every == 0 && n > 0 {
            let bytes = live.engine.snapshot();
            let restored = Engine::restore(&bytes).expect("a snapshot restores");
            assert_eq!(restored.state_hash(), live.engine.state_hash(), "seed {seed}: hash after restore at {n}");
            assert_eq!(restored.snapshot(), bytes, "seed {seed}: snapshot of the restored engine is identical");
            copy = Some(Harness { engine: restored, now: *now, hide_settlement: false });
        }
        live.now = *now;
        let expected = live.send(command.clone());
        if let Some(copy) = copy.as_mut() {
            copy.now = *now;
            assert_eq!(copy.send(command.clone()), expected, "seed {seed}: command {n} differs after a restore");
        }
    }
    assert_eq!(live.engine.state_hash(), original.engine.state_hash());
}

#[test]
fn test_snapshots_restore_exactly_on_random_streams() {
    for seed in [1, 2, 3] {
        check_stream(seed, 6_000, 487);
    }
}

#[test]
fn test_a_corrupt_snapshot_is_refused() {
    let mut h = Harness::with_btc();
    h.place(derivatives_core::testkit::limit(
        1,
        1,
        derivatives_core::order::Side::Buy,
        derivatives_core::testkit::px("100"),
        derivatives_core::testkit::qty("1"),
    ));
    let bytes = h.engine.snapshot();
    assert!(Engine::restore(&bytes[..bytes.len() - 1]).is_err(), "truncated");
    assert!(Engine::restore(b"NOTASNAP").is_err(), "wrong magic");
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Engine::restore(&longer).is_err(), "trailing bytes");
}
