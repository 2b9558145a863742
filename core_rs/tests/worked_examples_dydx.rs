//! Worked examples from the dYdX documentation, replayed on our engine.
//!
//! dYdX v4 is USDC-margined and linear like us (MECHANICS [OURS]: USDT-linear, 1e-8 fixed
//! point), so its figures carry over once three conventions are translated:
//! - its examples ignore trading fees: the instrument here charges none (`zero_fee_spec`);
//! - its maintenance and initial margin are flat fractions of the oracle notional (`S × P × M`,
//!   `S × P × I`): one leverage bracket with that maintenance rate and `cum = 0`, and the initial
//!   fraction as `1 / leverage`; our mark price plays its oracle price;
//! - where dYdX closes a liquidated position with an IOC order at a "fillable price" up to a
//!   spread beyond the bankruptcy price (the insurance fund paying the difference), we offer it at
//!   the bankruptcy price and the fund takes over what does not fill there (MECHANICS §6.2): the
//!   fund ends with the same loss once it sells into the same bid.
//!
//! Quotes are from the pages cited beside each test (dYdX v4 documentation, retrieved 2026-11).

use derivatives_core::account_view::account_view;
use derivatives_core::accounts::INSURANCE_FUND;
use derivatives_core::instrument::{InstrumentSpec, LeverageBracket};
use derivatives_core::order::{PositionSide, Side};
use derivatives_core::testkit::{dec, instrument, limit, px, qty, Harness};
use derivatives_core::units::{Quote, Rate};
use derivatives_core::{Command, Event};

const SYMBOL: u32 = 1;

fn usdc(text: &str) -> Quote {
    Quote(dec(text))
}

/// A dYdX-like market: no fees, one bracket with maintenance fraction `mmf`, price tick `tick`,
/// quantity step 0.001, and limit bands wide enough for the examples' resting bids.
fn zero_fee_spec(name: &str, tick: &str, mmf: &str) -> InstrumentSpec {
    InstrumentSpec {
        tick_size: px(tick),
        min_notional: Quote::ZERO,
        max_qty: qty("1000000"),
        limit_price_band: Rate(dec("0.5")),
        maker_fee: Rate(0),
        taker_fee: Rate(0),
        liquidation_fee: Rate(dec("0.015")), // dYdX "Maximum Liquidation Penalty of 1.5%"
        brackets: vec![LeverageBracket {
            notional_cap: usdc("1000000000"),
            max_leverage: 20,
            maint_margin_rate: Rate(dec(mmf)),
            cum: Quote::ZERO,
        }],
        ..instrument(SYMBOL, name)
    }
}

fn market(spec: InstrumentSpec, mark: &str) -> Harness {
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(spec));
    set_mark(&mut h, mark);
    h
}

fn set_mark(h: &mut Harness, mark: &str) -> Vec<Event> {
    h.send(Command::SetMarkPrice { symbol: SYMBOL, mark: px(mark), index: px(mark) })
}

/// `seller` rests a sell of `size` at `price` and `buyer` takes it.
fn trade(h: &mut Harness, (buyer, seller): (u64, u64), size: &str, price: &str) {
    h.place(limit(seller, SYMBOL, Side::Sell, px(price), qty(size)));
    let events = h.place(limit(buyer, SYMBOL, Side::Buy, px(price), qty(size)));
    assert!(events.iter().any(|e| matches!(e, Event::Trade { .. })), "{events:?}");
}

fn wallet(h: &Harness, account: u64) -> Quote {
    h.engine.accounts().get(account).map_or(Quote::ZERO, |a| a.wallet)
}

fn position(h: &Harness, account: u64) -> (i64, Quote) {
    let p = h.engine.accounts().get(account).map(|a| a.symbols[&SYMBOL].positions[0]).unwrap_or_default();
    (p.qty, p.cost)
}

