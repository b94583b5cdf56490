from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from strategies.mean_reversion import MeanReversion, MeanReversionParams

from .support import buy, run, sell


def reversion(window: int = 4, entry: str = "1.5", exit_: str = "0.5", short: bool = True) -> MeanReversion:
    return MeanReversion(
        MeanReversionParams(
            window=window,
            entry_z=Decimal(entry),
            exit_z=Decimal(exit_),
            quantity=Decimal(1),
            allow_short=short,
        )
    )


def test_buys_far_below_the_mean_and_closes_back_near_it() -> None:
    # (100,102,100,102): z of 102 is +1, inside the band. (102,100,102,96): mean 100, variance 6,
    # z = -4/sqrt(6) = -1.63 <= -1.5: buy. (100,102,96,100): mean 99.5, variance 4.75, z = 0.23 <= 0.5: close.
    state, steps = run(reversion(), ["100", "102", "100", "102", "96", "100"])
    assert steps == [[], [], [], [], [buy("1")], [sell("1")]]
    assert state.position == 0


def test_entry_threshold_is_inclusive_to_the_last_digit() -> None:
    # With a window of 2 the latest price's z-score is always exactly +1 or -1.
    _, steps = run(reversion(window=2, entry="1", exit_="0"), ["100", "90"])
    assert steps == [[], [buy("1")]]
    _, steps = run(reversion(window=2, entry="1.0000000000000000000001", exit_="0"), ["100", "90"])
    assert steps == [[], []]


def test_far_above_the_mean_goes_short_unless_shorts_are_off() -> None:
    _, steps = run(reversion(window=2, entry="1", exit_="0"), ["100", "110"])
    assert steps == [[], [sell("1")]]
    _, steps = run(reversion(window=2, entry="1", exit_="0", short=False), ["100", "110"])
    assert steps == [[], []]


def test_long_flips_to_short_in_one_order() -> None:
    _, steps = run(reversion(window=2, entry="1", exit_="0"), ["100", "90", "110"])
    assert steps == [[], [buy("1")], [sell("2")]]


def test_a_flat_window_holds() -> None:
    _, steps = run(reversion(window=3), ["100", "100", "100", "100"])
    assert steps == [[], [], [], []]


def test_exit_must_be_inside_entry() -> None:
    with pytest.raises(ValidationError, match="exit_z \\(2\\) must be below entry_z \\(1\\)"):
        MeanReversionParams(window=3, entry_z=Decimal(1), exit_z=Decimal(2), quantity=Decimal(1))
