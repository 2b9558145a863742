//! Property tests of clearing and liquidation (MECHANICS §9) on random streams built to stress
//! margin: small deposits, random leverage, orders around a moving mark on two symbols, mark
//! crashes and spikes of up to 30 %, funding at up to ±0.75 %, ADL rankings, withdrawals and
//! insurance payouts; half the accounts start with BTC isolated beside a cross ETH position, a
//! third of them trade in hedge mode, and margin types switch and isolated margin moves at random.
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
//! - after every command the engine's margin balance and maintenance margin of every unit equal
//!   those of an independent reference written from MECHANICS (`margin_reference`);
//! - after every mark or funding step, no margin unit (cross part or isolated leg) holding that
//!   symbol is left under its maintenance margin by the reference's reckoning (every underwater
//!   unit was found and liquidated: none is missed);
//! - a flat leg, and every leg of a cross symbol, holds no isolated margin;
//! - §9.11 replaying the stream gives the same events and state hash;
//! - a rejected command changes nothing: the whole state hash after it equals the hash after a
//!   command rejected before it reads anything (the sequence number moves in both).

mod margin_reference;

use derivatives_core::accounts::margin;
use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::engine::Engine;
use derivatives_core::event::{BalanceKind, PayoutReason};
use derivatives_core::order::{OrderType, PositionSide, Side, TimeInForce};
use derivatives_core::testkit::{instrument, limit, Harness};
use derivatives_core::units::{Price, Qty, Quote, Rate};
use derivatives_core::{Command, Event, PlaceOrder};
use margin_reference as reference;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const BTC: u32 = 1;
const ETH: u32 = 2;
const SYMBOLS: [u32; 2] = [BTC, ETH];
const ACCOUNTS: u64 = 8;
const TICK: i64 = 10_000_000; // 0.1
const LOT: i64 = 100_000; // 0.001

/// One random step, decoded from a few random numbers.
#[derive(Clone, Debug)]
enum Step {
    Order { account: u64, eth: bool, buy: bool, market: bool, offset_ticks: i64, lots: i64 },
    Mark { eth: bool, percent_move: i64 },
    Funding { eth: bool, rate_bp: i64 },
    Leverage { account: u64, eth: bool, leverage: u32 },
    Withdraw { account: u64, amount: i64 },
    Ranking { eth: bool, shorts: bool, first: u64 },
    Payout { account: u64, amount: i64 },
    MarginType { account: u64, eth: bool, isolated: bool },
    IsolatedMargin { account: u64, eth: bool, amount: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1..=ACCOUNTS, any::<bool>(), any::<bool>(), any::<bool>(), -40_i64..40, 1_i64..400)
            .prop_map(|(account, eth, buy, market, offset_ticks, lots)| Step::Order { account, eth, buy, market, offset_ticks, lots }),
        3 => (any::<bool>(), -30_i64..=30).prop_map(|(eth, percent_move)| Step::Mark { eth, percent_move }),
        1 => (any::<bool>(), -75_i64..=75).prop_map(|(eth, rate_bp)| Step::Funding { eth, rate_bp }),
        1 => (1..=ACCOUNTS, any::<bool>(), 1_u32..=60).prop_map(|(account, eth, leverage)| Step::Leverage { account, eth, leverage }),
        1 => (1..=ACCOUNTS, 1_i64..2_000).prop_map(|(account, amount)| Step::Withdraw { account, amount }),
        1 => (any::<bool>(), any::<bool>(), 1..=ACCOUNTS).prop_map(|(eth, shorts, first)| Step::Ranking { eth, shorts, first }),
        1 => (1..=ACCOUNTS, 1_i64..50).prop_map(|(account, amount)| Step::Payout { account, amount }),
        1 => (1..=ACCOUNTS, any::<bool>(), any::<bool>())
            .prop_map(|(account, eth, isolated)| Step::MarginType { account, eth, isolated }),
        1 => (1..=ACCOUNTS, any::<bool>(), -500_i64..500).prop_map(|(account, eth, amount)| Step::IsolatedMargin { account, eth, amount }),
    ]
}

fn whole(units: i64) -> Quote {
    Quote(units * 100_000_000)
}

const fn symbol(eth: bool) -> u32 {
    if eth {
        ETH
    } else {
        BTC
    }
}

