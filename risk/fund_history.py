"""The insurance fund's balance history, in Binance's ``GET /fapi/v1/insuranceBalance`` shape.

It is folded from the engine's events of the fund account.

Every change of the fund's wallet is an event naming the fund (``_core.INSURANCE_FUND``):
``BalanceChanged`` (liquidation fees, bad-debt clearing, payouts, funding dust and funding on what
it holds) and ``FillSettled`` (positions it took over, and their ADL). Each carries the wallet
after it, which becomes one history point.

Invariants:
    * A point is recorded once per event, in stream order, from the wallet the engine reported;
      the feed's contiguous, whole-command delivery makes the history complete.
    * ``marginBalance`` of a history point is the fund's wallet after that change; it equals the
      fund's margin balance while the fund holds no position. :meth:`FundHistory.current` adds the
      unrealised PnL of what the fund holds, at the reference prices of the position view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from derivatives import _core
from derivatives.events import BalanceChanged, EventEnvelope, FillSettled
from derivatives.units import format_raw, to_raw
from risk.margin import unrealised_pnl
from risk.positions import PositionView

QUOTE_ASSET = "USDT"


@dataclass(frozen=True, slots=True)
class FundPoint:
    """The fund's wallet after one change.

    Attributes:
        seq: Engine seq of the command that changed it.
        time_ms: When (the command's batch time, else when it was read).
        wallet: Wallet after the change (raw).
        change: Signed change (raw).
        reason: ``BalanceKind`` name, or ``TRADE`` for a settled fill.
    """

    seq: int
    time_ms: int
    wallet: int
    change: int
    reason: str


class FundHistory:
    """A consumer of the event feed that records the insurance fund's wallet."""

    def __init__(self, time_ms: Callable[[EventEnvelope], int], symbols: Callable[[], Iterable[str]]) -> None:
        """Wire the history.

        Args:
            time_ms: An event -> Unix ms of its command.
            symbols: Names of the symbols the fund covers (every listed symbol).
        """
        self._time_ms = time_ms
        self._symbols = symbols
        self.points: list[FundPoint] = []

    def __call__(self, after_seq: int, events: Sequence[EventEnvelope]) -> None:
        """Records the fund's wallet changes among `events` (a feed consumer)."""
        del after_seq
        for envelope in events:
            event = envelope.event
            if isinstance(event, BalanceChanged) and event.account == _core.INSURANCE_FUND:
                self._add(envelope, to_raw(event.wallet), to_raw(event.amount), event.kind.name)
            elif isinstance(event, FillSettled) and event.account == _core.INSURANCE_FUND:
                previous = self.points[-1].wallet if self.points else 0
                self._add(
                    envelope, to_raw(event.wallet), to_raw(event.wallet) - previous, "TRADE"
                )

    def history(
        self, start_ms: int | None = None, end_ms: int | None = None, limit: int = 500
    ) -> list[dict[str, object]]:
        """Balance points, oldest first, each in ``insuranceBalance`` shape.

        Args:
            start_ms: Only points at or after this time.
            end_ms: Only points at or before this time.
            limit: At most this many (the most recent).

        Returns:
            ``[{"symbols": [...], "assets": [{"asset", "marginBalance", "updateTime"}]}]``.
        """
        chosen = [
            p
            for p in self.points
            if (start_ms is None or p.time_ms >= start_ms)
            and (end_ms is None or p.time_ms <= end_ms)
        ]
        return [self._shape(p.wallet, p.time_ms) for p in chosen[-limit:]]

    def current(self, view: PositionView) -> dict[str, object]:
        """The fund's margin balance now (wallet plus the uPnL of what it holds).

        Args:
            view: Positions and reference prices.

        Returns:
            ``{"symbols": [...], "assets": [{"asset", "marginBalance", "updateTime"}]}``.
        """
        fund = view.account(_core.INSURANCE_FUND)
        wallet = fund.wallet if fund is not None else 0
        prices = view.reference_prices()
        unrealised = sum(
            unrealised_pnl(leg.qty, leg.cost, prices[leg.symbol])
            for leg in (fund.legs.values() if fund is not None else ())
            if leg.symbol in prices
        )
        updated = self.points[-1].time_ms if self.points else 0
        return self._shape(wallet + unrealised, updated)

    def _add(self, envelope: EventEnvelope, wallet: int, change: int, reason: str) -> None:
        self.points.append(FundPoint(envelope.seq, self._time_ms(envelope), wallet, change, reason))

    def _shape(self, balance: int, time_ms: int) -> dict[str, object]:
        return {
            "symbols": sorted(self._symbols()),
            "assets": [
                {"asset": QUOTE_ASSET, "marginBalance": format_raw(balance), "updateTime": time_ms}
            ],
        }
