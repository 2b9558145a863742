//! Worked examples of liquidation (MECHANICS §5.1, §6.2).
//!
//! Set-up shared by the examples: account 1 deposits 1,000 USDT and, at the default 20x, buys
//! 0.4 BTC at 50,000 as a taker (notional 20,000, IM 1,000, taker fee 10: wallet 990).
//! Binance's single-position formulas (MECHANICS §5.1, bracket 1: MMR 0.4 %, cum 0):
//! - liquidation price `LP = (Q·EP − WB − cum) / (Q·(1 − MMR)) = 19,010 / 0.3984 = 47,715.8634…`,
//!   so a mark of 47,715.9 is safe and 47,715.8 liquidates;
//! - bankruptcy price `BP = EP − WB / Q = 50,000 − 990 / 0.4 = 47,525` (already on the tick).

use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::event::{BalanceKind, ExpireReason};
use derivatives_core::order::{PositionSide, Side};
use derivatives_core::testkit::{dec, instrument, limit, px, qty, Harness};
use derivatives_core::units::Quote;
use derivatives_core::{Command, Event};

const BTC: u32 = 1;

fn usdt(text: &str) -> Quote {
    Quote(dec(text))
}

fn mark(h: &mut Harness, price: &str) -> Vec<Event> {
    h.send(Command::SetMarkPrice { symbol: BTC, mark: px(price), index: px(price) })
}

fn wallet(h: &Harness, account: u64) -> Quote {
    h.engine.accounts().get(account).map_or(Quote::ZERO, |a| a.wallet)
}

fn position(h: &Harness, account: u64) -> (i64, Quote) {
    let p = h.engine.accounts().get(account).map(|a| a.symbols[&BTC].positions[0]).unwrap_or_default();
    (p.qty, p.cost)
}

