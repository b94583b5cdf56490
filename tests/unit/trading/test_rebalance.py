"""Rebalance orders from target weights, with exact Decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.primitives import Side
from trading.rebalance import PlannedOrder, portfolio_value, rebalance_orders, reversal

D = Decimal
PRICES = {"BTC/USDT": D("60000"), "ETH/USDT": D("3000"), "XRP/USDT": D("0.5")}


def test_from_cash_every_target_is_bought_at_its_weight() -> None:
    orders = rebalance_orders({"BTC/USDT": D("0.5"), "ETH/USDT": D("0.3")}, {}, PRICES, D("100000"))
    assert orders == [
        PlannedOrder(symbol="BTC/USDT", side=Side.BUY, quantity=D("0.83333333"), price=D("60000")),
        PlannedOrder(symbol="ETH/USDT", side=Side.BUY, quantity=D("10"), price=D("3000")),
    ]


def test_holdings_move_to_targets_sells_first_and_untargeted_holdings_are_sold() -> None:
    positions = {"BTC/USDT": D("1"), "ETH/USDT": D("5"), "XRP/USDT": D("1000")}
    # value = 20,000 cash + 60,000 + 15,000 + 500 = 95,500; BTC to 38,200 / 60,000 = 0.6366..., cut down
    assert portfolio_value(D("20000"), positions, PRICES) == D("95500")
    orders = rebalance_orders({"BTC/USDT": D("0.4"), "ETH/USDT": D("0.6")}, positions, PRICES, D("20000"))
    assert orders == [
        PlannedOrder(symbol="BTC/USDT", side=Side.SELL, quantity=D("0.36333333"), price=D("60000")),
        PlannedOrder(symbol="XRP/USDT", side=Side.SELL, quantity=D("1000"), price=D("0.5")),
        PlannedOrder(symbol="ETH/USDT", side=Side.BUY, quantity=D("14.1"), price=D("3000")),
    ]


def test_steps_round_quantities_down_and_dust_is_skipped() -> None:
    orders = rebalance_orders(
        {"BTC/USDT": D("0.5"), "XRP/USDT": D("0.00004")},
        {},
        PRICES,
        D("100000"),
        steps={"BTC/USDT": D("0.001")},
        min_notional=D("5"),
    )
    assert orders == [PlannedOrder(symbol="BTC/USDT", side=Side.BUY, quantity=D("0.833"), price=D("60000"))]


def test_on_target_nothing_is_ordered() -> None:
    assert rebalance_orders({"ETH/USDT": D("0.5")}, {"ETH/USDT": D("10")}, PRICES, D("30000")) == []


@pytest.mark.parametrize(
    ("weights", "positions", "message"),
    [
        ({"BTC/USDT": D("0.7"), "ETH/USDT": D("0.4")}, {}, "above 1"),
        ({"BTC/USDT": D("-0.1")}, {}, "negative"),
        ({"DOGE/USDT": D("0.1")}, {}, "no price for target"),
        ({}, {"DOGE/USDT": D("3")}, "no price for held"),
    ],
)
def test_impossible_targets_are_refused(
    weights: dict[str, Decimal], positions: dict[str, Decimal], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rebalance_orders(weights, positions, PRICES, D("1000"))


def test_a_reversal_undoes_a_fill() -> None:
    assert reversal("ETH/USDT", Side.BUY, D("2.5"), D("3000")) == PlannedOrder(
        symbol="ETH/USDT", side=Side.SELL, quantity=D("2.5"), price=D("3000")
    )
    assert reversal("ETH/USDT", Side.SELL, D("1"), D("3000")).side is Side.BUY
