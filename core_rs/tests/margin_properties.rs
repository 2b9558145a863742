//! Property tests of clearing and liquidation (MECHANICS §9) on random streams built to stress
//! margin: small deposits, random leverage, orders around a moving mark, mark crashes and spikes of
//! up to 30 %, funding at up to ±0.75 %, ADL rankings, withdrawals and insurance payouts; half the
//! accounts start isolated, a third of them trade in hedge mode, and margin types switch and
//! isolated margin moves at random.
//!
//! After every command:
//! - §9.1 money is conserved: Σ (wallet − position cost) over all accounts = deposits − withdrawals;
//! - §9.2 long open interest equals short open interest;
//! - §9.3 funding is conserved: Σ funding payments + dust = 0 for each `ApplyFunding`;
//! - §9.6 the insurance fund's margin balance (wallet + unrealised PnL at the mark: it holds the
//!   positions it took over) never goes negative;
//! - §9.7/§9.8 ADL only closes an existing opposite position, never flips it, never touches a
//!   flat account;
//! - risk never increases during a liquidation: between an account's `LiquidationStarted` and
//!   `LiquidationFinished` every fill of that account shrinks one of its positions;
//! - after every mark or funding step, no margin unit (cross part or isolated leg) is left under its
//!   maintenance margin (every underwater unit was found and liquidated: none is missed);
//! - a flat leg, and every leg of a cross symbol, holds no isolated margin;
//! - §9.11 replaying the stream gives the same events and state hash.

use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::event::{BalanceKind, PayoutReason};
use derivatives_core::liquidation;
use derivatives_core::order::{OrderType, PositionSide, Side, TimeInForce};
use derivatives_core::testkit::{instrument, limit, Harness};
use derivatives_core::units::{Price, Qty, Quote, Rate};
use derivatives_core::{Command, Event, PlaceOrder};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const BTC: u32 = 1;
const ACCOUNTS: u64 = 8;
const TICK: i64 = 10_000_000; // 0.1
const LOT: i64 = 100_000; // 0.001

/// One random step, decoded from a few random numbers.
#[derive(Clone, Debug)]
enum Step {
    Order { account: u64, buy: bool, market: bool, offset_ticks: i64, lots: i64 },
    Mark { percent_move: i64 },
    Funding { rate_bp: i64 },
    Leverage { account: u64, leverage: u32 },
    Withdraw { account: u64, amount: i64 },
    Ranking { shorts: bool, first: u64 },
    Payout { account: u64, amount: i64 },
    MarginType { account: u64, isolated: bool },
    IsolatedMargin { account: u64, amount: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1..=ACCOUNTS, any::<bool>(), any::<bool>(), -40_i64..40, 1_i64..400)
            .prop_map(|(account, buy, market, offset_ticks, lots)| Step::Order { account, buy, market, offset_ticks, lots }),
        3 => (-30_i64..=30).prop_map(|percent_move| Step::Mark { percent_move }),
        1 => (-75_i64..=75).prop_map(|rate_bp| Step::Funding { rate_bp }),
        1 => (1..=ACCOUNTS, 1_u32..=60).prop_map(|(account, leverage)| Step::Leverage { account, leverage }),
        1 => (1..=ACCOUNTS, 1_i64..2_000).prop_map(|(account, amount)| Step::Withdraw { account, amount }),
        1 => (any::<bool>(), 1..=ACCOUNTS).prop_map(|(shorts, first)| Step::Ranking { shorts, first }),
        1 => (1..=ACCOUNTS, 1_i64..50).prop_map(|(account, amount)| Step::Payout { account, amount }),
        1 => (1..=ACCOUNTS, any::<bool>()).prop_map(|(account, isolated)| Step::MarginType { account, isolated }),
        1 => (1..=ACCOUNTS, -500_i64..500).prop_map(|(account, amount)| Step::IsolatedMargin { account, amount }),
    ]
}

fn whole(units: i64) -> Quote {
    Quote(units * 100_000_000)
}

