"""derivatives: a USDT-margined perpetual futures exchange with a Rust engine.

The compiled engine is ``derivatives._core``; this package gives it exact Decimal units, typed
commands and events (``derivatives.commands``, ``derivatives.events``), the codec and a client.
"""

from derivatives.engine import BatchResult, Depth, EngineClient, Prices, Recovery

__all__ = ["BatchResult", "Depth", "EngineClient", "Prices", "Recovery"]
