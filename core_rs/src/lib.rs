//! `derivatives_core`: the deterministic in-memory engine of a USDT-margined perpetual futures
//! exchange: instruments, order books, matching with every Binance USD-M order type, and the
//! canonical binary codec of commands and events.
//!
//! The engine is a pure state machine ([`engine::Engine::apply`]): no clock, no randomness, no
//! I/O and no floating point inside it. Time and prices arrive in sequenced commands, so a replay
//! of the same commands gives the same events and the same [`engine::Engine::state_hash`].
//! [`runtime`] runs it on its own thread behind a sequencer and, with a [`journal`], acknowledges a
//! command only once it is durable; [`pybind`] (feature `python`) exposes that to Python. Test
//! fixtures (`testkit`) and the benchmark workload (`workload`) are behind features of those names.

pub mod account_settings;
pub mod account_view;
pub mod accounts;
pub mod adl_quantiles;
pub mod book;
pub mod clearing;
pub mod codec;
pub mod command;
pub mod engine;
pub mod event;
pub mod event_stream;
pub mod funding;
pub mod ids;
pub mod instrument;
pub mod insurance;
pub mod isolated;
pub mod journal;
pub mod ledger;
pub mod liquidation;
pub mod liquidation_index;
pub mod liquidation_map;
pub mod market;
pub mod order;
pub mod reject;
pub mod replication;
pub mod runtime;
pub mod stress;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod triggers;
pub mod units;
#[cfg(any(test, feature = "workload"))]
pub mod workload;

pub use command::{Command, CommandEnvelope, OrderRef, PlaceOrder};
pub use engine::{Engine, EngineError};
pub use event::{Event, EventEnvelope};

#[cfg(feature = "python")]
mod pybind;
