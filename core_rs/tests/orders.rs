//! Worked examples of every order type, time in force and self-trade mode, with the exact events.

use derivatives_core::event::{CancelReason, ExpireReason};
use derivatives_core::ids::ClientOrderId;
use derivatives_core::order::{OrderType, Side, StpMode, TimeInForce, TriggerSource};
use derivatives_core::reject::RejectReason;
use derivatives_core::testkit::{limit, market, px, qty, Harness};
use derivatives_core::units::{Price, Qty, Rate};
use derivatives_core::{Command, Event, OrderRef, PlaceOrder};

const BTC: u32 = 1;

fn delta(side: Side, price: &str, q: &str) -> Event {
    Event::BookDelta { symbol: BTC, side, price: px(price), qty: qty(q) }
}

fn accepted(order_id: u64, order: PlaceOrder) -> Event {
    Event::OrderAccepted { order_id, order }
}

#[allow(clippy::too_many_arguments)]
fn trade(trade_id: u64, price: &str, q: &str, taker_side: Side, maker: (u64, u64, &str), taker: (u64, u64, &str)) -> Event {
    Event::Trade {
        symbol: BTC,
        trade_id,
        price: px(price),
        qty: qty(q),
        taker_side,
        maker_order_id: maker.0,
        maker_account: maker.1,
        maker_leaves: qty(maker.2),
        taker_order_id: taker.0,
        taker_account: taker.1,
        taker_leaves: qty(taker.2),
    }
}

fn expired(account: u64, order_id: u64, leaves: &str, reason: ExpireReason) -> Event {
    Event::OrderExpired { account, symbol: BTC, order_id, leaves: qty(leaves), reason }
}

fn rejected(account: u64, order_id: Option<u64>, reason: RejectReason) -> Event {
    Event::OrderRejected { account, symbol: BTC, order_id, reason }
}

fn buy(account: u64, price: &str, q: &str) -> PlaceOrder {
    limit(account, BTC, Side::Buy, px(price), qty(q))
}

fn sell(account: u64, price: &str, q: &str) -> PlaceOrder {
    limit(account, BTC, Side::Sell, px(price), qty(q))
}

fn with_tif(order: PlaceOrder, time_in_force: TimeInForce) -> PlaceOrder {
    PlaceOrder { time_in_force, ..order }
}

fn conditional(account: u64, side: Side, order_type: OrderType, stop: &str, price: Option<&str>, q: &str) -> PlaceOrder {
    PlaceOrder { order_type, stop_price: Some(px(stop)), price: price.map(px), ..limit(account, BTC, side, Price::ZERO, qty(q)) }
}

/// Everything observable about the book and waiting orders, for "changed nothing" checks.
fn fingerprint(h: &Harness) -> String {
    let m = h.engine.market(BTC).unwrap();
    let bids: Vec<_> = m.book.iter_side(Side::Buy).collect();
    let asks: Vec<_> = m.book.iter_side(Side::Sell).collect();
    let waiting: Vec<_> = m.triggers.iter().collect();
    format!("{bids:?}{asks:?}{waiting:?}{:?}{:?}", m.last_price, m.mark_price)
}

#[test]
fn test_limit_order_rests_then_matches_at_the_maker_price() {
    let mut h = Harness::with_btc().matching_only();
    let s = sell(1, "100", "2");
    assert_eq!(h.place(s), vec![accepted(1, s), delta(Side::Sell, "100", "2")]);
    let b = buy(2, "101", "3");
    assert_eq!(
        h.place(b),
        vec![
            accepted(2, b),
            trade(1, "100", "2", Side::Buy, (1, 1, "0"), (2, 2, "1")),
            delta(Side::Buy, "101", "1"),
            delta(Side::Sell, "100", "0"),
        ]
    );
    let m = h.engine.market(BTC).unwrap();
    assert_eq!(m.last_price, Some(px("100")));
    m.book.check_integrity().unwrap();
}

#[test]
fn test_price_time_priority_fills_the_oldest_order_first() {
    let mut h = Harness::with_btc().matching_only();
    h.place(sell(1, "100", "1"));
    h.place(sell(2, "100", "1"));
    h.place(sell(3, "99.9", "1"));
    let b = buy(4, "100", "2.5");
    assert_eq!(
        h.place(b),
        vec![
            accepted(4, b),
            trade(1, "99.9", "1", Side::Buy, (3, 3, "0"), (4, 4, "1.5")),
            trade(2, "100", "1", Side::Buy, (1, 1, "0"), (4, 4, "0.5")),
            trade(3, "100", "0.5", Side::Buy, (2, 2, "0.5"), (4, 4, "0")),
            delta(Side::Sell, "99.9", "0"),
            delta(Side::Sell, "100", "0.5"),
        ]
    );
}

