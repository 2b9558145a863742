//! Worked examples of clearing: fees, realised PnL, the margin check, leverage, the ledger
//! commands, position modes, reduce-only and close-position. Each number is computed by hand in
//! the comment beside it.
//!
//! Formulas: Binance USD-M "trading fee = notional × fee rate" (fee FAQ,
//! https://www.binance.com/en/support/faq/360033544231) and "initial margin = notional /
//! leverage" (MECHANICS §4.1); realised PnL = (exit − entry) × qty × side.

use derivatives_core::accounts::{FEE_ACCOUNT, FIRST_USER_ACCOUNT, INSURANCE_FUND};
use derivatives_core::event::{BalanceKind, ExpireReason};
use derivatives_core::order::{OrderType, PositionSide, Side};
use derivatives_core::reject::RejectReason;
use derivatives_core::testkit::{dec, instrument, limit, market, px, qty, rejection, usdt, Harness};
use derivatives_core::units::Quote;
use derivatives_core::{Command, Engine, Event, PlaceOrder};

const BTC: u32 = 1;

fn wallet(h: &Harness, account: u64) -> Quote {
    h.engine.accounts().get(account).map_or(Quote::ZERO, |a| a.wallet)
}

fn settlements(events: &[Event]) -> Vec<(u64, i64, Quote, Quote, Quote)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::FillSettled { account, qty, fee, realised_pnl, wallet, .. } => Some((account, qty, fee, realised_pnl, wallet)),
            _ => None,
        })
        .collect()
}

#[test]
fn test_fees_and_realised_pnl_of_a_round_trip() {
    let mut h = Harness::btc_at_mark(&[(1, "10000"), (2, "10000"), (3, "10000")]);
    h.place(limit(1, BTC, Side::Sell, px("50000"), qty("0.1")));
    // Account 2 takes 0.1 at 50,000: notional 5,000. Maker fee 5,000 × 0.0002 = 1; taker 2.5.
    let events = h.place(limit(2, BTC, Side::Buy, px("50000"), qty("0.1")));
    assert_eq!(
        settlements(&events),
        vec![(1, -dec("0.1"), usdt("1"), Quote::ZERO, usdt("9999")), (2, dec("0.1"), usdt("2.5"), Quote::ZERO, usdt("9997.5")),]
    );
    // Account 2 sells 0.1 at 51,000 to account 3: PnL (51,000 − 50,000) × 0.1 = 100; taker fee
    // 5,100 × 0.0005 = 2.55; account 3's maker fee 5,100 × 0.0002 = 1.02.
    h.place(limit(3, BTC, Side::Buy, px("51000"), qty("0.1")));
    let events = h.place(limit(2, BTC, Side::Sell, px("51000"), qty("0.1")));
    assert_eq!(
        settlements(&events),
        vec![(3, dec("0.1"), usdt("1.02"), Quote::ZERO, usdt("9998.98")), (2, -dec("0.1"), usdt("2.55"), usdt("100"), usdt("10094.95")),]
    );
    assert_eq!(wallet(&h, FEE_ACCOUNT), usdt("7.07"), "1 + 2.5 + 1.02 + 2.55");
    let account = h.engine.accounts().get(2).unwrap();
    assert_eq!(account.symbols[&BTC].positions[0].qty, 0);
}

