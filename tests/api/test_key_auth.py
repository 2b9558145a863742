"""The charging every non-REST door shares (``api.key_auth.charge``): the REST weights against the
IP and the key, 429 then a 418 ban for an IP that keeps sending, worked with a hand clock."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.key_auth import charge
from api.ratelimit import BAN_AFTER_REFUSALS, FIRST_BAN_MS, Limits
from derivatives.persistence.accounts import KeyView, UserView

IP = "192.0.2.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000_000_020

    def __call__(self) -> int:
        return self.now


def refusal(limits: Limits, key: KeyView | None = None, path: str = "/fapi/v3/balance") -> ApiError:
    with pytest.raises(ApiError) as refused:
        charge(limits, IP, key, "GET", path)
    return refused.value


def test_an_ip_over_its_weight_gets_429_then_a_ban_that_outlasts_the_window() -> None:
    clock = Clock()
    limits = Limits(10, 300, 1200, clock)
    charge(limits, IP, None, "GET", "/fapi/v3/balance")  # weight 5
    charge(limits, IP, None, "GET", "/fapi/v3/balance")  # 10 of 10
    for _ in range(BAN_AFTER_REFUSALS):
        error = refusal(limits)
        assert (error.code, error.status) == (-1003, 429)
    ban = refusal(limits)
    assert (ban.code, ban.status) == (-1003, 418)
    assert f"banned until {clock.now + FIRST_BAN_MS}" in ban.msg
    clock.now += 60_000  # a new weight window: the ban still holds
    assert refusal(limits, path="/fapi/v1/ping").status == 418
    clock.now += FIRST_BAN_MS
    charge(limits, IP, None, "GET", "/fapi/v1/ping")


def test_the_key_budget_is_separate_from_the_ip_budget() -> None:
    limits = Limits(20, 300, 1200, Clock())
    user = UserView(id=1, name="u", account_id=1_000_001, role="trader", active=True, created_at=0)
    key = KeyView("k" * 64, "s" * 64, "test", True, True, user, False)
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"):
        charge(limits, ip, key, "GET", "/fapi/v3/balance")
    assert limits.weight_key.used(key.api_key) == 20
    with pytest.raises(ApiError) as refused:
        charge(limits, "192.0.2.5", key, "GET", "/fapi/v3/balance")
    assert (refused.value.code, refused.value.status) == (-1003, 429)
    assert "API key" in refused.value.msg