/// Turns steps into commands, tracking the mark so prices stay near it (inside the bands).
fn commands(deposits: &[i64], steps: &[Step]) -> Vec<Command> {
    let mut out = vec![Command::AddInstrument(instrument(BTC, "BTCUSDT"))];
    let mut mark = 50_000 * 100_000_000_i64;
    out.push(Command::SetMarkPrice { symbol: BTC, mark: Price(mark), index: Price(mark) });
    out.push(Command::Deposit { account: INSURANCE_FUND, amount: whole(200) });
    out.push(Command::Deposit { account: 99, amount: whole(50_000_000) }); // a deep market maker
    for (account, amount) in (1..=ACCOUNTS).zip(deposits) {
        out.push(Command::Deposit { account, amount: whole(*amount) });
        if account % 2 == 0 {
            out.push(Command::SetMarginType { account, symbol: BTC, isolated: true });
        }
        if is_hedge(account) {
            out.push(Command::SetPositionMode { account, hedge: true });
        }
    }
    for step in steps {
        let near = |offset: i64| Price(((mark / TICK) + offset).max(1) * TICK);
        match *step {
            Step::Order { account, buy, market, offset_ticks, lots } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let mut order = limit(account, BTC, side, near(offset_ticks), Qty(lots * LOT));
                if is_hedge(account) {
                    // Even lots open a leg, odd ones close the other (refused when too large).
                    let long = (lots % 2 == 0) == buy;
                    order.position_side = if long { PositionSide::Long } else { PositionSide::Short };
                }
                if market {
                    order = PlaceOrder { order_type: OrderType::Market, price: None, time_in_force: TimeInForce::Gtc, ..order };
                }
                // The maker quotes both sides around the mark so orders find liquidity.
                out.push(Command::CancelAll { account: 99, symbol: BTC });
                out.push(Command::PlaceOrder(limit(99, BTC, Side::Buy, near(-3), Qty(2_000 * LOT))));
                out.push(Command::PlaceOrder(limit(99, BTC, Side::Sell, near(3), Qty(2_000 * LOT))));
                out.push(Command::PlaceOrder(order));
            }
            Step::Mark { percent_move } => {
                mark = (mark / 100 * (100 + percent_move)).max(TICK) / TICK * TICK;
                out.push(Command::CancelAll { account: 99, symbol: BTC });
                out.push(Command::SetMarkPrice { symbol: BTC, mark: Price(mark), index: Price(mark) });
            }
            Step::Funding { rate_bp } => out.push(Command::ApplyFunding { symbol: BTC, rate: Rate(rate_bp * 10_000), mark: Price(mark) }),
            Step::Leverage { account, leverage } => out.push(Command::SetLeverage { account, symbol: BTC, leverage }),
            Step::Withdraw { account, amount } => out.push(Command::Withdraw { account, amount: whole(amount), key: 0 }),
            Step::Ranking { shorts, first } => {
                let accounts = (0..ACCOUNTS).map(|i| 1 + (first + i) % ACCOUNTS).collect();
                out.push(Command::SetAdlRanking { symbol: BTC, side: if shorts { Side::Sell } else { Side::Buy }, accounts });
            }
            Step::Payout { account, amount } => {
                out.push(Command::InsurancePayout { account, amount: whole(amount), reason: PayoutReason::Compensation, key: 0 });
            }
            Step::MarginType { account, isolated } => out.push(Command::SetMarginType { account, symbol: BTC, isolated }),
            Step::IsolatedMargin { account, amount } => out.push(Command::AdjustIsolatedMargin {
                account,
                symbol: BTC,
                position_side: if is_hedge(account) { PositionSide::Long } else { PositionSide::Both },
                amount: Quote(amount * 100_000_000),
            }),
        }
    }
    out
}

/// Accounts that trade in hedge mode.
const fn is_hedge(account: u64) -> bool {
    account <= ACCOUNTS && account.is_multiple_of(3)
}

/// Every account's BTC legs: ((account, leg), signed quantity).
fn positions(h: &Harness) -> Vec<((u64, PositionSide), i64)> {
    let accounts = h.engine.accounts();
    let mut out = Vec::new();
    for id in accounts.ids() {
        for (i, &leg) in PositionSide::ALL.iter().enumerate() {
            out.push(((id, leg), accounts.get(id).map_or(0, |a| a.symbols.get(&BTC).map_or(0, |s| s.positions[i].qty))));
        }
    }
    out
}