/// <https://dydx-documentation-six.vercel.app/concepts/trading/contract-loss-mechanism>
/// ("Contract Loss Mechanisms", dYdX v4 documentation), "Liquidation and Deleveraging" example:
/// "A deposits $100 and goes long 500 ABC contracts at $1. B deposits $100 and goes short 500
/// ABC contracts at $1. The price jumps from $1 to $2: […] B's equity becomes negative: $100 -
/// ($2 - $1) * -500 = $-400. B's bankruptcy price is $1.2, so A's position is closed at $1.2,
/// resulting in a $100 profit for A and a $100 loss for B, leaving B's account value at $0."
///
/// Ours: the empty insurance fund cannot take B's short over at 1.2 with the mark at 2 (it would
/// be 400 under water), so A, the only opposite position, is auto-deleveraged at 1.2.
#[test]
fn test_dydx_deleveraging_closes_the_offsetting_long_at_the_bankruptcy_price() {
    let mut h = market(zero_fee_spec("ABCUSDT", "0.0001", "0.03"), "1");
    for account in [1, 2] {
        h.send(Command::Deposit { account, amount: usdc("100") });
    }
    trade(&mut h, (1, 2), "500", "1");
    let events = set_mark(&mut h, "2");
    assert!(events.contains(&Event::LiquidationStarted { account: 2, margin_balance: usdc("-400"), maintenance: usdc("30") }));
    let adl: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::AutoDeleveraged { .. })).collect();
    assert_eq!(adl, vec![&Event::AutoDeleveraged { account: 1, bankrupt: 2, symbol: SYMBOL, qty: -dec("500"), price: px("1.2") }]);
    // A: 100 + (1.2 − 1) × 500 = 200, flat; B: 100 − 100 = 0, flat; the fund is untouched.
    assert_eq!((wallet(&h, 1), position(&h, 1)), (usdc("200"), (0, Quote::ZERO)));
    assert_eq!((wallet(&h, 2), position(&h, 2)), (Quote::ZERO, (0, Quote::ZERO)));
    assert_eq!(wallet(&h, INSURANCE_FUND), Quote::ZERO);
}

/// Same page, "Insurance Fund" example: "A deposits $100 and goes long 500 ABC contracts at $1
/// with a maintenance margin fraction (MMF) of 3%. A's maintenance margin requirement (MMR) =
/// 3% * $1 * 500 = $15. ABC's price drops to $0.801: A's pnl = (0.801 - 1.000) * 500 =
/// -$99.5. A's equity is now $0.50, below the MMR. The protocol liquidates A's position at
/// $0.77".
///
/// Ours: the liquidation order is offered at A's bankruptcy price (1 − 100/500 = 0.8), where the
/// only bid (0.77) does not fill it, so the fund takes the long over at 0.8 and A ends at 0.
/// When the fund then sells into the 0.77 bid it realises (0.77 − 0.8) × 500 = −15: the loss the
/// dYdX fund bears on A's fill at 0.77 (A's equity 0 at 0.8 less 15).
#[test]
fn test_dydx_insurance_fund_example_costs_the_fund_the_same_15() {
    let mut h = market(zero_fee_spec("ABCUSDT", "0.0001", "0.03"), "1");
    for (account, amount) in [(1, "100"), (2, "100000"), (3, "100000"), (INSURANCE_FUND, "1000")] {
        h.send(Command::Deposit { account, amount: usdc(amount) });
    }
    trade(&mut h, (1, 2), "500", "1");
    let view = account_view(&h.engine, 1).expect("exists");
    assert_eq!(view.maintenance, usdc("15"), "MMR = 3% × 1 × 500");
    h.place(limit(3, SYMBOL, Side::Buy, px("0.77"), qty("500")));
    let events = set_mark(&mut h, "0.801");
    assert!(events.contains(&Event::LiquidationStarted { account: 1, margin_balance: usdc("0.5"), maintenance: usdc("12.015") }));
    assert!(events.contains(&Event::PositionTakenOver {
        account: 1,
        symbol: SYMBOL,
        position_side: PositionSide::Both,
        qty: dec("500"),
        price: px("0.8"),
    }));
    assert_eq!((wallet(&h, 1), position(&h, 1)), (Quote::ZERO, (0, Quote::ZERO)));
    h.place(limit(INSURANCE_FUND, SYMBOL, Side::Sell, px("0.77"), qty("500")));
    assert_eq!(position(&h, INSURANCE_FUND), (0, Quote::ZERO));
    assert_eq!(wallet(&h, INSURANCE_FUND), usdc("985"), "1,000 − (0.8 − 0.77) × 500");
}