#[test]
fn test_orders_beyond_the_initial_margin_are_rejected() {
    // 100 USDT at the default 20x: 0.04 BTC at 50,000 = 2,000 notional needs exactly 100.
    let mut h = Harness::btc_at_mark(&[(1, "100"), (9, "1000000")]);
    let too_big = limit(1, BTC, Side::Buy, px("50000"), qty("0.041"));
    assert_eq!(rejection(&h.place(too_big)), Some(RejectReason::InsufficientMargin));
    let fits = limit(1, BTC, Side::Buy, px("50000"), qty("0.04"));
    assert!(matches!(h.place(fits)[0], Event::OrderAccepted { .. }));
    // Its margin is now used: a second order on the same side does not fit ...
    let second = limit(1, BTC, Side::Buy, px("49000"), qty("0.001"));
    assert_eq!(rejection(&h.place(second)), Some(RejectReason::InsufficientMargin));
    // ... but an order on the other side does not raise the worst case, so it passes.
    let hedge = limit(1, BTC, Side::Sell, px("51000"), qty("0.04"));
    assert!(matches!(h.place(hedge)[0], Event::OrderAccepted { .. }));
    // A buy priced above the mark also pays the open loss: 0.002 at 52,500 (5 % band) with
    // leverage 125 needs 105 / 125 + (52,500 − 50,000) × 0.002 = 0.84 + 5 > what is left.
    h.send(Command::SetLeverage { account: 9, symbol: BTC, leverage: 125 });
    h.send(Command::Deposit { account: 5, amount: usdt("5.5") });
    h.send(Command::SetLeverage { account: 5, symbol: BTC, leverage: 125 });
    let above = limit(5, BTC, Side::Buy, px("52500"), qty("0.002"));
    assert_eq!(rejection(&h.place(above)), Some(RejectReason::InsufficientMargin));
    let at_mark = limit(5, BTC, Side::Buy, px("50000"), qty("0.002"));
    assert!(matches!(h.place(at_mark)[0], Event::OrderAccepted { .. }));
}

#[test]
fn test_leverage_is_limited_by_the_bracket_and_by_margin() {
    let mut h = Harness::btc_at_mark(&[(1, "100000"), (2, "100000")]);
    let set = |h: &mut Harness, leverage| h.send(Command::SetLeverage { account: 1, symbol: BTC, leverage });
    assert_eq!(set(&mut h, 125), vec![Event::LeverageSet { account: 1, symbol: BTC, leverage: 125 }]);
    assert_eq!(rejection(&set(&mut h, 126)), Some(RejectReason::InvalidLeverage));
    assert_eq!(rejection(&set(&mut h, 0)), Some(RejectReason::InvalidLeverage));
    // A 2 BTC position (100,000 notional) is in the 50k-250k bracket: at most 100x.
    set(&mut h, 20);
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("2")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("2")));
    assert_eq!(rejection(&set(&mut h, 125)), Some(RejectReason::InvalidLeverage));
    assert_eq!(set(&mut h, 100).len(), 1);
    // 1x needs 100,000 of margin, more than the wallet holds after fees.
    assert_eq!(rejection(&set(&mut h, 1)), Some(RejectReason::InsufficientMargin));
    assert_eq!(rejection(&h.send(Command::SetLeverage { account: 1, symbol: 7, leverage: 5 })), Some(RejectReason::UnknownSymbol));
}

#[test]
fn test_deposit_withdraw_transfer_and_their_refusals() {
    let mut h = Harness::btc_at_mark(&[(1, "1000")]);
    assert_eq!(
        h.send(Command::Transfer { from: 1, to: 2, amount: usdt("300") }),
        vec![
            Event::BalanceChanged { account: 1, amount: usdt("-300"), wallet: usdt("700"), kind: BalanceKind::TransferOut },
            Event::BalanceChanged { account: 2, amount: usdt("300"), wallet: usdt("300"), kind: BalanceKind::TransferIn },
        ]
    );
    let refused = |h: &mut Harness, command| rejection(&h.send(command));
    assert_eq!(
        refused(&mut h, Command::Withdraw { account: 1, amount: usdt("700.00000001"), key: 0 }),
        Some(RejectReason::InsufficientBalance)
    );
    assert_eq!(refused(&mut h, Command::Withdraw { account: 1, amount: usdt("0"), key: 0 }), Some(RejectReason::AmountNotPositive));
    assert_eq!(refused(&mut h, Command::Deposit { account: 1, amount: usdt("-5") }), Some(RejectReason::AmountNotPositive));
    assert_eq!(refused(&mut h, Command::Transfer { from: 1, to: 1, amount: usdt("1") }), Some(RejectReason::SameAccount));
    // Margin in use cannot leave: an order for 0.1 BTC at 20x locks 250.
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.1")));
    assert_eq!(
        refused(&mut h, Command::Withdraw { account: 1, amount: usdt("450.00000001"), key: 0 }),
        Some(RejectReason::InsufficientBalance)
    );
    assert_eq!(
        h.send(Command::Withdraw { account: 1, amount: usdt("450"), key: 0 }),
        vec![Event::BalanceChanged { account: 1, amount: usdt("-450"), wallet: usdt("250"), kind: BalanceKind::Withdrawal }]
    );
    assert_eq!(wallet(&h, INSURANCE_FUND), Quote::ZERO);
}

