//! Read-only risk figures of one account, for callers (the API's account, balance and
//! positionRisk; the risk services): margin balance, maintenance and initial margin, available
//! and withdrawable balance, and per position leg the entry price, unrealised PnL, liquidation
//! price and bankruptcy price at the reference prices.
//!
//! Every figure comes from `accounts::margin` (health, the Binance liquidation price of a cross
//! symbol, an isolated leg's prices backed by its own margin); this module only assembles them.
//! Invariant: the view changes nothing. Display only: liquidation itself is decided by
//! `margin::unit_health` at each mark.

use crate::accounts::margin::{self, cross_prices, health, isolated_prices};
use crate::engine::Engine;
use crate::ids::{AccountId, SymbolId};
use crate::order::PositionSide;
use crate::units::{Price, Quote, Rounding};

/// One position leg as callers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegView {
    /// Instrument.
    pub symbol: SymbolId,
    /// Leg.
    pub position_side: PositionSide,
    /// Signed quantity.
    pub qty: i64,
    /// Signed entry value.
    pub cost: Quote,
    /// Average entry price.
    pub entry_price: Price,
    /// Unrealised PnL at the reference price.
    pub unrealised_pnl: Quote,
    /// Maintenance margin of the leg.
    pub maintenance: Quote,
    /// Liquidation price of the symbol (shared by hedge legs); zero if none.
    pub liquidation_price: Price,
    /// Bankruptcy price of the symbol; zero if none.
    pub bankruptcy_price: Price,
    /// Isolated margin mode (else cross).
    pub isolated: bool,
    /// The leg's isolated margin (zero when cross).
    pub isolated_margin: Quote,
}

/// One account as callers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// Account.
    pub account: AccountId,
    /// Wallet balance (isolated margins included).
    pub wallet: Quote,
    /// The wallet without the isolated margins.
    pub cross_wallet: Quote,
    /// Hedge mode.
    pub hedge_mode: bool,
    /// Cross wallet + cross unrealised PnL.
    pub margin_balance: Quote,
    /// Maintenance margin of the cross positions.
    pub maintenance: Quote,
    /// Initial margin of positions and open orders.
    pub initial_margin: Quote,
    /// Margin left for new orders.
    pub available: Quote,
    /// What may be withdrawn.
    pub withdrawable: Quote,
    /// Leverage of every symbol the account has touched.
    pub leverage: Vec<(SymbolId, u32)>,
    /// The symbols in isolated margin mode.
    pub isolated_symbols: Vec<SymbolId>,
    /// Open position legs.
    pub legs: Vec<LegView>,
}

/// The view of `account`, or `None` when it does not exist.
#[must_use]
pub fn account_view(engine: &Engine, account: AccountId) -> Option<AccountView> {
    let state = engine.accounts().get(account)?;
    let prices = engine.reference_prices();
    let markets = engine.market_map();
    let (margin_balance, maintenance) = health(state, markets, prices).ok()?;
    let (_, initial_margin) = state.margin_totals(prices).ok()?;
    let mut legs = Vec::new();
    for (&symbol, symbol_state) in &state.symbols {
        let Some(market) = markets.get(&symbol) else { continue };
        let reference = prices.get(&symbol).copied();
        let cross_prices = reference
            .filter(|_| !symbol_state.isolated)
            .and_then(|price| cross_prices(symbol_state, &market.spec, price, (margin_balance, maintenance)).ok())
            .unwrap_or((Price::ZERO, Price::ZERO));
        for (index, position) in symbol_state.positions.iter().enumerate().filter(|(_, p)| p.qty != 0) {
            let isolated_margin = symbol_state.isolated_margin[index];
            let (liquidation_price, bankruptcy_price) =
                if symbol_state.isolated { isolated_prices(*position, isolated_margin, &market.spec) } else { cross_prices };
            let price = reference.unwrap_or_else(|| position.entry_price());
            let notional = margin::signed_notional(position.qty.abs(), price, Rounding::Ceil).ok()?;
            legs.push(LegView {
                symbol,
                position_side: PositionSide::ALL[index],
                qty: position.qty,
                cost: position.cost,
                entry_price: position.entry_price(),
                unrealised_pnl: margin::unrealised_pnl(position.qty, position.cost, price).ok()?,
                maintenance: margin::maintenance_margin(&market.spec, notional).ok()?,
                liquidation_price,
                bankruptcy_price,
                isolated: symbol_state.isolated,
                isolated_margin,
            });
        }
    }
    Some(AccountView {
        account,
        wallet: state.wallet,
        cross_wallet: state.cross_wallet(),
        hedge_mode: state.hedge_mode,
        margin_balance,
        maintenance,
        initial_margin,
        available: state.available(prices).ok()?,
        withdrawable: state.withdrawable(prices).ok()?,
        leverage: state.symbols.iter().map(|(s, a)| (*s, a.leverage)).collect(),
        isolated_symbols: state.symbols.iter().filter(|(_, a)| a.isolated).map(|(s, _)| *s).collect(),
        legs,
    })
}
