use super::*;
use crate::codec::{decode_batch, Reader};
use crate::order::Side;
use crate::testkit::{dec, instrument, limit, px, qty};
use crate::units::Quote;

fn listing_and_funding() -> Vec<Command> {
    vec![Command::AddInstrument(instrument(1, "BTCUSDT")), Command::Deposit { account: 7, amount: Quote(dec("1000000")) }]
}

fn clock_from(times: Vec<Nanos>) -> Clock {
    let mut times = times.into_iter();
    Box::new(move || times.next().unwrap_or(0))
}

fn decode_events(bytes: &[u8]) -> Vec<(Seq, u32, Event)> {
    decode_batch(bytes, |r: &mut Reader<'_>| r.event_envelope().map(|e| (e.seq, e.index, e.event))).unwrap()
}

#[test]
fn test_batches_are_sequenced_and_their_events_returned() {
    let rt = Runtime::start(Engine::new(), clock_from(vec![10, 5]), RuntimeConfig::default(), None);
    let first = rt.execute(listing_and_funding(), None).unwrap();
    assert_eq!((first.first_seq, first.last_seq, first.ts), (1, 2, 10));
    let order = limit(7, 1, Side::Buy, px("100"), qty("1"));
    let second = rt.execute(vec![Command::PlaceOrder(order), Command::PlaceOrder(order)], None).unwrap();
    assert_eq!((second.first_seq, second.last_seq), (3, 4));
    assert_eq!(second.ts, 10, "the clock went back to 5 but time never decreases");
    let events = decode_events(&second.events);
    assert_eq!(events.len(), 4);
    assert_eq!(events[0], (3, 0, Event::OrderAccepted { order_id: 1, order }));
    assert_eq!(events[3].0, 4);
    let resting = rt.query(|e| e.market(1).map(|m| m.book.len())).unwrap();
    assert_eq!(resting, Some(2));
    let engine = rt.stop().unwrap();
    assert_eq!(engine.last_seq(), 4);
}

#[test]
fn test_event_log_serves_readers_from_any_retained_sequence() {
    let config = RuntimeConfig { queue_depth: 4, event_log_bytes: 800 };
    let rt = Runtime::start(Engine::new(), clock_from(vec![1; 100]), config, None);
    rt.execute(listing_and_funding(), None).unwrap();
    let after_setup = rt.read_events(2, usize::MAX, Duration::ZERO).unwrap();
    assert!(after_setup.is_empty());
    for _ in 0..3 {
        rt.execute(vec![Command::PlaceOrder(limit(7, 1, Side::Sell, px("100"), qty("1")))], None).unwrap();
    }
    let seqs: Vec<Seq> = decode_events(&rt.read_events(3, usize::MAX, Duration::ZERO).unwrap()).iter().map(|e| e.0).collect();
    assert_eq!(seqs, vec![4, 4, 5, 5]);
    for _ in 0..10 {
        rt.execute(vec![Command::PlaceOrder(limit(7, 1, Side::Sell, px("100"), qty("1")))], None).unwrap();
    }
    assert!(matches!(rt.read_events(0, usize::MAX, Duration::ZERO), Err(RuntimeError::Evicted { .. })));
    let limited = rt.read_events(10, 1, Duration::ZERO).unwrap();
    let seqs: Vec<Seq> = decode_events(&limited).iter().map(|e| e.0).collect();
    assert_eq!(seqs, vec![11, 11], "one whole command even when over the byte limit");
}

#[test]
fn test_reader_waits_for_new_events() {
    let rt = std::sync::Arc::new(Runtime::start(Engine::new(), system_clock(), RuntimeConfig::default(), None));
    let writer = std::sync::Arc::clone(&rt);
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        writer.execute(vec![Command::AddInstrument(instrument(1, "BTCUSDT"))], None).unwrap();
    });
    let bytes = rt.read_events(0, usize::MAX, Duration::from_secs(5)).unwrap();
    assert_eq!(decode_events(&bytes), vec![(1, 0, Event::InstrumentUpdated { symbol: 1 })]);
    handle.join().unwrap();
}