#[test]
fn test_ioc_remainder_expires() {
    let mut h = Harness::with_btc().matching_only();
    h.place(sell(1, "100", "1"));
    let b = with_tif(buy(2, "100", "3"), TimeInForce::Ioc);
    assert_eq!(
        h.place(b),
        vec![
            accepted(2, b),
            trade(1, "100", "1", Side::Buy, (1, 1, "0"), (2, 2, "2")),
            expired(2, 2, "2", ExpireReason::Unfilled),
            delta(Side::Sell, "100", "0"),
        ]
    );
}

#[test]
fn test_fok_fills_completely_or_not_at_all() {
    let mut h = Harness::with_btc().matching_only();
    h.place(sell(1, "100", "1"));
    h.place(sell(1, "100.5", "1"));
    let before = fingerprint(&h);
    let too_big = with_tif(buy(2, "100.5", "2.001"), TimeInForce::Fok);
    assert_eq!(h.place(too_big), vec![accepted(3, too_big), expired(2, 3, "2.001", ExpireReason::FokUnfillable)]);
    assert_eq!(fingerprint(&h), before);
    let fits = with_tif(buy(2, "100.5", "2"), TimeInForce::Fok);
    let events = h.place(fits);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Trade { .. })).count(), 2);
    assert!(h.engine.market(BTC).unwrap().book.is_empty());
}

#[test]
fn test_gtx_is_rejected_when_it_would_take_and_rests_otherwise() {
    let mut h = Harness::with_btc().matching_only();
    h.place(sell(1, "100", "1"));
    let before = fingerprint(&h);
    let taking = with_tif(buy(2, "100", "1"), TimeInForce::Gtx);
    assert_eq!(h.place(taking), vec![rejected(2, None, RejectReason::PostOnlyWouldTake)]);
    assert_eq!(fingerprint(&h), before);
    let making = with_tif(buy(2, "99.9", "1"), TimeInForce::Gtx);
    assert_eq!(h.place(making), vec![accepted(2, making), delta(Side::Buy, "99.9", "1")]);
}

#[test]
fn test_gtd_order_expires_on_the_first_command_at_or_after_its_time() {
    let mut h = Harness::with_btc().matching_only();
    let gtd = PlaceOrder { good_till: Some(5_000), ..with_tif(buy(1, "99", "1"), TimeInForce::Gtd) };
    assert_eq!(h.place(gtd), vec![accepted(1, gtd), delta(Side::Buy, "99", "1")]);
    h.now = 4_999;
    assert_eq!(h.place(sell(2, "101", "1")).len(), 2);
    h.now = 5_000;
    let mark = Command::SetMarkPrice { symbol: BTC, mark: px("100"), index: px("100") };
    assert_eq!(
        h.send(mark),
        vec![
            expired(1, 1, "1", ExpireReason::GoodTillReached),
            Event::MarkPriceSet { symbol: BTC, mark: px("100"), index: px("100") },
            delta(Side::Buy, "99", "0"),
        ]
    );
    let past = PlaceOrder { good_till: Some(5_000), ..gtd };
    assert_eq!(h.place(past), vec![rejected(1, None, RejectReason::InvalidGoodTill)]);
}

#[test]
fn test_market_order_sweeps_levels_within_the_band_and_expires_the_rest() {
    let mut h = Harness::with_btc().matching_only();
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px("100"), index: px("100") });
    h.place(sell(1, "100", "1"));
    h.place(sell(1, "104", "1"));
    h.place(sell(1, "105", "1"));
    h.send(Command::UpdateInstrument(derivatives_core::instrument::InstrumentSpec {
        market_price_band: Rate(4_500_000),
        ..derivatives_core::testkit::instrument(BTC, "BTCUSDT")
    }));
    let m = market(2, BTC, Side::Buy, qty("5"));
    assert_eq!(
        h.place(m),
        vec![
            accepted(4, m),
            trade(1, "100", "1", Side::Buy, (1, 1, "0"), (4, 2, "4")),
            trade(2, "104", "1", Side::Buy, (2, 1, "0"), (4, 2, "3")),
            expired(2, 4, "3", ExpireReason::Unfilled),
            delta(Side::Sell, "100", "0"),
            delta(Side::Sell, "104", "0"),
        ]
    );
    let nothing = market(2, BTC, Side::Sell, qty("1"));
    assert_eq!(h.place(nothing), vec![accepted(5, nothing), expired(2, 5, "1", ExpireReason::Unfilled)]);
}

