"""Index and mark price oracle (DESIGN §3, MECHANICS §1-2).

Layout: :mod:`oracle.index` and :mod:`oracle.mark` are pure; :mod:`oracle.service` is the 1 Hz
loop; :mod:`oracle.sources` holds one module per feed kind (live ccxt, replay, simulated);
:mod:`oracle.venues` maps symbols onto the five spot venues. Prices are ``Decimal`` throughout.
"""

from __future__ import annotations

from oracle.config import DEFAULT_SYMBOLS, IndexRules, MarkRules, SymbolConfig
from oracle.index import IndexResult, compute_index, constituents_payload
from oracle.mark import BasisWindow, MarkInputs, MarkResult, compute_mark, sample_basis
from oracle.model import Exclusion, FeedKind, IndexMethod, MarkFallback, PriceFlags
from oracle.service import BookState, MarkPriceService, PriceKind, Publication, idle_book
from oracle.sources import Source, create_source

__all__ = [
    "DEFAULT_SYMBOLS",
    "BasisWindow",
    "BookState",
    "Exclusion",
    "FeedKind",
    "IndexMethod",
    "IndexResult",
    "IndexRules",
    "MarkFallback",
    "MarkInputs",
    "MarkPriceService",
    "MarkResult",
    "MarkRules",
    "PriceFlags",
    "PriceKind",
    "Publication",
    "Source",
    "SymbolConfig",
    "compute_index",
    "compute_mark",
    "constituents_payload",
    "create_source",
    "idle_book",
    "sample_basis",
]
