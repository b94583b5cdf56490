from __future__ import annotations

from decimal import Decimal

from strategies.grid import Grid, GridParams

from .support import buy, run, sell


def grid(center: str | None = None) -> Grid:
    return Grid(
        GridParams(
            spacing=Decimal(10),
            levels=2,
            quantity=Decimal("0.1"),
            center=Decimal(center) if center else None,
        )
    )


def test_one_order_per_line_crossed_capped_at_the_outer_lines() -> None:
    # Center 100 (the first price), lines at 80, 90, 100, 110, 120. A line counts as crossed downward
    # once the price is below it, upward once the price reaches it.
    state, steps = run(grid(), ["100", "95", "90", "89.99", "70", "100", "125", "200"])
    assert steps == [
        [],  # the center
        [buy("0.1")],  # below 100
        [],  # on 90: still between 90 and 100
        [buy("0.1")],  # below 90
        [],  # below 80, but only two lines each way
        [sell("0.2")],  # back at the center: flat
        [sell("0.2")],  # at or above 120: short two lines
        [],
    ]
    assert state.position == Decimal("-0.2")
    assert state.level == 2


def test_a_configured_center_trades_from_the_first_price() -> None:
    state, steps = run(grid(center="120"), ["105", "119.5"])
    assert steps == [[buy("0.2")], [sell("0.1")]]
    assert state.center == Decimal(120)
    assert state.position == Decimal("0.1")
