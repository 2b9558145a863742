//! Worked examples of isolated margin (MECHANICS §4.2, §5.1, §6.2 [OURS]).
//!
//! Set-up shared by the examples: account 1 deposits 10,000 USDT, switches BTCUSDT to isolated at
//! 10x and buys 1 BTC at 50,000 as a taker (notional 50,000, taker fee 0.05 % = 25): its wallet is
//! 9,975, of which 5,000 (the initial margin, 50,000 / 10) moved into the position's isolated
//! margin, leaving a cross part of 4,975. Binance's single-position formulas with `WB` the
//! isolated margin (MECHANICS §5.1, bracket 1: MMR 0.4 %, cum 0):
//! - `LP = (Q·EP − WB − cum) / (Q·(1 − MMR)) = 45,000 / 0.996 = 45,180.7228…`, so 45,180.8 on the tick;
//! - `BP = EP − WB / Q = 45,000`.

use derivatives_core::account_view::account_view;
use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::event::BalanceKind;
use derivatives_core::order::{PositionSide, Side};
use derivatives_core::reject::RejectReason;
use derivatives_core::testkit::{dec, instrument, limit, px, qty, Harness};
use derivatives_core::units::{Quote, Rate};
use derivatives_core::{Command, Event, PlaceOrder};

const BTC: u32 = 1;

fn usdt(text: &str) -> Quote {
    Quote(dec(text))
}

fn mark(h: &mut Harness, price: &str) -> Vec<Event> {
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px(price), index: px(price) })
}

/// (wallet, cross wallet, isolated margin of the BOTH leg, position qty) of `account`.
fn balances(h: &Harness, account: u64) -> (Quote, Quote, Quote, i64) {
    let a = h.engine.accounts().get(account).expect("account exists");
    let s = &a.symbols[&BTC];
    (a.wallet, a.cross_wallet(), s.isolated_margin[0], s.positions[0].qty)
}

fn adjust(h: &mut Harness, account: u64, position_side: PositionSide, amount: &str) -> Vec<Event> {
    h.send(Command::AdjustIsolatedMargin { account, symbol: BTC, position_side, amount: usdt(amount) })
}

fn rejection(events: &[Event]) -> Option<RejectReason> {
    events.iter().find_map(|e| match *e {
        Event::OrderRejected { reason, .. } | Event::CommandRejected { reason, .. } => Some(reason),
        _ => None,
    })
}

/// Account 1 isolated long 1 BTC at 50,000 (isolated margin 5,000); account 2 the market maker
/// (cross); the insurance fund holds 100,000.
fn isolated_long() -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, "50000");
    h.send(Command::Deposit { account: 1, amount: usdt("10000") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.send(Command::Deposit { account: INSURANCE_FUND, amount: usdt("100000") });
    let set = h.send(Command::SetMarginType { account: 1, symbol: BTC, isolated: true });
    assert_eq!(set, vec![Event::MarginTypeSet { account: 1, symbol: BTC, isolated: true }]);
    h.send(Command::SetLeverage { account: 1, symbol: BTC, leverage: 10 });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("1")));
    let events = h.place(limit(1, BTC, Side::Buy, px("50000"), qty("1")));
    let moved = Event::IsolatedMarginChanged {
        account: 1,
        symbol: BTC,
        position_side: PositionSide::Both,
        amount: usdt("5000"),
        isolated_margin: usdt("5000"),
    };
    assert!(events.contains(&moved), "the opened quantity's IM moves into the leg: {events:?}");
    assert_eq!(balances(&h, 1), (usdt("9975"), usdt("4975"), usdt("5000"), dec("1")));
    h
}

#[test]
fn test_isolated_position_shows_its_own_liquidation_and_bankruptcy_price() {
    let h = isolated_long();
    let view = account_view(&h.engine, 1).expect("account 1");
    let leg = &view.legs[0];
    assert!(leg.isolated);
    assert_eq!((leg.isolated_margin, leg.liquidation_price, leg.bankruptcy_price), (usdt("5000"), px("45180.8"), px("45000")));
    assert_eq!((view.wallet, view.cross_wallet), (usdt("9975"), usdt("4975")));
    // The cross part carries no position: its margin balance is the cross wallet, no maintenance.
    assert_eq!((view.margin_balance, view.maintenance, view.available), (usdt("4975"), Quote::ZERO, usdt("4975")));
}

