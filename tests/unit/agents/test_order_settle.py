"""How long an order decided on market data waits for the market of its time: on while the feed has a
backlog, then `market_settle_seconds` of quiet, never past `market_settle_max_seconds`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agents import orders
from agents.settings import get_agent_settings
from schemas import OrderRequested


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)  # what agents.orders reads
    monkeypatch.setattr(orders, "_feed_behind_at", 0.0)
    monkeypatch.setattr(orders, "market_settled", lambda request: False)
    return clock


def request() -> OrderRequested:
    return OrderRequested(
        order_id="o-1",
        account_id="acct-1",
        symbol="BTC/USDT",
        side="buy",
        order_type="market",
        quantity=Decimal("0.1"),
        market_time=datetime(2024, 8, 8, 23, 54, 14, tzinfo=UTC),
    )


def test_an_order_waits_as_long_as_the_feed_is_behind_then_the_settle_time(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settle = get_agent_settings().market_settle_seconds
    behind = True
    monkeypatch.setattr(orders, "_market_feed_behind", lambda: behind)
    order = request()
    assert orders._should_wait(order)
    clock.now += settle * 5  # far past the settle time, but the feed still has a backlog
    assert orders._should_wait(order)
    behind = False
    clock.now += settle / 2
    assert orders._should_wait(order)  # quiet for less than the settle time
    clock.now += settle
    assert not orders._should_wait(order)  # quiet long enough: judged on what the view holds


def test_an_order_never_waits_past_the_maximum(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "_market_feed_behind", lambda: True)
    order = request()
    assert orders._should_wait(order)
    clock.now += get_agent_settings().market_settle_max_seconds
    assert not orders._should_wait(order)


def test_a_settled_market_never_parks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "market_settled", lambda request: True)
    assert not orders._should_wait(request())
