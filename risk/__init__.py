"""Risk services: funding, auto-deleveraging ranking, insurance-fund payouts, liquidation monitor.

Layout: the pure arithmetic lives in :mod:`risk.funding`, :mod:`risk.adl`, :mod:`risk.margin`,
:mod:`risk.positions` and :mod:`risk.insurance`; the loops that read the engine and submit
commands live in the ``*_service`` modules, :mod:`risk.feed`, :mod:`risk.monitor` and
:mod:`risk.fund_history`; :mod:`risk.service` wires them for the API lifespan (docs/RISK.md).
``risk`` imports ``derivatives`` only (never ``oracle`` or ``api``).
"""

from __future__ import annotations

from risk.adl import AdlMode
from risk.adl_service import AdlService
from risk.funding import Averaging
from risk.funding_service import FundingConfig, FundingService, SymbolFunding
from risk.insurance import ApprovalError, Payout, PayoutStatus
from risk.insurance_service import InsuranceService, PayoutNotFound
from risk.monitor import LiquidationEvent, LiquidationMonitor, MonitoredAccount
from risk.service import RiskConfig, RiskServices

__all__ = [
    "AdlMode",
    "AdlService",
    "ApprovalError",
    "Averaging",
    "FundingConfig",
    "FundingService",
    "InsuranceService",
    "LiquidationEvent",
    "LiquidationMonitor",
    "MonitoredAccount",
    "Payout",
    "PayoutNotFound",
    "PayoutStatus",
    "RiskConfig",
    "RiskServices",
    "SymbolFunding",
]