#[test]
fn test_position_mode_switch_and_hedge_legs() {
    let mut h = Harness::btc_at_mark(&[(1, "100000"), (2, "100000")]);
    h.place(limit(1, BTC, Side::Buy, px("49000"), qty("0.1")));
    assert_eq!(rejection(&h.send(Command::SetPositionMode { account: 1, hedge: true })), Some(RejectReason::PositionModeLocked));
    h.send(Command::CancelAll { account: 1, symbol: BTC });
    assert_eq!(h.send(Command::SetPositionMode { account: 1, hedge: true }), vec![Event::PositionModeSet { account: 1, hedge: true }]);
    let both = limit(1, BTC, Side::Buy, px("50000"), qty("0.1"));
    assert_eq!(rejection(&h.place(both)), Some(RejectReason::PositionSideMismatch));
    // Long 0.3 and short 0.1 at once.
    let leg = |account, side, position_side, q: &str| PlaceOrder { position_side, ..limit(account, BTC, side, px("50000"), qty(q)) };
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.3")));
    h.place(leg(1, Side::Buy, PositionSide::Long, "0.3"));
    h.place(limit(2, BTC, Side::Buy, px("50000"), qty("0.1")));
    h.place(leg(1, Side::Sell, PositionSide::Short, "0.1"));
    let positions = h.engine.accounts().get(1).unwrap().symbols[&BTC].positions;
    assert_eq!((positions[1].qty, positions[2].qty), (dec("0.3"), -dec("0.1")));
    // Closing more than the leg holds is refused.
    assert_eq!(rejection(&h.place(leg(1, Side::Sell, PositionSide::Long, "0.301"))), Some(RejectReason::ReduceOnlyRejected));
}

#[test]
fn test_reduce_only_and_close_position() {
    let mut h = Harness::btc_at_mark(&[(1, "100000"), (2, "100000")]);
    let reduce = PlaceOrder { reduce_only: true, ..limit(1, BTC, Side::Sell, px("50000"), qty("0.1")) };
    assert_eq!(rejection(&h.place(reduce)), Some(RejectReason::ReduceOnlyRejected), "no position to reduce");
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.5")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.5")));
    let too_much = PlaceOrder { qty: qty("0.6"), ..reduce };
    assert_eq!(rejection(&h.place(too_much)), Some(RejectReason::ReduceOnlyRejected));
    // A close-position stop closes the whole long when the last price falls to 49,000.
    let stop = PlaceOrder {
        order_type: OrderType::StopMarket,
        stop_price: Some(px("49000")),
        close_position: true,
        ..market(1, BTC, Side::Sell, qty("0"))
    };
    assert!(matches!(h.place(stop)[0], Event::OrderAccepted { .. }));
    h.place(limit(2, BTC, Side::Buy, px("49000"), qty("2")));
    h.place(limit(2, BTC, Side::Sell, px("49000"), qty("0.001")));
    let long = h.engine.accounts().get(1).unwrap().symbols[&BTC].positions[0].qty;
    assert_eq!(long, 0, "the stop closed all 0.5");
    // Fired again with nothing left, a close-position order expires.
    let again = PlaceOrder { stop_price: Some(px("48000")), ..stop };
    h.place(again);
    h.send(Command::CancelAll { account: 2, symbol: BTC });
    h.place(limit(2, BTC, Side::Buy, px("48000"), qty("0.5")));
    let events = h.place(limit(2, BTC, Side::Sell, px("48000"), qty("0.5")));
    assert!(events.iter().any(|e| matches!(e, Event::OrderExpired { reason: ExpireReason::NothingToClose, .. })));
}

