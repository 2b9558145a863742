"""Risk services: funding, auto-deleveraging ranking, insurance-fund payouts, liquidation monitor.

Layout: the pure arithmetic lives in :mod:`risk.funding`, :mod:`risk.adl`, :mod:`risk.margin`,
:mod:`risk.positions` and :mod:`risk.insurance`; the loops that read the engine and submit
commands live in the ``*_service`` modules; :mod:`risk.service` wires them for the API lifespan.
``risk`` imports ``derivatives`` only (never ``oracle`` or ``api``).
"""
