//! Round trips, strict decoding, and the vectors in `tests/codec_vectors.txt` shared with the
//! Python codec (`UPDATE_CODEC_VECTORS=1 cargo test` rewrites the file after a deliberate change).

use std::collections::BTreeSet;

use super::*;
use crate::event::{EventEnvelope, ExpireReason};
use crate::ids::ClientOrderId;
use crate::testkit::{dec, instrument, limit, px, qty};
use crate::units::Quote;
use crate::units::Rate;

fn vector_commands() -> Vec<(&'static str, Command)> {
    let cid = |s| ClientOrderId::new(s).unwrap();
    let place_limit = PlaceOrder { client_order_id: Some(cid("abc-1")), ..limit(7, 1, Side::Buy, px("50000.5"), qty("0.003")) };
    let place_trailing = PlaceOrder {
        order_type: OrderType::TrailingStopMarket,
        price: None,
        callback_rate: Some(Rate(1_000_000)),
        activation_price: Some(px("3100")),
        trigger_source: TriggerSource::MarkPrice,
        reduce_only: true,
        position_side: PositionSide::Short,
        stp: StpMode::ExpireMaker,
        ..limit(8, 2, Side::Sell, Price::ZERO, qty("1.5"))
    };
    let place_gtd = PlaceOrder {
        time_in_force: TimeInForce::Gtd,
        good_till: Some(1_700_000_000_000_000_000),
        ..limit(9, 1, Side::Sell, px("51000"), qty("2"))
    };
    vec![
        ("add_instrument", Command::AddInstrument(instrument(1, "BTCUSDT"))),
        ("update_instrument", Command::UpdateInstrument(InstrumentSpec { trading: false, ..instrument(2, "ETHUSDT") })),
        ("place_limit", Command::PlaceOrder(place_limit)),
        ("place_trailing", Command::PlaceOrder(place_trailing)),
        ("place_gtd", Command::PlaceOrder(place_gtd)),
        ("cancel_client", Command::CancelOrder { account: 3, symbol: 1, order: OrderRef::Client(cid("x")) }),
        ("amend_id", Command::AmendOrder { account: 3, symbol: 1, order: OrderRef::Id(42), price: px("101.5"), qty: qty("2") }),
        ("cancel_all", Command::CancelAll { account: 3, symbol: 2 }),
        ("mark", Command::SetMarkPrice { symbol: 1, mark: px("50000"), index: px("49990.12345678") }),
        ("deposit", Command::Deposit { account: 7, amount: Quote(dec("1234.5")) }),
        ("withdraw", Command::Withdraw { account: 7, amount: Quote(dec("0.00000001")) }),
        ("transfer", Command::Transfer { from: 7, to: 8, amount: Quote(dec("10")) }),
        ("leverage", Command::SetLeverage { account: 7, symbol: 1, leverage: 25 }),
        ("hedge_mode", Command::SetPositionMode { account: 7, hedge: true }),
        ("funding", Command::ApplyFunding { symbol: 1, rate: Rate(-12_345), mark: px("50000.1") }),
        (
            "payout",
            Command::InsurancePayout { account: 7, amount: Quote(dec("25")), reason: crate::event::PayoutReason::Compensation, key: 42 },
        ),
        ("floor", Command::SetInsuranceFloor { amount: Quote(dec("1000")) }),
        ("adl_ranking", Command::SetAdlRanking { symbol: 1, side: Side::Sell, accounts: vec![4, 3, 9] }),
        ("close_position", Command::ClosePosition { account: 7, symbol: 1, position_side: PositionSide::Long }),
        ("close_all", Command::CloseAll { account: 7 }),
        ("reverse", Command::Reverse { account: 7, symbol: 2 }),
        ("fee_tier", Command::SetFeeTier { account: 7, rates: Some((Rate(-10_000), Rate(30_000))) }),
        ("margin_type", Command::SetMarginType { account: 7, symbol: 1, isolated: true }),
        (
            "isolated_margin",
            Command::AdjustIsolatedMargin { account: 7, symbol: 1, position_side: PositionSide::Short, amount: Quote(dec("-12.5")) },
        ),
        (
            "place_with_stops",
            Command::PlaceWithStops {
                entry: limit(7, 1, Side::Buy, px("50000"), qty("0.5")),
                stop_loss: Some(px("49000")),
                take_profit: None,
            },
        ),
    ]
}

