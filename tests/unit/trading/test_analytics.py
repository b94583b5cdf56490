"""Performance analytics against independent computations: numpy on floats for the ratios, a brute-force
search over every pair of points for the drawdown, hand arithmetic for win rate, turnover and fees."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.primitives import Side
from trading.analytics import Trade, max_drawdown, performance, sampled

T0 = datetime(2024, 8, 8, 23, 54, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def curve(*pnl: str) -> list[tuple[datetime, Decimal]]:
    """A PnL point each second."""
    return [(at(i), Decimal(value)) for i, value in enumerate(pnl)]


def test_sampling_is_a_step_function_on_the_grid() -> None:
    points = [(at(0), Decimal(1)), (at(0.5), Decimal(2)), (at(2.2), Decimal(3))]
    assert sampled(points, SECOND) == [
        (at(0), Decimal(1)),
        (at(1), Decimal(2)),  # the value of 0.5 s still holds
        (at(2), Decimal(2)),
        (at(2.2), Decimal(3)),  # the end, between grid points
    ]
    assert sampled(points, SECOND, end=at(3))[-1] == (at(3), Decimal(3))
    with pytest.raises(ValueError, match="period"):
        sampled(points, timedelta(0))


def test_ratios_match_numpy_on_the_same_series() -> None:
    pnl = ("0", "10", "-1", "20", "5", "30", "12")
    figures = performance(curve(*pnl), [], capital=Decimal(100), period=SECOND)
    equity = np.array([100 + float(value) for value in pnl])
    returns = np.diff(equity) / equity[:-1]
    scale = math.sqrt(365 * 24 * 3600)
    assert figures.periods == len(returns) == 6
    assert float(figures.mean_return or 0) == pytest.approx(returns.mean(), rel=1e-12)
    sharpe = returns.mean() / returns.std(ddof=1) * scale
    assert float(figures.sharpe or 0) == pytest.approx(sharpe, rel=1e-12)
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert float(figures.sortino or 0) == pytest.approx(returns.mean() / downside * scale, rel=1e-12)
    assert figures.total_return == Decimal("0.12")


def test_the_deepest_drawdown_and_how_long_until_it_recovered() -> None:
    # equity 100, 110, 99, 120, 105, 130: 110 -> 99 is 10%, 120 -> 105 is 12.5% (recovered at 130)
    drawdown = performance(curve("0", "10", "-1", "20", "5", "30"), [], capital=Decimal(100), period=SECOND)
    assert drawdown.max_drawdown.depth == Decimal("0.125")
    assert (drawdown.max_drawdown.peak_at, drawdown.max_drawdown.trough_at) == (at(3), at(4))
    assert drawdown.max_drawdown.duration == timedelta(seconds=2)


def test_a_drawdown_never_recovered_lasts_to_the_end() -> None:
    figures = performance(curve("0", "50", "10", "20"), [], capital=Decimal(100), period=SECOND)
    assert figures.max_drawdown.depth == Decimal(40) / Decimal(150)
    assert figures.max_drawdown.duration == timedelta(seconds=2)  # from the peak at 1 s to the end at 3 s


@given(st.lists(st.integers(min_value=-90, max_value=500), min_size=1, max_size=40))
def test_the_drawdown_equals_a_search_over_every_pair_of_points(values: list[int]) -> None:
    points = [(at(i), Decimal(100 + v)) for i, v in enumerate(values)]
    falls = (
        (peak - later) / peak
        for i, (_, peak) in enumerate(points)
        for _, later in points[i:]
    )
    brute = max(falls, default=Decimal(0))
    assert max_drawdown(points).depth == max(brute, Decimal(0))


def test_too_short_or_never_losing_series_give_no_ratio_rather_than_a_made_up_one() -> None:
    one_return = performance(curve("0", "5"), [], capital=Decimal(100), period=SECOND)
    assert (one_return.sharpe, one_return.sortino) == (None, None)
    rising = performance(curve("0", "1", "3", "6"), [], capital=Decimal(100), period=SECOND)
    assert rising.sharpe is not None
    assert rising.sortino is None  # no downside to divide by
    flat = performance([], [], capital=Decimal(100), period=SECOND)
    assert (flat.periods, flat.total_return, flat.win_rate) == (0, Decimal(0), None)
    with pytest.raises(ValueError, match="capital"):
        performance([], [], capital=Decimal(0), period=SECOND)


def test_win_rate_counts_closing_fills_net_of_their_fee_per_symbol() -> None:
    trades = [
        Trade("BTC/USDT", Side.BUY, Decimal(1), Decimal(100), Decimal("0.1")),
        Trade("ETH/USDT", Side.SELL, Decimal(2), Decimal(10), Decimal(0)),  # opens a short: not a close
        Trade("BTC/USDT", Side.SELL, Decimal("0.5"), Decimal(110), Decimal("0.1")),  # +5 - 0.1: a win
        Trade("BTC/USDT", Side.SELL, Decimal("0.25"), Decimal(90), Decimal(0)),  # -2.5: a loss
        # +0.05 - 0.1: a loss
        Trade("BTC/USDT", Side.SELL, Decimal("0.25"), Decimal("100.2"), Decimal("0.1")),
        Trade("ETH/USDT", Side.BUY, Decimal(2), Decimal(9), Decimal(0)),  # covers the short at +2: a win
    ]
    figures = performance(curve("0", "1"), trades, capital=Decimal(1000), period=SECOND)
    assert (figures.trades, figures.closing_trades) == (6, 4)
    assert figures.win_rate == Decimal("0.5")
    traded = Decimal(100) + 20 + 55 + Decimal("22.5") + Decimal("25.05") + 18
    assert figures.turnover == traded / 1000
    assert figures.fees == Decimal("0.3")


def test_the_json_names_every_figure_as_text() -> None:
    figures = performance(curve("0", "10", "-1", "20"), [], capital=Decimal(100), period=SECOND).as_json()
    assert figures["max_drawdown"] == "0.10000000"
    assert figures["max_drawdown_duration_seconds"] == 2.0
    assert isinstance(figures["sharpe"], str)
    assert figures["win_rate"] is None


def test_a_span_that_starts_before_the_curve_counts_the_time_before_as_flat() -> None:
    late = [(at(2), Decimal(5)), (at(3), Decimal(8))]
    assert sampled(late, SECOND, start=at(0)) == [
        (at(0), Decimal(0)),
        (at(1), Decimal(0)),
        (at(2), Decimal(5)),
        (at(3), Decimal(8)),
    ]
    figures = performance(late, [], capital=Decimal(100), period=SECOND, start=at(0), end=at(4))
    assert figures.periods == 4
    assert figures.total_return == Decimal("0.08")
