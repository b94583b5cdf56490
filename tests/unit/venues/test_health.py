"""Venue latency tracking and the health board."""

from __future__ import annotations

from decimal import Decimal

from trading.circuit import CircuitState
from venues.health import VenueHealth, VenueHealthBoard

D = Decimal


def test_latency_is_an_exponential_mean() -> None:
    health = VenueHealth(base_latency_ms=D(50))
    health.observe_latency(0.1)  # the first sample is taken as is
    assert health.latency_ms == D("100.0")
    health.observe_latency(0.2)  # 0.8 x 100 + 0.2 x 200 = 120
    assert health.latency_ms == D(120)
    assert health.expected_latency_ms == D("170.000")


def test_board_creates_and_lists_venues_by_name() -> None:
    board = VenueHealthBoard()
    board["okx"].observe_latency(0.01)
    assert board["binance"].state() is CircuitState.CLOSED
    assert [name for name, _ in board.items()] == ["binance", "okx"]
    assert board["okx"] is board["okx"]