/// <https://dydx-documentation-six.vercel.app/concepts/trading/liquidations> ("Liquidations",
/// dYdX v4 documentation), "Isolated Liquidation Price": "p' = (e - s * p) / (|s| * MMF - s)
/// […] Suppose a trader deposits $1,000 (e = 1000). The trader shorts 3 ETH contracts (s = -3)
/// at $3,000 per contract, with a maintenance margin fraction of 5% (MMF = 0.05)."
/// The quote stops at "(1000 - (-3 * 3000)) / (3 * 0"; finished by hand:
/// p' = 10,000 / 3.15 = 3,174.6031746…
///
/// It is Binance's short formula with `cum = 0` (MECHANICS §5.1: (Q·EP + WB) / (Q·(1 + MMR))),
/// which the account view shows floored to the tick (0.01 here) for a short: 3,174.60. The
/// engine agrees at the boundary: the mark 3,174.60 is safe, 3,174.61 liquidates.
///
/// Margin requirements, <https://v4-teacher.vercel.app/concepts-trading/margin>: "Initial Margin
/// Requirement = abs(S × P × I) Maintenance Margin Requirement = abs(S × P × M)" with P the oracle
/// price: at 3,000 with I = 10 % (our leverage 10) and M = 5 %: IM = 900, MM = 450.
#[test]
fn test_dydx_isolated_liquidation_price_and_margin_requirements() {
    let mut h = market(zero_fee_spec("ETHUSDT", "0.01", "0.05"), "3000");
    h.send(Command::Deposit { account: 1, amount: usdc("1000") });
    h.send(Command::Deposit { account: 2, amount: usdc("1000000") });
    h.send(Command::SetLeverage { account: 1, symbol: SYMBOL, leverage: 10 });
    trade(&mut h, (2, 1), "3", "3000");
    let view = account_view(&h.engine, 1).expect("exists");
    assert_eq!((view.initial_margin, view.maintenance), (usdc("900"), usdc("450")));
    assert_eq!(view.legs[0].liquidation_price, px("3174.60"));
    assert_eq!(set_mark(&mut h, "3174.60").len(), 1, "MB 476.20 ≥ MM 476.19: safe");
    let events = set_mark(&mut h, "3174.61");
    assert_eq!(events[1], Event::LiquidationStarted { account: 1, margin_balance: usdc("476.17"), maintenance: usdc("476.1915") });
}

/// Funding: <https://help.dydx.exchange/en/articles/3937624-funding>: "F = (-1) * R * (T / 8
/// hours) * B * X Where: F is the change in account balance over the given period, R is the
/// funding rate as an 8-hour rate, B is the position balance of the account (positive or
/// negative), X is the on-chain index price". Our `ApplyFunding` settles one whole period
/// (T = 8 h) at the mark: F = −R × B × X, rounded toward −∞ per account, the dust to the
/// insurance fund (MECHANICS §10).
///
/// Hand-derived, negative rate (shorts pay longs): R = −0.00003333, X = 3,000.01, B = ±3.
/// |R × B × X| = 9,000.03 × 0.00003333 = 0.2999709999 exactly; the long receives
/// 0.29997099 (floored), the short pays 0.29997100 (floored), and 0.00000001 goes to the fund.
#[test]
fn test_dydx_funding_formula_with_a_negative_rate_floors_each_payment() {
    let mut h = market(zero_fee_spec("ETHUSDT", "0.01", "0.05"), "3000");
    for account in [1, 2] {
        h.send(Command::Deposit { account, amount: usdc("10000") });
    }
    trade(&mut h, (1, 2), "3", "3000");
    let events = h.send(Command::ApplyFunding { symbol: SYMBOL, rate: Rate(-3_333), mark: px("3000.01") });
    assert_eq!(wallet(&h, 1), usdc("10000.29997099"));
    assert_eq!(wallet(&h, 2), usdc("9999.70002900"));
    assert_eq!(wallet(&h, INSURANCE_FUND), usdc("0.00000001"));
    assert_eq!(
        events.last(),
        Some(&Event::FundingApplied { symbol: SYMBOL, rate: Rate(-3_333), mark: px("3000.01"), dust: usdc("0.00000001") })
    );
}

