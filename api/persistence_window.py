"""The query window of a request's ``fromId``/``startTime``/``endTime``/``limit`` parameters."""

from __future__ import annotations

from api.params import Params
from derivatives.persistence.queries import Window


def window(params: Params, default_limit: int, id_name: str = "fromId") -> Window:
    """A :class:`Window` from the usual Binance parameters."""
    return Window(params.int("limit") or default_limit, params.int(id_name), params.int("startTime"),
                  params.int("endTime"))