/// Account 1 long 0.4 at 50,000 with wallet 990; account 2 is the market maker; the insurance
/// fund is empty.
fn long_account() -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, "50000");
    h.send(Command::Deposit { account: 1, amount: usdt("1000") });
    h.send(Command::Deposit { account: 2, amount: usdt("10000000") });
    h.place(limit(2, BTC, Side::Sell, px("50000"), qty("0.4")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.4")));
    assert_eq!(wallet(&h, 1), usdt("990"));
    h
}

#[test]
fn test_liquidation_triggers_strictly_below_the_maintenance_margin_on_mark() {
    let mut h = long_account();
    assert_eq!(mark(&mut h, "47715.9").len(), 1, "MB 76.36 ≥ MM 76.34544: safe");
    // A trade far below on the last price never liquidates: only the mark counts.
    h.send(Command::Deposit { account: 3, amount: usdt("1000") });
    h.place(limit(2, BTC, Side::Buy, px("47600"), qty("0.001")));
    h.place(limit(3, BTC, Side::Sell, px("47600"), qty("0.001")));
    assert_eq!(h.engine.market(BTC).unwrap().last_price, Some(px("47600")));
    assert_eq!(position(&h, 1).0, dec("0.4"));
    let events = mark(&mut h, "47715.8");
    assert_eq!(events[1], Event::LiquidationStarted { account: 1, margin_balance: usdt("76.32"), maintenance: usdt("76.34528") });
}

#[test]
fn test_liquidation_order_fills_better_than_bankruptcy_and_pays_the_fee_from_the_surplus() {
    let mut h = long_account();
    h.place(limit(2, BTC, Side::Buy, px("47600"), qty("1")));
    let events = mark(&mut h, "47700");
    let order_id = match events[2] {
        Event::LiquidationOrder { order_id, side: Side::Sell, qty: q, bankruptcy_price, .. } => {
            assert_eq!((q, bankruptcy_price), (qty("0.4"), px("47525")));
            order_id
        }
        ref other => panic!("expected the liquidation order, got {other:?}"),
    };
    // Sold 0.4 at the bid 47,600: PnL 0.4 × (47,600 − 50,000) = −960, wallet 30; surplus over BP
    // (47,600 − 47,525) × 0.4 = 30 caps the 1.25 % fee (238) at 30: the trader ends at 0.
    let trader = events.iter().find_map(|e| match *e {
        Event::FillSettled { account: 1, order_id: o, fee, realised_pnl, wallet, .. } if o == order_id => Some((fee, realised_pnl, wallet)),
        _ => None,
    });
    assert_eq!(trader, Some((Quote::ZERO, usdt("-960"), usdt("30"))), "no taker fee on a liquidation fill");
    assert!(events.contains(&Event::BalanceChanged {
        account: 1,
        amount: usdt("-30"),
        wallet: Quote::ZERO,
        kind: BalanceKind::LiquidationFee
    }));
    assert!(events.contains(&Event::BalanceChanged {
        account: INSURANCE_FUND,
        amount: usdt("30"),
        wallet: usdt("30"),
        kind: BalanceKind::LiquidationFee
    }));
    assert!(events.contains(&Event::LiquidationFinished { account: 1, closed: true }));
    assert_eq!((position(&h, 1), wallet(&h, 1)), ((0, Quote::ZERO), Quote::ZERO));
}

#[test]
fn test_unfilled_rest_is_taken_over_by_the_insurance_fund_at_the_bankruptcy_price() {
    let mut h = long_account();
    h.send(Command::Deposit { account: INSURANCE_FUND, amount: usdt("1000") });
    // Open orders are cancelled first; no bid is at or above the bankruptcy price.
    h.place(limit(1, BTC, Side::Sell, px("52000"), qty("0.1")));
    h.place(limit(2, BTC, Side::Buy, px("47000"), qty("1")));
    let events = mark(&mut h, "47600");
    assert!(events.iter().any(|e| matches!(e, Event::OrderCancelled { account: 1, .. })));
    assert!(events.iter().any(|e| matches!(e, Event::OrderExpired { account: 1, reason: ExpireReason::Unfilled, .. })));
    assert!(events.contains(&Event::PositionTakenOver {
        account: 1,
        symbol: BTC,
        position_side: PositionSide::Both,
        qty: dec("0.4"),
        price: px("47525"),
    }));
    // Closing at BP realises 0.4 × (47,525 − 50,000) = −990: exactly the wallet.
    assert_eq!(wallet(&h, 1), Quote::ZERO);
    assert_eq!(position(&h, INSURANCE_FUND), (dec("0.4"), usdt("19010")));
    assert!(!events.iter().any(|e| matches!(e, Event::Trade { .. })), "nothing traded below the bankruptcy price");
}

#[test]
fn test_a_healthy_account_is_left_alone_and_money_is_conserved() {
    let mut h = long_account();
    h.send(Command::Deposit { account: 1, amount: usdt("5000") });
    assert_eq!(mark(&mut h, "45000").len(), 1, "with 5,990 the position survives 45,000");
    h.place(limit(2, BTC, Side::Buy, px("44000"), qty("1")));
    mark(&mut h, "40000");
    // Conservation across trading, fees, liquidation and takeover: Σ (wallet − cost) = deposits.
    let accounts = h.engine.accounts();
    let total: i64 = accounts
        .ids()
        .iter()
        .map(|&id| {
            let a = accounts.get(id).unwrap();
            a.wallet.raw() - a.symbols.values().flat_map(|s| s.positions.iter()).map(|p| p.cost.raw()).sum::<i64>()
        })
        .sum();
    assert_eq!(total, dec("1000") + dec("10000000") + dec("5000"));
}

/// Account 1 long 0.4 at 50,000 (wallet 990) against shorts of 0.2 from accounts 3 and 4;
/// account 3 holds more margin, so account 4 has the higher effective leverage.
fn long_against_two_shorts() -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(BTC, "BTCUSDT")));
    mark(&mut h, "50000");
    for (account, amount) in [(1, "1000"), (3, "100000"), (4, "2000")] {
        h.send(Command::Deposit { account, amount: usdt(amount) });
    }
    h.place(limit(3, BTC, Side::Sell, px("50000"), qty("0.2")));
    h.place(limit(4, BTC, Side::Sell, px("50000"), qty("0.2")));
    h.place(limit(1, BTC, Side::Buy, px("50000"), qty("0.4")));
    assert_eq!(wallet(&h, 1), usdt("990"));
    h
}