#[test]
fn test_stop_market_triggers_on_last_price_and_executes() {
    let mut h = Harness::with_btc().matching_only();
    h.place(buy(1, "99", "5"));
    h.place(sell(1, "100", "1"));
    let stop = conditional(2, Side::Sell, OrderType::StopMarket, "99.5", None, "2");
    assert_eq!(h.place(stop), vec![accepted(3, stop)]);
    // A trade at 99 (last price ≤ 99.5) fires the stop, which sells into the 99 bid.
    let s = sell(3, "99", "1");
    assert_eq!(
        h.place(s),
        vec![
            accepted(4, s),
            trade(1, "99", "1", Side::Sell, (1, 1, "4"), (4, 3, "0")),
            Event::OrderTriggered { account: 2, symbol: BTC, order_id: 3, trigger_price: px("99") },
            trade(2, "99", "2", Side::Sell, (1, 1, "2"), (3, 2, "0")),
            delta(Side::Buy, "99", "2"),
        ]
    );
}

#[test]
fn test_mark_price_triggers_take_profit_limit_which_rests() {
    let mut h = Harness::with_btc().matching_only();
    let tp = PlaceOrder {
        trigger_source: TriggerSource::MarkPrice,
        ..conditional(1, Side::Sell, OrderType::TakeProfitLimit, "102", Some("102.5"), "1")
    };
    assert_eq!(h.place(tp), vec![accepted(1, tp)]);
    assert_eq!(h.send(Command::SetMarkPrice { symbol: BTC, mark: px("101.9"), index: px("101.9") }).len(), 1);
    assert_eq!(
        h.send(Command::SetMarkPrice { symbol: BTC, mark: px("102"), index: px("101.95") }),
        vec![
            Event::MarkPriceSet { symbol: BTC, mark: px("102"), index: px("101.95") },
            Event::OrderTriggered { account: 1, symbol: BTC, order_id: 1, trigger_price: px("102") },
            delta(Side::Sell, "102.5", "1"),
        ]
    );
    assert!(h.engine.market(BTC).unwrap().triggers.is_empty());
}

#[test]
fn test_conditional_order_that_would_trigger_at_once_is_rejected() {
    let mut h = Harness::with_btc().matching_only();
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px("100"), index: px("100") });
    let stop_buy =
        PlaceOrder { trigger_source: TriggerSource::MarkPrice, ..conditional(1, Side::Buy, OrderType::StopMarket, "100", None, "1") };
    assert_eq!(h.place(stop_buy), vec![rejected(1, None, RejectReason::WouldImmediatelyTrigger)]);
    let tp_buy =
        PlaceOrder { trigger_source: TriggerSource::MarkPrice, ..conditional(1, Side::Buy, OrderType::TakeProfitMarket, "99", None, "1") };
    assert_eq!(h.place(tp_buy), vec![accepted(1, tp_buy)]);
}

#[test]
fn test_trailing_stop_fires_after_the_callback_from_the_high() {
    let mut h = Harness::with_btc().matching_only();
    let mark = |h: &mut Harness, p: &str| h.send(Command::SetMarkPrice { symbol: BTC, mark: px(p), index: px(p) });
    mark(&mut h, "100");
    h.place(buy(9, "100", "10"));
    let trail = PlaceOrder {
        order_type: OrderType::TrailingStopMarket,
        callback_rate: Some(Rate(1_000_000)), // 1 %
        activation_price: Some(px("101")),
        trigger_source: TriggerSource::MarkPrice,
        ..market(1, BTC, Side::Sell, qty("1"))
    };
    assert_eq!(h.place(trail), vec![accepted(2, trail)]);
    assert_eq!(mark(&mut h, "100.5").len(), 1, "not active below the activation price");
    assert_eq!(mark(&mut h, "102").len(), 1, "activates at 102");
    assert_eq!(mark(&mut h, "104").len(), 1, "new high 104: fires at or below 102.96");
    assert_eq!(mark(&mut h, "103").len(), 1);
    let events = mark(&mut h, "102.9");
    assert_eq!(events[1], Event::OrderTriggered { account: 1, symbol: BTC, order_id: 2, trigger_price: px("102.9") });
    assert_eq!(events[2..], [trade(1, "100", "1", Side::Sell, (1, 9, "9"), (2, 1, "0")), delta(Side::Buy, "100", "9")]);
}