/// Turns steps into commands, tracking the marks so prices stay near them (inside the bands).
fn commands(deposits: &[i64], steps: &[Step]) -> Vec<Command> {
    let mut out = vec![Command::AddInstrument(instrument(BTC, "BTCUSDT")), Command::AddInstrument(instrument(ETH, "ETHUSDT"))];
    let mut marks = [50_000 * 100_000_000_i64, 3_000 * 100_000_000_i64];
    for (symbol, mark) in SYMBOLS.into_iter().zip(marks) {
        out.push(Command::SetMarkPrice { symbol, mark: Price(mark), index: Price(mark) });
    }
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
        let near = |eth: bool, offset: i64| Price(((marks[usize::from(eth)] / TICK) + offset).max(1) * TICK);
        match *step {
            Step::Order { account, eth, buy, market, offset_ticks, lots } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let lots = if eth { lots * 10 } else { lots };
                let mut order = limit(account, symbol(eth), side, near(eth, offset_ticks), Qty(lots * LOT));
                if is_hedge(account) {
                    // Even lots open a leg, odd ones close the other (refused when too large).
                    let long = (lots % 2 == 0) == buy;
                    order.position_side = if long { PositionSide::Long } else { PositionSide::Short };
                }
                if market {
                    order = PlaceOrder { order_type: OrderType::Market, price: None, time_in_force: TimeInForce::Gtc, ..order };
                }
                // The maker quotes both sides around the mark so orders find liquidity.
                out.push(Command::CancelAll { account: 99, symbol: symbol(eth) });
                out.push(Command::PlaceOrder(limit(99, symbol(eth), Side::Buy, near(eth, -3), Qty(20_000 * LOT))));
                out.push(Command::PlaceOrder(limit(99, symbol(eth), Side::Sell, near(eth, 3), Qty(20_000 * LOT))));
                out.push(Command::PlaceOrder(order));
            }
            Step::Mark { eth, percent_move } => {
                let mark = &mut marks[usize::from(eth)];
                *mark = (*mark / 100 * (100 + percent_move)).max(TICK) / TICK * TICK;
                out.push(Command::CancelAll { account: 99, symbol: symbol(eth) });
                out.push(Command::SetMarkPrice { symbol: symbol(eth), mark: Price(*mark), index: Price(*mark) });
            }
            Step::Funding { eth, rate_bp } => {
                out.push(Command::ApplyFunding { symbol: symbol(eth), rate: Rate(rate_bp * 10_000), mark: Price(marks[usize::from(eth)]) })
            }
            Step::Leverage { account, eth, leverage } => out.push(Command::SetLeverage { account, symbol: symbol(eth), leverage }),
            Step::Withdraw { account, amount } => out.push(Command::Withdraw { account, amount: whole(amount), key: 0 }),
            Step::Ranking { eth, shorts, first } => {
                let accounts = (0..ACCOUNTS).map(|i| 1 + (first + i) % ACCOUNTS).collect();
                out.push(Command::SetAdlRanking { symbol: symbol(eth), side: if shorts { Side::Sell } else { Side::Buy }, accounts });
            }
            Step::Payout { account, amount } => {
                out.push(Command::InsurancePayout { account, amount: whole(amount), reason: PayoutReason::Compensation, key: 0 });
            }
            Step::MarginType { account, eth, isolated } => out.push(Command::SetMarginType { account, symbol: symbol(eth), isolated }),
            Step::IsolatedMargin { account, eth, amount } => out.push(Command::AdjustIsolatedMargin {
                account,
                symbol: symbol(eth),
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

/// Every account's legs: ((account, symbol, leg), signed quantity).
fn positions(h: &Harness) -> Vec<((u64, u32, PositionSide), i64)> {
    let accounts = h.engine.accounts();
    let mut out = Vec::new();
    for id in accounts.ids() {
        for symbol in SYMBOLS {
            for (i, &leg) in PositionSide::ALL.iter().enumerate() {
                let qty = accounts.get(id).map_or(0, |a| a.symbols.get(&symbol).map_or(0, |s| s.positions[i].qty));
                out.push(((id, symbol, leg), qty));
            }
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
        // The engine's own figures agree with the reference's for every unit, after every command.
        for unit in reference::units(account) {
            let expected = reference::health(&h.engine, account, unit);
            let engine_unit = match unit {
                reference::Unit::Cross => margin::Unit::Cross,
                reference::Unit::Isolated(symbol, side) => margin::Unit::Isolated(symbol, side),
            };
            let (balance, maintenance) =
                margin::unit_health(account, engine_unit, h.engine.market_map(), h.engine.reference_prices()).expect("fits");
            prop_assert_eq!(
                (i128::from(balance.raw()), i128::from(maintenance.raw())),
                (expected.balance, expected.maintenance),
                "account {} {:?}: engine health differs from the reference after {:?}",
                id,
                unit,
                command
            );
        }
        let (Command::SetMarkPrice { symbol: stepped, .. } | Command::ApplyFunding { symbol: stepped, .. }) = *command else {
            continue;
        };
        // A unit is checked on a step of a symbol it holds (a fill can leave a unit under water
        // until the next step of the symbol it filled on).
        let holds = |unit: &reference::Unit| match *unit {
            reference::Unit::Isolated(symbol, _) => symbol == stepped,
            reference::Unit::Cross => account.symbols.get(&stepped).is_some_and(|s| !s.isolated && s.positions.iter().any(|p| p.qty != 0)),
        };
        for unit in reference::units(account).into_iter().filter(holds) {
            let health = reference::health(&h.engine, account, unit);
            prop_assert!(!health.liquidatable(), "account {} {:?} left under maintenance ({:?}) after {:?}", id, unit, health, command);
        }
    }
    Ok(())
}

fn check(h: &Harness, events: &[Event], before: &[((u64, u32, PositionSide), i64)], deposited: &mut i128) -> Result<(), TestCaseError> {
    let mut funding_total = 0_i128;
    let mut liquidating: Vec<u64> = Vec::new();
    // Positions as the events go: a liquidation order can open a position for a resting maker
    // that an ADL of the same command then closes.
    let mut held: std::collections::BTreeMap<(u64, u32, PositionSide), i64> = before.iter().copied().collect();
    for event in events {
        match *event {
            Event::LiquidationStarted { account, .. } => liquidating.push(account),
            Event::LiquidationFinished { account, .. } => liquidating.retain(|&a| a != account),
            Event::FillSettled { account, symbol, qty, position_qty, position_side, .. } => {
                let before = position_qty - qty;
                prop_assert!(
                    !liquidating.contains(&account) || position_qty.abs() < before.abs(),
                    "liquidation of {} grew a position {} -> {}",
                    account,
                    before,
                    position_qty
                );
                held.insert((account, symbol, position_side), position_qty);
            }
            Event::BalanceChanged { amount, kind: BalanceKind::Deposit | BalanceKind::Withdrawal, .. } => {
                *deposited += i128::from(amount.raw())
            }
            Event::BalanceChanged { amount, kind: BalanceKind::FundingFee, .. } => funding_total += i128::from(amount.raw()),
            Event::AutoDeleveraged { account, symbol, qty, .. } => {
                let leg = match (is_hedge(account), qty < 0) {
                    (false, _) => PositionSide::Both,
                    (true, true) => PositionSide::Long,
                    (true, false) => PositionSide::Short,
                };
                let held = held.get(&(account, symbol, leg)).copied().unwrap_or(0);
                prop_assert!(held != 0, "ADL touched flat account {}", account);
                prop_assert!(qty.signum() == -held.signum() && qty.abs() <= held.abs(), "ADL of {} flips or exceeds {}", qty, held);
            }
            _ => {}
        }
    }
    prop_assert_eq!(funding_total, 0, "funding not conserved");
    let accounts = h.engine.accounts();
    let mut total = 0_i128;
    let mut open_interest = [(0_i128, 0_i128); SYMBOLS.len()];
    for id in accounts.ids() {
        let account = accounts.get(id).expect("listed");
        total += i128::from(account.wallet.raw());
        for (symbol, state) in &account.symbols {
            let (long, short) = &mut open_interest[SYMBOLS.iter().position(|s| s == symbol).expect("listed symbol")];
            for p in &state.positions {
                total -= i128::from(p.cost.raw());
                if p.qty > 0 {
                    *long += i128::from(p.qty);
                } else {
                    *short -= i128::from(p.qty);
                }
            }
        }
    }
    prop_assert_eq!(total, *deposited, "money created or destroyed");
    for (symbol, (long, short)) in SYMBOLS.into_iter().zip(open_interest) {
        prop_assert_eq!(long, short, "open interest of {} unbalanced", symbol);
        prop_assert_eq!(i128::from(accounts.open_interest(symbol)), long, "the open interest query disagrees");
    }
    if let Some(fund) = accounts.get(INSURANCE_FUND) {
        let mut pnl = 0_i64;
        for (symbol, state) in &fund.symbols {
            pnl += state.unrealised_pnl(h.engine.reference_prices()[symbol]).expect("fits").raw();
        }
        prop_assert!(fund.wallet.raw() + pnl >= 0, "insurance fund margin balance negative: {} + {} {:#?}", fund.wallet.raw(), pnl, events);
    }
    Ok(())
}

/// The state hash of a copy of the engine after a command that is rejected before it reads any
/// state (an unknown symbol): what any rejected command must leave behind.
fn hash_after_nothing(h: &Harness) -> [u8; 32] {
    let engine = Engine::restore(&h.engine.snapshot()).expect("a snapshot restores");
    let mut copy = Harness { engine, now: h.now, hide_settlement: false };
    let events = copy.send(Command::SetLeverage { account: 1, symbol: 999, leverage: 5 });
    assert!(matches!(events.as_slice(), [Event::OrderRejected { .. } | Event::CommandRejected { .. }]), "{events:?}");
    copy.engine.state_hash()
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
            let unchanged = hash_after_nothing(&h);
            let events = h.send(command.clone());
            if let [Event::OrderRejected { .. } | Event::CommandRejected { .. }] = events.as_slice() {
                prop_assert_eq!(h.engine.state_hash(), unchanged, "{:?} was rejected but changed the state", command);
            }
            check(&h, &events, &before, &mut deposited)?;
            check_none_underwater(&h, command)?;
            prop_assert_eq!(replay.send(command.clone()), events);
        }
        prop_assert_eq!(h.engine.state_hash(), replay.engine.state_hash());
    }
}

/// A long seeded run through the same checks, which must actually reach every path.
#[test]
fn test_seeded_stress_run_reaches_liquidation_takeover_adl_funding_isolated_hedge_and_rejection_paths() {
    let mut rng = derivatives_core::workload::SplitMix64::new(7);
    let mut pick = |low: i64, high: i64| low + i64::try_from(rng.below(u64::try_from(high - low).expect("range"))).expect("fits");
    let deposits: Vec<i64> = (0..ACCOUNTS).map(|_| pick(50, 5_000)).collect();
    let steps: Vec<Step> = (0..4_000)
        .map(|_| match pick(0, 16) {
            0..=5 => Step::Order {
                account: u64::try_from(pick(1, 9)).expect("small"),
                eth: pick(0, 4) == 0,
                buy: pick(0, 2) == 0,
                market: pick(0, 3) == 0,
                offset_ticks: pick(-40, 40),
                lots: pick(1, 400),
            },
            6..=8 => Step::Mark { eth: pick(0, 4) == 0, percent_move: pick(-30, 31) },
            9 => Step::Funding { eth: pick(0, 4) == 0, rate_bp: pick(-75, 76) },
            10 => Step::Leverage {
                account: u64::try_from(pick(1, 9)).expect("small"),
                eth: pick(0, 4) == 0,
                leverage: u32::try_from(pick(1, 61)).expect("small"),
            },
            11 => Step::Withdraw { account: u64::try_from(pick(1, 9)).expect("small"), amount: pick(1, 500) },
            12 => Step::Ranking { eth: false, shorts: pick(0, 2) == 0, first: u64::try_from(pick(1, 9)).expect("small") },
            13 => Step::MarginType { account: u64::try_from(pick(1, 9)).expect("small"), eth: false, isolated: pick(0, 2) == 0 },
            14 => Step::IsolatedMargin { account: u64::try_from(pick(1, 9)).expect("small"), eth: false, amount: pick(-300, 300) },
            _ => Step::Order {
                account: u64::try_from(pick(1, 9)).expect("small"),
                eth: false,
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
    let mut seen = [0_usize; 7];
    for command in &stream {
        let before = positions(&h);
        let unchanged = hash_after_nothing(&h);
        let isolated_before =
            |account: u64| h.engine.accounts().get(account).is_some_and(|a| a.symbols.get(&BTC).is_some_and(|s| s.isolated));
        let isolated_accounts: Vec<u64> = (1..=ACCOUNTS).filter(|&a| isolated_before(a)).collect();
        let events = h.send(command.clone());
        if let [Event::OrderRejected { .. } | Event::CommandRejected { .. }] = events.as_slice() {
            assert_eq!(h.engine.state_hash(), unchanged, "{command:?} was rejected but changed the state");
            seen[6] += 1;
        }
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
    let [liquidations, takeovers, adl, funding, isolated, hedge_fills, rejections] = seen;
    assert!(
        liquidations >= 5 && takeovers > 0 && adl > 0 && funding > 0 && isolated > 0 && hedge_fills > 0 && rejections >= 100,
        "paths reached: {seen:?}"
    );
}
