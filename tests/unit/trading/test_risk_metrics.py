"""Exposure, drawdown and historical VaR, with exact Decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading.config import MonitorLimits
from trading.risk_metrics import (
    Breach,
    assess,
    drawdown,
    exposures,
    historical_var,
    scenario_pnls,
)

D = Decimal
POSITIONS = {"BTC/USDT": D("2"), "ETH/USDT": D("-10")}
HISTORY = {
    "BTC/USDT": [D("100"), D("110"), D("99"), D("99")],
    "ETH/USDT": [D("10"), D("10"), D("11"), D("12.1")],
}


def test_exposures_count_shorts_gross_and_net() -> None:
    assert exposures(POSITIONS, {"BTC/USDT": D("99"), "ETH/USDT": D("12.1")}) == (D("319"), D("77"))


def test_drawdown_holds_todays_positions_over_the_history() -> None:
    # values: 200 - 100 = 100, 220 - 100 = 120, 198 - 110 = 88, 198 - 121 = 77
    assert drawdown(POSITIONS, HISTORY) == D("43")
    assert drawdown({"BTC/USDT": D("1")}, {"BTC/USDT": [D("1"), D("2")]}) == D(0)


def test_scenarios_apply_each_steps_return_to_todays_value() -> None:
    # BTC value today 198, ETH -121: step returns BTC +10%, -10%, 0%; ETH 0%, +10%, +10%
    assert scenario_pnls(POSITIONS, HISTORY) == [D("19.8"), D("-19.8") + D("-12.1"), D("-12.1")]


def test_var_is_the_empirical_quantile_of_the_losses() -> None:
    pnls = [D(x) for x in ("-50", "-20", "-10", "0", "5", "10", "15", "20", "25", "30")]
    assert historical_var(pnls, D("0.95")) == D("50")  # floor(0.05 * 10) = 0: the worst
    assert historical_var(pnls, D("0.8")) == D("10")  # floor(0.2 * 10) = 2: the third worst
    assert historical_var([D("1"), D("2")], D("0.95")) == D(0)  # no losses
    assert historical_var([], D("0.95")) == D(0)


def test_assess_reports_each_crossed_limit() -> None:
    limits = MonitorLimits(max_gross_exposure=D("300"), max_drawdown=D("50"), max_var=D("30"))
    figures, breaches = assess(POSITIONS, HISTORY, limits)
    assert (figures.gross_exposure, figures.net_exposure, figures.drawdown) == (D("319"), D("77"), D("43"))
    assert figures.var == D("31.9")
    assert figures.observations == 3
    assert breaches == [
        Breach(rule="gross_exposure", limit=D("300"), observed=D("319")),
        Breach(rule="historical_var", limit=D("30"), observed=D("31.9")),
    ]
    assert assess({}, {}, limits)[1] == []


def test_histories_must_cover_every_holding_equally() -> None:
    with pytest.raises(ValueError, match="no price history"):
        drawdown({"XRP/USDT": D("1")}, HISTORY)
    with pytest.raises(ValueError, match="differ in length"):
        drawdown(POSITIONS, {**HISTORY, "ETH/USDT": [D("1")]})