/// Fees and realised PnL at dYdX Chain's published fee tiers,
/// <https://docs.dydx.community/dydx-unlimited/~gitbook/pdf?only=yes&page=CMuWy1Lpiunhhsdt3w2i>
/// (fee tier table, "maker_fee_ppm [Maker Fee (bps)] Taker_fee_ppm [Taker Fee (bps)]"): tier 0
/// "[< $1M] … 100 [1.0] 500 [5.0]" and the first rebate tier "[≥ $125M] 5000 [≥ 0.5%] … -50
/// [-0.5] 250 [2.5]". Installed with `SetFeeTier` (the venue decides the tier from 30-day
/// volume); fee = notional × rate rounded up (a rebate is a negative fee), PnL credited at fill
/// (figures derived by hand, the page has no worked trade):
/// 1. account 1 (tier 0) buys 0.5 at 60,000.1 from account 2 (rebate tier): notional
///    30,000.05; account 1 pays 5 bps = 15.000025; account 2 receives 0.5 bps = 1.5000025.
/// 2. account 1 sells its 0.5 at 60,500 as maker to account 3 (the instrument's own 5 bps):
///    notional 30,250; realised PnL (60,500 − 60,000.1) × 0.5 = 249.95; maker fee 1 bp = 3.025;
///    account 3 pays 15.125.
///
/// The fee account nets 15.000025 − 1.5000025 + 3.025 + 15.125 = 31.6500225.
#[test]
fn test_dydx_fee_tiers_and_realised_pnl_of_a_round_trip() {
    use derivatives_core::accounts::FEE_ACCOUNT;
    let mut h = Harness { now: 1_000, ..Harness::default() };
    h.send(Command::AddInstrument(instrument(SYMBOL, "BTCUSDT")));
    set_mark(&mut h, "60000");
    for account in [1, 2, 3] {
        h.send(Command::Deposit { account, amount: usdc("100000") });
    }
    h.send(Command::SetFeeTier { account: 1, rates: Some((Rate(dec("0.0001")), Rate(dec("0.0005")))) });
    h.send(Command::SetFeeTier { account: 2, rates: Some((Rate(-dec("0.00005")), Rate(dec("0.00025")))) });
    let settled = |events: &[Event], account: u64| {
        events.iter().find_map(|e| match *e {
            Event::FillSettled { account: a, fee, realised_pnl, wallet, .. } if a == account => Some((fee, realised_pnl, wallet)),
            _ => None,
        })
    };
    h.place(limit(2, SYMBOL, Side::Sell, px("60000.1"), qty("0.5")));
    let opened = h.place(limit(1, SYMBOL, Side::Buy, px("60000.1"), qty("0.5")));
    assert_eq!(settled(&opened, 1), Some((usdc("15.000025"), Quote::ZERO, usdc("99984.999975"))));
    assert_eq!(settled(&opened, 2), Some((usdc("-1.5000025"), Quote::ZERO, usdc("100001.5000025"))));
    h.place(limit(1, SYMBOL, Side::Sell, px("60500"), qty("0.5")));
    let closed = h.place(limit(3, SYMBOL, Side::Buy, px("60500"), qty("0.5")));
    assert_eq!(settled(&closed, 1), Some((usdc("3.025"), usdc("249.95"), usdc("100231.924975"))));
    assert_eq!(settled(&closed, 3).map(|(fee, ..)| fee), Some(usdc("15.125")));
    assert_eq!((position(&h, 1), wallet(&h, FEE_ACCOUNT)), ((0, Quote::ZERO), usdc("31.6500225")));
}