fn vector_events() -> Vec<(&'static str, EventEnvelope)> {
    let envelope = |seq, index, event| EventEnvelope { seq, index, ts: 1_700_000_000_000_000_000 + seq, event };
    vec![
        (
            "event_trade",
            envelope(
                5,
                1,
                Event::Trade {
                    symbol: 1,
                    trade_id: 9,
                    price: px("50000.5"),
                    qty: qty("0.003"),
                    taker_side: Side::Sell,
                    maker_order_id: 3,
                    maker_account: 7,
                    maker_leaves: qty("0"),
                    taker_order_id: 4,
                    taker_account: 8,
                    taker_leaves: qty("1.2"),
                },
            ),
        ),
        (
            "event_rejected",
            envelope(6, 0, Event::OrderRejected { account: 7, symbol: 1, order_id: Some(12), reason: RejectReason::UnknownOrder }),
        ),
        (
            "event_expired",
            envelope(
                7,
                2,
                Event::OrderExpired { account: 7, symbol: 2, order_id: 13, leaves: qty("0.5"), reason: ExpireReason::SelfTrade },
            ),
        ),
        ("event_delta", envelope(8, 3, Event::BookDelta { symbol: 1, side: Side::Buy, price: px("49999.9"), qty: qty("0") })),
        (
            "event_fill",
            envelope(
                9,
                2,
                Event::FillSettled {
                    account: 8,
                    symbol: 1,
                    order_id: 4,
                    trade_id: 9,
                    position_side: PositionSide::Short,
                    qty: -dec("0.003"),
                    price: px("50000.5"),
                    fee: Quote(dec("0.07500075")),
                    realised_pnl: Quote(dec("-1.5")),
                    wallet: Quote(dec("998.42499925")),
                    position_qty: -dec("0.003"),
                    position_cost: Quote(dec("-150.0015")),
                },
            ),
        ),
        (
            "event_balance",
            envelope(
                10,
                0,
                Event::BalanceChanged { account: 7, amount: Quote(dec("-10")), wallet: Quote(dec("90")), kind: BalanceKind::TransferOut },
            ),
        ),
        ("event_margin_type", envelope(11, 0, Event::MarginTypeSet { account: 7, symbol: 1, isolated: true })),
        (
            "event_liquidation_order",
            envelope(
                13,
                2,
                Event::LiquidationOrder {
                    account: 7,
                    symbol: 1,
                    order_id: 99,
                    side: Side::Sell,
                    qty: qty("0.4"),
                    bankruptcy_price: px("47525"),
                    position_side: PositionSide::Long,
                },
            ),
        ),
        (
            "event_isolated_margin",
            envelope(
                12,
                1,
                Event::IsolatedMarginChanged {
                    account: 7,
                    symbol: 1,
                    position_side: PositionSide::Both,
                    amount: Quote(dec("500")),
                    isolated_margin: Quote(dec("600.5")),
                },
            ),
        ),
        ("event_instrument_updated", envelope(14, 0, Event::InstrumentUpdated { symbol: 2 })),
        (
            "event_accepted",
            envelope(15, 0, Event::OrderAccepted { order_id: 21, order: limit(7, 1, Side::Buy, px("50000.5"), qty("0.003")) }),
        ),
        ("event_triggered", envelope(16, 1, Event::OrderTriggered { account: 7, symbol: 1, order_id: 22, trigger_price: px("49000") })),
        (
            "event_cancelled",
            envelope(
                17,
                0,
                Event::OrderCancelled { account: 7, symbol: 2, order_id: 23, leaves: qty("0.25"), reason: CancelReason::Liquidation },
            ),
        ),
        (
            "event_amended",
            envelope(
                18,
                0,
                Event::OrderAmended {
                    account: 7,
                    symbol: 1,
                    order_id: 24,
                    price: px("101.5"),
                    qty: qty("2"),
                    leaves: qty("1.5"),
                    priority_kept: true,
                },
            ),
        ),
        ("event_mark", envelope(19, 0, Event::MarkPriceSet { symbol: 1, mark: px("50000"), index: px("49990.12345678") })),
        ("event_leverage", envelope(20, 0, Event::LeverageSet { account: 7, symbol: 1, leverage: 25 })),
        ("event_position_mode", envelope(21, 0, Event::PositionModeSet { account: 7, hedge: true })),
        (
            "event_liquidation_started",
            envelope(
                22,
                0,
                Event::LiquidationStarted { account: 7, margin_balance: Quote(dec("-3.5")), maintenance: Quote(dec("20.125")) },
            ),
        ),
        (
            "event_taken_over",
            envelope(
                23,
                3,
                Event::PositionTakenOver {
                    account: 7,
                    symbol: 1,
                    position_side: PositionSide::Short,
                    qty: -dec("0.4"),
                    price: px("52475"),
                },
            ),
        ),
        ("event_liquidation_finished", envelope(24, 4, Event::LiquidationFinished { account: 7, closed: false })),
        (
            "event_auto_deleveraged",
            envelope(25, 5, Event::AutoDeleveraged { account: 9, bankrupt: 7, symbol: 1, qty: -dec("0.1"), price: px("47525") }),
        ),
        ("event_funding", envelope(26, 0, Event::FundingApplied { symbol: 1, rate: Rate(-12_345), mark: px("50000.1"), dust: Quote(3) })),
        ("event_floor", envelope(27, 0, Event::InsuranceFloorSet { amount: Quote(dec("1000")) })),
        ("event_adl_ranking", envelope(28, 0, Event::AdlRankingSet { symbol: 1, side: Side::Sell, accounts: 3 })),
        (
            "event_insurance_paid",
            envelope(
                29,
                0,
                Event::InsurancePaid { account: 7, amount: Quote(dec("25")), reason: crate::event::PayoutReason::Compensation, key: 42 },
            ),
        ),
        ("event_fee_tier", envelope(30, 0, Event::FeeTierSet { account: 7, rates: Some((Rate(-10_000), Rate(30_000))) })),
        ("event_fee_tier_cleared", envelope(31, 0, Event::FeeTierSet { account: 8, rates: None })),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn vectors_text() -> String {
    let mut text = String::from("# Canonical codec vectors: name, then the unframed record in hex. Pinned by\n# core_rs/src/codec/tests.rs and tests/derivatives/test_codec.py.\n");
    for (name, command) in vector_commands() {
        let mut bytes = Vec::new();
        Writer::new(&mut bytes).command(&command);
        text.push_str(&format!("{name} {}\n", hex(&bytes)));
    }
    for (name, envelope) in vector_events() {
        let mut bytes = Vec::new();
        encode_event(&mut bytes, &envelope);
        text.push_str(&format!("{name} {}\n", hex(&bytes[4..])));
    }
    text
}

#[test]
fn test_shared_vectors_match_the_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/codec_vectors.txt");
    if std::env::var_os("UPDATE_CODEC_VECTORS").is_some() {
        std::fs::write(path, vectors_text()).unwrap();
    }
    let pinned = std::fs::read_to_string(path).expect("tests/codec_vectors.txt exists");
    assert_eq!(pinned, vectors_text(), "the wire format changed; update the vectors deliberately");
}

/// Every tag the decoder knows, found by asking it: a one-byte record is either an unknown tag or
/// a known variant whose fields are missing.
fn known_tags(unknown: &str, decode: impl Fn(&mut Reader<'_>) -> Result<(), DecodeError>) -> BTreeSet<u8> {
    (0..=u8::MAX)
        .filter(|&tag| {
            let record = [tag];
            decode(&mut Reader::new(&record)).err().is_none_or(|e| e.what != unknown)
        })
        .collect()
}

#[test]
fn test_every_command_and_event_variant_has_a_vector() {
    let command_tags: BTreeSet<u8> = vector_commands()
        .iter()
        .map(|(_, c)| {
            let mut bytes = Vec::new();
            Writer::new(&mut bytes).command(c);
            bytes[0]
        })
        .collect();
    assert_eq!(command_tags, known_tags("unknown command tag", |r| r.command().map(drop)), "a command variant has no vector");
    let event_tags: BTreeSet<u8> = vector_events().iter().map(|(_, e)| event_tag(&e.event)).collect();
    assert_eq!(event_tags, known_tags("unknown event tag", |r| r.event().map(drop)), "an event variant has no vector");
}

fn event_tag(event: &Event) -> u8 {
    let mut bytes = Vec::new();
    Writer::new(&mut bytes).event(event);
    bytes[0]
}

#[test]
fn test_vector_names_are_unique() {
    let names: Vec<&str> = vector_commands().iter().map(|(n, _)| *n).chain(vector_events().iter().map(|(n, _)| *n)).collect();
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), names.len());
}

