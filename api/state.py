"""The services of one app, built by ``create_app`` and reached through ``app.state.services``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.hub import MarketHub
from api.instruments import InstrumentRegistry
from api.projection import ProjectionProgress
from api.ratelimit import Limits
from api.security import KeyStore
from api.services.account import AccountService
from api.services.admin import AdminService
from api.services.market import MarketService
from api.services.market_statistics import MarketStatistics
from api.services.orders import OrderService
from api.userstream import UserStreams
from derivatives.config import Settings
from derivatives.door import EngineDoor
from derivatives.order_view import OrderView
from derivatives.persistence.db import Database
from oracle import MarkPriceService


@dataclass(slots=True, kw_only=True)
class Services:
    """Everything a route may use (one instance per app; built by keyword only)."""

    settings: Settings
    db: Database
    gateway: EngineDoor
    registry: InstrumentRegistry
    hub: MarketHub
    streams: UserStreams
    worker: ProjectionProgress
    order_view: OrderView
    limits: Limits
    keys: KeyStore
    market: MarketService
    orders: OrderService
    account: AccountService
    admin: AdminService
    oracle: MarkPriceService | None
    clock_ms: Callable[[], int]
    admins: dict[str, str]
    """Admin identity name -> bearer token."""
    statistics: MarketStatistics
