"""Position arithmetic: average cost, realized and unrealized PnL, fees, flips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.primitives import Side
from trading.positions import Position

D = Decimal
BUY, SELL = Side.BUY, Side.SELL


def long_2_at_100() -> Position:
    return Position().apply_fill(BUY, D("2"), D("100"), D("0.2"))


def test_open_long() -> None:
    position = long_2_at_100()
    assert position == Position(quantity=D(2), cost=D(200), realized_pnl=D(0), fees_paid=D("0.2"))


def test_open_short() -> None:
    position = Position().apply_fill(SELL, D("1.5"), D("200"))
    assert position.quantity == D("-1.5")
    assert position.average_cost == D(200)
    assert position.realized_pnl == 0


def test_add_to_long_takes_weighted_average_cost() -> None:
    # (2 x 100 + 1 x 103) / 3 = 303 / 3 = 101
    position = long_2_at_100().apply_fill(BUY, D("1"), D("103"), D("0.1"))
    assert position.quantity == D(3)
    assert position.average_cost == D(101)
    assert position.realized_pnl == 0
    assert position.fees_paid == D("0.3")


def test_add_to_short_takes_weighted_average_cost() -> None:
    # (1 x 100 + 1 x 110) / 2 = 105
    position = Position().apply_fill(SELL, D(1), D(100)).apply_fill(SELL, D(1), D(110))
    assert position.quantity == D(-2)
    assert position.average_cost == D(105)


def test_partial_close_realizes_pnl_and_keeps_average() -> None:
    position = long_2_at_100().apply_fill(BUY, D("1"), D("103"))  # 3 @ 101
    position = position.apply_fill(SELL, D("1"), D("110"))
    # 1 x (110 - 101) = 9
    assert position.realized_pnl == D(9)
    assert position.quantity == D(2)
    assert position.average_cost == D(101)


def test_partial_close_of_short_realizes_pnl() -> None:
    position = Position().apply_fill(SELL, D(2), D(105))
    position = position.apply_fill(BUY, D("0.5"), D(95))
    # short: 0.5 x (95 - 105) x -1 = 5
    assert position.realized_pnl == D(5)
    assert position.quantity == D("-1.5")
    assert position.average_cost == D(105)


def test_full_close_resets_average_to_zero() -> None:
    position = long_2_at_100().apply_fill(SELL, D(2), D(95))
    # 2 x (95 - 100) = -10
    assert position.quantity == 0
    assert position.average_cost == 0
    assert position.realized_pnl == D(-10)
    assert position.unrealized_pnl(D(1000)) == 0


def test_flip_long_to_short_in_one_fill() -> None:
    position = long_2_at_100().apply_fill(SELL, D(5), D(90))
    # closes 2: 2 x (90 - 100) = -20; opens 3 short at the fill price
    assert position.realized_pnl == D(-20)
    assert position.quantity == D(-3)
    assert position.average_cost == D(90)


def test_flip_short_to_long_in_one_fill() -> None:
    position = Position().apply_fill(SELL, D(3), D(90)).apply_fill(BUY, D(4), D(80))
    # closes 3 short: 3 x (80 - 90) x -1 = +30; opens 1 long at 80
    assert position.realized_pnl == D(30)
    assert position.quantity == D(1)
    assert position.average_cost == D(80)


def test_fees_accumulate_and_net_pnl_subtracts_them() -> None:
    position = (
        Position()
        .apply_fill(BUY, D(2), D(100), D("0.2"))
        .apply_fill(BUY, D(1), D(103), D("0.1"))  # 3 @ 101
        .apply_fill(SELL, D(1), D(110), D("0.11"))  # realized 9, 2 @ 101 left
    )
    assert position.fees_paid == D("0.41")
    # realized 9 + unrealized 2 x (105 - 101) = 8, minus fees 0.41
    assert position.unrealized_pnl(D(105)) == D(8)
    assert position.net_pnl(D(105)) == D("16.59")
    assert position.net_pnl(None) == D("8.59")


def test_realized_pnl_is_gross_of_fees() -> None:
    position = Position().apply_fill(BUY, D(1), D(100), D(1)).apply_fill(SELL, D(1), D(100), D(1))
    assert position.realized_pnl == 0
    assert position.fees_paid == D(2)
    assert position.net_pnl(D(100)) == D(-2)


@pytest.mark.parametrize(
    ("side", "mark", "expected"),
    [
        (BUY, "105", "10"),  # 2 x (105 - 100)
        (BUY, "97.5", "-5"),  # 2 x (97.5 - 100)
        (SELL, "105", "-10"),  # -2 x (105 - 100)
        (SELL, "97.5", "5"),  # -2 x (97.5 - 100)
    ],
)
def test_unrealized_at_a_mark(side: Side, mark: str, expected: str) -> None:
    position = Position().apply_fill(side, D(2), D(100))
    assert position.unrealized_pnl(D(mark)) == D(expected)
    assert position.exposure(D(mark)) == 2 * D(mark)


def test_no_mark_means_no_unrealized() -> None:
    assert long_2_at_100().unrealized_pnl(None) == 0


@pytest.mark.parametrize("quantity", ["0", "-1", "-0.00000001"])
def test_invalid_quantity_raises(quantity: str) -> None:
    position = long_2_at_100()
    with pytest.raises(ValueError, match="must be positive"):
        position.apply_fill(BUY, D(quantity), D(100))


def test_apply_fill_does_not_mutate() -> None:
    position = long_2_at_100()
    position.apply_fill(SELL, D(1), D(120))
    assert position.quantity == D(2)
    assert position.realized_pnl == 0


quantities = st.decimals(min_value=D("0.00000001"), max_value=D("100000"), places=8)
prices = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2)


@given(quantity=quantities, entry=prices, exit_=prices, side=st.sampled_from(Side))
def test_round_trip_realizes_exact_price_difference(
    quantity: Decimal, entry: Decimal, exit_: Decimal, side: Side
) -> None:
    closing = SELL if side is BUY else BUY
    position = Position().apply_fill(side, quantity, entry).apply_fill(closing, quantity, exit_)
    assert position.quantity == 0
    assert position.average_cost == 0
    assert position.realized_pnl == quantity * (exit_ - entry) * side.sign


@given(first=quantities, second=quantities, entry=prices, exit_=prices)
def test_closing_in_two_fills_realizes_the_same_as_one(
    first: Decimal, second: Decimal, entry: Decimal, exit_: Decimal
) -> None:
    opened = Position().apply_fill(BUY, first + second, entry)
    in_two = opened.apply_fill(SELL, first, exit_).apply_fill(SELL, second, exit_)
    in_one = opened.apply_fill(SELL, first + second, exit_)
    assert in_two.quantity == in_one.quantity == 0
    assert in_two.realized_pnl == in_one.realized_pnl == (first + second) * (exit_ - entry)


fills = st.lists(st.tuples(st.sampled_from(Side), quantities, prices, prices), min_size=1, max_size=30)


@given(fills=fills, mark=prices)
def test_net_pnl_is_the_exact_cash_flow_of_the_fills_plus_the_holding(
    fills: list[tuple[Side, Decimal, Decimal, Decimal]], mark: Decimal
) -> None:
    """Partial closes round a share of the average cost, yet realized + unrealized stays exact: what a
    report recomputes from the fills alone, to the last digit."""
    position, cash, fees = Position(), D(0), D(0)
    for side, quantity, price, fee_price in fills:
        fee = quantity * fee_price / 1000  # any exact amount
        position = position.apply_fill(side, quantity, price, fee)
        cash -= side.sign * quantity * price
        fees += fee
    assert position.net_pnl(mark) == cash + position.quantity * mark - fees
    assert position.fees_paid == fees


def test_closing_a_third_rounds_the_realized_share_but_not_the_total() -> None:
    position = Position().apply_fill(BUY, D(2), D(100)).apply_fill(BUY, D(1), D("100.01"))
    closed = position.apply_fill(SELL, D(1), D(101))
    share = D("100.003333333333")  # a third of 300.01, to 12 decimals
    assert closed.realized_pnl == D(101) - share
    assert closed.cost == D("300.01") - share
    assert closed.net_pnl(D(102)) == D(101) + 2 * D(102) - D("300.01")  # exact


def test_positions_stored_with_an_average_cost_load_with_their_cost() -> None:
    stored = {"quantity": "-1.5", "average_cost": "200", "realized_pnl": "3", "fees_paid": "0.1"}
    position = Position.model_validate(stored)
    assert position.cost == D(-300)
    assert position.average_cost == D(200)
    assert position.unrealized_pnl(D(190)) == D(15)