#[test]
fn test_cancel_by_id_and_client_id_and_refusals() {
    let mut h = Harness::with_btc().matching_only();
    let cid = ClientOrderId::new("my-order_1").unwrap();
    h.place(PlaceOrder { client_order_id: Some(cid), ..buy(1, "99", "1") });
    let dup = PlaceOrder { client_order_id: Some(cid), ..buy(1, "98", "1") };
    assert_eq!(h.place(dup), vec![rejected(1, None, RejectReason::DuplicateClientOrderId)]);
    let other_account = PlaceOrder { client_order_id: Some(cid), ..buy(2, "98", "1") };
    assert_eq!(h.place(other_account)[0], accepted(2, other_account));
    let by_other = Command::CancelOrder { account: 2, symbol: BTC, order: OrderRef::Id(1) };
    assert_eq!(h.send(by_other), vec![rejected(2, Some(1), RejectReason::UnknownOrder)]);
    let by_cid = Command::CancelOrder { account: 1, symbol: BTC, order: OrderRef::Client(cid) };
    assert_eq!(
        h.send(by_cid),
        vec![
            Event::OrderCancelled { account: 1, symbol: BTC, order_id: 1, leaves: qty("1"), reason: CancelReason::User },
            delta(Side::Buy, "99", "0"),
        ]
    );
    let again = Command::CancelOrder { account: 1, symbol: BTC, order: OrderRef::Client(cid) };
    assert_eq!(h.send(again), vec![rejected(1, None, RejectReason::UnknownOrder)]);
    // The client id is free again once its order is gone.
    assert_eq!(h.place(dup)[0], accepted(3, dup));
}

#[test]
fn test_cancel_all_cancels_resting_and_waiting_orders_in_id_order() {
    let mut h = Harness::with_btc().matching_only();
    h.place(buy(1, "99", "1"));
    h.place(conditional(1, Side::Buy, OrderType::StopMarket, "101", None, "1"));
    h.place(sell(2, "101", "1"));
    h.place(sell(1, "101.5", "2"));
    let cancelled = |order_id, leaves| Event::OrderCancelled {
        account: 1,
        symbol: BTC,
        order_id,
        leaves: qty(leaves),
        reason: CancelReason::CancelAll,
    };
    assert_eq!(
        h.send(Command::CancelAll { account: 1, symbol: BTC }),
        vec![cancelled(1, "1"), cancelled(2, "1"), cancelled(4, "2"), delta(Side::Buy, "99", "0"), delta(Side::Sell, "101.5", "0")]
    );
    assert_eq!(h.send(Command::CancelAll { account: 1, symbol: BTC }), vec![]);
}

#[test]
fn test_amend_quantity_down_keeps_priority_price_change_loses_it() {
    let mut h = Harness::with_btc().matching_only();
    h.place(buy(1, "99", "2"));
    h.place(buy(2, "99", "1"));
    let amend = |h: &mut Harness, account, id, price: &str, q: &str| {
        h.send(Command::AmendOrder { account, symbol: BTC, order: OrderRef::Id(id), price: px(price), qty: qty(q) })
    };
    let amended = |account, order_id, price: &str, q: &str, leaves: &str, kept| Event::OrderAmended {
        account,
        symbol: BTC,
        order_id,
        price: px(price),
        qty: qty(q),
        leaves: qty(leaves),
        priority_kept: kept,
    };
    assert_eq!(amend(&mut h, 1, 1, "99", "1.5"), vec![amended(1, 1, "99", "1.5", "1.5", true), delta(Side::Buy, "99", "2.5")]);
    let order_ids = |h: &Harness| h.engine.market(BTC).unwrap().book.iter_side(Side::Buy).map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(order_ids(&h), vec![1, 2]);
    assert_eq!(amend(&mut h, 1, 1, "99", "2"), vec![amended(1, 1, "99", "2", "2", false), delta(Side::Buy, "99", "3")]);
    assert_eq!(order_ids(&h), vec![2, 1], "a quantity increase re-queues");
    assert_eq!(amend(&mut h, 1, 1, "99", "2"), vec![rejected(1, Some(1), RejectReason::AmendNoChange)]);
    // A price change that crosses matches like a new taker.
    h.place(sell(3, "100", "1"));
    assert_eq!(
        amend(&mut h, 1, 1, "100", "2"),
        vec![
            amended(1, 1, "100", "2", "2", false),
            trade(1, "100", "1", Side::Buy, (3, 3, "0"), (1, 1, "1")),
            delta(Side::Buy, "99", "1"),
            delta(Side::Buy, "100", "1"),
            delta(Side::Sell, "100", "0"),
        ]
    );
    assert_eq!(amend(&mut h, 1, 1, "100", "1"), vec![rejected(1, Some(1), RejectReason::AmendBelowFilled)]);
}

