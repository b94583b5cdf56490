"""A grid: buy each time the price falls through a grid line, sell each time it rises through one.

Lines are `spacing` apart around `center` (the first price seen when not configured). Below the center
the strategy is long one `quantity` per line crossed, above it short; at most `levels` lines each way.
Orders are market orders (the paper venue fills immediately or not at all, so no order rests on a line).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from pydantic import Field

from schemas import PriceUpdated
from schemas.primitives import Price, Quantity
from strategies.base import OrderIntent, Params, Strategy, TargetState, register


class GridParams(Params):
    spacing: Price  # price distance between lines
    levels: int = Field(gt=0)  # lines each side of the center
    quantity: Quantity  # traded per line crossed
    center: Price | None = None


class GridState(TargetState):
    center: Decimal | None = None
    level: int = 0  # lines above the center the last price was at (negative: below)


@register
class Grid(Strategy[GridParams, GridState]):
    kind = "grid"
    params_model = GridParams
    state_model = GridState

    def level_of(self, price: Decimal, center: Decimal) -> int:
        """The grid line at or below `price`, counted from the center and capped at `levels`."""
        raw = int(((price - center) / self.params.spacing).to_integral_value(rounding=ROUND_FLOOR))
        return max(-self.params.levels, min(self.params.levels, raw))

    def on_price(self, state: GridState, price: PriceUpdated) -> tuple[GridState, list[OrderIntent]]:
        center = state.center or self.params.center or price.price
        level = self.level_of(price.price, center)
        position, intents = state.toward(-level * self.params.quantity)
        return GridState(center=center, level=level, position=position), intents
