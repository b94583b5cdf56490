"""The merge keeps market-time order with ties by file then row; the pacing schedule follows market time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketreplay.timeline import merge_by_market_time, parse_speed, send_offsets
from schemas import TradeTick

T0 = datetime(2024, 8, 8, 23, 54, 14, tzinfo=UTC)


def trade(trade_id: str, seconds: float) -> TradeTick:
    return TradeTick(
        venue="binance",
        symbol="BTC/USDT",
        trade_id=trade_id,
        price=Decimal(1),
        quantity=Decimal(1),
        market_time=T0 + timedelta(seconds=seconds),
    )


def test_merge_orders_by_market_time_and_ties_by_file_then_row() -> None:
    first = [trade("a1", 0), trade("a2", 1), trade("a3", 1), trade("a4", 3)]
    second = [trade("b1", 1), trade("b2", 2), trade("b3", 3)]
    third = [trade("c1", 0), trade("c2", 1)]
    merged = [tick.trade_id for tick in merge_by_market_time([first, second, third])]
    assert merged == ["a1", "c1", "a2", "a3", "b1", "c2", "b2", "a4", "b3"]


@given(st.lists(st.lists(st.integers(0, 5), max_size=6).map(sorted), max_size=4))
def test_merge_is_a_stable_sort_of_the_concatenation(files: list[list[int]]) -> None:
    streams = [[trade(f"{f}-{r}", s) for r, s in enumerate(seconds)] for f, seconds in enumerate(files)]
    concatenated = [tick for stream in streams for tick in stream]
    expected = sorted(concatenated, key=lambda tick: tick.market_time)  # sorted() is stable
    assert [t.trade_id for t in merge_by_market_time(streams)] == [t.trade_id for t in expected]


def times(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_real_time_offsets_are_market_time_since_the_first_event() -> None:
    assert list(send_offsets(times(10, 10.5, 12, 12), 1)) == [0, 0.5, 2, 2]


def test_speed_divides_the_waits() -> None:
    assert list(send_offsets(times(0, 1, 5), 10)) == pytest.approx([0, 0.1, 0.5])


def test_max_sends_everything_at_once() -> None:
    assert list(send_offsets(times(0, 100, 5000), None)) == [0, 0, 0]


def test_long_gaps_are_capped() -> None:
    offsets = send_offsets(times(0, 1, 3601, 3602), 1, max_gap=timedelta(seconds=60))
    assert list(offsets) == [0, 1, 61, 62]


def test_an_event_earlier_than_its_predecessor_is_sent_right_after_it() -> None:
    assert list(send_offsets(times(0, 4, 2, 5), 1)) == [0, 4, 4, 5]


@pytest.mark.parametrize(
    ("text", "speed"), [("max", None), ("MAX", None), ("1", 1.0), ("10", 10.0), ("0.5", 0.5)]
)
def test_parse_speed(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0", "-1", "fast", "nan", "inf"])
def test_parse_speed_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="speed must be a positive number or 'max'"):
        parse_speed(text)