#[test]
fn test_self_trade_prevention_modes() {
    let cases = [
        (StpMode::ExpireTaker, vec![expired(1, 3, "2", ExpireReason::SelfTrade)], vec![1, 2]),
        (
            StpMode::ExpireMaker,
            vec![
                expired(1, 1, "1", ExpireReason::SelfTrade),
                trade(1, "100", "1", Side::Buy, (2, 2, "0"), (3, 1, "1")),
                expired(1, 3, "1", ExpireReason::Unfilled),
            ],
            vec![],
        ),
        (StpMode::ExpireBoth, vec![expired(1, 1, "1", ExpireReason::SelfTrade), expired(1, 3, "2", ExpireReason::SelfTrade)], vec![2]),
    ];
    for (stp, expected, resting_after) in cases {
        let mut h = Harness::with_btc().matching_only();
        h.place(sell(1, "100", "1"));
        h.place(sell(2, "100", "1"));
        let taker = PlaceOrder { stp, ..with_tif(buy(1, "100", "2"), TimeInForce::Ioc) };
        let events = h.place(taker);
        let core: Vec<_> = events.iter().filter(|e| !matches!(e, Event::BookDelta { .. } | Event::OrderAccepted { .. })).cloned().collect();
        assert_eq!(core, expected, "{stp:?}");
        let resting: Vec<_> = h.engine.market(BTC).unwrap().book.iter_side(Side::Sell).map(|o| o.id).collect();
        assert_eq!(resting, resting_after, "{stp:?}");
    }
    let mut h = Harness::with_btc().matching_only();
    h.place(sell(1, "100", "1"));
    let events = h.place(buy(1, "100", "1"));
    assert!(matches!(events[1], Event::Trade { maker_account: 1, taker_account: 1, .. }), "NONE allows self-trades");
}

#[test]
fn test_bad_input_is_rejected_with_a_reason_and_changes_nothing() {
    let mut h = Harness::with_btc().matching_only();
    h.place(sell(1, "100", "1"));
    h.place(buy(2, "100", "0.5"));
    let cases: Vec<(PlaceOrder, RejectReason)> = vec![
        (buy(1, "99", "0"), RejectReason::QuantityNotPositive),
        (buy(1, "99.05", "1"), RejectReason::PriceOffTick),
        (buy(1, "99", "1.0005"), RejectReason::QuantityOffStep),
        (buy(1, "99", "1001"), RejectReason::QuantityAboveMax),
        (buy(1, "0", "1"), RejectReason::PriceNotPositive),
        (buy(1, "99", "0.01"), RejectReason::NotionalBelowMin),
        (PlaceOrder { symbol: 7, ..buy(1, "99", "1") }, RejectReason::UnknownSymbol),
        (buy(1, "105.1", "1"), RejectReason::PriceAboveBand),
        (sell(1, "94.9", "1"), RejectReason::PriceBelowBand),
        (PlaceOrder { price: Some(px("100")), ..market(1, BTC, Side::Buy, qty("1")) }, RejectReason::PriceNotAllowed),
        (with_tif(market(1, BTC, Side::Buy, qty("1")), TimeInForce::Fok), RejectReason::InvalidTimeInForce),
        (with_tif(buy(1, "99", "1"), TimeInForce::Gtd), RejectReason::InvalidGoodTill),
        (conditional(1, Side::Buy, OrderType::StopMarket, "101.01", None, "1"), RejectReason::InvalidStopPrice),
        (
            PlaceOrder {
                order_type: OrderType::TrailingStopMarket,
                callback_rate: Some(Rate(20_000_000)),
                ..market(1, BTC, Side::Sell, qty("1"))
            },
            RejectReason::InvalidCallbackRate,
        ),
        (PlaceOrder { close_position: true, ..market(1, BTC, Side::Sell, qty("1")) }, RejectReason::InvalidClosePosition),
        (PlaceOrder { qty: Qty(-100_000), ..buy(1, "99", "1") }, RejectReason::QuantityNotPositive),
        // A price the type takes none of, the same for every type but the trailing stop.
        (PlaceOrder { activation_price: Some(px("99")), ..buy(1, "99", "1") }, RejectReason::PriceNotAllowed),
        (
            PlaceOrder { activation_price: Some(px("99")), ..conditional(1, Side::Sell, OrderType::StopMarket, "99", None, "1") },
            RejectReason::PriceNotAllowed,
        ),
        (
            PlaceOrder { callback_rate: Some(Rate(1_000_000)), ..conditional(1, Side::Sell, OrderType::StopMarket, "99", None, "1") },
            RejectReason::InvalidCallbackRate,
        ),
    ];
    for (order, reason) in cases {
        let before = fingerprint(&h);
        assert_eq!(h.place(order), vec![Event::OrderRejected { account: 1, symbol: order.symbol, order_id: None, reason }], "{reason:?}");
        assert_eq!(fingerprint(&h), before, "{reason:?} changed state");
    }
    let unknown = Command::CancelOrder { account: 1, symbol: BTC, order: OrderRef::Id(999) };
    assert_eq!(h.send(unknown), vec![rejected(1, Some(999), RejectReason::UnknownOrder)]);
    let halted = derivatives_core::instrument::InstrumentSpec { trading: false, ..derivatives_core::testkit::instrument(BTC, "BTCUSDT") };
    h.send(Command::UpdateInstrument(halted));
    assert_eq!(h.place(buy(1, "99", "1")), vec![rejected(1, None, RejectReason::SymbolHalted)]);
}