#[test]
fn test_isolated_liquidation_takes_only_the_isolated_margin() {
    let mut h = isolated_long();
    assert_eq!(mark(&mut h, "45200").len(), 1, "MB 200 ≥ MM 180.8: safe");
    let events = mark(&mut h, "45100");
    assert_eq!(events[1], Event::LiquidationStarted { account: 1, margin_balance: usdt("100"), maintenance: usdt("180.4") });
    // No bid: the fund takes the position over at the bankruptcy price 45,000.
    let taken = Event::PositionTakenOver { account: 1, symbol: BTC, position_side: PositionSide::Both, qty: dec("1"), price: px("45000") };
    assert!(events.contains(&taken), "{events:?}");
    assert_eq!(events.last(), Some(&Event::LiquidationFinished { account: 1, closed: true }));
    // The loss is 5,000, exactly the isolated margin; the cross part keeps its 4,975.
    assert_eq!(balances(&h, 1), (usdt("4975"), usdt("4975"), Quote::ZERO, 0));
    assert!(!events.iter().any(|e| matches!(e, Event::BalanceChanged { account: 1, kind: BalanceKind::InsuranceClear, .. })));
}

#[test]
fn test_adding_margin_moves_the_liquidation_price_and_removal_keeps_the_initial_margin() {
    let mut h = isolated_long();
    assert_eq!(rejection(&adjust(&mut h, 1, PositionSide::Both, "-0.00000001")), Some(RejectReason::IsolatedBalanceInsufficient));
    assert_eq!(rejection(&adjust(&mut h, 1, PositionSide::Both, "4975.00000001")), Some(RejectReason::CrossBalanceInsufficient));
    let added = adjust(&mut h, 1, PositionSide::Both, "1000");
    let expected = Event::IsolatedMarginChanged {
        account: 1,
        symbol: BTC,
        position_side: PositionSide::Both,
        amount: usdt("1000"),
        isolated_margin: usdt("6000"),
    };
    assert_eq!(added, vec![expected]);
    assert_eq!(balances(&h, 1), (usdt("9975"), usdt("3975"), usdt("6000"), dec("1")));
    // LP = 44,000 / 0.996 = 44,176.7068… → 44,176.8; BP = 44,000.
    let leg = account_view(&h.engine, 1).expect("account 1").legs[0].clone();
    assert_eq!((leg.liquidation_price, leg.bankruptcy_price), (px("44176.8"), px("44000")));
    assert_eq!(mark(&mut h, "45100").len(), 1, "safe with the added margin");
    // At 45,100 the leg's uPnL is −4,900 and its IM 4,510: it can spare 6,000 − 4,900 − 4,510 < 0.
    assert_eq!(rejection(&adjust(&mut h, 1, PositionSide::Both, "-1")), Some(RejectReason::IsolatedBalanceInsufficient));
    mark(&mut h, "50000");
    assert_eq!(rejection(&adjust(&mut h, 1, PositionSide::Both, "-1000.00000001")), Some(RejectReason::IsolatedBalanceInsufficient));
    assert_eq!(rejection(&adjust(&mut h, 1, PositionSide::Both, "-1000")), None);
    assert_eq!(balances(&h, 1), (usdt("9975"), usdt("4975"), usdt("5000"), dec("1")));
}