fn check_none_underwater(h: &Harness, command: &Command) -> Result<(), TestCaseError> {
    let accounts = h.engine.accounts();
    for id in accounts.ids() {
        let account = accounts.get(id).expect("listed");
        for state in account.symbols.values() {
            for (leg, margin) in state.positions.iter().zip(state.isolated_margin) {
                prop_assert!(
                    margin.raw() == 0 || (state.isolated && leg.qty != 0),
                    "account {} keeps isolated margin {} on {:?}",
                    id,
                    margin.raw(),
                    leg
                );
            }
        }
        if !matches!(command, Command::SetMarkPrice { .. } | Command::ApplyFunding { .. }) {
            continue;
        }
        for unit in liquidation::units(account) {
            let (balance, maintenance) =
                liquidation::unit_health(account, unit, h.engine.market_map(), h.engine.reference_prices()).expect("fits");
            prop_assert!(
                maintenance.raw() == 0 || balance >= maintenance,
                "account {} {:?} left under maintenance after {:?}",
                id,
                unit,
                command
            );
        }
    }
    Ok(())
}

fn check(h: &Harness, events: &[Event], before: &[((u64, PositionSide), i64)], deposited: &mut i128) -> Result<(), TestCaseError> {
    let mut funding_total = 0_i128;
    let mut liquidating: Vec<u64> = Vec::new();
    // Positions as the events go: a liquidation order can open a position for a resting maker
    // that an ADL of the same command then closes.
    let mut held: std::collections::BTreeMap<(u64, PositionSide), i64> = before.iter().copied().collect();
    for event in events {
        match *event {
            Event::LiquidationStarted { account, .. } => liquidating.push(account),
            Event::LiquidationFinished { account, .. } => liquidating.retain(|&a| a != account),
            Event::FillSettled { account, qty, position_qty, position_side, .. } => {
                let before = position_qty - qty;
                prop_assert!(
                    !liquidating.contains(&account) || position_qty.abs() < before.abs(),
                    "liquidation of {} grew a position {} -> {}",
                    account,
                    before,
                    position_qty
                );
                held.insert((account, position_side), position_qty);
            }
            Event::BalanceChanged { amount, kind: BalanceKind::Deposit | BalanceKind::Withdrawal, .. } => {
                *deposited += i128::from(amount.raw())
            }
            Event::BalanceChanged { amount, kind: BalanceKind::FundingFee, .. } => funding_total += i128::from(amount.raw()),
            Event::AutoDeleveraged { account, qty, .. } => {
                let leg = match (is_hedge(account), qty < 0) {
                    (false, _) => PositionSide::Both,
                    (true, true) => PositionSide::Long,
                    (true, false) => PositionSide::Short,
                };
                let held = held.get(&(account, leg)).copied().unwrap_or(0);
                prop_assert!(held != 0, "ADL touched flat account {}", account);
                prop_assert!(qty.signum() == -held.signum() && qty.abs() <= held.abs(), "ADL of {} flips or exceeds {}", qty, held);
            }
            _ => {}
        }
    }
    prop_assert_eq!(funding_total, 0, "funding not conserved");
    let accounts = h.engine.accounts();
    let mut total = 0_i128;
    let (mut long, mut short) = (0_i128, 0_i128);
    for id in accounts.ids() {
        let account = accounts.get(id).expect("listed");
        total += i128::from(account.wallet.raw());
        for p in account.symbols.values().flat_map(|s| s.positions.iter()) {
            total -= i128::from(p.cost.raw());
            if p.qty > 0 {
                long += i128::from(p.qty)
            } else {
                short -= i128::from(p.qty)
            }
        }
    }
    prop_assert_eq!(total, *deposited, "money created or destroyed");
    prop_assert_eq!(long, short, "open interest unbalanced");
    prop_assert_eq!(i128::from(accounts.open_interest(BTC)), long, "the open interest query disagrees");
    if let Some(fund) = accounts.get(INSURANCE_FUND) {
        let mark = h.engine.reference_prices()[&BTC];
        let pnl = fund.symbols.get(&BTC).map_or(Ok(Quote::ZERO), |s| s.unrealised_pnl(mark)).expect("fits");
        prop_assert!(
            fund.wallet.raw() + pnl.raw() >= 0,
            "insurance fund margin balance negative: {} + {} {:#?}",
            fund.wallet.raw(),
            pnl.raw(),
            events
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn prop_margin_invariants_hold_through_crashes(
        deposits in prop::collection::vec(50_i64..20_000, ACCOUNTS as usize),
        steps in prop::collection::vec(step(), 1..120),
    ) {
        let stream = commands(&deposits, &steps);
        let mut h = Harness { now: 1_000, ..Harness::default() };
        let mut replay = Harness { now: 1_000, ..Harness::default() };
        let mut deposited = 0_i128;
        for command in &stream {
            let before = positions(&h);
            let events = h.send(command.clone());
            check(&h, &events, &before, &mut deposited)?;
            check_none_underwater(&h, command)?;
            prop_assert_eq!(replay.send(command.clone()), events);
        }
        prop_assert_eq!(h.engine.state_hash(), replay.engine.state_hash());
    }
}

/// A long seeded run through the same checks, which must actually reach every path.
#[test]
fn test_seeded_stress_run_reaches_liquidation_takeover_adl_funding_isolated_and_hedge_paths() {
    let mut rng = derivatives_core::workload::SplitMix64::new(7);
    let mut pick = |low: i64, high: i64| low + i64::try_from(rng.below(u64::try_from(high - low).expect("range"))).expect("fits");
    let deposits: Vec<i64> = (0..ACCOUNTS).map(|_| pick(50, 5_000)).collect();
    let steps: Vec<Step> = (0..4_000)
        .map(|_| match pick(0, 16) {
            0..=5 => Step::Order {
                account: u64::try_from(pick(1, 9)).expect("small"),
                buy: pick(0, 2) == 0,
                market: pick(0, 3) == 0,
                offset_ticks: pick(-40, 40),
                lots: pick(1, 400),
            },
            6..=8 => Step::Mark { percent_move: pick(-30, 31) },
            9 => Step::Funding { rate_bp: pick(-75, 76) },
            10 => {
                Step::Leverage { account: u64::try_from(pick(1, 9)).expect("small"), leverage: u32::try_from(pick(1, 61)).expect("small") }
            }
            11 => Step::Withdraw { account: u64::try_from(pick(1, 9)).expect("small"), amount: pick(1, 500) },
            12 => Step::Ranking { shorts: pick(0, 2) == 0, first: u64::try_from(pick(1, 9)).expect("small") },
            13 => Step::MarginType { account: u64::try_from(pick(1, 9)).expect("small"), isolated: pick(0, 2) == 0 },
            14 => Step::IsolatedMargin { account: u64::try_from(pick(1, 9)).expect("small"), amount: pick(-300, 300) },
            _ => Step::Order {
                account: u64::try_from(pick(1, 9)).expect("small"),
                buy: true,
                market: true,
                offset_ticks: 0,
                lots: pick(100, 400),
            },
        })
        .collect();
    let stream = commands(&deposits, &steps);
    let mut h = Harness { now: 1_000, ..Harness::default() };
    let mut deposited = 0_i128;
    let mut seen = [0_usize; 6];
    for command in &stream {
        let before = positions(&h);
        let isolated_before =
            |account: u64| h.engine.accounts().get(account).is_some_and(|a| a.symbols.get(&BTC).is_some_and(|s| s.isolated));
        let isolated_accounts: Vec<u64> = (1..=ACCOUNTS).filter(|&a| isolated_before(a)).collect();
        let events = h.send(command.clone());
        check(&h, &events, &before, &mut deposited).unwrap_or_else(|e| panic!("{e}"));
        check_none_underwater(&h, command).unwrap_or_else(|e| panic!("{e}"));
        for event in &events {
            match event {
                Event::LiquidationStarted { account, .. } if isolated_accounts.contains(account) => {
                    seen[0] += 1;
                    seen[4] += 1;
                }
                Event::LiquidationStarted { .. } => seen[0] += 1,
                Event::PositionTakenOver { .. } => seen[1] += 1,
                Event::AutoDeleveraged { .. } => seen[2] += 1,
                Event::FundingApplied { .. } => seen[3] += 1,
                Event::FillSettled { position_side: PositionSide::Long | PositionSide::Short, .. } => seen[5] += 1,
                _ => {}
            }
        }
    }
    let [liquidations, takeovers, adl, funding, isolated, hedge_fills] = seen;
    assert!(liquidations >= 5 && takeovers > 0 && adl > 0 && funding > 0 && isolated > 0 && hedge_fills > 0, "paths reached: {seen:?}");
}
