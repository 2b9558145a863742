"""Venue price feeds, one module per kind, and the factory that picks one by configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from oracle.clock import Clock
from oracle.config import SymbolConfig
from oracle.model import FeedKind
from oracle.sources.base import Source
from oracle.sources.live import LiveSource
from oracle.sources.replay import SAMPLE_PATH, ReplaySource
from oracle.sources.simulated import DEFAULT_START_PRICES, SimulatedSource

__all__ = ["LiveSource", "ReplaySource", "SimulatedSource", "Source", "create_source"]


def create_source(
    kind: FeedKind | str,
    symbols: Sequence[SymbolConfig],
    *,
    clock: Clock,
    seed: int = 1,
    replay_path: Path = SAMPLE_PATH,
    live_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    resume_prices: Mapping[str, Decimal] | None = None,
) -> Source:
    """Build the configured source.

    Args:
        kind: ``"live"``, ``"replay"`` or ``"simulated"``.
        symbols: The index symbols.
        clock: Injected time (used by the live source to stamp receipts).
        seed: Seed of the simulated walk.
        replay_path: Tick file for the replay source.
        live_overrides: Extra ccxt constructor settings per venue for the live source.
        resume_prices: The last published mark per base asset (a restart): the simulated walk
            continues from there instead of its opening prices, so a restart does not move the
            market.

    Returns:
        The source, not yet started.

    Raises:
        ValueError: If ``kind`` is not a feed kind.
    """
    match FeedKind(kind):
        case FeedKind.LIVE:
            return LiveSource(symbols, clock=clock, client_overrides=live_overrides)
        case FeedKind.REPLAY:
            return ReplaySource(replay_path)
        case FeedKind.SIMULATED:
            return SimulatedSource(symbols, seed=seed,
                                   start_prices={**DEFAULT_START_PRICES, **(resume_prices or {})})
