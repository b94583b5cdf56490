from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from strategies.ma_crossover import MACrossover, MACrossoverParams

from .support import buy, run, sell


def crossover(fast: int = 2, slow: int = 3, quantity: str = "0.5") -> MACrossover:
    return MACrossover(MACrossoverParams(fast=fast, slow=slow, quantity=Decimal(quantity)))


def test_no_order_until_the_slow_window_is_full_and_none_for_the_first_side() -> None:
    # Falling prices: fast below slow from the first full window, which only records the side.
    state, steps = run(crossover(), ["103", "102", "101", "100"])
    assert steps == [[], [], [], []]
    assert state.above is False
    assert state.position == 0


def test_buys_exactly_at_the_upward_crossing_and_sells_at_the_downward_one() -> None:
    # fast=2, slow=3. Windows: (100,99,98) fast 98.5 < slow 99; (99,98,99) 98.5 < 98.67;
    # (98,99,101) fast 100 > slow 99.33: the crossing; then (99,101,101) 101 > 100.33: no new order;
    # (101,101,97) fast 99 < slow 99.67: the downward crossing.
    state, steps = run(crossover(), ["100", "99", "98", "99", "101", "101", "97"])
    assert steps == [[], [], [], [], [buy("0.5")], [], [sell("0.5")]]
    assert state.position == 0


def test_equal_averages_keep_the_previous_side() -> None:
    # (10,10,10) equal: side unknown; (10,10,13) fast 11.5 > slow 11 sets it, no order (first side);
    # (10,13,10) fast 11.5 > 11 stays above; (13,10,10) 10 < 11: crossing down, but flat: no sell.
    _, steps = run(crossover(), ["10", "10", "10", "13", "10", "10"])
    assert steps == [[], [], [], [], [], []]
    # A tie between crossings changes nothing: (1,2,3) above, (2,3,2.5) 2.75 > 2.5 above,
    # (3,2.5,2.5) 2.5 < 2.666 below -> no position to sell; (2.5,2.5,4) 3.25 > 3 -> buy.
    _, steps = run(crossover(), ["1", "2", "3", "2.5", "2.5", "4"])
    assert steps == [[], [], [], [], [], [buy("0.5")]]


def test_fast_must_be_shorter_than_slow() -> None:
    with pytest.raises(ValidationError, match="fast \\(5\\) must be shorter than slow \\(5\\)"):
        MACrossoverParams(fast=5, slow=5, quantity=Decimal(1))