#[test]
fn test_engine_refuses_out_of_order_envelopes() {
    use derivatives_core::{CommandEnvelope, EngineError};
    let mut h = Harness::with_btc().matching_only();
    let mut out = Vec::new();
    let command = Command::CancelAll { account: 1, symbol: BTC };
    let next = h.engine.last_seq() + 1;
    let skip = CommandEnvelope { seq: next + 1, ts: 2_000, command: command.clone() };
    assert_eq!(h.engine.apply(&skip, &mut out), Err(EngineError::OutOfOrder { expected: next, got: next + 1 }));
    let back = CommandEnvelope { seq: next, ts: 999, command };
    assert_eq!(h.engine.apply(&back, &mut out), Err(EngineError::TimeWentBackwards { last: 1_000, got: 999 }));
    assert!(out.is_empty());
    assert_eq!(h.engine.last_seq(), next - 1);
}

/// Regression (differential test): triggers used to be evaluated only after a whole batch of
/// fired orders, so a price printed by the first one and erased by the second was never seen.
#[test]
fn test_triggers_are_evaluated_after_each_triggered_order() {
    let mut h = Harness::with_btc().matching_only();
    h.place(buy(9, "99", "1"));
    h.place(buy(9, "98", "1"));
    h.place(sell(8, "101", "1"));
    h.place(conditional(1, Side::Sell, OrderType::StopMarket, "100", None, "1"));
    h.place(conditional(2, Side::Buy, OrderType::TakeProfitMarket, "100", None, "1"));
    h.place(conditional(3, Side::Sell, OrderType::StopMarket, "99", None, "1"));
    h.place(sell(7, "100", "1"));
    let b = buy(6, "100", "1");
    let triggered = |account, order_id, price: &str| Event::OrderTriggered { account, symbol: BTC, order_id, trigger_price: px(price) };
    assert_eq!(
        h.place(b),
        vec![
            accepted(8, b),
            trade(1, "100", "1", Side::Buy, (7, 7, "0"), (8, 6, "0")),
            // Both fire at 100, in placement order.
            triggered(1, 4, "100"),
            trade(2, "99", "1", Side::Sell, (1, 9, "0"), (4, 1, "0")),
            triggered(2, 5, "100"),
            trade(3, "101", "1", Side::Buy, (3, 8, "0"), (5, 2, "0")),
            // The trade at 99 fired the 99 stop, which runs after the orders fired before it.
            triggered(3, 6, "99"),
            trade(4, "98", "1", Side::Sell, (2, 9, "0"), (6, 3, "0")),
            delta(Side::Buy, "98", "0"),
            delta(Side::Buy, "99", "0"),
            delta(Side::Sell, "100", "0"),
            delta(Side::Sell, "101", "0"),
        ]
    );
    assert!(h.engine.market(BTC).unwrap().triggers.is_empty());
}
