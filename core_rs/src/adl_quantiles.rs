//! ADL queue positions (MECHANICS §8.2): where each position stands in the queue the engine
//! would auto-deleverage it from, as `GET /fapi/v1/adlQuantile` (0..4) and the risk desk show it.
//!
//! - The queue is the liquidation pass's own ([`liquidation::adl_queue`]): the installed
//!   `SetAdlRanking` of that side first, then every other holder by BitMEX score (highest first,
//!   ties by account id); the insurance fund and the fee account are never in it.
//! - Quantile, the exchange's one rule: in queue order, with `ahead` the side's quantity ranked
//!   before the position and `total` the side's whole quantity,
//!   `quantile = 4 − ⌊5 · ahead / total⌋`: 4 when the position starts in the first 20 % of the
//!   queue, 0 in the last 20 %. A position alone on its side is 4 (it is deleveraged first).
//!   Decision: MECHANICS §8.2 counts the position's own quantity (`5 − ⌈5 · cumulative /
//!   total⌉`, BitMEX's lights), which shows a position holding most of its side 0 although ADL
//!   closes it first; the two rules agree on small positions (five equal ones: 4, 3, 2, 1, 0).
//! - Per account and symbol (Binance's shape): one-way mode, the position's quantile (`both`);
//!   hedge mode, each leg's own (`long`, `short`); cross hedge mode with both legs open, the
//!   higher of the two for both legs (Binance shows one shared value there, flagged `HEDGE`).
//!   A leg that holds nothing is 0.
//!
//! Read-only and deterministic: queue order from the ranking, exact integer arithmetic.

use crate::accounts::leg_index;
use crate::engine::Engine;
use crate::ids::{AccountId, SymbolId};
use crate::liquidation::{self, RankingState};
use crate::order::{PositionSide, Side};

/// Quantile buckets (20 % steps).
const BUCKETS: i128 = 5;

/// One position of an ADL queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// The holder.
    pub account: AccountId,
    /// Its quantity on the ranked side (raw, positive).
    pub qty: i64,
    /// 0..=4, 4 first in line.
    pub quantile: u8,
}

/// An account's quantiles in one symbol it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolQuantiles {
    /// The symbol.
    pub symbol: SymbolId,
    /// The hedge-mode long leg's quantile (0 in one-way mode).
    pub long: u8,
    /// The hedge-mode short leg's quantile (0 in one-way mode).
    pub short: u8,
    /// The one-way position's quantile (0 in hedge mode).
    pub both: u8,
    /// Cross margin in hedge mode (Binance's `HEDGE` flag).
    pub cross_hedge: bool,
}

fn ranking_state(engine: &Engine) -> RankingState<'_> {
    RankingState {
        accounts: engine.accounts(),
        markets: engine.market_map(),
        prices: engine.reference_prices(),
        rankings: engine.adl_rankings(),
    }
}

/// `4 − ⌊5 · ahead / total⌋` for `0 ≤ ahead < total`.
fn quantile(ahead: i128, total: i128) -> u8 {
    let bucket = if total > 0 { BUCKETS * ahead / total } else { 0 };
    u8::try_from(BUCKETS - 1 - bucket.clamp(0, BUCKETS - 1)).unwrap_or(0)
}

/// The ADL queue of the `ranked` side of `symbol` (`Buy`: the longs), first out first, with each
/// position's quantity and quantile; `None` for an unknown symbol.
#[must_use]
pub fn adl_queue(engine: &Engine, symbol: SymbolId, ranked: Side) -> Option<Vec<QueueEntry>> {
    engine.market(symbol)?;
    let order = liquidation::adl_queue(ranking_state(engine), symbol, ranked);
    let held: Vec<(AccountId, i64)> = order
        .into_iter()
        .map(|account| (account, engine.accounts().get(account).map_or(0, |a| liquidation::opposite_qty(a, symbol, ranked))))
        .collect();
    let total: i128 = held.iter().map(|&(_, qty)| i128::from(qty)).sum();
    let mut ahead = 0;
    let mut queue = Vec::with_capacity(held.len());
    for (account, qty) in held {
        queue.push(QueueEntry { account, qty, quantile: quantile(ahead, total) });
        ahead += i128::from(qty);
    }
    Some(queue)
}

/// The quantile of `account`'s position on the `ranked` side of `symbol` (0 when not queued).
fn position_quantile(engine: &Engine, account: AccountId, symbol: SymbolId, ranked: Side) -> u8 {
    adl_queue(engine, symbol, ranked).and_then(|q| q.into_iter().find(|e| e.account == account)).map_or(0, |e| e.quantile)
}

/// `account`'s quantiles in every symbol where it holds a position, ascending by symbol (empty
/// for an unknown account).
#[must_use]
pub fn adl_quantiles(engine: &Engine, account: AccountId) -> Vec<SymbolQuantiles> {
    let Some(state) = engine.accounts().get(account) else { return Vec::new() };
    let mut out = Vec::new();
    for (&symbol, held) in state.symbols.iter() {
        let qty = |side: PositionSide| held.positions[leg_index(side)].qty;
        if PositionSide::ALL.iter().all(|&side| qty(side) == 0) {
            continue;
        }
        let of = |side: PositionSide, ranked: Side| if qty(side) == 0 { 0 } else { position_quantile(engine, account, symbol, ranked) };
        out.push(if state.hedge_mode {
            let (long, short) = (of(PositionSide::Long, Side::Buy), of(PositionSide::Short, Side::Sell));
            let shared = !held.isolated && qty(PositionSide::Long) != 0 && qty(PositionSide::Short) != 0;
            let (long, short) = if shared { (long.max(short), long.max(short)) } else { (long, short) };
            SymbolQuantiles { symbol, long, short, both: 0, cross_hedge: !held.isolated }
        } else {
            let both = qty(PositionSide::Both);
            let ranked = if both > 0 { Side::Buy } else { Side::Sell };
            SymbolQuantiles { symbol, long: 0, short: 0, both: of(PositionSide::Both, ranked), cross_hedge: false }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn test_quantile_is_the_share_of_the_side_ahead() {
        // Five equal positions: 0, 20, 40, 60, 80 % ahead.
        assert_eq!((0..5).map(|i| quantile(i, 5)).collect::<Vec<_>>(), vec![4, 3, 2, 1, 0]);
        // 50, 25, 25: 0 %, 50 %, 75 % ahead.
        assert_eq!([0, 50, 75].map(|a| quantile(a, 100)), [4, 2, 1]);
        assert_eq!(quantile(0, 3), 4, "alone on its side: first in line");
    }
}