#[test]
fn test_hedge_closing_fill_larger_than_its_leg_opens_the_rest_on_the_other_leg() {
    let mut h = Harness::btc_at_mark(&[(1, "100000"), (2, "100000")]);
    h.send(Command::SetPositionMode { account: 1, hedge: true });
    let leg = |side, position_side, price: &str, q: &str| PlaceOrder { position_side, ..limit(1, BTC, side, px(price), qty(q)) };
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.3")));
    h.place(leg(Side::Buy, PositionSide::Long, "50000", "0.3"));
    // A resting close of the whole long, then the long shrinks by 0.2 through another close.
    h.place(leg(Side::Sell, PositionSide::Long, "50100", "0.3"));
    h.place(limit(2, BTC, Side::Buy, px("50000"), qty("0.2")));
    h.place(leg(Side::Sell, PositionSide::Long, "50000", "0.2"));
    // Now the resting 0.3 fills: 0.1 closes the long, 0.2 opens a short.
    let events = h.place(limit(2, BTC, Side::Buy, px("50100"), qty("0.3")));
    let mine: Vec<(PositionSide, i64, i64)> = events
        .iter()
        .filter_map(|e| match *e {
            Event::FillSettled { account: 1, position_side, qty, position_qty, .. } => Some((position_side, qty, position_qty)),
            _ => None,
        })
        .collect();
    assert_eq!(mine, vec![(PositionSide::Long, -dec("0.1"), 0), (PositionSide::Short, -dec("0.2"), -dec("0.2"))]);
    let positions = h.engine.accounts().get(1).unwrap().symbols[&BTC].positions;
    assert_eq!((positions[1].qty, positions[2].qty), (0, -dec("0.2")));
}

#[test]
fn test_close_position_close_all_and_reverse() {
    let mut h = Harness::btc_at_mark(&[(1, "100000"), (2, "1000000")]);
    h.send(Command::AddInstrument(instrument(2, "ETHUSDT")));
    h.send(Command::SetMarkPrice { symbol: 2, mark: px("3000"), index: px("3000") });
    let position =
        |h: &Harness, symbol: u32| h.engine.accounts().get(1).map_or(0, |a| a.symbols.get(&symbol).map_or(0, |s| s.positions[0].qty));
    // Deep two-sided liquidity from account 2 on both symbols.
    for (symbol, bid, ask) in [(BTC, "49990", "50010"), (2, "2999", "3001")] {
        h.place(limit(2, symbol, Side::Buy, px(bid), qty("10")));
        h.place(limit(2, symbol, Side::Sell, px(ask), qty("10")));
    }
    h.place(limit(1, BTC, Side::Buy, px("50010"), qty("0.3")));
    h.place(limit(1, 2, Side::Sell, px("2999"), qty("2")));
    assert_eq!((position(&h, BTC), position(&h, 2)), (dec("0.3"), -dec("2")));
    // Reverse: one market order of twice the size; the long becomes an equal short.
    let events = h.send(Command::Reverse { account: 1, symbol: BTC });
    assert!(
        matches!(events[0], Event::OrderAccepted { order: PlaceOrder { side: Side::Sell, qty: q, reduce_only: false, .. }, .. } if q == qty("0.6"))
    );
    assert_eq!(position(&h, BTC), -dec("0.3"));
    // Close one leg, then everything.
    h.send(Command::ClosePosition { account: 1, symbol: 2, position_side: PositionSide::Both });
    assert_eq!(position(&h, 2), 0);
    h.place(limit(1, 2, Side::Buy, px("3001"), qty("1")));
    h.send(Command::CloseAll { account: 1 });
    assert_eq!((position(&h, BTC), position(&h, 2)), (0, 0));
    // Nothing left to close: refused with a reason, nothing placed.
    assert_eq!(
        rejection(&h.send(Command::ClosePosition { account: 1, symbol: BTC, position_side: PositionSide::Both })),
        Some(RejectReason::ReduceOnlyRejected)
    );
    assert_eq!(rejection(&h.send(Command::Reverse { account: 1, symbol: BTC })), Some(RejectReason::ReduceOnlyRejected));
}

