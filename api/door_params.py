"""The REST endpoints' parameters without ``timestamp``/``signature`` (the doors that authenticate
a connection or a request once, not each parameter set: the Redis-protocol door and GraphQL), so
every door validates exactly as REST does, with the same Binance codes."""

from __future__ import annotations

from api.params import OPTIONAL_SYMBOL, SYMBOL, Spec
from api.routes import account
from api.services import orders

NEW_ORDER = Spec(orders.NEW_ORDER)
NEW_ALGO = Spec(orders.NEW_ALGO)
ORDER_REF = Spec((SYMBOL, *orders.ORDER_REF))
AMEND = Spec(orders.AMEND)
USER_TRADES = Spec(orders.USER_TRADES)
LEVERAGE = Spec(account.LEVERAGE.params)
MARGIN_TYPE = Spec(account.MARGIN_TYPE.params)
POSITION_MARGIN = Spec(account.POSITION_MARGIN.params)
INCOME = Spec(account.INCOME.params)
ONE = Spec((SYMBOL,))
ONE_OR_ALL = Spec((OPTIONAL_SYMBOL,))