fn deleveraged(events: &[Event]) -> Vec<(u64, i64)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::AutoDeleveraged { account, qty, price, .. } => {
                assert_eq!(price, px("47525"), "ADL happens at the bankruptcy price");
                Some((account, qty))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn test_adl_when_the_fund_cannot_absorb_the_gap_follows_the_bitmex_score() {
    // The mark gaps to 47,000, below the bankruptcy price 47,525: taking the long over would
    // cost an empty fund 0.4 × 525 = 210, so the shorts are deleveraged instead. Same PnL%,
    // account 4 has the higher effective leverage: it goes first.
    let mut h = long_against_two_shorts();
    h.place(limit(3, BTC, Side::Buy, px("47500"), qty("0.1")));
    let events = mark(&mut h, "47000");
    assert_eq!(deleveraged(&events), vec![(4, dec("0.2")), (3, dec("0.2"))]);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::OrderCancelled { account: 3, reason: derivatives_core::event::CancelReason::AutoDeleverage, .. })));
    // Shorts closed at 47,525: each realises 0.2 × 2,475 = 495; nobody pays a fee; no flips.
    assert_eq!(position(&h, 3), (0, Quote::ZERO));
    assert_eq!(position(&h, 4), (0, Quote::ZERO));
    assert_eq!(wallet(&h, 4), usdt("2493"), "2,000 − 2 (maker fee on 10,000) + 495");
}

#[test]
fn test_adl_follows_the_installed_ranking_first() {
    let mut h = long_against_two_shorts();
    h.send(Command::SetAdlRanking { symbol: BTC, side: Side::Sell, accounts: vec![3, 99] });
    let events = mark(&mut h, "47000");
    assert_eq!(deleveraged(&events), vec![(3, dec("0.2")), (4, dec("0.2"))]);
    assert_eq!(position(&h, 1), (0, Quote::ZERO));
    assert_eq!(position(&h, INSURANCE_FUND).0, 0, "nothing was taken over");
}

#[test]
fn test_funding_pays_longs_to_shorts_and_sends_the_dust_to_the_fund() {
    let mut h = long_against_two_shorts();
    let before = (wallet(&h, 1), wallet(&h, 3), wallet(&h, 4));
    // Binance: fee = notional × rate. The long: 0.4 × 50,000.1 = 20,000.04 × 0.00012345 =
    // 2.469004938, paid as 2.46900494 (rounded toward −∞). Each short: 10,000.02 × 0.00012345 =
    // 1.234502469, received as 1.23450246. The 2e-8 left over goes to the fund.
    let events = h.send(Command::ApplyFunding { symbol: BTC, rate: derivatives_core::units::Rate(12_345), mark: px("50000.1") });
    assert_eq!(wallet(&h, 1).raw(), before.0.raw() - dec("2.46900494"));
    assert_eq!(wallet(&h, 3).raw(), before.1.raw() + dec("1.23450246"));
    assert_eq!(wallet(&h, 4).raw(), before.2.raw() + dec("1.23450246"));
    assert_eq!(wallet(&h, INSURANCE_FUND), usdt("0.00000002"));
    assert!(matches!(events.last(), Some(Event::FundingApplied { dust, .. }) if *dust == usdt("0.00000002")));
}