#[test]
fn test_stop_loss_and_take_profit_attached_on_open() {
    let mut h = Harness::btc_at_mark(&[(1, "100000"), (2, "1000000")]);
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("5")));
    h.place(limit(2, BTC, Side::Buy, px("48800"), qty("5")));
    let entry = limit(1, BTC, Side::Buy, px("50000"), qty("0.5"));
    // A stop-loss above the mark would fire at once: the whole command is refused, nothing placed.
    let refused = h.send(Command::PlaceWithStops { entry, stop_loss: Some(px("50100")), take_profit: None });
    assert_eq!(refused.len(), 1);
    assert_eq!(rejection(&refused), Some(RejectReason::WouldImmediatelyTrigger));
    let events = h.send(Command::PlaceWithStops { entry, stop_loss: Some(px("49000")), take_profit: Some(px("52000")) });
    let accepted: Vec<(OrderType, Side, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::OrderAccepted { order, .. } => Some((order.order_type, order.side, order.close_position)),
            _ => None,
        })
        .collect();
    assert_eq!(
        accepted,
        vec![
            (OrderType::Limit, Side::Buy, false),
            (OrderType::StopMarket, Side::Sell, true),
            (OrderType::TakeProfitMarket, Side::Sell, true)
        ]
    );
    let position = |h: &Harness| h.engine.accounts().get(1).unwrap().symbols[&BTC].positions[0].qty;
    assert_eq!(position(&h), dec("0.5"));
    // The mark falls through the stop: the whole position is sold into the 48,800 bid.
    let fired = h.send(Command::SetMarkPrice { symbol: BTC, mark: px("48950"), index: px("48950") });
    assert!(fired.iter().any(|e| matches!(e, Event::OrderTriggered { account: 1, .. })));
    assert_eq!(position(&h), 0);
    // The take-profit left behind finds nothing to close when it fires.
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px("50000"), index: px("50000") });
    let late = h.send(Command::SetMarkPrice { symbol: BTC, mark: px("52000"), index: px("52000") });
    assert!(late.iter().any(|e| matches!(e, Event::OrderExpired { account: 1, reason: ExpireReason::NothingToClose, .. })));
}