#[test]
fn test_commands_and_events_round_trip() {
    let mut batch = Vec::new();
    let commands: Vec<Command> = vector_commands().into_iter().map(|(_, c)| c).collect();
    for c in &commands {
        encode_command(&mut batch, c);
    }
    assert_eq!(decode_batch(&batch, |r| r.command()).unwrap(), commands);
    let mut events = Vec::new();
    let envelopes: Vec<EventEnvelope> = vector_events().into_iter().map(|(_, e)| e).collect();
    for e in &envelopes {
        encode_event(&mut events, e);
    }
    let decoded = decode_batch(&events, |r| r.event_envelope()).unwrap();
    assert_eq!(decoded, envelopes);
}

#[test]
fn test_decoding_is_strict_and_names_the_offset() {
    let mut batch = Vec::new();
    encode_command(&mut batch, &Command::CancelAll { account: 3, symbol: 2 });
    let decode = |bytes: &[u8]| decode_batch(bytes, |r| r.command());
    assert_eq!(decode(&batch[..batch.len() - 1]).unwrap_err().what, "truncated record");
    let mut unknown = batch.clone();
    unknown[4] = 99;
    assert_eq!(decode(&unknown).unwrap_err(), DecodeError { offset: 4, what: "unknown command tag" });
    let mut trailing = batch.clone();
    trailing[0] += 1;
    trailing.push(0);
    assert_eq!(decode(&trailing).unwrap_err().what, "trailing bytes in record");
    let mut bad_enum = Vec::new();
    encode_command(&mut bad_enum, &Command::PlaceOrder(limit(1, 1, Side::Buy, px("1"), qty("1"))));
    bad_enum[4 + 1 + 8 + 4 + 1] = 7; // the side byte
    assert_eq!(decode(&bad_enum).unwrap_err(), DecodeError { offset: 18, what: "unknown Side" });
    assert_eq!(decode(&[1, 0]).unwrap_err().what, "truncated length");
}