#[test]
fn test_insurance_payout_respects_the_floor_and_pays_a_key_once() {
    use derivatives_core::event::PayoutReason::Compensation;
    use derivatives_core::reject::RejectReason;
    let mut h = long_against_two_shorts();
    h.send(Command::Deposit { account: INSURANCE_FUND, amount: usdt("100") });
    h.send(Command::SetInsuranceFloor { amount: usdt("50") });
    let payout = |amount: &str, key| Command::InsurancePayout { account: 7, amount: usdt(amount), reason: Compensation, key };
    let refused = h.send(payout("50.00000001", 9));
    assert!(matches!(refused[0], Event::CommandRejected { reason: RejectReason::InsuranceFloorBreached, .. }));
    let paid = h.send(payout("30", 9)); // a refused key was not used: it pays now
    assert_eq!(paid[0], Event::InsurancePaid { account: 7, amount: usdt("30"), reason: Compensation, key: 9 });
    let again = h.send(payout("30", 9)); // a resend of the same request changes nothing
    assert_eq!(again, vec![Event::CommandRejected { account: Some(7), symbol: None, reason: RejectReason::DuplicatePayout }]);
    let restored = derivatives_core::Engine::restore(&h.engine.snapshot()).expect("restores");
    assert_eq!(restored.state_hash(), h.engine.state_hash(), "the paid keys are part of the state");
    h.send(payout("20", 0));
    h.send(payout("0.00000001", 0)); // refused by the floor: key 0 only skips the idempotency check
    assert_eq!((wallet(&h, INSURANCE_FUND), wallet(&h, 7)), (usdt("50"), usdt("50")));
}

#[test]
fn test_account_view_shows_binance_liquidation_and_bankruptcy_prices() {
    use derivatives_core::account_view::account_view;
    let h = long_account();
    let view = account_view(&h.engine, 1).expect("account exists");
    assert_eq!(view.wallet, usdt("990"));
    let leg = &view.legs[0];
    assert_eq!((leg.qty, leg.entry_price), (dec("0.4"), px("50000")));
    // LP = 19,010 / 0.3984 = 47,715.8634… → 47,715.9 on the tick (long: up); BP = 47,525.
    assert_eq!((leg.liquidation_price, leg.bankruptcy_price), (px("47715.9"), px("47525")));
    // At mark 50,000: MM = 20,000 × 0.4 % = 80; IM = 20,000 / 20 = 1,000; available −10.
    assert_eq!((view.maintenance, view.initial_margin, view.available), (usdt("80"), usdt("1000"), usdt("-10")));
    assert!(account_view(&h.engine, 424_242).is_none());
}

#[test]
fn test_a_tick_checks_only_the_accounts_whose_trigger_it_crosses() {
    // Account 1 (one-way, BTC only): LP 47,715.86…, indexed 0.1 % above. Account 2 (the maker,
    // short in BTC only, 10,000,000 USDT) sits far above. Account 5 holds two symbols: always
    // checked. Account 6 is short ETH only: not a BTC candidate at all.
    let mut h = long_account();
    h.send(Command::AddInstrument(instrument(2, "ETHUSDT")));
    h.send(Command::SetMarkPrice { symbol: 2, mark: px("3000"), index: px("3000") });
    h.send(Command::Deposit { account: 5, amount: usdt("100000") });
    h.send(Command::Deposit { account: 6, amount: usdt("100000") });
    for (symbol, maker, price) in [(BTC, 2, "50000"), (2, 6, "3000")] {
        h.place(limit(maker, symbol, Side::Sell, px(price), qty("1")));
        h.place(limit(5, symbol, Side::Buy, px(price), qty("0.1")));
    }
    let candidates = |h: &mut Harness, mark: &str| h.engine.liquidation_candidates(BTC, px(mark));
    assert_eq!(candidates(&mut h, "50000"), vec![5], "only the two-symbol account at the current mark");
    assert_eq!(candidates(&mut h, "47760"), vec![1, 5], "47,760 ≤ 47,715.86 × 1.001: account 1 is checked");
    assert_eq!(candidates(&mut h, "48000"), vec![5]);
    assert!(candidates(&mut h, "1000000000").contains(&2), "the short is checked far above");
}