#[test]
fn test_bad_margin_commands_are_rejected_and_change_nothing() {
    let mut h = isolated_long();
    let before = (account_view(&h.engine, 1), account_view(&h.engine, 2));
    let cases: Vec<(Command, RejectReason)> = vec![
        (Command::SetMarginType { account: 1, symbol: BTC, isolated: false }, RejectReason::MarginTypePositionOpen),
        (Command::SetMarginType { account: 1, symbol: BTC, isolated: true }, RejectReason::MarginTypeUnchanged),
        (Command::SetMarginType { account: INSURANCE_FUND, symbol: BTC, isolated: true }, RejectReason::ReservedAccount),
        (Command::SetMarginType { account: 1, symbol: 9, isolated: true }, RejectReason::UnknownSymbol),
        (Command::SetLeverage { account: 1, symbol: BTC, leverage: 5 }, RejectReason::InsufficientMargin),
        (
            Command::AdjustIsolatedMargin { account: 1, symbol: BTC, position_side: PositionSide::Long, amount: usdt("1") },
            RejectReason::PositionSideMismatch,
        ),
        (
            Command::AdjustIsolatedMargin { account: 1, symbol: BTC, position_side: PositionSide::Both, amount: Quote::ZERO },
            RejectReason::AmountNotPositive,
        ),
        (
            Command::AdjustIsolatedMargin { account: 2, symbol: BTC, position_side: PositionSide::Both, amount: usdt("1") },
            RejectReason::NotIsolated,
        ),
    ];
    for (command, reason) in cases {
        let events = h.send(command.clone());
        assert_eq!(rejection(&events), Some(reason), "{command:?}");
        assert_eq!(events.len(), 1, "{command:?} did more than reject");
    }
    assert_eq!((account_view(&h.engine, 1), account_view(&h.engine, 2)), before);
    // Open orders lock the type; a flat isolated leg takes no margin.
    h.send(Command::Deposit { account: 3, amount: usdt("1000") });
    h.send(Command::SetMarginType { account: 3, symbol: BTC, isolated: true });
    assert_eq!(rejection(&adjust(&mut h, 3, PositionSide::Both, "10")), Some(RejectReason::NoPosition));
    h.place(limit(3, BTC, Side::Buy, px("49000"), qty("0.01")));
    let events = h.send(Command::SetMarginType { account: 3, symbol: BTC, isolated: false });
    assert_eq!(rejection(&events), Some(RejectReason::MarginTypeOrdersOpen));
}

#[test]
fn test_funding_and_partial_closes_settle_in_the_isolated_margin() {
    let mut h = isolated_long();
    // Long 1 at mark 50,000 and 0.01 %: pays 5, from the isolated margin.
    let events = h.send(Command::ApplyFunding { symbol: BTC, rate: Rate(dec("0.0001")), mark: px("50000") });
    let paid = Event::IsolatedMarginChanged {
        account: 1,
        symbol: BTC,
        position_side: PositionSide::Both,
        amount: usdt("-5"),
        isolated_margin: usdt("4995"),
    };
    assert!(events.contains(&paid), "{events:?}");
    assert_eq!(balances(&h, 1), (usdt("9970"), usdt("4975"), usdt("4995"), dec("1")));
    // Sell 0.4 at 50,100: 0.4 of the margin (1,998) is released and settles the +40 PnL, both to
    // the cross part; taker fee 0.4 × 50,100 × 0.05 % = 10.02 from the cross part.
    h.place(limit(2, BTC, Side::Buy, px("50100"), qty("1")));
    h.place(limit(1, BTC, Side::Sell, px("50100"), qty("0.4")));
    assert_eq!(balances(&h, 1), (usdt("9999.98"), usdt("7002.98"), usdt("2997"), dec("0.6")));
    // Closing the rest releases everything: +60 PnL, fee 15.03.
    h.place(limit(1, BTC, Side::Sell, px("50100"), qty("0.6")));
    assert_eq!(balances(&h, 1), (usdt("10044.95"), usdt("10044.95"), Quote::ZERO, 0));
}