#[test]
fn test_fee_tiers_replace_the_instrument_rates() {
    use derivatives_core::units::Rate;
    let mut h = Harness::btc_at_mark(&[(1, "100000"), (2, "100000")]);
    let tier = |maker: &str, taker: &str| Some((Rate(dec(maker)), Rate(dec(taker))));
    // Maker rebate 0.01 %, taker 0.03 %: on 5,000 of notional the maker earns 0.5, the taker pays 1.5.
    assert_eq!(
        h.send(Command::SetFeeTier { account: 2, rates: tier("-0.0001", "0.0003") })[0],
        Event::FeeTierSet { account: 2, rates: tier("-0.0001", "0.0003") }
    );
    h.send(Command::SetFeeTier { account: 1, rates: tier("0.0001", "0.0003") });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.1")));
    let events = h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.1")));
    let fees: Vec<(u64, Quote)> = settlements(&events).iter().map(|&(a, _, fee, _, _)| (a, fee)).collect();
    assert_eq!(fees, vec![(2, usdt("-0.5")), (1, usdt("1.5"))]);
    assert_eq!(wallet(&h, FEE_ACCOUNT), usdt("1"));
    // Unsafe tiers are refused: beyond 1 %, or a rebate larger than the taker fee.
    for rates in [tier("0.02", "0.02"), tier("-0.0005", "0.0004")] {
        assert_eq!(rejection(&h.send(Command::SetFeeTier { account: 2, rates })), Some(RejectReason::InvalidFeeRates));
    }
    // The tier is part of the state: a snapshot restores it exactly.
    let restored = derivatives_core::Engine::restore(&h.engine.snapshot()).expect("restores");
    assert_eq!(restored.state_hash(), h.engine.state_hash());
    assert_eq!(restored.accounts().get(2).map(|a| a.fee_tier), Some(tier("-0.0001", "0.0003")));
    // Back to the instrument's rates (maker 0.02 %).
    h.send(Command::SetFeeTier { account: 2, rates: None });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.1")));
    let events = h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.1")));
    assert_eq!(settlements(&events)[0].2, usdt("1"));
}

#[test]
fn test_a_keyed_withdrawal_happens_once_even_across_a_snapshot() {
    let mut h = Harness::btc_at_mark(&[(1, "100")]);
    let debit = Event::BalanceChanged { account: 1, amount: usdt("-30"), wallet: usdt("70"), kind: BalanceKind::Withdrawal };
    assert_eq!(h.send(Command::Withdraw { account: 1, amount: usdt("30"), key: 77 }), vec![debit]);
    let resend = Command::Withdraw { account: 1, amount: usdt("30"), key: 77 };
    assert_eq!(rejection(&h.send(resend.clone())), Some(RejectReason::DuplicateWithdrawal));
    let mut restored = Harness { engine: Engine::restore(&h.engine.snapshot()).expect("restores"), ..h };
    assert_eq!(rejection(&restored.send(resend)), Some(RejectReason::DuplicateWithdrawal));
    assert_eq!(wallet(&restored, 1), usdt("70"), "debited once");
    // A refused keyed withdrawal does not spend its key.
    assert_eq!(
        rejection(&restored.send(Command::Withdraw { account: 1, amount: usdt("500"), key: 78 })),
        Some(RejectReason::InsufficientBalance)
    );
    assert_eq!(restored.send(Command::Withdraw { account: 1, amount: usdt("20"), key: 78 }).len(), 1);
}

#[test]
fn test_opened_accounts_are_above_every_account_seen_and_never_reused() {
    let opened = |h: &mut Harness| match h.send(Command::OpenAccount { name: "u".to_owned(), role: "trader".to_owned() }).as_slice() {
        [Event::AccountOpened { account, .. }] => *account,
        other => panic!("expected AccountOpened, got {other:?}"),
    };
    let mut h = Harness::btc_at_mark(&[(1, "100")]);
    assert_eq!(opened(&mut h), FIRST_USER_ACCOUNT + 1);
    assert_eq!(opened(&mut h), FIRST_USER_ACCOUNT + 2);
    // An account funded directly above the counter (an operator's or an older version's) is skipped.
    h.send(Command::Deposit { account: FIRST_USER_ACCOUNT + 9, amount: usdt("5000") });
    assert_eq!(opened(&mut h), FIRST_USER_ACCOUNT + 10);
    let mut restored = Harness { engine: Engine::restore(&h.engine.snapshot()).expect("restores"), ..h };
    assert_eq!(opened(&mut restored), FIRST_USER_ACCOUNT + 11, "the counter survives a snapshot");
    let too_long = Command::OpenAccount { name: "x".repeat(65), role: "trader".to_owned() };
    assert_eq!(rejection(&restored.send(too_long)), Some(RejectReason::InvalidAccountOwner));
}
