"""``derivatives simulate``: a market simulator that drives a running exchange only through its
public APIs (stock ccxt for REST and WebSocket) and its admin API (accounts, deposits, the ledger,
and the steering of the simulated price feed), running named, seeded scenarios and checking the
exchange's invariants at the end. See ``derivatives.simulator.run`` and ``.scenarios``."""

from derivatives.simulator.run import Options, Summary, simulate
from derivatives.simulator.scenarios import SCENARIOS

__all__ = ["SCENARIOS", "Options", "Summary", "simulate"]