/// Tier reduction (MECHANICS §6.2 step 3) on an isolated long of 2 BTC at 50,000, 20x (isolated
/// margin 5,000, notional 100,000: bracket 2, MMR 0.5 %, cum 50). At a mark of 47,700:
/// `MB = 5,000 + 2 × (47,700 − 50,000) = 400 < MM = 95,400 × 0.5 % − 50 = 427`.
/// Keeping `r` BTC leaves `MB' = 400 × r / 2` against `MM' = MM(r × 47,700)`: the largest `r` on
/// the 0.001 step that complies is 1.298 (`MB' = 259.6 ≥ MM' = 61,914.6 × 0.5 % − 50 = 259.573`;
/// 1.299 gives 259.8 < 259.8115), so 0.702 BTC is sold at the bankruptcy price
/// `BP = 50,000 − 5,000 / 2 = 47,500` or better, and the rest stays open.
#[test]
fn test_a_large_isolated_position_is_reduced_a_tier_instead_of_closed() {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, "50000");
    h.send(Command::Deposit { account: 1, amount: usdt("10000") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.send(Command::SetMarginType { account: 1, symbol: BTC, isolated: true });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("2")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("2")));
    assert_eq!(balances(&h, 1).2, usdt("5000"));
    mark(&mut h, "47800");
    h.place(limit(2, BTC, Side::Buy, px("47600"), qty("5")));
    let events = mark(&mut h, "47700");
    assert_eq!(events[1], Event::LiquidationStarted { account: 1, margin_balance: usdt("400"), maintenance: usdt("427") });
    let order = events.iter().find_map(|e| match *e {
        Event::LiquidationOrder { qty, bankruptcy_price, .. } => Some((qty, bankruptcy_price)),
        _ => None,
    });
    assert_eq!(order, Some((qty("0.702"), px("47500"))));
    assert!(events.contains(&Event::LiquidationFinished { account: 1, closed: false }), "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::PositionTakenOver { .. } | Event::AutoDeleveraged { .. })));
    // Filled at the bid 47,600: the released 0.351 of the margin (1,755) settles the −1,684.8 PnL;
    // the 70.2 left over goes to the cross part and pays the fee (capped at the 70.2 surplus).
    let (_, _, isolated, position) = balances(&h, 1);
    assert_eq!((isolated, position), (usdt("3245"), dec("1.298")));
    let leg = account_view(&h.engine, 1).expect("account 1").legs[0].clone();
    assert_eq!((leg.unrealised_pnl, leg.maintenance), (usdt("-2985.4"), usdt("259.573")));
    // MB' = 3,245 − 2,985.4 = 259.6 ≥ MM' = 259.573: safe after the step, and the next tick leaves it.
    assert_eq!(mark(&mut h, "47700").len(), 1);
}

/// Hedge mode and isolated margin: each leg is its own unit with its own prices (MECHANICS §4.2:
/// "in isolated mode each side has its own"). Long 1 and short 1 at 50,000, 10x: 5,000 each.
/// Long: LP 45,180.8, BP 45,000 (above). Short: `LP = (Q·EP + WB + cum) / (Q·(1 + MMR))`; in
/// bracket 1 it would be 55,000 / 1.004 = 54,780.88, but a notional of 54,780 is in bracket 2
/// (MMR 0.5 %, cum 50), whose `55,050 / 1.005 = 54,776.119…` is inside it: down to the tick
/// 54,776.1 (MECHANICS §5.1 bracket consistency). `BP = 50,000 + 5,000 = 55,000`.
#[test]
fn test_hedge_legs_in_isolated_margin_are_liquidated_one_at_a_time() {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, "50000");
    h.send(Command::Deposit { account: 1, amount: usdt("20000") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.send(Command::Deposit { account: INSURANCE_FUND, amount: usdt("100000") });
    h.send(Command::SetPositionMode { account: 1, hedge: true });
    h.send(Command::SetMarginType { account: 1, symbol: BTC, isolated: true });
    h.send(Command::SetLeverage { account: 1, symbol: BTC, leverage: 10 });
    let leg = |side, position_side| PlaceOrder { position_side, ..limit(1, BTC, side, px("50000"), qty("1")) };
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("1")));
    h.place(leg(Side::Buy, PositionSide::Long));
    h.place(limit(2, BTC, Side::Buy, px("50000"), qty("1")));
    h.place(leg(Side::Sell, PositionSide::Short));
    let view = account_view(&h.engine, 1).expect("account 1");
    let prices: Vec<_> = view.legs.iter().map(|l| (l.position_side, l.isolated_margin, l.liquidation_price, l.bankruptcy_price)).collect();
    assert_eq!(
        prices,
        vec![
            (PositionSide::Long, usdt("5000"), px("45180.8"), px("45000")),
            (PositionSide::Short, usdt("5000"), px("54776.1"), px("55000")),
        ]
    );
    let events = mark(&mut h, "45100");
    assert_eq!(events[1], Event::LiquidationStarted { account: 1, margin_balance: usdt("100"), maintenance: usdt("180.4") });
    let closing = events.iter().find_map(|e| match *e {
        Event::LiquidationOrder { side, position_side, .. } => Some((side, position_side)),
        _ => None,
    });
    assert_eq!(closing, Some((Side::Sell, PositionSide::Long)), "the order names the leg it closes");
    let legs = &h.engine.accounts().get(1).expect("account 1").symbols[&BTC];
    assert_eq!((legs.positions[1].qty, legs.positions[2].qty), (0, -dec("1")), "only the long leg went");
    assert_eq!(legs.isolated_margin, [Quote::ZERO, Quote::ZERO, usdt("5000")]);
}
